package sdk

// Abort closes the connection as if it had been lost: what is buffered is
// still written, but without the goodbye that Close sends, so the broker
// publishes the connection's will (see Will). It is for protocol code whose
// own client vanished or asked for its will (an MQTT client that lost its
// network connection, or sent DISCONNECT with reason 0x04), and which must
// let the broker treat the session accordingly. Like Close, it waits for
// the handlers queued by then, and is safe to call more than once.
func (c *Conn) Abort() error { return c.close(false) }
