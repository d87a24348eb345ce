package mounterr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

var lockTable = AWSTable[string]{
	Call: func(name string) string { return "Locks Open for " + name },
	Rules: []AWSRule[string]{
		{Codes: []string{"NoKey"}, Kind: Denied, Msg: func(name, _ string) string { return "no key for lock " + name }},
		{Codes: []string{"Jammed", "Rusty"}, Kind: Invalid, Msg: func(name, reason string) string {
			return fmt.Sprintf("lock %s will not turn (%s)", name, reason)
		}},
	},
}

func TestAWSTableError(t *testing.T) {
	apiErr := func(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }
	tests := []struct {
		name     string
		err      error
		wantKind Kind
		wantMsg  string
	}{
		{name: "a code in the table", err: apiErr("NoKey", "denied"), wantKind: Denied, wantMsg: "no key for lock front"},
		{name: "a second code of a rule, with the reason", err: apiErr("Rusty", "since 1999"), wantKind: Invalid, wantMsg: "lock front will not turn (Rusty: since 1999)"},
		{name: "a code wrapped on the way", err: fmt.Errorf("operation error: %w", apiErr("Jammed", "")), wantKind: Invalid, wantMsg: "lock front will not turn (Jammed)"},
		{name: "a code not in the table is transient", err: apiErr("Frozen", "brr"), wantKind: Transient, wantMsg: "Locks Open for front failed (Frozen: brr)"},
		{name: "not an AWS answer", err: errors.New("dial tcp: refused"), wantKind: Transient,
			wantMsg: "Locks Open for front failed (transient; the kubelet retries): dial tcp: refused"},
		{name: "retries exhausted, even for a code in the table", err: &retry.ExhaustedError{Attempts: 4, Elapsed: 2600 * time.Millisecond, Last: apiErr("NoKey", "later")},
			wantKind: Transient, wantMsg: "Locks Open for front kept failing for 3s (NoKey: later); this is transient: the kubelet retries the mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lockTable.Error("front", tt.err)
			if got.Kind != tt.wantKind {
				t.Errorf("kind = %s, want %s", got.Kind, tt.wantKind)
			}
			if diff := cmp.Diff(tt.wantMsg, got.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("%v does not wrap %v", got, tt.err)
			}
		})
	}
}

func TestReason(t *testing.T) {
	apiErr := func(code, msg string) error {
		return &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "API error with message", err: apiErr("AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/pmp/x is not authorized"),
			want: "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/pmp/x is not authorized"},
		{name: "API error without message", err: apiErr("ResourceNotFoundException", ""), want: "ResourceNotFoundException"},
		{name: "API error inside the SDK's wrapping", err: &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: "GetSecretValue",
			Err: &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 503}}, Err: apiErr("ServiceUnavailable", "try later")}}}, want: "ServiceUnavailable: try later"},
		{name: "exhausted retries give the last error's reason", err: &retry.ExhaustedError{Attempts: 3, Last: apiErr("ThrottlingException", "Rate exceeded")},
			want: "ThrottlingException: Rate exceeded"},
		{name: "deadline", err: fmt.Errorf("operation error STS: %w", context.DeadlineExceeded), want: "no answer in time"},
		{name: "other error", err: errors.New("dial tcp: lookup sts.amazonaws.com: no such host"), want: "dial tcp: lookup sts.amazonaws.com: no such host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reason(tt.err); got != tt.want {
				t.Errorf("Reason() = %q, want %q", got, tt.want)
			}
		})
	}
}
