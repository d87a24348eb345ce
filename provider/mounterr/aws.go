package mounterr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	smithy "github.com/aws/smithy-go"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// AWSTable is how the failures of one AWS call read to the user, for a
// call about a T (an identity, a secret). Each service keeps its own table
// beside its call; Error applies the same steps to all of them.
type AWSTable[T any] struct {
	// Call names the call and what it was about, for the messages that are
	// not in Rules: "STS AssumeRoleWithWebIdentity for role ARN".
	Call func(x T) string
	// Rules are the error codes AWS answers with that a user can act on.
	Rules []AWSRule[T]
}

// AWSRule is the kind and message of one or more AWS error codes.
type AWSRule[T any] struct {
	Codes []string
	Kind  Kind
	// Msg is the message for the call about x; reason is AWS's code and
	// message (Reason), which names resources, never secrets.
	Msg func(x T, reason string) string
}

// Error classifies err, what retry.Do returned for t's call about x:
//   - retries that outlived the budget are Transient, with the last reason;
//   - an error that is not an AWS answer (network, proxy) is Transient;
//   - an AWS error code is looked up in Rules;
//   - any other code is Transient: it may be new, and a retry may succeed.
//
// The result wraps err.
func (t *AWSTable[T]) Error(x T, err error) *Error {
	var ex *retry.ExhaustedError
	if errors.As(err, &ex) {
		return &Error{Kind: Transient, Err: err, Msg: fmt.Sprintf(
			"%s kept failing for %s (%s); this is transient: the kubelet retries the mount",
			t.Call(x), ex.Elapsed.Round(time.Second), Reason(ex.Last))}
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return Wrap(Transient, err, "%s failed (transient; the kubelet retries)", t.Call(x))
	}
	code := apiErr.ErrorCode()
	for _, r := range t.Rules {
		if slices.Contains(r.Codes, code) {
			return &Error{Kind: r.Kind, Err: err, Msg: r.Msg(x, Reason(err))}
		}
	}
	return &Error{Kind: Transient, Err: err, Msg: fmt.Sprintf("%s failed (%s)", t.Call(x), Reason(err))}
}

// Reason is the AWS error code and message, or the error's text, for a
// user-facing message. AWS messages name resources and actions; they do
// not echo tokens or secret values.
func Reason(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if msg := apiErr.ErrorMessage(); msg != "" {
			return apiErr.ErrorCode() + ": " + msg
		}
		return apiErr.ErrorCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return err.Error()
}
