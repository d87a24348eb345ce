package provider

import (
	"errors"
	"io/fs"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/jmes"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// jmesPathFiles are the files an object's jmesPath entries select from its
// JSON value. mode is the object's. An optional entry whose path selects
// nothing is left out, and added to skipped.
func jmesPathFiles(obj params.Object, s *object.Version, mode fs.FileMode, skipped *[]Skip) ([]files.File, error) {
	if len(obj.JMESPath) == 0 {
		return nil, nil
	}
	what := noun(obj)
	doc, err := jmes.Parse(s.Value)
	if err != nil {
		return nil, mounterr.New(mounterr.Invalid, "objects entry %s: jmesPath selects from a JSON value, but %s %s: %v: store a JSON document, or remove jmesPath",
			obj.Name, what, s.Name, err)
	}
	out := make([]files.File, 0, len(obj.JMESPath))
	for i, j := range obj.JMESPath {
		v, err := j.Path.Search(doc)
		// Exactly ErrNoMatch: not the unquoted hyphen's, which wraps it with a
		// hint, a typo to fix rather than a key that is not there.
		if err == jmes.ErrNoMatch && j.Optional {
			*skipped = append(*skipped, Skip{Object: obj.Name, Noun: what, JMESPath: i, Alias: j.Alias})
			continue
		}
		if err != nil {
			kind := mounterr.Invalid
			if errors.Is(err, jmes.ErrNoMatch) {
				kind = mounterr.NotFound
			}
			return nil, mounterr.New(kind, "objects entry %s: jmesPath[%d] path %s (objectAlias %s) in %s %s: %v",
				obj.Name, i, mounterr.Quote(j.Path.String()), j.Alias, what, s.Name, err)
		}
		m := mode
		if j.Mode != 0 {
			m = j.Mode
		}
		f, err := files.Whole(j.Alias, v, m)
		if err != nil {
			return nil, mounterr.New(mounterr.Invalid, "objects entry %s: jmesPath[%d]: %v", obj.Name, i, err)
		}
		out = append(out, f)
	}
	return out, nil
}
