package topics

import "strings"

// Overlap reports whether some topic matches both filters a and b (which
// must be valid filters; literal topics are filters too). The broker uses it
// to bound how many of one session's subscriptions a single message can
// match: of any n filters one topic matches, the last subscribed overlaps
// the other n-1, so refusing a filter that overlaps n-1 keeps every topic
// under n.
func Overlap(a, b string) bool {
	for i := 0; ; i++ {
		ta, resta, moreA := strings.Cut(a, tokenSepStr)
		tb, restb, moreB := strings.Cut(b, tokenSepStr)
		if i == 0 && (isWild(ta) && IsSystem(tb) || isWild(tb) && IsSystem(ta)) {
			return false // leading wildcards do not match system topics
		}
		if ta == fwc || tb == fwc {
			return true // both have a token here, and ">" takes any rest
		}
		if ta != pwc && tb != pwc && ta != tb {
			return false
		}
		if !moreA || !moreB {
			return moreA == moreB
		}
		a, b = resta, restb
	}
}

func isWild(token string) bool { return token == pwc || token == fwc }
