// Command example-plugin serves the text protocol (package protocols/text)
// as a plugin process: the broker starts it from its configuration
// (plugins: - path: ./bin/example-plugin). The same protocol also runs
// linked into the broker (plugins: - builtin: text). docs/plugins.md walks
// through it.
package main

import (
	"github.com/msgtrans/msgtrans/protocols/text"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

func main() { plugin.Serve(text.Protocol{}) }
