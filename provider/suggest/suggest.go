// Package suggest says what a mistyped name was probably meant to be, among
// the names it could have been (a subcommand, a Kubernetes object, a field,
// a PMP key), and words it as "did you mean A?".
package suggest

import (
	"slices"
	"strings"
)

// Among returns which of candidates name was probably meant to be, best
// first; none when name is one of them or nothing is close. It tries, in
// order: the same name in another case ("Vcs" -> "VCS"); the closest names
// by edit distance, ignoring case, within about one typo per six letters;
// for a dotted name, the same part after the first dot under another prefix
// ("BuildPackage.PrivateRegistryPassword" ->
// "OCIRegistry.PrivateRegistryPassword").
func Among(name string, candidates []string) []string {
	if slices.Contains(candidates, name) {
		return nil
	}
	lower := strings.ToLower(name)
	for _, c := range candidates {
		if strings.ToLower(c) == lower {
			return []string{c}
		}
	}
	limit := max(2, len([]rune(name))/6)
	best, bestD := []string(nil), limit+1
	for _, c := range candidates {
		d := distance(lower, strings.ToLower(c))
		switch {
		case d > limit:
		case d < bestD:
			best, bestD = []string{c}, d
		case d == bestD:
			best = append(best, c)
		}
	}
	if best != nil {
		return best
	}
	// The right key in the wrong module.
	if _, key, ok := strings.Cut(name, "."); ok {
		for _, c := range candidates {
			if _, ck, _ := strings.Cut(c, "."); strings.EqualFold(ck, key) {
				best = append(best, c)
			}
		}
	}
	return best
}

// Hint is "did you mean A?" or "did you mean A or B?" for suggestions, and
// "" for none.
func Hint(suggestions []string) string {
	if len(suggestions) == 0 {
		return ""
	}
	return "did you mean " + strings.Join(suggestions, " or ") + "?"
}

// Clause is Hint as a clause to append to a message ("there is no
// Deployment ns/web; did you mean webs?"), and "" for none.
func Clause(suggestions []string) string {
	if h := Hint(suggestions); h != "" {
		return "; " + h
	}
	return ""
}

// distance is the optimal string alignment distance: insertions, deletions,
// substitutions and transpositions of adjacent letters each count one.
func distance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// d[i][j] is the distance between s[:i] and t[:j]; three rows suffice.
	prev2 := make([]int, len(t)+1)
	prev := make([]int, len(t)+1)
	cur := make([]int, len(t)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(s); i++ {
		cur[0] = i
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(t)]
}
