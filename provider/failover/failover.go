// Package failover reads an object from a second region when its own is
// out (ASCP's failoverRegion and failoverObject): the primary region is
// asked first and wins whenever it answers; only an outage (5xx,
// throttling past the retries, no answer: what the caller's outage rule
// accepts) sends the read to the failover region. A refusal (4xx: not
// found, denied, invalid) is the answer: another region must not paper
// over a missing or forbidden object.
//
// A value the failover region served is kept a short Window only, so the
// primary is asked again soon; for that Window the primary's outage is
// remembered for the identity that found it, so its reads of other
// objects of the region go to the failover region at once instead of each
// waiting out the primary's retries. Another identity's reads are not
// affected: they ask the primary themselves, and no error or log of
// theirs names the first identity's object, role or failure. Only the
// data call's own outage is remembered: failing to get the identity's
// credentials (the credential step: STS, the Pod Identity Agent, a
// throttled account) is the identity's trouble, not the region's. The
// version of a value names the region that served it (Version), so the
// driver rewrites the files when the region changes.
package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// Source is one region's read of an object.
type Source[V any] struct {
	Region string
	// Load reads the object in Region: its value and how long it may be
	// kept, or why not (with how long the failure may be remembered). A
	// failure to get the credentials the read is made with is an
	// *identity.CredentialsError (identity.DoAs): it is never remembered
	// as the region's outage.
	Load func(ctx context.Context) (V, time.Duration, error)
}

// Read is the read of an object that has a failover region, whose key
// (the caller's cache key) is a K.
type Read[K comparable, V any] struct {
	// Key identifies the object and the identity reading it, for the log
	// said once per outage; it is never logged.
	Key K
	// Reader is the identity whose credentials read the primary: a
	// primary's outage is remembered for that identity only. The log lines
	// name it (identity.Key.LogFields).
	Reader identity.Key
	// What names the object for logs and messages: "secret NAME".
	What string
	// Primary is the object's own region; Failover the failoverRegion.
	Primary, Failover Source[V]
	// Window is how long a value the failover region served may be kept,
	// and how long the primary's outage is remembered.
	Window time.Duration
}

// Regions remembers the outages of one service's regions and counts the
// reads its failover regions served; K is the key of its reads (Read.Key).
type Regions[K comparable] struct {
	service string
	outage  func(error) bool
	now     func() time.Time

	mu sync.Mutex
	// down are the outages found in the primary regions: keyed by identity
	// (the region and the Reader that found it), so an outage and its
	// error are only ever answered to the identity whose own data call
	// failed.
	down map[downKey]downRegion
	// failing are the keys the failover region served since their primary
	// last answered: the log says so once per outage. Keyed by identity
	// (Read.Key holds the reader's identity.Key).
	failing map[K]struct{}

	// served holds nothing identity-specific (a count, for metrics).
	served atomic.Int64
}

// downKey is whose outage of which region is remembered.
type downKey struct {
	region string
	reader identity.Key
}

type downRegion struct {
	at, until time.Time
	err       error
}

// maxFailing bounds Regions.failing: past it, an outage may be logged again.
// maxDown bounds Regions.down: past it, the outages that ended are
// dropped, and if that frees no room, all are (primaries are asked again).
const (
	maxFailing = 4096
	maxDown    = 4096
)

// New returns the Regions of service ("Secrets Manager", "SSM"), whose
// failures are outages when outage says so. now is the clock (nil:
// time.Now).
func New[K comparable](service string, outage func(error) bool, now func() time.Time) *Regions[K] {
	if now == nil {
		now = time.Now
	}
	return &Regions[K]{service: service, outage: outage, now: now, down: map[downKey]downRegion{}, failing: map[K]struct{}{}}
}

// Served is how many reads the failover regions served.
func (r *Regions[K]) Served() int64 { return r.served.Load() }

// Version is the version of a value of an object that has a failover
// region: the region that served it and the value's own version.
func Version(region, version string) string { return region + "/" + version }

