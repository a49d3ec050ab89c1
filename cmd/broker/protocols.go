package main

import (
	"github.com/msgtrans/msgtrans/protocols/mqtt"
	"github.com/msgtrans/msgtrans/protocols/text"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// builtinProtocols are the protocols linked into the broker, by the name a
// configuration gives in plugins[].builtin. A protocol written against
// sdk/plugin is added here, and only here, to run in process.
func builtinProtocols() map[string]plugin.Plugin {
	return map[string]plugin.Plugin{
		"text": text.Protocol{},
		"mqtt": mqtt.Protocol{}, // also mqtt.listen, which adds MQTT over WebSocket
	}
}
