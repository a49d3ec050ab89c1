package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/msgtrans/msgtrans/topics"
)

// Topic mapping between MQTT and native topics (docs/mqtt.md has the table).
//
// MQTT levels are separated by '/', native tokens by '.'. A level becomes a
// token as it is, except for the bytes a native token cannot hold, which
// are written %XX (two upper-case hex digits): '%' itself, '.', '*', '>',
// ASCII space and control characters, and each byte of a Unicode space or
// control character. An empty level becomes the token "%" alone. In a
// filter, the level '+' becomes '*' and '#' becomes '>'.
//
// The mapping is a bijection between the MQTT topics it accepts and the
// native topics it produces: a native topic reaches MQTT only if mapping
// its MQTT form back gives the same native topic (so "a%41", "50%" or
// "a/b" as a native token are not delivered to MQTT: they have no MQTT
// form that maps back to them). What does not fit the native limits
// (topics.MaxLen bytes, topics.MaxTokens tokens once mapped) is refused.

// ErrUnmappable is the error of a topic or filter that has no form on the
// other side.
var ErrUnmappable = errors.New("mqtt: topic cannot be mapped")

const hexDigits = "0123456789ABCDEF"

// needsEscape reports whether the ASCII byte c must be written %XX.
func needsEscape(c byte) bool {
	return c == '%' || c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f
}

// appendLevel appends the native token of one MQTT level.
func appendLevel(dst []byte, level string) []byte {
	if level == "" {
		return append(dst, '%')
	}
	for i := 0; i < len(level); {
		c := level[i]
		if c < utf8.RuneSelf {
			if needsEscape(c) {
				dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
			} else {
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(level[i:])
		if r == utf8.RuneError && size == 1 || unicode.IsSpace(r) || unicode.IsControl(r) {
			for j := i; j < i+size; j++ {
				dst = append(dst, '%', hexDigits[level[j]>>4], hexDigits[level[j]&15])
			}
		} else {
			dst = append(dst, level[i:i+size]...)
		}
		i += size
	}
	return dst
}

// plainLevels reports whether an MQTT topic maps by replacing '/' with
// '.' alone: no byte to escape, no empty level, ASCII only.
func plainLevels(t []byte) bool {
	if len(t) == 0 || t[0] == '/' || t[len(t)-1] == '/' {
		return false
	}
	for i, c := range t {
		if c >= utf8.RuneSelf || needsEscape(c) || c == '/' && t[i-1] == '/' {
			return false
		}
	}
	return true
}

// ToNative maps an MQTT topic name (no wildcards: the packet reader has
// checked it) to its native topic. buf is scratch space that may be
// reused; the result is a new string.
func ToNative(mqttTopic []byte, buf []byte) (string, []byte, error) {
	b := buf[:0]
	if plainLevels(mqttTopic) {
		b = append(b, mqttTopic...)
		for i, c := range b {
			if c == '/' {
				b[i] = '.'
			}
		}
	} else {
		for i, level := range strings.Split(string(mqttTopic), "/") {
			if i > 0 {
				b = append(b, '.')
			}
			b = appendLevel(b, level)
		}
	}
	if err := topics.ValidatePublishBytes(b); err != nil {
		return "", b, fmt.Errorf("%w: %q: %w", ErrUnmappable, truncate(string(mqttTopic)), err)
	}
	return string(b), b, nil
}

// Filter is an MQTT topic filter mapped to native filters: one, or two
// for a filter ending in "/#", which in MQTT also matches its parent
// level ("a/#" matches "a"): "a.>" and "a".
type Filter struct {
	Native []string
	Queue  string // the queue group of a shared subscription
}

// FilterToNative maps an MQTT topic filter, $share/{group}/{filter}
// included, to native filters.
func FilterToNative(mqttFilter string) (Filter, error) {
	var f Filter
	filter := mqttFilter
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		group, tf, ok := strings.Cut(rest, "/")
		if !ok || group == "" || tf == "" {
			return f, fmt.Errorf("%w: %q: not $share/{name}/{filter}", ErrUnmappable, truncate(mqttFilter))
		}
		f.Queue = string(appendLevel(nil, group))
		filter = tf
	}
	levels := strings.Split(filter, "/")
	var b []byte
	for i, level := range levels {
		if i > 0 {
			b = append(b, '.')
		}
		switch level {
		case "+":
			b = append(b, '*')
		case "#":
			b = append(b, '>')
		default:
			b = appendLevel(b, level)
		}
	}
	f.Native = append(f.Native, string(b))
	if n := len(levels); n > 1 && levels[n-1] == "#" {
		f.Native = append(f.Native, string(b[:len(b)-2])) // without ".>"
	}
	for _, nf := range f.Native {
		if err := topics.ValidateFilter(nf); err != nil {
			return Filter{}, fmt.Errorf("%w: %q: %w", ErrUnmappable, truncate(mqttFilter), err)
		}
	}
	return f, nil
}

// FromNative maps a native topic to its MQTT topic name, appended to dst,
// or returns ErrUnmappable if it has none (see the package comment).
func FromNative(dst []byte, native string) ([]byte, error) {
	start := len(dst)
	plain := true
	for i := 0; i < len(native); i++ {
		switch native[i] {
		case '%', '/', '+', '#':
			plain = false
		}
	}
	if plain {
		dst = append(dst, native...)
		for i := start; i < len(dst); i++ {
			if dst[i] == '.' {
				dst[i] = '/'
			}
		}
		return dst, nil
	}
	var level []byte
	for i, tok := range strings.Split(native, ".") {
		if i > 0 {
			dst = append(dst, '/')
		}
		var ok bool
		level, ok = decodeToken(level[:0], tok)
		// Canonical only: mapping the level back must give the token.
		if !ok || string(appendLevel(nil, string(level))) != tok {
			return dst[:start], fmt.Errorf("%w: native topic %q has no MQTT form", ErrUnmappable, truncate(native))
		}
		dst = append(dst, level...)
	}
	return dst, nil
}

// decodeToken undoes appendLevel for one token; it refuses what no level
// could be: '/', '+', '#', NUL, bad escapes, bad UTF-8.
func decodeToken(dst []byte, tok string) ([]byte, bool) {
	if tok == "%" {
		return dst, true
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c == '%' {
			if i+2 >= len(tok) {
				return dst, false
			}
			hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
			if hi < 0 || lo < 0 {
				return dst, false
			}
			c = byte(hi<<4 | lo)
			i += 2
		}
		if c == '/' || c == '+' || c == '#' || c == 0 {
			return dst, false
		}
		dst = append(dst, c)
	}
	return dst, utf8.Valid(dst)
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// truncate shortens a topic quoted in an error.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
