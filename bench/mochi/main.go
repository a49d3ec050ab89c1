// Command mochi runs mochi-mqtt (github.com/mochi-mqtt/server/v2) on one
// TCP address, anonymous access, for the MQTT rows of the bench: a broker
// in its own process, like mosquitto and msgtrans, rather than in the
// load generator's.
package main

import (
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1884", "listen address")
	flag.Parse()
	opts := &mqtt.Options{InlineClient: false}
	s := mqtt.New(opts)
	// The default bound on a client's queued writes (8192 packets) drops
	// messages to a subscriber that falls behind a burst; the other
	// brokers are given room to queue, so mochi is too.
	s.Options.Capabilities.MaximumClientWritesPending = 1 << 20
	s.Options.Capabilities.MaximumInflight = 65535
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		log.Fatal(err)
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "t1", Address: *addr})); err != nil {
		log.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.Close()
}
