package wire

// Names that identify the native protocol on transports that negotiate one.
const (
	// ALPN is the TLS application protocol a QUIC client offers.
	ALPN = "msgtrans/1"
	// Subprotocol is the WebSocket subprotocol (Sec-WebSocket-Protocol).
	Subprotocol = "msgtrans.v1"
	// DefaultWebSocketPath is the URL path the broker upgrades by default.
	DefaultWebSocketPath = "/ws"
)
