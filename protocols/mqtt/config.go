package mqtt

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/msgtrans/msgtrans/protocols/mqtt/packet"
	"github.com/msgtrans/msgtrans/sdk/plugin"
)

// config is the protocol's settings, read from the Host (the broker's
// mqtt section, or a plugins[] entry's settings). Every setting is listed
// in docs/mqtt.md.
type config struct {
	listen         string        // TCP address; "" serves no TCP listener
	tlsListen      string        // MQTT over TLS; "" serves none
	tlsCert        string        // the TLS listener's certificate and key
	tlsKey         string        //
	tlsClientCA    string        // PEM CAs that sign client certificates; "": none asked
	tlsVerify      bool          // every TLS client must present a certificate signed by tlsClientCA
	maxPacketSize  int           // the largest packet accepted (CONNACK Maximum Packet Size)
	receiveMaximum int           // QoS 1 and 2 publishes a client may have unacknowledged
	topicAliasMax  int           // topic aliases a 5.0 client may set up
	maxKeepAlive   int           // seconds; 0: any; a 5.0 client asking for more gets Server Keep Alive
	maxQueued      int           // QoS 1/2 messages queued for one session beyond its in-flight window
	maxExpiry      uint32        // seconds a session is kept after its client left
	connectTimeout time.Duration // from accept to CONNECT
	dataDir        string        // persistent sessions are kept here; "": in memory only
}

func readConfig(h *plugin.Host) (config, error) {
	c := config{
		listen:    h.Setting("listen", "127.0.0.1:1883"),
		tlsListen: h.Setting("tls_listen", ""),
		dataDir:   h.Setting("data_dir", ""),
		tlsCert:   h.Setting("tls_cert_file", ""),
		tlsKey:    h.Setting("tls_key_file", ""),

		tlsClientCA: h.Setting("tls_client_ca_file", ""),
	}
	var errs []error
	num := func(key string, def, lo, hi int) int {
		s := h.Setting(key, "")
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("setting %s: want a whole number from %d to %d, got %q", key, lo, hi, s))
			return def
		}
		return n
	}
	c.maxPacketSize = num("max_packet_size", packet.DefaultMaxPacketSize, 64, packet.MaxRemainingLength+5)
	c.receiveMaximum = num("receive_maximum", 1024, 1, 65535)
	c.topicAliasMax = num("topic_alias_maximum", 64, 0, 65535)
	c.maxKeepAlive = num("max_keep_alive", 0, 0, 65535)
	c.maxQueued = num("max_queued", 1000, 0, 1<<24)
	c.maxExpiry = uint32(num("max_session_expiry", 7*24*3600, 0, 1<<31-1))
	ct := num("connect_timeout_ms", 10000, 1, 3600_000)
	c.connectTimeout = time.Duration(ct) * time.Millisecond
	switch v := h.Setting("tls_verify", "false"); v {
	case "true", "false":
		c.tlsVerify = v == "true"
	default:
		errs = append(errs, fmt.Errorf("setting tls_verify: want true or false, got %q", v))
	}
	if c.tlsVerify && c.tlsClientCA == "" {
		errs = append(errs, errors.New("setting tls_verify needs tls_client_ca_file, the CA that signs client certificates"))
	}
	if c.tlsListen != "" && (c.tlsCert == "" || c.tlsKey == "") {
		errs = append(errs, errors.New("setting tls_listen needs tls_cert_file and tls_key_file"))
	}
	return c, errors.Join(errs...)
}