// Do reads rd: from the primary region, with half the time ctx has left
// when it has a deadline (the failover region gets the rest); from the
// failover region when the primary is out, or was found out by the same
// Reader within the last Window. A primary that fails to get the Reader's
// credentials sends this read to the failover region (whose credentials
// are the identity's own there) but is not remembered as out. When both
// fail the error names both regions and both reasons; it is the primary's
// outage (transient), never remembered, so a value kept for an outage
// (--stale-if-error) may answer it.
func Do[K comparable, V any](ctx context.Context, r *Regions[K], rd Read[K, V]) (V, time.Duration, error) {
	var zero V
	dk := downKey{region: rd.Primary.Region, reader: rd.Reader}
	ago, primaryErr := r.isDown(dk)
	remembered := primaryErr != nil
	if primaryErr == nil {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if d, ok := ctx.Deadline(); ok {
			pctx, cancel = context.WithTimeout(ctx, time.Until(d)/2) // a context's clock is the real one
		}
		v, ttl, err := rd.Primary.Load(pctx)
		cancel()
		if err == nil {
			r.answered(rd.Key, rd.What, rd.Primary.Region, rd.Reader.LogFields())
			return v, ttl, nil
		}
		if !r.outage(err) || ctx.Err() != nil {
			return zero, ttl, err // a refusal, a bug, or no time left
		}
		primaryErr = err
		if !credentialStep(err) {
			r.markDown(dk, err, rd.Window)
		}
	}
	v, ttl, err := rd.Failover.Load(ctx)
	if err != nil {
		since := ""
		if remembered {
			since = fmt.Sprintf(" (found out %s ago, so not asked again yet)", ago.Round(time.Millisecond))
		}
		return zero, 0, &mounterr.Error{Kind: mounterr.Transient, Err: primaryErr, Msg: fmt.Sprintf(
			"%s could not be read in either region: in its region %s%s: %v; in the failover region %s: %v",
			rd.What, rd.Primary.Region, since, primaryErr, rd.Failover.Region, err)}
	}
	r.served.Add(1)
	r.failedOver(rd.Key, rd.What, rd.Primary.Region, rd.Failover.Region, rd.Reader.LogFields(), primaryErr)
	return v, min(ttl, rd.Window), nil
}

// credentialStep reports whether err is a failure to get the credentials
// of a read, not of the read itself.
func credentialStep(err error) bool {
	var credErr *identity.CredentialsError
	return errors.As(err, &credErr)
}

// isDown returns the outage of k remembered now, if any, and how long ago
// it was found.
func (r *Regions[K]) isDown(k downKey) (time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.down[k]
	if !ok {
		return 0, nil
	}
	now := r.now()
	if !now.Before(o.until) {
		delete(r.down, k)
		return 0, nil
	}
	return now.Sub(o.at), o.err
}

func (r *Regions[K]) markDown(k downKey, err error, window time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if _, ok := r.down[k]; !ok && len(r.down) >= maxDown {
		for dk, o := range r.down {
			if !now.Before(o.until) {
				delete(r.down, dk)
			}
		}
		if len(r.down) >= maxDown {
			clear(r.down)
		}
	}
	r.down[k] = downRegion{at: now, until: now.Add(window), err: err}
}

// answered notes that the primary of the read with key answered: an
// outage it was failing over for has ended.
func (r *Regions[K]) answered(key K, what, primary string, fields []any) {
	r.mu.Lock()
	_, was := r.failing[key]
	delete(r.failing, key)
	r.mu.Unlock()
	if was {
		klog.InfoS("the primary region answers again: "+what+" is read from it, not from the failover region",
			append([]any{"service", r.service, "region", primary}, fields...)...)
	}
}

// failedOver logs, once per outage of its primary, that the failover
// region serves the read with key: which object, which regions, as whom
// and why (the primary's error names the call and AWS's reason, never a
// value or token).
func (r *Regions[K]) failedOver(key K, what, primary, failover string, fields []any, primaryErr error) {
	r.mu.Lock()
	_, logged := r.failing[key]
	if !logged {
		if len(r.failing) >= maxFailing {
			clear(r.failing)
		}
		r.failing[key] = struct{}{}
	}
	r.mu.Unlock()
	if logged {
		return
	}
	kv := append([]any{"service", r.service, "region", primary, "failoverRegion", failover}, fields...)
	kv = append(kv, "reason", mounterr.Bound(primaryErr.Error()))
	why := "its region is out"
	if credentialStep(primaryErr) {
		why = "the identity's credentials for its region could not be got"
	}
	klog.InfoS("the failover region serves "+what+": "+why+" (failoverRegion)", kv...)
}
