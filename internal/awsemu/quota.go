package awsemu

import (
	"maps"
	"net/http"
	"time"
)

// Quota is an AWS request quota of one operation, per account and region:
// Rate calls a second, with a burst of Burst, every caller together (as
// Secrets Manager's GetSecretValue 10,000/s or Parameter Store's
// GetParameters 40/s). A call past it is answered ThrottlingException, as
// AWS answers, and counted by Throttled; it still counts in Counts.
type Quota struct {
	// Operation is "service:Action", e.g. "amazonssm:GetParameters".
	Operation string `json:"operation"`
	// Rate is the calls per second the quota allows.
	Rate float64 `json:"rate"`
	// Burst is the calls it allows at once after a quiet time; zero: one
	// second's worth (Rate).
	Burst float64 `json:"burst,omitempty"`
}

// bucket is a Quota's token bucket.
type bucket struct {
	Quota
	tokens float64
	last   time.Time
}

// take spends a token at now, if the bucket holds one.
func (b *bucket) take(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.Burst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.Burst, b.tokens+d.Seconds()*b.Rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// throttling is the answer past a quota: what Secrets Manager and
// Parameter Store answer (JSON protocol, HTTP 400).
var throttling = Fault{Status: http.StatusBadRequest, Code: "ThrottlingException", Message: "Rate exceeded"}

// SetQuota enforces q on its operation, replacing any quota it had, with a
// full burst.
func (f *Front) SetQuota(q Quota) {
	if q.Burst <= 0 {
		q.Burst = q.Rate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.quotas == nil {
		f.quotas = map[string]*bucket{}
	}
	f.quotas[q.Operation] = &bucket{Quota: q}
}

// ClearQuotas stops enforcing every quota.
func (f *Front) ClearQuotas() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.quotas = nil
}

// Throttled returns the calls answered ThrottlingException past a quota
// so far, by "service:Action" (ResetCounts zeroes them too).
func (f *Front) Throttled() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.throttled)
}

// overQuotaLocked reports whether a call of op now is past op's quota,
// counting it if so.
func (f *Front) overQuotaLocked(op string, now time.Time) bool {
	b, ok := f.quotas[op]
	if !ok || b.take(now) {
		return false
	}
	if f.throttled == nil {
		f.throttled = map[string]int64{}
	}
	f.throttled[op]++
	return true
}
