package parameterstore

import (
	"testing"
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
