package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// MountBuckets are the Mount duration histogram's upper bounds, in
// seconds: from a cached Mount (about 0.1 ms) to one that spent the
// whole retry budget (30 s by default, at most 100 s).
var MountBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}

// Mount results, the result label of pmp_mounts_total: "ok", or the stage
// that failed. Each maps to one gRPC code (see server.answers), except
// that a Mount the kubelet gave up on is "canceled" with code Unknown.
const (
	ResultOK              = "ok"
	ResultInvalid         = "invalid"
	ResultUnauthenticated = "unauthenticated"
	ResultDenied          = "denied"
	ResultNotFound        = "not_found"
	ResultTransient       = "transient"
	ResultInternal        = "internal"
	ResultCanceled        = "canceled"
)

// SkipNotFound is the reason label of pmp_objects_skipped_total: an
// optional object or jmesPath entry that does not exist (the only reason
// one is left out).
const SkipNotFound = "not_found"

// Mounts counts and times the Mounts the driver sends. A nil *Mounts
// counts nothing.
type Mounts struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	waiting  prometheus.Gauge
	skipped  *prometheus.CounterVec

	// The success series, resolved once: the cached Mount is the hot path.
	okTotal                 prometheus.Counter
	okDuration, errDuration prometheus.Observer
}

// NewMounts registers the Mount instruments on reg.
func NewMounts(reg prometheus.Registerer) (*Mounts, error) {
	m := &Mounts{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pmp_mounts_total",
			Help: "Mounts answered, by result (ok, or the failed stage: invalid, unauthenticated, denied, not_found, transient, internal, canceled) and the gRPC code returned to the driver.",
		}, []string{"result", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pmp_mount_duration_seconds",
			Help:    "Time to answer a Mount, from the request to the response, by result: ok or error.",
			Buckets: MountBuckets,
		}, []string{"result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pmp_mounts_in_flight",
			Help: "Mounts being answered now.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pmp_mounts_waiting",
			Help: "Mounts waiting for a slot, all --max-concurrent-mounts being answered.",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pmp_objects_skipped_total",
			Help: "Optional objects and jmesPath entries that successful Mounts left out, by reason (not_found: the secret, parameter, version or key does not exist), each counted once per Mount.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.total, m.duration, m.inFlight, m.waiting, m.skipped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.skipped.WithLabelValues(SkipNotFound) // shown at 0 before the first skip
	m.okTotal = m.total.WithLabelValues(ResultOK, codes.OK.String())
	m.okDuration = m.duration.WithLabelValues("ok")
	m.errDuration = m.duration.WithLabelValues("error")
	return m, nil
}

// Start counts a Mount in flight until End, which the caller defers, so a
// panic does not leave it counted.
func (m *Mounts) Start() {
	if m != nil {
		m.inFlight.Inc()
	}
}

// End ends what Start counted.
func (m *Mounts) End() {
	if m != nil {
		m.inFlight.Dec()
	}
}

// StartWaiting counts a Mount waiting for a slot until EndWaiting.
func (m *Mounts) StartWaiting() {
	if m != nil {
		m.waiting.Inc()
	}
}

// EndWaiting ends what StartWaiting counted.
func (m *Mounts) EndWaiting() {
	if m != nil {
		m.waiting.Dec()
	}
}

// Done counts a Mount that took elapsed and ended with result and code.
func (m *Mounts) Done(elapsed time.Duration, result string, code codes.Code) {
	if m == nil {
		return
	}
	if result == ResultOK {
		m.okTotal.Inc()
		m.okDuration.Observe(elapsed.Seconds())
		return
	}
	m.total.WithLabelValues(result, code.String()).Inc()
	m.errDuration.Observe(elapsed.Seconds())
}

// Skipped counts n optional objects and jmesPath entries a Mount left out
// for reason.
func (m *Mounts) Skipped(reason string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.skipped.WithLabelValues(reason).Add(float64(n))
}
