package pmp

import (
	"slices"
	"strings"
)

// Suggest returns the catalog names a mistyped dotted name was probably
// meant to be, best first; none when nothing is close. It tries, in order:
// the same name in another case ("VCS.GithubAdminPat" ->
// "VCS.GithubAdminPAT"); the closest names by edit distance, ignoring
// case, within about one typo per six letters ("VCS.GithubAdminPTA",
// "VCS.Github.AdminPAT"); the same key name in other modules
// ("BuildPackage.PrivateRegistryPassword" -> the two registries'). A name
// in the catalog gets no suggestion.
func Suggest(name string) []string {
	if _, ok := byName[name]; ok {
		return nil
	}
	return suggest(name, Names())
}

// SuggestModule is Suggest for a top-level module name ("Vcs" -> "VCS").
func SuggestModule(name string) []string {
	if _, ok := byModule[name]; ok {
		return nil
	}
	names := make([]string, len(modules))
	for i, m := range modules {
		names[i] = m.Name
	}
	return suggest(name, names)
}

// SuggestAmong is Suggest for any names: which of candidates name was
// probably meant to be (a Kubernetes object's name, a subcommand).
func SuggestAmong(name string, candidates []string) []string {
	if slices.Contains(candidates, name) {
		return nil
	}
	return suggest(name, candidates)
}

func suggest(name string, candidates []string) []string {
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

// Unknown is a key of a secret that is not in the catalog.
type Unknown struct {
	// Name is the dotted name as the secret spells it.
	Name string
	// Index is its position among the names Check was given.
	Index int
	// Suggestions are what it was probably meant to be (see Suggest).
	Suggestions []string
}

// Check reports whether the flattened names are those of a PMP secret, and
// which of them are not in the catalog, sorted by name. A secret is a PMP
// secret when at least one name is under a catalog module spelled exactly
// ("VCS.", "Email.", ...): other JSON secrets mounted through the provider
// are not checked.
func Check(names []string) (isPMP bool, unknown []Unknown) {
	for i, n := range names {
		if mod, _, ok := strings.Cut(n, "."); ok {
			if _, ok := byModule[mod]; ok {
				isPMP = true
			}
		}
		if _, ok := byName[n]; !ok {
			unknown = append(unknown, Unknown{Name: n, Index: i, Suggestions: Suggest(n)})
		}
	}
	slices.SortFunc(unknown, func(a, b Unknown) int { return strings.Compare(a.Name, b.Name) })
	return isPMP, unknown
}

// Hint is "did you mean A?" or "did you mean A or B?" for suggestions, and
// "" for none.
func Hint(suggestions []string) string {
	if len(suggestions) == 0 {
		return ""
	}
	return "did you mean " + strings.Join(suggestions, " or ") + "?"
}
