// Package fetch reads batches of objects through a backend.Reader and
// gives every backend the same behaviour: retries within the Mount's
// budget (renewing credentials AWS refuses), a bounded cache per
// (identity, region, freshness window, batch) with refresh jitter and the
// --max-secret-ttl cap, coalescing of concurrent reads of one batch,
// negative caching of refusals, the last good value served through an
// outage (--stale-if-error), the failover region read when the primary is
// out (failoverRegion), and the cache and failover counters. A backend
// implements only its service call (backend.Reader).
package fetch

import (
	"context"
	"errors"
	"slices"
	"time"
	"unique"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/failover"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// Config tunes a Fetcher.
type Config struct {
	Retry retry.Policy
	// Cache off means every Fetch calls the backend.
	Cache bool
	// SecretTTL is the freshness window.
	SecretTTL time.Duration
	// NegativeTTL is how long a 4xx refusal is remembered.
	NegativeTTL time.Duration
	CacheSize   int
	// StaleIfError is how long past SecretTTL a fetched batch is kept to
	// be served, for the same identity, when fetching it again fails with
	// an outage (the backend's Info.Outage: throttling past the retries,
	// 5xx, no answer), never for a refusal (4xx). Zero: never (strict).
	StaleIfError time.Duration
	// Jitter shortens each batch's SecretTTL by a random fraction up to
	// it (0.1: up to 10%), so nodes that fetched one secret together do
	// not all fetch it again in the same second.
	Jitter float64
	// Clock is the cache's clock (tests); nil: time.Now.
	Clock func() time.Time
	// CacheMaxBytes bounds the cached versions' estimated bytes
	// (object.Version.Size) as well; zero: entries only. Budget, when not
	// nil, is the bound instead, shared with the other backends' caches.
	CacheMaxBytes int64
	Budget        *cache.Budget
	// MaxTTL caps every object's own window (its secretTTL, a tenant's
	// choice): it is the longest a deleted secret, or a permission revoked
	// in IAM, keeps being served from the cache. Zero: no cap.
	MaxTTL time.Duration
}

// Window is ttl, an object's secretTTL, within MaxTTL; zero stays zero
// (SecretTTL, which the provider's flags keep within MaxTTL).
func (c Config) Window(ttl time.Duration) time.Duration {
	if c.MaxTTL > 0 && ttl > c.MaxTTL {
		return c.MaxTTL
	}
	return ttl
}

// staleRetry is how often, while an outage has a stale batch served, the
// backend is tried again for it (in the background: Mounts get the stale
// batch at once).
const staleRetry = 10 * time.Second

// StaleRetry is how long a stale batch answers at once before a load
// tries the backend again, for a freshness window of ttl; also how long a
// batch the failover region served is kept.
func StaleRetry(ttl time.Duration) time.Duration { return min(staleRetry, ttl) }

// Fetcher reads one backend's objects, through its cache.
type Fetcher struct {
	info   *backend.Info
	reader backend.Reader
	cfg    Config
	// cache, its negative entries and coalesced loads: keyed by identity
	// (Key holds the reader's identity.Key).
	cache *cache.Cache[Key, []*object.Version]
	// regions are the outages of the primary regions of objects that have
	// a failover region: keyed by identity (region and Read.Reader, the
	// identity.Key), see failover.Regions.
	regions *failover.Regions[Key]
}

// New returns the Fetcher of the backend info describes, over r.
func New(info *backend.Info, r backend.Reader, cfg Config) *Fetcher {
	if info.Batch < 1 || info.Batch > backend.MaxBatch {
		panic("fetch: backend " + info.Service + ": Batch must be 1 to backend.MaxBatch")
	}
	f := &Fetcher{info: info, reader: r, cfg: cfg, regions: failover.New[Key](info.Service, info.Outage, cfg.Clock)}
	if cfg.Cache {
		f.cache = cache.NewWithOptions[Key, []*object.Version](cfg.CacheSize, cache.Options[Key]{
			Jitter:       cfg.Jitter,
			StaleIfError: cfg.StaleIfError,
			StaleIf:      info.Outage,
			Throttled:    retry.Throttled,
			StaleRetry:   StaleRetry(cfg.SecretTTL),
			// Once per outage and batch: which objects, as whom, since
			// when and why.
			OnStale: cache.StaleLog[Key](info.StaleLog),
			Now:     cfg.Clock,
		})
		switch {
		case cfg.Budget != nil:
			f.cache.ShareBytes(cfg.Budget, Key.size, versionsSize)
		case cfg.CacheMaxBytes > 0:
			f.cache.LimitBytes(cfg.CacheMaxBytes, Key.size, versionsSize)
		}
	}
	return f
}

// Info is the backend's description.
func (f *Fetcher) Info() *backend.Info { return f.info }

// Stats returns the cache counters (zero when caching is off).
func (f *Fetcher) Stats() cache.Stats {
	if f.cache == nil {
		return cache.Stats{}
	}
	return f.cache.Stats()
}

// FailoverServed is how many batches a failover region served.
func (f *Fetcher) FailoverServed() int64 { return f.regions.Served() }

// Item is one object of a batch: its ref in the batch's region and, read
// with a failover region, its ref there (the failoverObject's name,
// version and label); zero without one.
type Item struct {
	Ref, Replica backend.Ref
}

// CompareItems orders items by ref, then replica: the order of a batch.
func CompareItems(a, b Item) int {
	if c := backend.Compare(a.Ref, b.Ref); c != 0 {
		return c
	}
	return backend.Compare(a.Replica, b.Replica)
}

// Batch is one read: objects of one backend, in one region, as one
// identity, with one freshness window.
type Batch struct {
	Region string
	// TTL is the objects' freshness window (their secretTTL); zero is
	// Config.SecretTTL. Batches that ask for different windows keep
	// separate entries.
	TTL time.Duration
	// Items are the objects, sorted by CompareItems, none twice, at most
	// the backend's Info.Batch (Split makes such batches).
	Items       []Item
	Credentials identity.PodCredentials
	// FailoverRegion, when not empty, is where the Items' replicas are
	// read, with FailoverCredentials (the identity's credentials there,
	// from its own STS), when Region is out (failover.Do).
	FailoverRegion      string
	FailoverCredentials identity.PodCredentials
}

// Split sorts items, drops repeats and cuts them into batches of at most
// size: the batches of objects that share a backend, region, identity,
// window and failover region.
func Split(items []Item, size int) [][]Item {
	if !sortedUnique(items, CompareItems) {
		items = slices.Clone(items)
		slices.SortFunc(items, CompareItems)
		items = slices.Compact(items)
	}
	out := make([][]Item, 0, (len(items)+size-1)/size)
	for start := 0; start < len(items); start += size {
		out = append(out, items[start:min(start+size, len(items))])
	}
	return out
}

// sortedUnique reports whether s is sorted by compare with no repeats.
func sortedUnique[T any](s []T, compare func(a, b T) int) bool {
	for i := 1; i < len(s); i++ {
		if compare(s[i-1], s[i]) >= 0 {
			return false
		}
	}
	return true
}

// Fetch returns the versions of b's items, in their order, as the identity
// with key reader: shared between Mounts and not to be modified. All or
// nothing. Read with a failover region, each version's VersionID names the
// region that served it (failover.Version); a batch the failover region
// served is kept only for StaleRetry.
func (f *Fetcher) Fetch(ctx context.Context, reader identity.Key, b Batch) ([]*object.Version, error) {
	if len(b.Items) == 0 || len(b.Items) > f.info.Batch {
		return nil, mounterr.New(mounterr.Internal, "%d objects in one %s batch, want 1 to %d", len(b.Items), f.info.Name, f.info.Batch)
	}
	ttl := f.cfg.Window(b.TTL) // the objects' secretTTL within --max-secret-ttl
	k := Key{info: f.info, Identity: reader, Region: b.Region, TTL: ttl, FailoverRegion: b.FailoverRegion}
	k.First, k.Rest = itemsKey(b.Items)
	load := func(ctx context.Context) ([]*object.Version, time.Duration, error) {
		return f.read(ctx, b.Region, refs(b.Items, false), ttl, b.Credentials, false)
	}
	if b.FailoverRegion != "" {
		window := ttl
		if window <= 0 {
			window = f.cfg.SecretTTL
		}
		load = func(ctx context.Context) ([]*object.Version, time.Duration, error) {
			primary, replicas := refs(b.Items, false), refs(b.Items, true)
			return failover.Do(ctx, f.regions, failover.Read[Key, []*object.Version]{
				Key: k, Reader: reader, What: f.info.What(primary),
				Primary: failover.Source[[]*object.Version]{Region: b.Region, Load: func(ctx context.Context) ([]*object.Version, time.Duration, error) {
					return f.read(ctx, b.Region, primary, ttl, b.Credentials, true)
				}},
				Failover: failover.Source[[]*object.Version]{Region: b.FailoverRegion, Load: func(ctx context.Context) ([]*object.Version, time.Duration, error) {
					return f.read(ctx, b.FailoverRegion, replicas, ttl, b.FailoverCredentials, true)
				}},
				Window: StaleRetry(window),
			})
		}
	}
	if f.cache == nil {
		v, _, err := load(ctx)
		return v, err
	}
	return f.cache.Get(ctx, k, load)
}

// refs are the items' refs (their replicas').
func refs(items []Item, replicas bool) []backend.Ref {
	out := make([]backend.Ref, len(items))
	for i, it := range items {
		out[i] = it.Ref
		if replicas {
			out[i] = it.Replica
		}
	}
	return out
}

// read reads want (in the order of a batch's items; one ref may be there
// twice, for two replicas) in region with creds, retried through
// transient failures: one version per ref of want, and how long the
// result may be kept. renamed: each version's VersionID names region.
func (f *Fetcher) read(ctx context.Context, region string, want []backend.Ref, ttl time.Duration, credentials identity.PodCredentials, renamed bool) ([]*object.Version, time.Duration, error) {
	refs, sorted := want, sortedUnique(want, backend.Compare)
	if !sorted {
		refs = slices.Clone(want)
		slices.SortFunc(refs, backend.Compare)
		refs = slices.Compact(refs)
	}
	var got []*object.Version
	err := identity.DoAs(ctx, f.cfg.Retry, credentials, func(ctx context.Context, creds aws.Credentials) error {
		var err error
		got, err = f.reader.Read(ctx, region, refs, creds)
		return err
	})
	var credErr *identity.CredentialsError
	if errors.As(err, &credErr) {
		// Kept a *CredentialsError (its text is the identity stage's own),
		// so failover.Do tells it from the region's outage; never cached
		// here: the credential cache keeps its own negative entries.
		return nil, 0, err
	}
	if err != nil {
		merr, ok := err.(*mounterr.Error)
		if !ok {
			merr = f.reader.Explain(region, refs, err)
		}
		return nil, merr.Kind.NegativeTTL(f.cfg.NegativeTTL), merr
	}
	if len(got) != len(refs) {
		return nil, 0, mounterr.New(mounterr.Internal, "%s read %d objects for %d", f.info.Name, len(got), len(refs))
	}
	if renamed {
		for i, v := range got {
			// A version read by name and ARN may be there twice: renamed once.
			if !slices.Contains(got[:i], v) {
				v.VersionID = failover.Version(region, v.VersionID)
			}
		}
	}
	if f.cache != nil && f.cache.BoundsBytes() {
		for _, v := range got {
			_, _ = v.Entries() // flattened now, outside the cache's lock, so that Size counts it
		}
	}
	out := got
	if !sorted {
		out = make([]*object.Version, len(want))
		for i, r := range want {
			j, _ := slices.BinarySearchFunc(refs, r, backend.Compare)
			out[i] = got[j]
		}
	}
	if ttl > 0 {
		return out, ttl, nil // the objects' secretTTL
	}
	return out, f.cfg.SecretTTL, nil
}

// Key is the cache key of a batch: the identity reading it, its region,
// freshness window and items, and the failover region its replicas are
// read in (empty without one).
type Key struct {
	info           *backend.Info
	Identity       identity.Key
	Region         string
	TTL            time.Duration
	FailoverRegion string
	// First is the batch's first item, and Rest the others, interned: a
	// key compares and hashes them as one handle, the batches of many
	// identities share them, and a batch of one (every Secrets Manager
	// read) has none (the zero handle).
	First Item
	Rest  unique.Handle[rest]
}

// rest are the items of a batch after its first, the unused ones zero.
type rest [backend.MaxBatch - 1]Item

func itemsKey(its []Item) (Item, unique.Handle[rest]) {
	if len(its) == 1 {
		return its[0], unique.Handle[rest]{}
	}
	var a rest
	copy(a[:], its[1:])
	return its[0], unique.Make(a)
}

// items are k's items.
func (k Key) items() []Item {
	out := []Item{k.First}
	if k.Rest == (unique.Handle[rest]{}) {
		return out
	}
	for _, it := range k.Rest.Value() {
		if it == (Item{}) {
			break
		}
		out = append(out, it)
	}
	return out
}

// LogFields are the log key/values of k: the objects, their region, the
// failover region if any, and the identity.
func (k Key) LogFields() []any {
	kv := append(k.info.LogFields(refs(k.items(), false)), "region", k.Region)
	if k.FailoverRegion != "" {
		kv = append(kv, "failoverRegion", k.FailoverRegion)
	}
	return append(kv, k.Identity.LogFields()...)
}

// size estimates the bytes k holds in the cache: the struct, kept in its
// map and its list (unsafe.Sizeof is the struct's own size, headers
// included), and its strings.
func (k Key) size() int64 {
	n := 2*int64(unsafe.Sizeof(k)) + k.Identity.Bytes() + int64(len(k.Region)+len(k.FailoverRegion))
	for _, it := range k.items() {
		n += int64(len(it.Ref.Name) + len(it.Ref.Version) + len(it.Ref.Label) + len(it.Replica.Name) + len(it.Replica.Version) + len(it.Replica.Label))
	}
	return n
}

func versionsSize(vs []*object.Version) int64 {
	var n int64
	for i, v := range vs {
		if !slices.Contains(vs[:i], v) {
			n += v.Size()
		}
	}
	return n
}
