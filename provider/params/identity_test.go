package params

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

const (
	targetRole = "arn:aws:iam::444455556666:role/pmp-reader"
	otherRole  = "arn:aws:iam::777788889999:role/team/other-reader"
)

// identityOf is what a request chose as the pod's AWS identity.
type identityOf struct {
	PodIdentity bool
	AddressType AddressType
	AssumeRole  AssumeRole
	Objects     []AssumeRole
}

func TestParseIdentityParams(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   identityOf
	}{
		{name: "none: IRSA, the pod's own role", want: identityOf{Objects: []AssumeRole{{}}}},
		{name: "usePodIdentity true", params: map[string]string{ParamUsePodIdentity: "true"},
			want: identityOf{PodIdentity: true, Objects: []AssumeRole{{}}}},
		{name: "usePodIdentity as ASCP reads it (ParseBool)", params: map[string]string{ParamUsePodIdentity: "True"},
			want: identityOf{PodIdentity: true, Objects: []AssumeRole{{}}}},
		{name: "usePodIdentity false", params: map[string]string{ParamUsePodIdentity: "false"}, want: identityOf{Objects: []AssumeRole{{}}}},
		{name: "preferredAddressType ipv6, any case", params: map[string]string{ParamUsePodIdentity: "true", ParamPreferredAddressType: "IPv6"},
			want: identityOf{PodIdentity: true, AddressType: AddressIPv6, Objects: []AssumeRole{{}}}},
		{name: "preferredAddressType ipv4", params: map[string]string{ParamPreferredAddressType: "ipv4"},
			want: identityOf{AddressType: AddressIPv4, Objects: []AssumeRole{{}}}},
		{name: "preferredAddressType auto", params: map[string]string{ParamPreferredAddressType: "auto"},
			want: identityOf{AddressType: AddressAuto, Objects: []AssumeRole{{}}}},
		{name: "assumeRoleArn for the class", params: map[string]string{ParamAssumeRoleARN: targetRole},
			want: identityOf{AssumeRole: AssumeRole{RoleARN: targetRole}, Objects: []AssumeRole{{}}}},
		{name: "assumeRoleArn with external id and duration",
			params: map[string]string{ParamAssumeRoleARN: targetRole, ParamAssumeRoleExternalID: "pmp-prod:42", ParamAssumeRoleDuration: "900"},
			want:   identityOf{AssumeRole: AssumeRole{RoleARN: targetRole, ExternalID: "pmp-prod:42", Duration: 15 * time.Minute}, Objects: []AssumeRole{{}}}},
		{name: "the longest chained session", params: map[string]string{ParamAssumeRoleARN: targetRole, ParamAssumeRoleDuration: "3600"},
			want: identityOf{AssumeRole: AssumeRole{RoleARN: targetRole, Duration: time.Hour}, Objects: []AssumeRole{{}}}},
		{name: "per object, beside the class's",
			params: map[string]string{ParamAssumeRoleARN: targetRole, ParamObjects: "- objectName: a\n- objectName: b\n  assumeRoleArn: " + otherRole +
				"\n  assumeRoleExternalId: ext-1\n  assumeRoleDurationSeconds: 1200\n- objectName: c\n  assumeRoleDurationSeconds: \"1800\"\n  assumeRoleArn: " + otherRole},
			want: identityOf{AssumeRole: AssumeRole{RoleARN: targetRole}, Objects: []AssumeRole{
				{}, {RoleARN: otherRole, ExternalID: "ext-1", Duration: 20 * time.Minute}, {RoleARN: otherRole, Duration: 30 * time.Minute},
			}}},
		{name: "Pod Identity chained to a role", params: map[string]string{ParamUsePodIdentity: "true", ParamAssumeRoleARN: targetRole},
			want: identityOf{PodIdentity: true, AssumeRole: AssumeRole{RoleARN: targetRole}, Objects: []AssumeRole{{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Parse(attrs(t, tt.params), "", "")
			if err != nil {
				t.Fatal(err)
			}
			got := identityOf{PodIdentity: req.PodIdentity, AddressType: req.AddressType, AssumeRole: req.AssumeRole}
			for _, o := range req.Objects {
				got.Objects = append(got.Objects, o.AssumeRole)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseIdentityParamsErrors(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   string // a part of the message
	}{
		{name: "usePodIdentity not a boolean", params: map[string]string{ParamUsePodIdentity: "yes"},
			want: `parameter usePodIdentity "yes" is not "true" or "false"`},
		{name: "preferredAddressType unknown", params: map[string]string{ParamPreferredAddressType: "dual"},
			want: `parameter preferredAddressType "dual" is not ipv4, ipv6 or auto`},
		{name: "assumeRoleArn not a role", params: map[string]string{ParamAssumeRoleARN: "arn:aws:iam::444455556666:user/pmp"},
			want: `parameter assumeRoleArn "arn:aws:iam::444455556666:user/pmp" is not an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)`},
		{name: "assumeRoleArn a role name", params: map[string]string{ParamAssumeRoleARN: "pmp-reader"},
			want: `parameter assumeRoleArn "pmp-reader" is not an IAM role ARN`},
		{name: "external id without a role", params: map[string]string{ParamAssumeRoleExternalID: "ext"},
			want: "parameter assumeRoleExternalId applies to the role assumed with assumeRoleArn: set parameter assumeRoleArn too, or remove assumeRoleExternalId"},
		{name: "duration without a role", params: map[string]string{ParamAssumeRoleDuration: "900"},
			want: "parameter assumeRoleDurationSeconds applies to the role assumed with assumeRoleArn"},
		{name: "external id too short", params: map[string]string{ParamAssumeRoleARN: targetRole, ParamAssumeRoleExternalID: "x"},
			want: "parameter assumeRoleExternalId is not an STS external id (2-1224 of A-Z a-z 0-9 _ + = , . @ : / -)"},
		{name: "external id with a space", params: map[string]string{ParamAssumeRoleARN: targetRole, ParamAssumeRoleExternalID: "a b"},
			want: "parameter assumeRoleExternalId is not an STS external id"},
		{name: "duration over the chained limit", params: map[string]string{ParamAssumeRoleARN: targetRole, ParamAssumeRoleDuration: "43200"},
			want: "parameter assumeRoleDurationSeconds 43200 is not a whole number of seconds from 900 to 3600: STS grants a role session assumed with the pod's own role credentials at most one hour"},
		{name: "duration under STS's least", params: map[string]string{ParamAssumeRoleARN: targetRole, ParamAssumeRoleDuration: "899"},
			want: "parameter assumeRoleDurationSeconds 899 is not a whole number of seconds from 900 to 3600"},
		{name: "duration as a Go duration", params: map[string]string{ParamAssumeRoleARN: targetRole, ParamAssumeRoleDuration: "1h"},
			want: "parameter assumeRoleDurationSeconds 1h is not a whole number of seconds"},
		{name: "object: not a role", params: map[string]string{ParamObjects: "- objectName: a\n  assumeRoleArn: arn:aws:iam::1:role/x"},
			want: `objects[0] (a): assumeRoleArn "arn:aws:iam::1:role/x" is not an IAM role ARN`},
		{name: "object: external id without its own role, even with the class's",
			params: map[string]string{ParamAssumeRoleARN: targetRole, ParamObjects: "- objectName: a\n  assumeRoleExternalId: ext"},
			want:   "objects[0] (a): assumeRoleExternalId applies to the role assumed with assumeRoleArn: set assumeRoleArn too, or remove assumeRoleExternalId"},
		{name: "object: duration a fraction", params: map[string]string{ParamObjects: "- objectName: a\n  assumeRoleArn: " + targetRole + "\n  assumeRoleDurationSeconds: 900.5"},
			want: "objects[0] (a): assumeRoleDurationSeconds 900.5 is not a whole number of seconds from 900 to 3600"},
		// 2^55+1000 seconds is 1000 s once multiplied into a time.Duration's
		// nanoseconds (2^55 * 10^9 is a multiple of 2^64): refused, not wrapped.
		{name: "object: duration that overflows", params: map[string]string{ParamObjects: "- objectName: a\n  assumeRoleArn: " + targetRole + "\n  assumeRoleDurationSeconds: 36028797018964968"},
			want: "objects[0] (a): assumeRoleDurationSeconds 36028797018964968 is not a whole number of seconds from 900 to 3600"},
		{name: "object: duration far past int64", params: map[string]string{ParamObjects: "- objectName: a\n  assumeRoleArn: " + targetRole + "\n  assumeRoleDurationSeconds: 1e300"},
			want: "objects[0] (a): assumeRoleDurationSeconds 1e+300 is not a whole number of seconds from 900 to 3600"},
		{name: "object: duration negative past int64", params: map[string]string{ParamObjects: "- objectName: a\n  assumeRoleArn: " + targetRole + "\n  assumeRoleDurationSeconds: -18446744073709551616000"},
			want: "objects[0] (a): assumeRoleDurationSeconds -1.8446744073709552e+22 is not a whole number of seconds from 900 to 3600"},
		{name: "duration that overflows, as a string", params: map[string]string{ParamAssumeRoleARN: targetRole, ParamAssumeRoleDuration: "36028797018964968"},
			want: "parameter assumeRoleDurationSeconds 36028797018964968 is not a whole number of seconds from 900 to 3600"},
		{name: "object: role not a string", params: map[string]string{ParamObjects: "- objectName: a\n  assumeRoleArn: [x]"},
			want: "objects[0] (a): assumeRoleArn must be a string: put the value in quotes"},
		{name: "object: misspelt field", params: map[string]string{ParamObjects: "- objectName: a\n  assumeRolArn: " + targetRole},
			want: `objects[0] (a): unknown field "assumeRolArn": did you mean assumeRoleArn?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(attrs(t, tt.params), "", "")
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if mounterr.KindOf(err) != mounterr.Invalid {
				t.Errorf("kind = %s, want Invalid", mounterr.KindOf(err))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}
