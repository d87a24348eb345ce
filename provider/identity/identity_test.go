package identity

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var stsSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func TestSessionName(t *testing.T) {
	long := strings.Repeat("n", 63)
	tests := []struct {
		name           string
		namespace, sa  string
		want           string // "" checks only the invariants
		wantStart, end string
	}{
		{name: "PMP", namespace: "pmp", sa: "pmp-secret-access", want: "pmp-pmp-pmp-secret-access"},
		{name: "digits only", namespace: "123", sa: "456", want: "pmp-123-456"},
		{name: "empty", namespace: "", sa: "", want: "pmp--"},
		{name: "dots are allowed", namespace: "team.a", sa: "sa.b", want: "pmp-team.a-sa.b"},
		{name: "unsafe characters become _", namespace: "ns:x/y", sa: "sa b*c", want: "pmp-ns_x_y-sa_b_c"},
		{name: "non-ASCII becomes _ per character", namespace: "é", sa: "日本", want: "pmp-_-__"},
		{name: "invalid UTF-8", namespace: "a\xff", sa: "b", want: "pmp-a_-b"},
		{name: "exactly 64", namespace: strings.Repeat("a", 30), sa: strings.Repeat("b", 29), want: "pmp-" + strings.Repeat("a", 30) + "-" + strings.Repeat("b", 29)},
		{name: "65 is truncated, keeping both ends", namespace: strings.Repeat("a", 30), sa: strings.Repeat("b", 30),
			want: "pmp-" + strings.Repeat("a", 26) + ".." + "a-" + strings.Repeat("b", 30)},
		{name: "longest Kubernetes names", namespace: long, sa: strings.Repeat("s", 253), wantStart: "pmp-nnnn", end: "ssss"},
		{name: "long multi-byte names", namespace: strings.Repeat("é", 100), sa: strings.Repeat("ü", 100), wantStart: "pmp-___", end: "___"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SessionName(tt.namespace, tt.sa)
			if tt.want != "" && got != tt.want {
				t.Errorf("SessionName() = %q, want %q", got, tt.want)
			}
			if !stsSessionName.MatchString(got) {
				t.Errorf("SessionName() = %q (%d bytes): not a valid STS RoleSessionName", got, len(got))
			}
			if !strings.HasPrefix(got, "pmp-") {
				t.Errorf("SessionName() = %q does not start with pmp-", got)
			}
			if !strings.HasPrefix(got, tt.wantStart) || !strings.HasSuffix(got, tt.end) {
				t.Errorf("SessionName() = %q, want it to start with %q and end with %q", got, tt.wantStart, tt.end)
			}
		})
	}
}

func TestValidRoleARN(t *testing.T) {
	tests := []struct {
		name string
		arn  string
		want bool
	}{
		{name: "PMP role", arn: "arn:aws:iam::123456789012:role/pmp-secret-access", want: true},
		{name: "role with a path", arn: "arn:aws:iam::123456789012:role/service/pmp/PMP-SecretsManager-Role", want: true},
		{name: "China partition", arn: "arn:aws-cn:iam::123456789012:role/pmp", want: true},
		{name: "GovCloud partition", arn: "arn:aws-us-gov:iam::123456789012:role/pmp", want: true},
		{name: "every allowed character", arn: "arn:aws:iam::123456789012:role/a_b+c=d,e.f@g-h", want: true},
		{name: "empty", arn: "", want: false},
		{name: "the document's placeholder", arn: "arn:aws:iam::<your-account-id>:role/pmp-secret-access", want: false},
		{name: "eleven-digit account", arn: "arn:aws:iam::12345678901:role/pmp", want: false},
		{name: "a user, not a role", arn: "arn:aws:iam::123456789012:user/pmp", want: false},
		{name: "a region in an IAM ARN", arn: "arn:aws:iam:eu-west-1:123456789012:role/pmp", want: false},
		{name: "no role name", arn: "arn:aws:iam::123456789012:role/", want: false},
		{name: "unknown partition", arn: "arn:azure:iam::123456789012:role/pmp", want: false},
		{name: "trailing newline", arn: "arn:aws:iam::123456789012:role/pmp\n", want: false},
		{name: "leading space", arn: " arn:aws:iam::123456789012:role/pmp", want: false},
		{name: "a space in the name", arn: "arn:aws:iam::123456789012:role/pmp role", want: false},
		{name: "an assumed-role ARN", arn: "arn:aws:sts::123456789012:assumed-role/pmp/session", want: false},
		{name: "name over 512", arn: "arn:aws:iam::123456789012:role/" + strings.Repeat("r", 513), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidRoleARN(tt.arn); got != tt.want {
				t.Errorf("ValidRoleARN(%q) = %v, want %v", tt.arn, got, tt.want)
			}
		})
	}
}

