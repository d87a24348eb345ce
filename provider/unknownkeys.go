package provider

import (
	"fmt"
	"strings"
	"sync"

	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/suggest"
)

// PMP reads its credentials by exact, case-sensitive names: a key of the
// secret that is not in the catalog is a credential PMP never sees. The
// provider says so once per secret version in its log (for a PMP secret:
// one with a key under a catalog module), and fails the Mount with the
// same message when the objects entry sets strictKeys: true.
//
// A key name is data of the secret: a value pasted where a name goes (a
// token as a key) would otherwise be written to the provider's log and
// the pod's events. So the message names a key only when it is a near-miss
// of a catalog key, and then with the suggestion; any other key is named
// by its position among the secret's keys, its length and the catalog
// module it is under.

// strictKeys fails a Mount of a secret with keys outside the catalog.
func strictKeys(obj params.Object, s *object.Version, entries []flatten.Entry) error {
	if !obj.StrictKeys {
		return nil
	}
	if _, unknown := pmp.Check(names(entries)); len(unknown) > 0 {
		return mounterr.New(mounterr.Invalid, "%s (strictKeys: true)", unknownKeysMessage(s.Name, unknown, len(entries)))
	}
	return nil
}

// warnUnknownKeys logs, once per secret version, the keys of a PMP secret
// that are not in the catalog. Once per version, not per cached Secret:
// the secret cache fetches a version again after every freshness window
// and per identity, and the driver republishes every minute.
func (p *Provider) warnUnknownKeys(obj params.Object, s *object.Version) {
	if obj.Flatten == params.FlattenOff || obj.StrictKeys || !p.catalogChecked.add(version{s.ARN, s.Name, s.VersionID}) {
		return // strictKeys failed the Mount instead; the failure is logged
	}
	entries, err := s.Entries()
	if err != nil {
		return // not a JSON object: not a PMP secret
	}
	isPMP, unknown := pmp.Check(names(entries))
	if !isPMP || len(unknown) == 0 {
		return
	}
	klog.InfoS("PMP secret has keys that are not in the PMP catalog", "secret", s.Name, "versionId", s.VersionID,
		"problem", unknownKeysMessage(s.Name, unknown, len(entries)))
}

func names(entries []flatten.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name
	}
	return out
}

// maxListed bounds the keys one message names.
const maxListed = 10

// unknownKeysMessage names the unknown keys of a secret of total keys:
// by name with the suggestion when there is one, else by position and
// length (see above); and says what to do.
func unknownKeysMessage(secret string, unknown []pmp.Unknown, total int) string {
	var b strings.Builder
	them := "them"
	if len(unknown) == 1 {
		them = "it"
		fmt.Fprintf(&b, "secret %s has a key that is not in the PMP catalog, so PMP never reads it (names are case-sensitive): ", secret)
	} else {
		fmt.Fprintf(&b, "secret %s has %d keys that are not in the PMP catalog, so PMP never reads them (names are case-sensitive): ", secret, len(unknown))
	}
	unnamed := false
	for i, u := range unknown {
		if i == maxListed {
			fmt.Fprintf(&b, ", and %d more", len(unknown)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if len(u.Suggestions) > 0 {
			fmt.Fprintf(&b, "%q (%s)", u.Name, suggest.Hint(u.Suggestions))
			continue
		}
		unnamed = true
		fmt.Fprintf(&b, "key %d of %d in name order (", u.Index+1, total)
		if mod, _, ok := strings.Cut(u.Name, "."); ok && isModule(mod) {
			fmt.Fprintf(&b, "under %s, ", mod)
		}
		fmt.Fprintf(&b, "%d bytes)", len(u.Name))
	}
	fmt.Fprintf(&b, ": rename %s as the catalog spells %s (pmp-secrets-provider template prints the catalog", them, them)
	if unnamed {
		b.WriteString("; validate --secret NAME, run with your own AWS credentials, names every key: a key near no catalog name is not named here, as it may be a value pasted as a name)")
	} else {
		b.WriteString(", validate checks a secret)")
	}
	return b.String()
}

// versionSet remembers the secret versions already checked, up to
// maxChecked; past it, it starts afresh (and a version may be reported
// once more). The zero value is ready to use.
type versionSet struct {
	mu   sync.Mutex
	seen map[version]struct{}
}

// version names a secret version (a struct, not a joined string: no
// allocation per Mount).
type version struct{ arn, name, id string }

const maxChecked = 4096

// add adds key and reports whether it was new.
func (v *versionSet) add(key version) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.seen[key]; ok {
		return false
	}
	if v.seen == nil || len(v.seen) >= maxChecked {
		v.seen = make(map[version]struct{})
	}
	v.seen[key] = struct{}{}
	return true
}

// isModule reports whether name is a catalog module, spelled exactly.
func isModule(name string) bool {
	_, ok := pmp.FindModule(name)
	return ok
}
