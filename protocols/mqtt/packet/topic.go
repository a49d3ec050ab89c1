package packet

import (
	"bytes"
	"unicode/utf8"
)

// validUTF8 reports whether s is well-formed UTF-8 (RFC 3629: no
// surrogates, no overlong forms) without U+0000, as every UTF-8 encoded
// string must be (3.1.1 [MQTT-1.5.3-1] and [MQTT-1.5.3-2], 5.0
// [MQTT-1.5.4-1] and [MQTT-1.5.4-2]). The control characters and
// non-characters that the specifications only advise against are allowed.
func validUTF8(s []byte) bool {
	for i, c := range s {
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.Valid(s[i:]) && bytes.IndexByte(s[i:], 0) < 0
		}
	}
	return true
}

// checkTopicName checks a topic name of a PUBLISH or a will: well-formed
// UTF-8 (malformed otherwise) without the wildcards '+' and '#'
// (3.1.1 [MQTT-3.3.2-2], 5.0 [MQTT-3.3.2-2]), which it reports as
// TopicNameInvalid. Emptiness is the caller's to judge: a 5.0 PUBLISH may
// have an empty topic name and a topic alias.
func (d *decoder) checkTopicName(s []byte, what string) {
	wild := false
scan:
	for i, c := range s {
		if c-0x2C < utf8.RuneSelf-0x2C {
			continue // ',' to DEL: most of a topic, and none of NUL, '#', '+'
		}
		switch {
		case c == '+' || c == '#':
			wild = true
		case c == 0:
			d.malformed(what + " contains U+0000")
			return
		case c >= utf8.RuneSelf:
			if !validUTF8(s[i:]) {
				d.malformed(what + " is not well-formed UTF-8 without U+0000")
				return
			}
			wild = wild || bytes.IndexAny(s[i:], "+#") >= 0
			break scan
		}
	}
	if wild {
		d.fail(TopicNameInvalid, what+" contains a wildcard")
	}
}

// sharePrefix begins a shared subscription's filter (5.0 §4.8.2).
const sharePrefix = "$share/"

// SplitShared splits a shared subscription's filter, $share/{name}/{filter}
// (5.0 §4.8.2), into the share name and the topic filter. ok is false if
// filter does not begin with "$share/". It does not check the parts: the
// Reader has checked the filters of the packets it returns.
func SplitShared(filter []byte) (name, topicFilter []byte, ok bool) {
	rest, ok := bytes.CutPrefix(filter, []byte(sharePrefix))
	if !ok {
		return nil, filter, false
	}
	name, topicFilter, _ = bytes.Cut(rest, []byte{'/'})
	return name, topicFilter, true
}

// checkFilter checks a topic filter of a SUBSCRIBE or UNSUBSCRIBE after
// its UTF-8 check: not empty (3.1.1 [MQTT-4.7.3-1], 5.0 [MQTT-4.7.3-1]),
// '#' alone in the last level and '+' alone in its level (3.1.1 and 5.0
// §4.7.1), and for a shared subscription a share name without '+' and
// '#' followed by '/' and a filter (5.0 [MQTT-4.8.2-1], [MQTT-4.8.2-2]).
// It reports TopicFilterInvalid and returns whether the filter is shared.
func (d *decoder) checkFilter(f []byte) (shared bool) {
	if len(f) == 0 {
		d.fail(TopicFilterInvalid, "empty topic filter")
		return false
	}
	name, rest, shared := SplitShared(f)
	if shared {
		if len(name) == 0 || len(rest) == 0 || bytes.IndexAny(name, "+#") >= 0 {
			d.fail(TopicFilterInvalid, "shared subscription is not $share/{name}/{filter}")
			return true
		}
		f = rest
	}
	for i, c := range f {
		switch c {
		case '#':
			if i != len(f)-1 || i > 0 && f[i-1] != '/' {
				d.fail(TopicFilterInvalid, "'#' is not alone in the last level")
				return shared
			}
		case '+':
			if i > 0 && f[i-1] != '/' || i < len(f)-1 && f[i+1] != '/' {
				d.fail(TopicFilterInvalid, "'+' is not alone in its level")
				return shared
			}
		}
	}
	return shared
}
