package mounterr

import (
	"errors"
	"fmt"
	"testing"
	"time"

	smithy "github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awsretry"
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
		{name: "retries exhausted, even for a code in the table", err: &awsretry.ExhaustedError{Attempts: 4, Elapsed: 2600 * time.Millisecond, Last: apiErr("NoKey", "later")},
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
