package topics

import (
	"errors"
	"strings"
	"testing"
)

// tokens returns a topic of n tokens "t.t.t...".
func tokens(n int) string {
	return strings.TrimSuffix(strings.Repeat("t.", n), ".")
}

func TestValidate(t *testing.T) {
	maxLen := strings.Repeat("a", MaxLen)
	// MaxTokens tokens and exactly MaxLen bytes.
	maxLenDotted := strings.Repeat(strings.Repeat("x", 31)+".", MaxTokens-1) + strings.Repeat("y", 32)
	tests := []struct {
		topic   string
		publish error // nil: valid publish topic
		filter  error // nil: valid filter
	}{
		// Valid everywhere.
		{"a", nil, nil},
		{"orders.eu.created", nil, nil},
		{"a-b_c:d.e~f.0", nil, nil},
		{"日本.東京.ü", nil, nil},
		{"emoji.🚀", nil, nil},
		{maxLen, nil, nil},
		{maxLenDotted, nil, nil},
		{tokens(MaxTokens), nil, nil},
		{"$SYS.x", nil, nil},
		{"a/b#c+d", nil, nil},

		// Wildcards: valid filters, invalid publish topics.
		{"*", ErrWildcardInPublish, nil},
		{">", ErrWildcardInPublish, nil},
		{"a.*", ErrWildcardInPublish, nil},
		{"a.>", ErrWildcardInPublish, nil},
		{"*.b.>", ErrWildcardInPublish, nil},
		{"*.*.*", ErrWildcardInPublish, nil},
		{"a.>.b", ErrWildcardInPublish, ErrFullWildcardNotLast},
		{">.>", ErrWildcardInPublish, ErrFullWildcardNotLast},
		{">.a", ErrWildcardInPublish, ErrFullWildcardNotLast},

		{"", ErrEmpty, ErrEmpty},

		{"a..b", ErrEmptyToken, ErrEmptyToken},
		{".a", ErrEmptyToken, ErrEmptyToken},
		{"a.", ErrEmptyToken, ErrEmptyToken},
		{".", ErrEmptyToken, ErrEmptyToken},
		{"a.*.", ErrWildcardInPublish, ErrEmptyToken},

		{"a b", ErrBadChar, ErrBadChar},
		{"a\tb", ErrBadChar, ErrBadChar},
		{"a\r", ErrBadChar, ErrBadChar},
		{"a\nb", ErrBadChar, ErrBadChar},
		{"a\x00", ErrBadChar, ErrBadChar},
		{"a\x1fb", ErrBadChar, ErrBadChar},
		{"a\x7fb", ErrBadChar, ErrBadChar},
		{"a\u00a0b", ErrBadChar, ErrBadChar}, // no-break space
		{"a\u2028b", ErrBadChar, ErrBadChar}, // line separator
		{"a\u0085b", ErrBadChar, ErrBadChar}, // C1 control
		{"a\xffb", ErrBadChar, ErrBadChar},   // invalid UTF-8
		{"a\xc3", ErrBadChar, ErrBadChar},    // truncated UTF-8

		{"a*", ErrWildcardInToken, ErrWildcardInToken},
		{"b>c", ErrWildcardInToken, ErrWildcardInToken},
		{"*x", ErrWildcardInToken, ErrWildcardInToken},
		{"a.**", ErrWildcardInToken, ErrWildcardInToken},
		{"a.>>", ErrWildcardInToken, ErrWildcardInToken},
		{"a.*>", ErrWildcardInToken, ErrWildcardInToken},

		{maxLen + "a", ErrTooLong, ErrTooLong},
		{tokens(MaxTokens + 1), ErrTooDeep, ErrTooDeep},
		{tokens(MaxTokens) + ".>", ErrTooDeep, ErrTooDeep},
	}
	for _, tt := range tests {
		got := ValidatePublish(tt.topic)
		if !errors.Is(got, tt.publish) || (got == nil) != (tt.publish == nil) {
			t.Errorf("ValidatePublish(%.40q) = %v, want %v", tt.topic, got, tt.publish)
		}
		got = ValidateFilter(tt.topic)
		if !errors.Is(got, tt.filter) || (got == nil) != (tt.filter == nil) {
			t.Errorf("ValidateFilter(%.40q) = %v, want %v", tt.topic, got, tt.filter)
		}
		if got != nil && !strings.HasPrefix(got.Error(), "topics: ") {
			t.Errorf("error %q lacks the package prefix", got)
		}
	}
	if len(maxLenDotted) != MaxLen {
		t.Fatalf("maxLenDotted is %d bytes", len(maxLenDotted))
	}
}

func TestValidateErrorNamesTopic(t *testing.T) {
	err := ValidatePublish("a..b")
	if err == nil || !strings.Contains(err.Error(), `"a..b"`) {
		t.Fatalf("error %v does not quote the topic", err)
	}
}

// A long invalid topic is quoted only in part, with its length: the
// message is for a person, and the topic may be as long as a frame.
func TestValidateErrorShortensLongTopic(t *testing.T) {
	err := ValidatePublish(strings.Repeat("a", 5000))
	if !errors.Is(err, ErrTooLong) || len(err.Error()) > 150 || !strings.Contains(err.Error(), `"aaaa`) || !strings.Contains(err.Error(), "(5000 bytes)") {
		t.Fatalf("error %q", err)
	}
}

func TestIsLiteral(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		{"a", true},
		{"a.b.c", true},
		{"a*.b", true}, // not a wildcard token (and not a valid filter)
		{"*", false},
		{">", false},
		{"a.*.c", false},
		{"a.>", false},
	}
	for _, tt := range tests {
		if got := IsLiteral(tt.filter); got != tt.want {
			t.Errorf("IsLiteral(%q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestMatchFilter(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a.b", "a", false},
		{"a", "a.b", false},
		{"a.b.c", "a.b.c", true},
		{"*", "a", true},
		{"*", "a.b", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"*.b.*", "a.b.c", true},
		{"*.b.*", "a.x.c", false},
		{">", "a", true},
		{">", "a.b.c", true},
		{"a.>", "a", false},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c", true},
		{"a.>", "b.c", false},
		{"*.>", "a", false},
		{"*.>", "a.b", true},
		{"a.*.>", "a.b.c.d", true},
		{"a.*.>", "a.b", false},
		// Invalid inputs never match.
		{"a.>.b", "a.x.b", false},
		{"a", "a ", false},
		{"*", "*", false},
		{"a.*", "a.*", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := MatchFilter(tt.filter, tt.topic); got != tt.want {
			t.Errorf("MatchFilter(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	var toks [MaxTokens]string
	n, ok := split("a.b.c", &toks)
	if !ok || n != 3 || toks[0] != "a" || toks[1] != "b" || toks[2] != "c" {
		t.Fatalf("split = %d %v %q", n, ok, toks[:n])
	}
	if _, ok := split(tokens(MaxTokens+1), &toks); ok {
		t.Fatal("split accepted too many tokens")
	}
	if n, ok := split(tokens(MaxTokens), &toks); !ok || n != MaxTokens {
		t.Fatalf("split(MaxTokens) = %d %v", n, ok)
	}
	if a := testing.AllocsPerRun(100, func() { split("orders.eu.created", &toks) }); a != 0 {
		t.Fatalf("split allocates %v times", a)
	}
}
