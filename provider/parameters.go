package provider

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/jmes"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/ssm"
)

// paramGroup is what the Parameter Store objects of one GetParameters
// batch share: a region, the role they are read as, and a freshness window.
type paramGroup struct {
	region string
	target identity.Target
	ttl    time.Duration
	// failover is the failoverRegion, empty without one.
	failover string
}

// paramKey is one Parameter Store object of a Mount: a parameter version
// in its group, and with a failover region, its replica there.
type paramKey struct {
	group   paramGroup
	ref     ssm.Ref
	replica ssm.Ref
}

// paramKeyOf is obj's key; base is the pod's identity.
func paramKeyOf(req *params.Request, base identity.Identity, obj params.Object) paramKey {
	g := paramGroup{region: base.Region, target: Target(req, obj), ttl: obj.SecretTTL, failover: req.FailoverRegion}
	if obj.Region != "" {
		g.region = obj.Region // an ARN names its own region
	}
	k := paramKey{group: g, ref: ssmRef(obj)}
	if g.failover != "" {
		name, version, label := obj.InFailover()
		k.replica = ssm.Ref{Name: name, Version: version, Label: label}
	}
	return k
}

func ssmRef(obj params.Object) ssm.Ref {
	return ssm.Ref{Name: obj.Name, Version: obj.Version, Label: obj.VersionLabel}
}

// parameters fetches every Parameter Store object of req before the files
// are built: the parameters of one region go in as few GetParameters calls
// as the batch size allows, instead of one call per object.
func (p *Provider) parameters(ctx context.Context, req *params.Request, base identity.Identity, token string) (map[paramKey]*object.Version, error) {
	byGroup := map[paramGroup][]ssm.Ref{}
	// replicas are, with a failover region, each group's refs' replicas
	// there, in the order of its refs.
	var replicas map[paramGroup][]ssm.Ref
	var groups []paramGroup
	for i := range req.Objects {
		obj := &req.Objects[i]
		if obj.Type != params.SSMParameter {
			continue
		}
		k := paramKeyOf(req, base, *obj)
		if _, seen := byGroup[k.group]; !seen {
			groups = append(groups, k.group)
		}
		byGroup[k.group] = append(byGroup[k.group], k.ref)
		if k.group.failover != "" {
			if err := sameRegion(req, obj, k.group.region); err != nil {
				return nil, err
			}
			if replicas == nil {
				replicas = map[paramGroup][]ssm.Ref{}
			}
			replicas[k.group] = append(replicas[k.group], k.replica)
		}
	}
	if len(groups) == 0 {
		return nil, nil
	}
	out := map[paramKey]*object.Version{}
	for _, g := range groups {
		id := base
		id.Region, id.Target = g.region, g.target
		creds := podCredentials{c: p.credentials, id: id, token: token}
		if g.failover != "" {
			replicaID := id
			replicaID.Region = g.failover
			pairs := make([]ssm.Pair, len(byGroup[g]))
			for i, ref := range byGroup[g] {
				pairs[i] = ssm.Pair{Primary: ref, Failover: replicas[g][i]}
			}
			got, err := p.ssm.GetFailover(ctx, id.Key(), g.region, g.ttl, pairs, creds,
				ssm.Replicas{Region: g.failover, Credentials: podCredentials{c: p.credentials, id: replicaID, token: token}})
			if err != nil {
				return nil, err
			}
			for pair, s := range got {
				out[paramKey{g, pair.Primary, pair.Failover}] = s
			}
			continue
		}
		got, err := p.ssm.Get(ctx, id.Key(), g.region, g.ttl, byGroup[g], creds)
		if err != nil {
			return nil, err
		}
		for ref, s := range got {
			out[paramKey{group: g, ref: ref}] = s
		}
	}
	return out, nil
}

// jmesPathFiles are the files an object's jmesPath entries select from its
// JSON value. mode is the object's.
func jmesPathFiles(obj params.Object, s *object.Version, mode fs.FileMode) ([]files.File, error) {
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
