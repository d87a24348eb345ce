package pmp

import (
	"slices"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/suggest"
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
	return suggest.Among(name, Names())
}

// SuggestModule is Suggest for a top-level module name ("Vcs" -> "VCS").
func SuggestModule(name string) []string {
	if _, ok := byModule[name]; ok {
		return nil
	}
	return suggest.Among(name, ModuleNames())
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