func TestIdentityKey(t *testing.T) {
	base := Identity{RoleARN: "arn:aws:iam::123456789012:role/pmp", Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1"}
	tests := []struct {
		name  string
		other Identity
	}{
		{name: "role", other: Identity{RoleARN: "arn:aws:iam::123456789012:role/other", Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1"}},
		{name: "namespace: a copied annotation in another namespace", other: Identity{RoleARN: base.RoleARN, Namespace: "attacker", ServiceAccount: "pmp-sa", Region: "eu-west-1"}},
		{name: "service account", other: Identity{RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "default", Region: "eu-west-1"}},
		{name: "region", other: Identity{RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "us-east-1"}},
		{name: "the same text split differently", other: Identity{RoleARN: base.RoleARN, Namespace: "pmp-sa", ServiceAccount: "", Region: "eu-west-1"}},
		{name: "fields shifted", other: Identity{RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "pmp-saeu-west-1", Region: ""}},
		{name: "source: Pod Identity for the same service account", other: Identity{Source: PodIdentity, RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1"}},
		{name: "a target role", other: Identity{RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1", Target: Target{RoleARN: "arn:aws:iam::444455556666:role/x"}}},
		{name: "the target's external id", other: Identity{RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1", Target: Target{ExternalID: "e"}}},
		{name: "the target's duration", other: Identity{RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1", Target: Target{Duration: time.Hour}}},
		{name: "a pod of the service account (Pod Identity's session tags)", other: Identity{RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1", PodUID: "0b9e7c54-5f0e-4c53-9d3c-2f6a1f1f7a10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if base.Key() == tt.other.Key() {
				t.Errorf("Key() is the same for %+v and %+v", base, tt.other)
			}
		})
	}
	if base.Key() != (Identity{RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1"}).Key() {
		t.Error("Key() differs for equal identities")
	}
	// The agent address is how the node's agent is reached, not who asks.
	if base.Key() != (Identity{RoleARN: base.RoleARN, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1", Address: AddressIPv6}).Key() {
		t.Error("Key() differs by the agent address")
	}
}

func TestIdentitySubject(t *testing.T) {
	id := Identity{Namespace: "pmp", ServiceAccount: "pmp-secret-access"}
	if got, want := id.Subject(), "system:serviceaccount:pmp:pmp-secret-access"; got != want {
		t.Errorf("Subject() = %q, want %q", got, want)
	}
}

func TestKeyLogFields(t *testing.T) {
	id := Identity{Source: PodIdentity, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1", PodUID: "uid-1",
		Target: Target{RoleARN: "arn:aws:iam::444455556666:role/x"}}
	want := []any{"role", "", "namespace", "pmp", "serviceAccount", "pmp-sa", "targetRole", "arn:aws:iam::444455556666:role/x", "podUID", "uid-1"}
	if diff := cmp.Diff(want, id.Key().LogFields()); diff != "" {
		t.Errorf("LogFields (-want +got):\n%s", diff)
	}
	// An IRSA identity of its own: no target role, no pod.
	irsa := Identity{RoleARN: "arn:aws:iam::111122223333:role/r", Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1", Address: AddressIPv6}
	if diff := cmp.Diff([]any{"role", "arn:aws:iam::111122223333:role/r", "namespace", "pmp", "serviceAccount", "pmp-sa"}, irsa.Key().LogFields()); diff != "" {
		t.Errorf("LogFields of an IRSA identity (-want +got):\n%s", diff)
	}
}
