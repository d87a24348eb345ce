// Package object is a fetched object version, whichever backend read it (a
// Secrets Manager secret, a Parameter Store parameter): its names, version
// and value, the value flattened once, and the files of each selection of
// it, built once and shared by every Mount that reads the version the same
// way.
package object

import (
	"sync"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
)

// MaxValueBytes is the most a value the provider keeps holds: what a
// Secrets Manager secret holds (SecretString or SecretBinary), more than a
// Parameter Store parameter does. A backend refuses a larger answer: no
// value the provider keeps, flattens or returns is larger.
const MaxValueBytes = 65536

// Version is a fetched object version. It is shared between Mounts and must
// not be modified.
type Version struct {
	ARN, Name string
	// VersionID is the backend's version of the value (a Secrets Manager
	// VersionId, a parameter's version number); read with a failover
	// region, it names the region that served it (failover.Version).
	VersionID string
	Value     []byte

	// entries, and the selections with their Memos (the values derived
	// from them, such as the server's responses): keyed by identity (a
	// Version is loaded for one cache key, which holds the reader's
	// identity, and is never shared across keys).
	once    sync.Once
	entries []flatten.Entry
	flatErr error

	selMu      sync.Mutex
	selections map[selectionKey]selected
}

// Entries returns the flattened value, computed once per version.
func (v *Version) Entries() ([]flatten.Entry, error) {
	v.once.Do(func() { v.entries, v.flatErr = flatten.Flatten(v.Value) })
	return v.entries, v.flatErr
}

// Per-item overheads in Size: a Version with its maps and locks, an entry
// (string and slice headers), a selected file (its File and headers, and
// its file and version in the response a Memo keeps).
const (
	versionOverhead = 1024
	entryOverhead   = 64
	fileOverhead    = 320
)

// Size estimates the bytes v holds: its value, its flattened entries and
// one selection of files of them (a selection's contents share the
// entries' bytes; its paths are counted again), for a cache's bound in
// bytes. v is flattened if it was not yet.
func (v *Version) Size() int64 {
	entries, _ := v.Entries()
	n := versionOverhead + len(v.ARN) + len(v.Name) + len(v.VersionID) + len(v.Value)
	for _, e := range entries {
		n += entryOverhead + len(e.Name) + len(e.Value) + fileOverhead + len(e.Name)
	}
	return int64(n)
}
