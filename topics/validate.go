package topics

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Limits of a topic or filter.
const (
	MaxLen    = 1024 // bytes
	MaxTokens = 32
)

// Sentinel errors. Validation and tree errors wrap one of them together with
// the offending topic, so use [errors.Is] to test for them.
var (
	ErrEmpty               = errors.New("topics: empty topic")
	ErrEmptyToken          = errors.New("topics: empty token")
	ErrBadChar             = errors.New("topics: invalid character")
	ErrWildcardInToken     = errors.New("topics: wildcard inside a token")
	ErrFullWildcardNotLast = errors.New("topics: full wildcard not last")
	ErrWildcardInPublish   = errors.New("topics: wildcard in publish topic")
	ErrTooLong             = errors.New("topics: topic too long")
	ErrTooDeep             = errors.New("topics: too many tokens")
	ErrNotFound            = errors.New("topics: subscription not found")
	ErrExists              = errors.New("topics: subscription exists")
)

const (
	sep         = '.'
	pwc         = "*" // partial wildcard: one token
	fwc         = ">" // full wildcard: one or more trailing tokens
	pwcByte     = '*'
	fwcByte     = '>'
	tokenSepStr = "."
)

// ValidatePublish reports whether topic is a valid publish topic: well formed
// and without wildcards. The error wraps one of the sentinel errors.
func ValidatePublish(topic string) error {
	if err := check(topic, false); err != nil {
		return wrap(err, topic)
	}
	return nil
}

// ValidatePublishBytes is ValidatePublish for a topic held in a byte slice,
// such as a read buffer; it does not allocate for a valid topic.
func ValidatePublishBytes(topic []byte) error {
	if len(topic) == 0 {
		return wrap(ErrEmpty, "")
	}
	// check keeps no reference to the string, so viewing the bytes in place is safe.
	if err := check(unsafe.String(&topic[0], len(topic)), false); err != nil {
		return wrap(err, string(topic))
	}
	return nil
}

// ValidateFilter reports whether filter is a valid subscription filter. The
// error wraps one of the sentinel errors.
func ValidateFilter(filter string) error {
	if err := check(filter, true); err != nil {
		return wrap(err, filter)
	}
	return nil
}

// wrap adds the topic to err for whoever reads the message; a long one is
// cut short, since an invalid topic can be as long as a frame allows.
func wrap(err error, topic string) error {
	if len(topic) > shownLen {
		return fmt.Errorf("%w: %q... (%d bytes)", err, topic[:shownLen], len(topic))
	}
	return fmt.Errorf("%w: %q", err, topic)
}

// shownLen is how much of a topic an error message quotes.
const shownLen = 64

// IsLiteral reports whether filter contains no wildcard token. It does not
// validate filter.
func IsLiteral(filter string) bool {
	for tok := range strings.SplitSeq(filter, tokenSepStr) {
		if tok == pwc || tok == fwc {
			return false
		}
	}
	return true
}

// MatchFilter reports whether topic matches filter, system topics
// included (see [IsSystem]). It is a simple reference
// implementation: it validates both arguments (an invalid filter or topic
// never matches) and allocates. Use a [Tree] for many filters.
func MatchFilter(filter, topic string) bool {
	if check(filter, true) != nil || check(topic, false) != nil {
		return false
	}
	f := strings.Split(filter, tokenSepStr)
	t := strings.Split(topic, tokenSepStr)
	if IsSystem(topic) && (f[0] == pwc || f[0] == fwc) {
		return false // see IsSystem
	}
	for i, ft := range f {
		if ft == fwc {
			return len(t) > i
		}
		if i >= len(t) || (ft != pwc && ft != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

// check validates s as a filter (wildcards allowed) or as a publish topic and
// returns a bare sentinel error, so that callers on the hot path do not
// allocate unless s is invalid. Problems are reported left to right.
func check(s string, filter bool) error {
	if s == "" {
		return ErrEmpty
	}
	if len(s) > MaxLen {
		return ErrTooLong
	}
	start, ntok := 0, 1
	wild := false // the current token contains '*' or '>'
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == sep:
				if err := checkToken(s[start:i], wild, false, filter); err != nil {
					return err
				}
				ntok++
				if ntok > MaxTokens {
					return ErrTooDeep
				}
				start, wild = i+1, false
			case c <= ' ' || c == 0x7f:
				return ErrBadChar
			case c == pwcByte || c == fwcByte:
				wild = true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unicode.IsSpace(r) || unicode.IsControl(r) {
			return ErrBadChar
		}
		i += size
	}
	return checkToken(s[start:], wild, true, filter)
}

func checkToken(tok string, wild, last, filter bool) error {
	switch {
	case tok == "":
		return ErrEmptyToken
	case !wild:
		return nil
	case len(tok) > 1:
		return ErrWildcardInToken
	case !filter:
		return ErrWildcardInPublish
	case tok == fwc && !last:
		return ErrFullWildcardNotLast
	}
	return nil
}

// split cuts a validated topic into tokens without allocating. It reports
// false if s has more than MaxTokens tokens (never the case after check).
func split(s string, toks *[MaxTokens]string) (int, bool) {
	n := 0
	for {
		if n == MaxTokens {
			return n, false
		}
		i := strings.IndexByte(s, sep)
		if i < 0 {
			toks[n] = s
			return n + 1, true
		}
		toks[n] = s[:i]
		n++
		s = s[i+1:]
	}
}
