package suggest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAmong(t *testing.T) {
	sas := []string{"default", "pmp-secrets-access"}
	if diff := cmp.Diff([]string{"pmp-secrets-access"}, Among("pmp-secret-access", sas)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := Among("default", sas); got != nil {
		t.Errorf("a name among the candidates got %v", got)
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"abc", "abc", 0},
		{"abc", "abd", 1}, {"abc", "acb", 1}, {"abc", "abcd", 1}, {"kitten", "sitting", 3},
		{"ca", "abc", 3}, // optimal string alignment: no edit of a transposed pair
	} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestAmongKinds(t *testing.T) {
	cmds := []string{"help", "validate", "template", "policy", "doctor"}
	for _, tc := range []struct {
		name, in   string
		candidates []string
		want       []string
	}{
		{"another case", "Doctor", cmds, []string{"doctor"}},
		{"a typo", "valdiate", cmds, []string{"validate"}},
		{"two as close", "cat", []string{"bat", "car", "dog"}, []string{"bat", "car"}},
		{"nothing close", "rollout", cmds, nil},
		{"no candidates", "doctor", nil, nil},
		{"the part after the dot under another prefix", "a.secret-reader", []string{"b.secret-reader", "c.other"}, []string{"b.secret-reader"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Among(tc.in, tc.candidates)); diff != "" {
				t.Errorf("Among(%q, %q) (-want +got):\n%s", tc.in, tc.candidates, diff)
			}
		})
	}
}

func TestHintAndClause(t *testing.T) {
	for _, tc := range []struct {
		sugg         []string
		hint, clause string
	}{
		{nil, "", ""},
		{[]string{"VCS"}, "did you mean VCS?", "; did you mean VCS?"},
		{[]string{"a", "b"}, "did you mean a or b?", "; did you mean a or b?"},
	} {
		if got := Hint(tc.sugg); got != tc.hint {
			t.Errorf("Hint(%q) = %q, want %q", tc.sugg, got, tc.hint)
		}
		if got := Clause(tc.sugg); got != tc.clause {
			t.Errorf("Clause(%q) = %q, want %q", tc.sugg, got, tc.clause)
		}
	}
}
