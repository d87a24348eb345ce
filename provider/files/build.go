package files

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
)

// Layout is how dotted names become paths.
type Layout int

const (
	// Dotted keeps the name as one file: VCS.GithubAdminPAT.
	Dotted Layout = iota
	// Nested makes each segment a directory: VCS/GithubAdminPAT.
	Nested
)

// File is one file of the volume.
type File struct {
	Path     string
	Mode     fs.FileMode
	Contents []byte
}

// Selection says which flattened entries of one object become files, and how.
type Selection struct {
	// Dir is the directory the files go in; empty is the volume root.
	Dir string
	// Keys are globs on dotted names; empty selects every key. '*' matches
	// any run of characters, dots included, so "VCS.*" is all of VCS.
	Keys      []string
	Layout    Layout
	KeepEmpty bool
	Mode      fs.FileMode
}

// Select builds the files of a flattened object. It fails, naming the key,
// when a selected name cannot be a safe path, and naming the pattern, when a
// pattern selects no key that has a value.
func Select(entries []flatten.Entry, sel Selection) ([]File, error) {
	matched := make([]bool, len(sel.Keys))
	var out []File
	for _, e := range entries {
		if len(sel.Keys) > 0 {
			hit := false
			for i, k := range sel.Keys {
				if ok, _ := path.Match(k, e.Name); ok {
					if len(e.Value) > 0 || sel.KeepEmpty {
						matched[i] = true
					}
					hit = true
				}
			}
			if !hit {
				continue
			}
		}
		if len(e.Value) == 0 && !sel.KeepEmpty {
			continue
		}
		if err := CheckDottedName(e.Name); err != nil {
			return nil, fmt.Errorf("key %q cannot be a file name: it %w", e.Name, err)
		}
		p := e.Name
		if sel.Layout == Nested {
			p = strings.ReplaceAll(p, ".", "/")
		} else if err := CheckElement(e.Name); err != nil { // one file: the whole name's length counts
			return nil, fmt.Errorf("key %q cannot be a file name: it %w", e.Name, err)
		}
		if sel.Dir != "" {
			p = sel.Dir + "/" + p
		}
		if err := CheckPath(p); err != nil {
			return nil, fmt.Errorf("key %q cannot be a file path: %q %w", e.Name, p, err)
		}
		out = append(out, File{Path: p, Mode: sel.Mode, Contents: e.Value})
	}
	for i, ok := range matched {
		if !ok {
			return nil, &NoMatchError{Pattern: sel.Keys[i]}
		}
	}
	return out, nil
}

// NoMatchError is a keys pattern that selected no key with a value.
type NoMatchError struct{ Pattern string }

func (e *NoMatchError) Error() string {
	return fmt.Sprintf("keys pattern %q matches no key that has a value", e.Pattern)
}

// Whole builds the single file of an object mounted as one value.
func Whole(name string, value []byte, mode fs.FileMode) (File, error) {
	if err := CheckPath(name); err != nil {
		return File{}, fmt.Errorf("file name %q %w: set objectAlias", name, err)
	}
	return File{Path: name, Mode: mode, Contents: value}, nil
}

// CheckVolume reports two files with the same path, or a file whose path is
// also a directory of another (possible with nested layout), naming both.
func CheckVolume(files []File) error {
	byPath := func(a, b File) int { return strings.Compare(a.Path, b.Path) }
	// The usual volume (one object's selection) comes sorted: no copy.
	if !slices.IsSortedFunc(files, byPath) {
		files = slices.Clone(files)
		slices.SortFunc(files, byPath)
	}
	for i := 1; i < len(files); i++ {
		if files[i-1].Path == files[i].Path {
			return fmt.Errorf("two objects or keys produce the same file %q: give one an objectAlias or narrow its keys", files[i].Path)
		}
	}
	nested := false
	for _, f := range files {
		if strings.Contains(f.Path, "/") {
			nested = true
			break
		}
	}
	if !nested { // no file is in a directory, so none can be another's directory
		return nil
	}
	set := make(map[string]bool, len(files))
	for _, f := range files {
		set[f.Path] = true
	}
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
			if set[dir] {
				return fmt.Errorf("%q is both a file and the directory of %q: use layout dotted or rename one key", dir, f.Path)
			}
		}
	}
	return nil
}
