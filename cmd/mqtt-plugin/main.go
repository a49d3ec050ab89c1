// Command mqtt-plugin serves MQTT 3.1.1 and 5.0 (package protocols/mqtt)
// as a plugin process, for operators who want crash isolation: the broker
// starts it from its configuration (plugins: - path: ./bin/mqtt-plugin)
// and restarts it if it dies. The same protocol runs linked into the
// broker with mqtt.listen. docs/mqtt.md lists its settings.
package main

import (
	"github.com/msgtrans/msgtrans/protocols/mqtt"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

func main() { plugin.Serve(mqtt.Protocol{}) }
