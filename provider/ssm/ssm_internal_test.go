package ssm

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
)

func TestResources(t *testing.T) {
	tests := []struct {
		name string
		c    call
		want string
	}{
		{"names and selectors", call{region: "eu-west-1", names: []string{"/app/db", "/app/db:3", "app.flag:prod"}},
			"arn:aws:ssm:eu-west-1:ACCOUNT_ID:parameter/app/db, arn:aws:ssm:eu-west-1:ACCOUNT_ID:parameter/app.flag"},
		{"an ARN with a label", call{region: "eu-west-1", names: []string{"arn:aws:ssm:eu-west-1:123456789012:parameter/app/db:prod"}},
			"arn:aws:ssm:eu-west-1:123456789012:parameter/app/db"},
		{"China", call{region: "cn-north-1", names: []string{"/x"}}, "arn:aws-cn:ssm:cn-north-1:ACCOUNT_ID:parameter/x"},
		{"GovCloud", call{region: "us-gov-west-1", names: []string{"x"}}, "arn:aws-us-gov:ssm:us-gov-west-1:ACCOUNT_ID:parameter/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resources(tt.c); got != tt.want {
				t.Errorf("resources() = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestBatchKey: a batch read with a failover region is kept apart from the
// same batch read without one, and each says what it is in a log line from
// its own fields.
func TestBatchKey(t *testing.T) {
	id := identity.Key{RoleARN: "arn:aws:iam::111122223333:role/r", Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "us-east-1"}
	plain := batchKey{Identity: id, Region: "us-east-1", Names: "/app/a,/app/b"}
	withReplicas := plain
	withReplicas.FailoverRegion, withReplicas.FailoverNames = "us-west-2", "/app/a,/app/b"
	if plain == withReplicas {
		t.Error("a batch read with a failover region has the key of one read without")
	}
	idFields := []any{"role", "arn:aws:iam::111122223333:role/r", "namespace", "pmp", "serviceAccount", "pmp-sa"}
	if diff := cmp.Diff(append([]any{"parameters", "/app/a,/app/b", "region", "us-east-1"}, idFields...), plain.LogFields()); diff != "" {
		t.Errorf("LogFields() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append([]any{"parameters", "/app/a,/app/b", "region", "us-east-1", "failoverRegion", "us-west-2"}, idFields...), withReplicas.LogFields()); diff != "" {
		t.Errorf("LogFields() with a failover region (-want +got):\n%s", diff)
	}
}
