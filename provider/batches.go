package provider

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
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
	// required marks the items an object that is not optional reads; an
	// item only optional objects read is left out when it does not exist
	// (its version nil).
	required [backend.MaxBatch]bool
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
		o.batch[0].required[0] = !req.Objects[0].Optional
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
	for i, at := range pl.at {
		if !req.Objects[i].Optional {
			pl.batches[at.batch].required[at.item] = true
		}
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
		if got, err = p.readPresent(ctx, id.Key(), fb, b, err); err != nil {
			return err
		}
	}
	b.versions = got
	return nil
}

// readPresent answers b's read fb, which failed with err, when all err
// says is that items only optional objects read do not exist in b's own
// region: the versions of the other items, read again without them, and
// nil for each missing one. Otherwise it returns err, as a Mount without
// optional objects fails. A missing item is never inferred: the backend
// names it (backend.MissingError), and its answer from the failover
// region leaves nothing out. Each read is its own cache entry, so while
// the window of the failed read's negative entry lasts (--negative-ttl)
// and the rest is fresh, a Mount makes no call.
func (p *Provider) readPresent(ctx context.Context, reader identity.Key, fb fetch.Batch, b *batch, err error) ([]*object.Version, error) {
	var missing [backend.MaxBatch]bool
	for {
		var m *backend.MissingError
		if !errors.As(err, &m) || m.Region != b.group.region || len(m.Refs) == 0 {
			return nil, err
		}
		for _, r := range m.Refs {
			j := slices.IndexFunc(b.items, func(it fetch.Item) bool { return it.Ref == r })
			if j < 0 || missing[j] || b.required[j] {
				return nil, err // not asked for, asked for again, or needed
			}
			missing[j] = true
		}
		var rest []fetch.Item
		for j, it := range b.items {
			if !missing[j] {
				rest = append(rest, it)
			}
		}
		out := make([]*object.Version, len(b.items))
		if len(rest) == 0 {
			return out, nil
		}
		fb.Items = rest
		var got []*object.Version
		if got, err = p.fetchers[b.group.typ].Fetch(ctx, reader, fb); err == nil {
			k := 0
			for j := range b.items {
				if !missing[j] {
					out[j], k = got[k], k+1
				}
			}
			return out, nil
		}
	}
}
