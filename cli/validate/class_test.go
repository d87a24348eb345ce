package validate

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
)

func class(t *testing.T, yaml string) []spclass.SecretProviderClass {
	t.Helper()
	cs, err := spclass.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

const classHead = "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {name: c}\nspec:\n  provider: pmp\n  parameters:\n    objects: |\n"

func TestMountPreview(t *testing.T) {
	secret := []byte(`{"VCS": {"GithubAdminPAT": "v", "GithubOrgOwnerPAT": "", "BitbucketAdminPassword": "b"}, "Email": {"SMTPPassword": "s"}}`)
	for _, tc := range []struct {
		name    string
		objects string // the objects parameter, indented
		secret  string // the secret validated; "" for a file
		files   []string
		checks  []string
		says    string
	}{
		{name: "the whole secret", objects: "      - objectName: PMP-Production-Credentials\n        filePermission: \"0440\"",
			files: []string{"0440 Email.SMTPPassword", "0440 VCS.BitbucketAdminPassword", "0440 VCS.GithubAdminPAT"}},
		{name: "keys and nested layout", objects: "      - objectName: PMP-Production-Credentials\n        keys: [\"VCS.Github*\"]\n        layout: nested",
			files: []string{"0644 VCS/GithubAdminPAT"}},
		{name: "empty ones kept", objects: "      - objectName: PMP-Production-Credentials\n        keys: [\"VCS.GithubOrg*\"]\n        keepEmpty: true",
			files: []string{"0644 VCS.GithubOrgOwnerPAT"}},
		{name: "a pattern that matches only an empty key", objects: "      - objectName: PMP-Production-Credentials\n        keys: [\"VCS.GithubOrg*\"]",
			checks: []string{"mount-fails"}, says: `keys pattern "VCS.GithubOrg*" matches no key that has a value`},
		{name: "a typo in a field", objects: "      - objectName: PMP-Production-Credentials\n        key: [\"VCS.*\"]",
			checks: []string{"class-invalid"}, says: `unknown field "key"`},
		{name: "a whole value", objects: "      - objectName: PMP-Production-Credentials\n        flatten: false\n        objectAlias: pmp.json",
			files: []string{"0644 pmp.json"}},
		{name: "two objects, one file", objects: "      - objectName: PMP-Production-Credentials\n      - objectName: PMP-Staging-Credentials",
			checks: []string{"mount-fails"}, says: `two objects or keys produce the same file`},
		{name: "the named secret only", secret: "PMP-Production-Credentials", objects: "      - objectName: PMP-Production-Credentials\n        keys: [\"Email.*\"]\n      - objectName: PMP-Staging-Credentials",
			files: []string{"0644 Email.SMTPPassword"}},
		{name: "an ARN of the named secret", secret: "PMP-Production-Credentials", objects: "      - objectName: arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Production-Credentials-AbCdEf\n        keys: [\"Email.*\"]",
			files: []string{"0644 Email.SMTPPassword"}},
		{name: "a class of another secret", secret: "PMP-Production-Credentials", objects: "      - objectName: PMP-Staging-Credentials",
			checks: []string{"class-other-secret"}, says: "does not mount secret PMP-Production-Credentials: its objects read PMP-Staging-Credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vols, findings := mountPreview(class(t, classHead+tc.objects+"\n"), tc.secret, secret, "pmp")
			var got []string
			for _, v := range vols {
				for _, o := range v.Objects {
					for _, f := range o.Files {
						got = append(got, f.Mode+" "+f.Path)
					}
				}
			}
			if len(tc.checks) == 0 {
				if diff := cmp.Diff(tc.files, got); diff != "" {
					t.Errorf("files (-want +got):\n%s", diff)
				}
			}
			var checks []string
			for _, f := range findings {
				checks = append(checks, f.Check)
				if !strings.Contains(f.Message, tc.says) {
					t.Errorf("finding %q does not say %q", f.Message, tc.says)
				}
			}
			if diff := cmp.Diff(tc.checks, checks); diff != "" {
				t.Errorf("findings (-want +got):\n%s\n%+v", diff, findings)
			}
		})
	}
}

func TestMountPreviewOfAnotherProvidersClass(t *testing.T) {
	cs := class(t, strings.Replace(classHead, "provider: pmp", "provider: aws", 1)+"      - objectName: PMP-Production-Credentials\n")
	_, findings := mountPreview(cs, "", []byte(`{"Email": {"SMTPPassword": "s"}}`), "pmp")
	if len(findings) != 1 || findings[0].Check != "class-provider" || findings[0].Fix != "set spec.provider: pmp" {
		t.Errorf("findings = %+v", findings)
	}
}

func TestSameSecret(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Prod-AbCdEf"
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"PMP-Prod", "PMP-Prod", true},
		{"PMP-Prod", "PMP-Staging", false},
		{arn, "PMP-Prod", true},
		{"PMP-Prod", arn, true},
		{arn, arn, true},
		{arn, "PMP-Prod-AbCdEf", true},
		{arn, "PMP", false},
		{arn, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Prod-XxXxXx", false},
	} {
		if got := sameSecret(tc.a, tc.b); got != tc.want {
			t.Errorf("sameSecret(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
