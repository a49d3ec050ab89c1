// Package topics implements topic syntax, validation and subscription
// matching for the msgtrans broker.
//
// A topic is a non-empty sequence of dot-separated tokens, for example
// "orders.eu.created". Tokens are non-empty and may contain any printable
// UTF-8 text except '.', whitespace and control characters. A topic is at most
// [MaxLen] bytes and [MaxTokens] tokens long.
//
// A filter is a topic that may also use two wildcard tokens:
//
//   - "*" matches exactly one token: "orders.*.created" matches
//     "orders.eu.created" but not "orders.created" or "orders.eu.x.created".
//   - ">" matches one or more trailing tokens and may only be the last token:
//     "orders.>" matches "orders.eu" and "orders.eu.created" but not "orders".
//     ">" alone matches every topic.
//
// The characters '*' and '>' are reserved: they may only appear as a whole
// token, and only in filters. A publish topic contains no wildcards.
//
// [Tree] is the subscription index of the broker: a trie keyed by token with
// separate branches for "*" and ">", plain subscribers and queue-group
// subscribers per node, and a bounded match cache: a topic is cached from its
// second miss on, and a change drops only the entries of the topics its filter
// matches. A cache hit costs one read lock and one map lookup and does not
// allocate. Topics whose first token starts with '$' are system topics (see
// [IsSystem]), which leading wildcards do not match. [Index] is a set of literal topics queried by filter, used for
// retained messages. [MatchFilter] is a small reference matcher for one
// filter and one topic.
package topics
