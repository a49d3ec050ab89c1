package topics

import (
	"strings"
	"testing"
)

// Overlap agrees with MatchFilter: two filters overlap exactly when some
// topic matches both. Every filter of up to three tokens over a small
// alphabet (literals, a system token, "*" and ">") is paired with every
// other and checked against every topic of up to four tokens, which is
// deep enough to witness any overlap of such filters.
func TestOverlapAgreesWithMatching(t *testing.T) {
	literals := []string{"a", "b", "$s"}
	var filters, topicList []string
	var grow func(prefix []string, depth int, tokens []string, out *[]string)
	grow = func(prefix []string, depth int, tokens []string, out *[]string) {
		if len(prefix) > 0 {
			*out = append(*out, strings.Join(prefix, "."))
		}
		if len(prefix) == depth || (len(prefix) > 0 && prefix[len(prefix)-1] == ">") {
			return
		}
		for _, tok := range tokens {
			grow(append(prefix[:len(prefix):len(prefix)], tok), depth, tokens, out)
		}
	}
	grow(nil, 3, append(literals, "*", ">"), &filters)
	grow(nil, 4, append(literals, "c"), &topicList)
	for _, a := range filters {
		if ValidateFilter(a) != nil {
			continue
		}
		for _, b := range filters {
			if ValidateFilter(b) != nil {
				continue
			}
			want := false
			for _, topic := range topicList {
				if ValidatePublish(topic) == nil && MatchFilter(a, topic) && MatchFilter(b, topic) {
					want = true
					break
				}
			}
			if got := Overlap(a, b); got != want {
				t.Errorf("Overlap(%q, %q) = %v, want %v", a, b, got, want)
			}
		}
	}
}
