// Package mqtt serves MQTT 3.1.1 and 5.0 clients as broker sessions. It
// is written against sdk/plugin only, so the same code runs linked into
// the broker (cmd/broker, mqtt.listen) and as its own process
// (cmd/mqtt-plugin). Each MQTT session is an *sdk.Conn; MQTT topics map to
// native topics as described in topic.go and docs/mqtt.md.
package mqtt
