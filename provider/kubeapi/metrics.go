package kubeapi

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of one read, the outcome label of pmp_kube_requests_total.
const (
	OutcomeOK           = "ok"
	OutcomeNotFound     = "not_found"
	OutcomeForbidden    = "forbidden"
	OutcomeUnauthorized = "unauthorized"
	OutcomeThrottled    = "throttled"    // HTTP 429 (the API server's priority and fairness), or the client's own QPS limit
	OutcomeClientError  = "client_error" // another 4xx
	OutcomeServerError  = "server_error" // 5xx, or an answer that could not be read
	OutcomeNetwork      = "network"      // no HTTP answer
	OutcomeTimeout      = "timeout"
	OutcomeCanceled     = "canceled"
)

// Metrics counts the client's reads of the Kubernetes API.
type Metrics struct {
	requests *prometheus.CounterVec
}

// NewMetrics registers the Kubernetes API instruments on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pmp_kube_requests_total",
		Help: "Kubernetes API reads, by resource (serviceaccounts, nodes) and outcome (ok, not_found, forbidden, unauthorized, throttled, client_error, server_error, network, timeout, canceled).",
	}, []string{"resource", "outcome"})}
	if err := reg.Register(m.requests); err != nil {
		return nil, err
	}
	return m, nil
}

// Option configures a Client.
type Option func(*Client)

// WithMetrics counts every read of the client in m.
func WithMetrics(m *Metrics) Option { return func(c *Client) { c.metrics = m } }

func (m *Metrics) observe(gr schema.GroupResource, err error) {
	if m != nil {
		m.requests.WithLabelValues(gr.Resource, outcome(err)).Inc()
	}
}

// outcome classifies what getMeta returned.
func outcome(err error) string {
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return OutcomeOK
	case errors.As(err, &status):
		switch code := status.Status().Code; {
		case code == 404:
			return OutcomeNotFound
		case code == 403:
			return OutcomeForbidden
		case code == 401:
			return OutcomeUnauthorized
		case code == 429:
			return OutcomeThrottled
		case code >= 500:
			return OutcomeServerError
		case code >= 400:
			return OutcomeClientError
		}
		return OutcomeServerError
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.As(err, new(undecodableError)):
		return OutcomeServerError
	case errors.As(err, new(limitedError)):
		return OutcomeThrottled
	}
	return OutcomeNetwork
}

// undecodableError is a 200 answer that is not an object; limitedError a
// read the client's QPS limit would not let through in time. Both read as
// their cause: they only tell outcome what happened.
type (
	undecodableError struct{ error }
	limitedError     struct{ error }
)

func (e undecodableError) Unwrap() error { return e.error }
func (e limitedError) Unwrap() error     { return e.error }
