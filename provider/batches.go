package provider

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/fetch"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// group is what the objects of one batch share: a backend, a region, the
// role they are read as, a freshness window and a failover region.
type group struct {
	typ    params.ObjectType
	region string
	target identity.Target
	ttl    time.Duration
	// failover is the failoverRegion, empty without one.
	failover string
}

func compareGroups(a, b group) int {
	return cmp.Or(cmp.Compare(a.typ, b.typ), strings.Compare(a.region, b.region),
		strings.Compare(a.target.RoleARN, b.target.RoleARN), strings.Compare(a.target.ExternalID, b.target.ExternalID), cmp.Compare(a.target.Duration, b.target.Duration),
		cmp.Compare(a.ttl, b.ttl), strings.Compare(a.failover, b.failover))
}

// batch is one read of a Mount: its group's items, at most its backend's
// batch size, and, once read, their versions.
type batch struct {
	group    group
	items    []fetch.Item
	versions []*object.Version
}

// plan is a Mount's objects in batches: each object's batch, and its
// place in it. Nothing is read yet: a batch is read when the first object
// that needs it is reached, so objects are read in their order, as few
// calls as the batch sizes allow.
type plan struct {
	batches []batch
	at      []place
	// one holds the usual Mount's one object: no allocation of its own.
	one struct {
		batch [1]batch
		item  [1]fetch.Item
		at    [1]place
	}
}

type place struct{ batch, item int }

// planOf groups req's objects, read as base (the pod's identity in the
// Mount's region), into batches, in pl.
func planOf(req *params.Request, base identity.Identity, pl *plan) {
	n := len(req.Objects)
	if n == 1 { // the usual Mount
		o := &pl.one
		o.batch[0].group, o.item[0] = groupOf(req, base, &req.Objects[0]), itemOf(req, &req.Objects[0])
		o.batch[0].items = o.item[:]
		pl.batches, pl.at = o.batch[:], o.at[:]
		return
	}
	groups := make([]group, n)
	items := make([]fetch.Item, n)
	for i := range req.Objects {
		groups[i], items[i] = groupOf(req, base, &req.Objects[i]), itemOf(req, &req.Objects[i])
	}
	pl.at = make([]place, n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(compareGroups(groups[a], groups[b]), fetch.CompareItems(items[a], items[b]))
	})
	for start := 0; start < n; {
		g := groups[order[start]]
		end := start + 1
		for end < n && compareGroups(groups[order[end]], g) == 0 {
			end++
		}
		size := backends[g.typ].info.Batch
		var distinct []fetch.Item
		for _, i := range order[start:end] {
			if len(distinct) == 0 || distinct[len(distinct)-1] != items[i] {
				distinct = append(distinct, items[i])
			}
			pl.at[i] = place{batch: len(pl.batches) + (len(distinct)-1)/size, item: (len(distinct) - 1) % size}
		}
		for _, part := range fetch.Split(distinct, size) {
			pl.batches = append(pl.batches, batch{group: g, items: part})
		}
		start = end
	}
}

// groupOf is obj's group, read as base.
func groupOf(req *params.Request, base identity.Identity, obj *params.Object) group {
	g := group{typ: obj.Type, region: base.Region, target: Target(req, *obj), ttl: obj.SecretTTL, failover: req.FailoverRegion}
	if obj.Region != "" {
		g.region = obj.Region // an ARN names its own region
	}
	return g
}

// itemOf is obj as its batch reads it: its ref, and with a failover
// region its replica's.
func itemOf(req *params.Request, obj *params.Object) fetch.Item {
	it := fetch.Item{Ref: backendRef(obj.Name, obj.Version, obj.VersionLabel)}
	if req.FailoverRegion != "" {
		it.Replica = backendRef(obj.InFailover())
	}
	return it
}

// read reads b, which obj (of req) is the first object to need, as base
// in b's group, with the pod's token.
func (p *Provider) read(ctx context.Context, req *params.Request, obj *params.Object, base identity.Identity, token string, b *batch) error {
	g := b.group
	id := base
	id.Region, id.Target = g.region, g.target
	fb := fetch.Batch{Region: g.region, TTL: g.ttl, Items: b.items, Credentials: podCredentials{c: p.credentials, id: id, token: token}}
	if g.failover != "" {
		if err := sameRegion(req, obj, g.region); err != nil {
			return err
		}
		replicaID := id
		replicaID.Region = g.failover
		fb.FailoverRegion, fb.FailoverCredentials = g.failover, podCredentials{c: p.credentials, id: replicaID, token: token}
	}
	got, err := p.fetchers[g.typ].Fetch(ctx, id.Key(), fb)
	if err != nil {
		return err
	}
	b.versions = got
	return nil
}
