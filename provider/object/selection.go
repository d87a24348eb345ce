package object

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
)

// maxSelections bounds the selections kept per version: an object is
// mounted by a handful of SecretProviderClasses at most. When full, a random
// selection makes room, the rule of params.Parser's cache too.
const maxSelections = 8

type selected struct {
	files []files.File
	memo  *Memo
	err   error
}

// Memo keeps one value derived from a selection's files, computed once
// and dropped with the selection: the server keeps there the response it
// builds from them, shared by every Mount that returns exactly these files.
// Its type is the caller's (Derive): this package never names it.
type Memo struct {
	once sync.Once
	v    any
	done atomic.Bool
}

// Derive returns m's value, computing it with f the first time. Every
// caller of one Memo derives the same type T: the value is the selection's
// one derived value, not a map of them.
func Derive[T any](m *Memo, f func() T) T {
	m.once.Do(func() { m.v = f(); m.done.Store(true) })
	return m.v.(T)
}

// Done reports whether the value has been computed.
func (m *Memo) Done() bool { return m.done.Load() }

// Select returns the files of the flattened value for sel, sorted by path,
// built once per version and selection: every republish of every pod that mounts
// this version the same way shares them. The files and their contents are
// shared and must not be modified. It fails as Entries does, or as
// files.Select does.
func (s *Version) Select(sel files.Selection) ([]files.File, error) {
	out, _, err := s.SelectMemo(sel)
	return out, err
}

// SelectMemo is Select, with the selection's Memo.
func (s *Version) SelectMemo(sel files.Selection) ([]files.File, *Memo, error) {
	entries, err := s.Entries()
	if err != nil {
		return nil, nil, err
	}
	key := selectionKeyOf(sel)
	s.selMu.Lock()
	got, ok := s.selections[key]
	s.selMu.Unlock()
	if ok {
		return got.files, got.memo, got.err
	}
	out, err := files.Select(entries, sel)
	// Sorted by path once here, so a Mount of one object need not sort.
	slices.SortFunc(out, func(a, b files.File) int { return strings.Compare(a.Path, b.Path) })
	s.selMu.Lock()
	if s.selections == nil {
		s.selections = make(map[selectionKey]selected, 1)
	}
	if _, dup := s.selections[key]; !dup && len(s.selections) >= maxSelections {
		for k := range s.selections { // map order is random
			delete(s.selections, k)
			break
		}
	}
	got = selected{files: out, memo: &Memo{}, err: err}
	s.selections[key] = got
	s.selMu.Unlock()
	return got.files, got.memo, got.err
}

// selectionKey is every field of a files.Selection, comparable.
type selectionKey struct {
	Dir string
	// Keys are the selection's patterns, each quoted (%q): data compared
	// whole, never split back.
	Keys      string
	Layout    files.Layout
	KeepEmpty bool
	Mode      fs.FileMode
}

func selectionKeyOf(sel files.Selection) selectionKey {
	return selectionKey{Dir: sel.Dir, Keys: fmt.Sprintf("%q", sel.Keys), Layout: sel.Layout, KeepEmpty: sel.KeepEmpty, Mode: sel.Mode}
}
