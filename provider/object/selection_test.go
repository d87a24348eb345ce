package object

import (
	"errors"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
)

func TestSelectIsBuiltOncePerSelection(t *testing.T) {
	s := &Version{Name: "pmp", VersionID: "v1", Value: []byte(`{"VCS": {"GithubAdminPAT": "a", "GitlabAdminPAT": ""}, "Email": {"SMTPPassword": "b"}}`)}
	all := files.Selection{Mode: 0o440}
	first, err := s.Select(all)
	if err != nil || len(first) != 2 {
		t.Fatalf("Select(all) = %d files, %v; want 2 (empty values skipped)", len(first), err)
	}
	again, _ := s.Select(all)
	if &again[0] != &first[0] {
		t.Error("the same selection was built twice")
	}
	vcs, err := s.Select(files.Selection{Keys: []string{"VCS.*"}, Layout: files.Nested, Mode: 0o440})
	if err != nil || len(vcs) != 1 || vcs[0].Path != "VCS/GithubAdminPAT" {
		t.Fatalf("Select(VCS.*, nested) = %+v, %v", vcs, err)
	}
	keep, _ := s.Select(files.Selection{Keys: []string{"VCS.*"}, Layout: files.Nested, KeepEmpty: true, Mode: 0o440})
	if len(keep) != 2 {
		t.Errorf("keepEmpty selection got %d files, want 2: selections differing only in keepEmpty share a result", len(keep))
	}
	mode, _ := s.Select(files.Selection{Mode: 0o400})
	if mode[0].Mode != 0o400 {
		t.Errorf("mode = %#o, want 0400: selections differing only in mode share a result", mode[0].Mode)
	}
}

func TestSelectKeepsErrorsAndIsBounded(t *testing.T) {
	s := &Version{Name: "pmp", VersionID: "v1", Value: []byte(`{"VCS": {"GithubAdminPAT": "a"}}`)}
	sel := files.Selection{Keys: []string{"Email.*"}}
	_, err := s.Select(sel)
	var noMatch *files.NoMatchError
	if !errors.As(err, &noMatch) {
		t.Fatalf("Select(Email.*) error = %v, want a NoMatchError", err)
	}
	if _, again := s.Select(sel); again != err {
		t.Errorf("second Select error = %v, want the kept %v", again, err)
	}
	for i := range 3 * maxSelections {
		if _, err := s.Select(files.Selection{Dir: "d" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.selections); n > maxSelections {
		t.Errorf("%d selections kept, want at most %d", n, maxSelections)
	}
	if _, kept := s.selections[selectionKeyOf(files.Selection{Dir: "d" + string(rune('a'+3*maxSelections-1))})]; !kept {
		t.Error("the newest selection was not kept: a full cache must make room")
	}
}

func TestSelectOfAValueThatIsNotAnObject(t *testing.T) {
	s := &Version{Name: "plain", VersionID: "v1", Value: []byte("just-a-password")}
	if _, err := s.Select(files.Selection{}); err == nil {
		t.Fatal("Select of a plain value succeeded, want Entries' error")
	}
}

// TestSelectionKeysAreNotConfused: patterns that would join to the same
// text are different selections.
func TestSelectionKeysAreNotConfused(t *testing.T) {
	for _, pair := range [][2][]string{
		{{"a", "b"}, {`a" "b`}},
		{{"a,b"}, {"a", "b"}},
		{{""}, nil},
	} {
		if selectionKeyOf(files.Selection{Keys: pair[0]}) == selectionKeyOf(files.Selection{Keys: pair[1]}) {
			t.Errorf("patterns %q and %q have one key", pair[0], pair[1])
		}
	}
}
