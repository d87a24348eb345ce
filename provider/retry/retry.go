// Package retry retries one AWS call through transient failures
// (throttling, 5xx, network errors, attempt timeouts) with capped, jittered
// exponential backoff, until a time budget runs out; and it says what an
// AWS call's failure is (Transient, Outage, Throttled, Outcome). The
// provider's Kubernetes API reads are retried by it too (DoIf), with their
// own rule of what is transient. A refresh whose caller holds a value to
// serve meanwhile (WithValueHeld) is not retried through throttling.
//
// The SDK's own retryer is switched off for the provider's clients: its
// attempts are few, its quota can refuse retries under load, and when the
// caller's deadline ends it reports the deadline instead of what AWS said.
// Here the budget is the provider's, and the last AWS error is kept.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Policy bounds the retries of one call.
type Policy struct {
	// Budget is the total time for all attempts and waits.
	Budget time.Duration
	// AttemptTimeout bounds one attempt, so a hung connection does not eat
	// the whole budget.
	AttemptTimeout time.Duration
	// BaseDelay and MaxDelay shape the backoff.
	BaseDelay, MaxDelay time.Duration
}

// DefaultPolicy finishes well inside the kubelet's two-minute
// NodePublishVolume deadline.
var DefaultPolicy = Policy{Budget: 30 * time.Second, AttemptTimeout: 5 * time.Second, BaseDelay: 200 * time.Millisecond, MaxDelay: 4 * time.Second}

// ExhaustedError is a transient failure that outlived the budget.
type ExhaustedError struct {
	Attempts int
	Elapsed  time.Duration
	Last     error
}

func (e *ExhaustedError) Error() string { return e.Last.Error() }
func (e *ExhaustedError) Unwrap() error { return e.Last }

var (
	retryables = sdkretry.IsErrorRetryables(append([]sdkretry.IsErrorRetryable{}, sdkretry.DefaultRetryables...))
	throttles  = sdkretry.IsErrorThrottles(append([]sdkretry.IsErrorThrottle{}, sdkretry.DefaultThrottles...))
)

// Transient reports whether err is worth retrying.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // an attempt timeout; the budget is checked separately
	}
	if throttles.IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	if retryables.IsErrorRetryable(err) == aws.TrueTernary {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalServiceError", "IDPCommunicationError":
			return true
		}
	}
	return false
}

// Outcomes of one AWS call (Outcome): what Outage and Throttled go by, and
// the outcome label of the AWS call metrics (provider/awscalls).
const (
	OutcomeOK          = "ok"
	OutcomeThrottled   = "throttled"    // a throttling code or HTTP 429
	OutcomeClientError = "client_error" // another 4xx: the code label says which
	OutcomeServerError = "server_error" // 5xx, or an answer that could not be read
	OutcomeNetwork     = "network"      // no HTTP answer: refused, reset, DNS, TLS
	OutcomeTimeout     = "timeout"      // the attempt's own timeout, or the Mount's budget, ran out
	OutcomeCanceled    = "canceled"     // the caller went away
)

// Outcome classifies the error of one AWS call (nil: ok) by what became of
// the call: AWS answered it (ok, throttled, another 4xx, a 5xx), or no
// answer came (network, timeout), or the caller went away (canceled).
func Outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	// A call that got no answer still carries an empty response, status 0.
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() > 0 {
		status := resp.HTTPStatusCode()
		switch {
		case status == 429 || throttles.IsErrorThrottle(err) == aws.TrueTernary:
			return OutcomeThrottled
		case status >= 500:
			return OutcomeServerError
		case status >= 400:
			return OutcomeClientError
		default: // an answer that was not one: a 2xx the SDK could not read
			return OutcomeServerError
		}
	}
	var apiErr smithy.APIError
	switch {
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.As(err, &apiErr): // an AWS error without an HTTP answer: not from the SDK's HTTP clients
		return OutcomeClientError
	}
	return OutcomeNetwork
}

