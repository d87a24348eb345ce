package provider

import (
	"context"
	"errors"
	"io/fs"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/jmes"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/secrets"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/ssm"
)

// paramKey is one Parameter Store object of a Mount: a parameter version
// in a region.
type paramKey struct {
	region string
	ref    ssm.Ref
}

func ssmRef(obj params.Object) ssm.Ref {
	return ssm.Ref{Name: obj.Name, Version: obj.Version, Label: obj.VersionLabel}
}

// parameters fetches every Parameter Store object of req before the files
// are built: the parameters of one region go in as few GetParameters calls
// as the batch size allows, instead of one call per object.
func (p *Provider) parameters(ctx context.Context, req *params.Request, base identity.Identity, token string) (map[paramKey]*secrets.Secret, error) {
	byRegion := map[string][]ssm.Ref{}
	var regions []string
	for _, obj := range req.Objects {
		if obj.Type != params.SSMParameter {
			continue
		}
		region := base.Region
		if obj.Region != "" {
			region = obj.Region // an ARN names its own region
		}
		if _, seen := byRegion[region]; !seen {
			regions = append(regions, region)
		}
		byRegion[region] = append(byRegion[region], ssmRef(obj))
	}
	if len(regions) == 0 {
		return nil, nil
	}
	out := map[paramKey]*secrets.Secret{}
	for _, region := range regions {
		id := base
		id.Region = region
		got, err := p.ssm.Get(ctx, id.Key(), region, byRegion[region], podCredentials{c: p.credentials, id: id, token: token})
		if err != nil {
			return nil, err
		}
		for ref, s := range got {
			out[paramKey{region, ref}] = s
		}
	}
	return out, nil
}

// jmesPathFiles are the files an object's jmesPath entries select from its
// JSON value. mode is the object's.
func jmesPathFiles(obj params.Object, s *secrets.Secret, mode fs.FileMode) ([]files.File, error) {
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
