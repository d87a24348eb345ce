package retry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func apiErr(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient}
}

// httpErr is what the SDK returns for an HTTP error response: the API
// error inside an awshttp.ResponseError inside an OperationError.
func httpErr(status int, err error) error {
	return &smithy.OperationError{
		ServiceID:     "Secrets Manager",
		OperationName: "GetSecretValue",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      err,
			},
			RequestID: "req-1",
		},
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "ThrottlingException", err: apiErr("ThrottlingException", "Rate exceeded"), want: true},
		{name: "ThrottlingException over HTTP 400", err: httpErr(400, apiErr("ThrottlingException", "Rate exceeded")), want: true},
		{name: "TooManyRequestsException", err: apiErr("TooManyRequestsException", ""), want: true},
		{name: "RequestLimitExceeded", err: apiErr("RequestLimitExceeded", ""), want: true},
		{name: "ServiceUnavailable code", err: apiErr("ServiceUnavailable", ""), want: true},
		{name: "ServiceUnavailableException code", err: apiErr("ServiceUnavailableException", ""), want: true},
		{name: "InternalFailure code", err: apiErr("InternalFailure", ""), want: true},
		{name: "InternalServiceError (Secrets Manager)", err: apiErr("InternalServiceError", ""), want: true},
		{name: "IDPCommunicationError (STS)", err: apiErr("IDPCommunicationError", ""), want: true},
		{name: "RequestTimeout", err: apiErr("RequestTimeout", ""), want: true},
		{name: "HTTP 500", err: httpErr(500, errors.New("internal error")), want: true},
		{name: "HTTP 502", err: httpErr(502, errors.New("bad gateway")), want: true},
		{name: "HTTP 503 ServiceUnavailable", err: httpErr(503, apiErr("ServiceUnavailable", "try later")), want: true},
		{name: "HTTP 504", err: httpErr(504, errors.New("gateway timeout")), want: true},
		{name: "HTTP 429 unmodeled", err: httpErr(429, errors.New("slow down")), want: true},
		{name: "AccessDeniedException", err: apiErr("AccessDeniedException", "not authorized"), want: false},
		{name: "AccessDeniedException over HTTP 400", err: httpErr(400, apiErr("AccessDeniedException", "not authorized")), want: false},
		{name: "ResourceNotFoundException", err: httpErr(400, apiErr("ResourceNotFoundException", "")), want: false},
		{name: "DecryptionFailure", err: apiErr("DecryptionFailure", ""), want: false},
		{name: "InvalidIdentityToken (STS)", err: apiErr("InvalidIdentityToken", ""), want: false},
		{name: "ExpiredTokenException", err: apiErr("ExpiredTokenException", ""), want: false},
		{name: "HTTP 403 without a code", err: httpErr(403, errors.New("forbidden")), want: false},
		{name: "connection refused", err: &url.Error{Op: "Post", URL: "https://secretsmanager.eu-west-1.amazonaws.com/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}, want: true},
		{name: "connection reset", err: &url.Error{Op: "Post", URL: "https://sts.amazonaws.com/", Err: errors.New("read tcp: connection reset by peer")}, want: true},
		{name: "dial error", err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}, want: true},
		{name: "DNS timeout", err: &net.DNSError{Err: "timeout", Name: "sts.amazonaws.com", IsTimeout: true}, want: true},
		{name: "DNS name not found", err: &net.DNSError{Err: "no such host", Name: "secretsmanager.eu-west.amazonaws.com", IsNotFound: true}, want: false},
		{name: "attempt deadline", err: context.DeadlineExceeded, want: true},
		{name: "attempt deadline wrapped by the SDK", err: &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRoleWithWebIdentity", Err: &aws.RequestCanceledError{Err: context.DeadlineExceeded}}, want: true},
		{name: "cancelled", err: context.Canceled, want: false},
		{name: "cancelled, wrapped by the SDK", err: &aws.RequestCanceledError{Err: context.Canceled}, want: false},
		{name: "a plain error", err: errors.New("something else"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestThrottled(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "ThrottlingException", err: apiErr("ThrottlingException", "Rate exceeded"), want: true},
		{name: "ThrottlingException over HTTP 400, past the retries", err: &ExhaustedError{Attempts: 9, Last: httpErr(400, apiErr("ThrottlingException", "Rate exceeded"))}, want: true},
		{name: "ThrottlingException wrapped", err: fmt.Errorf("reading parameters: %w", httpErr(400, apiErr("ThrottlingException", "Rate exceeded"))), want: true},
		{name: "TooManyRequestsException", err: apiErr("TooManyRequestsException", ""), want: true},
		{name: "HTTP 429 unmodeled", err: httpErr(429, errors.New("slow down")), want: true},
		{name: "HTTP 503", err: httpErr(503, apiErr("ServiceUnavailable", "try later")), want: false},
		{name: "past the retries of a 5xx", err: &ExhaustedError{Attempts: 9, Last: httpErr(500, errors.New("internal error"))}, want: false},
		{name: "AccessDeniedException", err: httpErr(400, apiErr("AccessDeniedException", "not authorized")), want: false},
		{name: "attempt deadline", err: context.DeadlineExceeded, want: false},
		{name: "connection refused", err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, want: false},
		{name: "cancelled", err: context.Canceled, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Throttled(tt.err); got != tt.want {
				t.Errorf("Throttled(%v) = %v, want %v", tt.err, got, tt.want)
			}
			if tt.want && !Outage(tt.err) {
				t.Errorf("Outage(%v) = false for throttling", tt.err)
			}
		})
	}
}

// fast keeps the waits short; the assertions are on attempts and errors.
var fast = Policy{Budget: 10 * time.Second, AttemptTimeout: 5 * time.Second, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

func TestDo(t *testing.T) {
	throttled := apiErr("ThrottlingException", "Rate exceeded")
	tests := []struct {
		name      string
		results   []error // one per attempt; the last repeats
		wantCalls int64
	}{
		{name: "first attempt succeeds", results: []error{nil}, wantCalls: 1},
		{name: "succeeds after transient failures", results: []error{throttled, httpErr(503, errors.New("unavailable")), context.DeadlineExceeded, nil}, wantCalls: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			err := Do(context.Background(), fast, func(ctx context.Context) error {
				n := calls.Add(1)
				return tt.results[min(int(n), len(tt.results))-1]
			})
			if err != nil {
				t.Fatalf("Do() = %v, want nil", err)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("call ran %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestDoWithValueHeld: a refresh whose caller holds a value does not retry
// throttling (AWS asking for fewer calls): one call, and the throttling
// back, as an *ExhaustedError Throttled still recognises. Other transient
// failures are retried as for any call.
func TestDoWithValueHeld(t *testing.T) {
	throttled := httpErr(400, apiErr("ThrottlingException", "Rate exceeded"))
	var calls atomic.Int64
	err := Do(WithValueHeld(context.Background()), fast, func(context.Context) error {
		calls.Add(1)
		return throttled
	})
	var ex *ExhaustedError
	if !errors.As(err, &ex) || !Throttled(err) || calls.Load() != 1 {
		t.Errorf("throttled with a value held: %v after %d calls; want the throttling, as an ExhaustedError, after one", err, calls.Load())
	}
	calls.Store(0)
	err = Do(WithValueHeld(context.Background()), fast, func(context.Context) error {
		if calls.Add(1) < 3 {
			return httpErr(503, errors.New("unavailable"))
		}
		return nil
	})
	if err != nil || calls.Load() != 3 {
		t.Errorf("5xx with a value held: %v after %d calls; want success after 3", err, calls.Load())
	}
	calls.Store(0)
	_ = Do(context.Background(), Policy{Budget: 50 * time.Millisecond, AttemptTimeout: time.Second, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}, func(context.Context) error {
		calls.Add(1)
		return throttled
	})
	if calls.Load() < 2 {
		t.Errorf("throttled without a value held: %d calls, want retries", calls.Load())
	}
}

func TestDoErrors(t *testing.T) {
	denied := apiErr("AccessDeniedException", "not authorized")
	throttled := apiErr("ThrottlingException", "Rate exceeded")
	tests := []struct {
		name      string
		policy    Policy
		results   []error
		wantCalls int64 // 0: more than one, any number
		wantLast  error
		exhausted bool
	}{
		{name: "permanent error stops at once", policy: fast, results: []error{denied}, wantCalls: 1, wantLast: denied},
		{name: "permanent error after transient ones", policy: fast, results: []error{throttled, throttled, denied}, wantCalls: 3, wantLast: denied},
		{name: "budget runs out on throttling",
			policy:  Policy{Budget: 300 * time.Millisecond, AttemptTimeout: time.Second, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
			results: []error{throttled}, wantLast: throttled, exhausted: true},
		{name: "budget runs out with the last error kept",
			policy:  Policy{Budget: 300 * time.Millisecond, AttemptTimeout: time.Second, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
			results: []error{throttled, httpErr(503, apiErr("ServiceUnavailable", "try later"))}, wantLast: nil, exhausted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			var last error
			err := Do(context.Background(), tt.policy, func(ctx context.Context) error {
				n := calls.Add(1)
				last = tt.results[min(int(n), len(tt.results))-1]
				return last
			})
			if err == nil {
				t.Fatal("Do() = nil, want an error")
			}
			n := calls.Load()
			if tt.wantCalls > 0 && n != tt.wantCalls {
				t.Errorf("call ran %d times, want %d", n, tt.wantCalls)
			}
			var ex *ExhaustedError
			if got := errors.As(err, &ex); got != tt.exhausted {
				t.Fatalf("Do() = %T %v; *ExhaustedError: %v, want %v", err, err, got, tt.exhausted)
			}
			want := tt.wantLast
			if want == nil {
				want = last
			}
			if !errors.Is(err, want) {
				t.Errorf("Do() = %v, want it to hold %v", err, want)
			}
			if !tt.exhausted {
				return
			}
			if n < 2 {
				t.Errorf("the budget ran out after %d attempt, want retries", n)
			}
			if ex.Attempts != int(n) {
				t.Errorf("ExhaustedError.Attempts = %d, the call ran %d times", ex.Attempts, n)
			}
			if ex.Last != last {
				t.Errorf("ExhaustedError.Last = %v, want the last failure %v", ex.Last, last)
			}
			if ex.Error() != last.Error() {
				t.Errorf("ExhaustedError.Error() = %q, want the last failure's %q", ex.Error(), last.Error())
			}
			if ex.Elapsed <= 0 || ex.Elapsed > tt.policy.Budget+time.Second {
				t.Errorf("ExhaustedError.Elapsed = %v for a budget of %v", ex.Elapsed, tt.policy.Budget)
			}
		})
	}
}

// TestDoAttemptTimeout: a hung attempt ends at AttemptTimeout and is retried;
// when the budget ends, the error says no answer came.
func TestDoAttemptTimeout(t *testing.T) {
	p := Policy{Budget: 300 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	var calls atomic.Int64
	start := time.Now()
	err := Do(context.Background(), p, func(ctx context.Context) error {
		calls.Add(1)
		dl, ok := ctx.Deadline()
		if !ok {
			t.Error("an attempt has no deadline")
		} else if dl.After(start.Add(p.Budget + 50*time.Millisecond)) {
			t.Errorf("an attempt's deadline %v is past the budget", dl.Sub(start))
		}
		<-ctx.Done() // hung connection
		return ctx.Err()
	})
	var ex *ExhaustedError
	if !errors.As(err, &ex) {
		t.Fatalf("Do() = %v, want an *ExhaustedError", err)
	}
	if n := calls.Load(); n < 2 {
		t.Errorf("a hung attempt was not retried: %d call(s)", n)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do() = %v, want the attempt's deadline as the last error", err)
	}
	// No AWS answer to tell the user of: mounterr.Reason reads "no answer in time".
	var answer smithy.APIError
	if errors.As(ex.Last, &answer) || !errors.Is(ex.Last, context.DeadlineExceeded) {
		t.Errorf("ExhaustedError.Last = %v, want the attempt's deadline alone", ex.Last)
	}
}

// TestDoContextCancelled: the caller's ctx being cancelled ends the retries,
// even with a budget far away, and Do returns the ctx's error (the kubelet
// gave up: nothing ran out).
func TestDoContextCancelled(t *testing.T) {
	throttled := apiErr("ThrottlingException", "Rate exceeded")
	slow := Policy{Budget: 10 * time.Minute, AttemptTimeout: time.Minute, BaseDelay: 30 * time.Second, MaxDelay: time.Minute}

	t.Run("cancelled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		firstCall := make(chan struct{})
		var calls atomic.Int64
		done := make(chan error, 1)
		go func() {
			done <- Do(ctx, slow, func(context.Context) error {
				if calls.Add(1) == 1 {
					close(firstCall)
				}
				return throttled
			})
		}()
		<-firstCall
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Do() = %v, want context.Canceled", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Do kept retrying after its ctx was cancelled")
		}
	})

	t.Run("cancelled during an attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int64
		err := Do(ctx, slow, func(context.Context) error {
			calls.Add(1)
			cancel()
			return throttled // a transient error, but the caller is gone
		})
		if n := calls.Load(); n != 1 {
			t.Errorf("call ran %d times after the ctx ended, want 1", n)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Do() = %v, want context.Canceled", err)
		}
	})

	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var calls atomic.Int64
		err := Do(ctx, slow, func(ctx context.Context) error {
			calls.Add(1)
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Do() = %v, want context.Canceled", err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("call ran %d times, want 1", n)
		}
	})
}

// TestDoContextDeadline: a ctx deadline before the budget's end is the
// budget; what AWS said is kept over the timeouts that followed it.
func TestDoContextDeadline(t *testing.T) {
	throttled := apiErr("ThrottlingException", "Rate exceeded")
	long := Policy{Budget: 10 * time.Minute, AttemptTimeout: 50 * time.Millisecond, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

	t.Run("throttled until the ctx deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		var calls atomic.Int64
		done := make(chan error, 1)
		go func() {
			done <- Do(ctx, long, func(context.Context) error { calls.Add(1); return throttled })
		}()
		select {
		case err := <-done:
			var ex *ExhaustedError
			if !errors.As(err, &ex) {
				t.Fatalf("Do() = %v, want an *ExhaustedError", err)
			}
			if ex.Last != throttled {
				t.Errorf("ExhaustedError.Last = %v, want %v", ex.Last, throttled)
			}
			if n := calls.Load(); ex.Attempts != int(n) || n < 2 {
				t.Errorf("Attempts = %d, calls = %d; want retries, counted", ex.Attempts, n)
			}
		case <-time.After(time.Minute):
			t.Fatal("Do ran past its ctx deadline")
		}
	})

	t.Run("throttled, then hung attempts", func(t *testing.T) {
		var calls atomic.Int64
		p := Policy{Budget: 300 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
		err := Do(context.Background(), p, func(ctx context.Context) error {
			if calls.Add(1) == 1 {
				return throttled
			}
			<-ctx.Done()
			return ctx.Err()
		})
		var ex *ExhaustedError
		if !errors.As(err, &ex) {
			t.Fatalf("Do() = %v, want an *ExhaustedError", err)
		}
		if ex.Last != throttled {
			t.Errorf("ExhaustedError.Last = %v, want what AWS said: %v", ex.Last, throttled)
		}
		// What AWS said reaches the user's message through the error (mounterr.Reason).
		var answer smithy.APIError
		if !errors.As(err, &answer) || answer.ErrorCode()+": "+answer.ErrorMessage() != "ThrottlingException: Rate exceeded" {
			t.Errorf("Do() = %v, want AWS's code and message within", err)
		}
	})
}
