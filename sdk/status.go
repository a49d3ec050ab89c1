package sdk

// NoResponders reports whether m is the broker's "no responders" status:
// the answer to a request whose topic had no subscriber, sent to the
// request's reply topic instead of a reply. Request turns it into
// ErrNoResponders; a subscription that receives replies itself (protocol
// code relaying them, say) tells it from a reply with this.
func (m *Msg) NoResponders() bool { return m.noResponders }