// Outage reports whether err is AWS failing rather than AWS answering
// about the request: throttling, a 5xx, no answer (network, timeout), or
// retries of those that outlived the budget. An answer refusing the request
// (any other 4xx: denied, not found, invalid, an unknown code) is not, nor
// a cancellation. A cached value may stand in for an outage
// (--stale-if-error), never for a refusal.
func Outage(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if Transient(err) {
		return true
	}
	switch Outcome(err) {
	case OutcomeThrottled, OutcomeServerError, OutcomeNetwork, OutcomeTimeout:
		return true
	}
	return false
}

// Throttled reports whether err is AWS throttling the caller: a throttling
// code (ThrottlingException, TooManyRequestsException, ...) or HTTP 429,
// through the retries that outlived the budget (*ExhaustedError). It is an
// Outage; the caches back their refreshes off for it (cache.Options.Throttled),
// since every node retrying sooner is what keeps a fleet over the quota.
func Throttled(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if throttles.IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	return Outcome(err) == OutcomeThrottled
}

// heldKey marks a context whose caller holds a value it may serve instead
// (WithValueHeld).
type heldKey struct{}

// WithValueHeld marks ctx as the refresh of a value its caller holds and
// serves when the refresh is throttled (cache.Options.Throttled): Do then
// answers throttling at once instead of retrying it. Retrying a throttled
// refresh would multiply a fleet's calls just when AWS asks it for fewer;
// the cache tries again after its back-off. Other transient failures are
// retried as before.
func WithValueHeld(ctx context.Context) context.Context {
	return context.WithValue(ctx, heldKey{}, true)
}

// ValueHeld reports whether ctx is marked by WithValueHeld.
func ValueHeld(ctx context.Context) bool {
	held, _ := ctx.Value(heldKey{}).(bool)
	return held
}

// attemptKey marks the context of a retry with its attempt number: Do is
// the one place that knows a call is a retry.
type attemptKey struct{}

func withAttempt(ctx context.Context, attempt int) context.Context {
	return context.WithValue(ctx, attemptKey{}, attempt)
}

// IsRetry reports whether ctx is the context of an attempt of Do after its
// first (the AWS call metrics count retries by it).
func IsRetry(ctx context.Context) bool {
	n, _ := ctx.Value(attemptKey{}).(int)
	return n > 1
}

// Do runs call until it succeeds, fails with a non-transient error, or the
// budget runs out, in which case the error is an *ExhaustedError holding
// the most telling failure (what AWS said rather than a timeout). The
// budget ends early when ctx has an earlier deadline; a ctx cancelled for
// another reason ends the retries with its error.
func Do(ctx context.Context, p Policy, call func(ctx context.Context) error) error {
	return DoIf(ctx, p, Transient, call)
}

// DoIf is Do with transient deciding which failures are retried: the
// provider's Kubernetes API reads are retried the same way, by their own
// rule.
func DoIf(ctx context.Context, p Policy, transient func(error) bool, call func(ctx context.Context) error) error {
	start := time.Now()
	deadline := start.Add(p.Budget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	delay := p.BaseDelay
	var last error
	exhausted := func(attempt int) error {
		return &ExhaustedError{Attempts: attempt, Elapsed: time.Since(start), Last: last}
	}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithDeadline(ctx, minTime(deadline, time.Now().Add(p.AttemptTimeout)))
		if attempt > 1 {
			actx = withAttempt(actx, attempt) // IsRetry
		}
		err := call(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !transient(err) && !errors.Is(err, context.DeadlineExceeded) {
			if ctx.Err() == nil || last == nil {
				return err
			}
			return exhausted(attempt)
		}
		if last == nil || !errors.Is(err, context.DeadlineExceeded) {
			last = err
		}
		if ValueHeld(ctx) && Throttled(err) {
			return exhausted(attempt) // the caller serves what it holds
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err()
		}
		wait := time.Duration(rand.Int64N(int64(delay) + 1))
		if ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return exhausted(attempt)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.Canceled) {
				return ctx.Err()
			}
			return exhausted(attempt)
		case <-t.C:
		}
		delay = min(delay*2, p.MaxDelay)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
