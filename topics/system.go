package topics

// System topics are those whose first token starts with '$', such as
// "$SYS.conn.opened". The broker publishes its own events there, so a
// subscriber to ">" or "*.x" must not receive them by accident: a system
// topic is matched only by filters whose first token is that same literal
// token ("$SYS.>" matches "$SYS.conn.opened", ">" does not). MQTT 4.7.2
// treats "#" and "+" the same way, and NATS its "$" subjects alike.

// IsSystem reports whether topic (or a filter) starts with a system token.
func IsSystem(topic string) bool { return topic != "" && topic[0] == '$' }
