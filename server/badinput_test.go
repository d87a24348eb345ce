package server_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

// badInput is a Mount request the driver, a user or another process on
// the node can get wrong, what the user reads in `kubectl describe pod`,
// and the row of the "Bad input" table of docs/troubleshooting.md that
// documents it.
type badInput struct {
	// input is the first column of the table's row.
	input  string
	secret string // stored as PMP-Production-Credentials when not empty
	binary bool   // secret is stored as SecretBinary
	req    func() *v1alpha1.MountRequest
	code   codes.Code
	want   []string // substrings of the message; each names the field or the fix
}

func badInputs() []badInput {
	objects := func(objs string) func() *v1alpha1.MountRequest {
		return func() *v1alpha1.MountRequest { return pmpReq(objs).Build() }
	}
	pmp := "- objectName: PMP-Production-Credentials"
	withAttrs := func(edit func(attrs string) string) func() *v1alpha1.MountRequest {
		return func() *v1alpha1.MountRequest {
			r := pmpReq(pmp).Build()
			r.Attributes = edit(r.Attributes)
			return r
		}
	}
	return []badInput{
		{
			input: "malformed `attributes` JSON",
			req:   withAttrs(func(a string) string { return a[:len(a)/2] }),
			code:  codes.InvalidArgument,
			want:  []string{"attributes"},
		},
		{
			input: "malformed `secrets` JSON",
			req: func() *v1alpha1.MountRequest {
				r := pmpReq(pmp).Build()
				r.Secrets = `{"csi.storage.k8s.io/serviceAccount.tokens": `
				return r
			},
			code: codes.InvalidArgument,
			want: []string{"secrets"},
		},
		{
			input: "no pod info (`podInfoOnMount` off)",
			req: func() *v1alpha1.MountRequest {
				r := pmpReq(pmp)
				r.PodName, r.PodUID = "", ""
				return r.Build()
			},
			code: codes.InvalidArgument,
			want: []string{"podInfoOnMount"},
		},
		{
			input: "a token map without the `sts.amazonaws.com` audience",
			req: func() *v1alpha1.MountRequest {
				r := pmpReq(pmp)
				r.Audience = "vault"
				return r.Build()
			},
			code: codes.Unauthenticated,
			want: []string{`audience "sts.amazonaws.com"`, "tokenRequests"},
		},
		{
			input: "a token that is not a JWT",
			req: func() *v1alpha1.MountRequest {
				r := pmpReq(pmp)
				r.Token = "not-a-jwt"
				return r.Build()
			},
			code: codes.Unauthenticated,
			want: []string{`pod "pmp/pmp-0"`, "check"},
		},
		{
			input: "an expired token",
			req: func() *v1alpha1.MountRequest {
				r := pmpReq(pmp)
				r.Token = testIssuer.Sign(issuer.Token{Namespace: "pmp", ServiceAccount: "pmp-secrets-access", PodName: "pmp-0", PodUID: r.PodUID, IssuedAt: time.Now().Add(-2 * time.Hour)})
				return r.Build()
			},
			code: codes.Unauthenticated,
			want: []string{"failed the expiry check"},
		},
		{
			input: "`objects` that is not YAML",
			req:   objects("objectName: [PMP"),
			code:  codes.InvalidArgument,
			want:  []string{"parameter objects", "YAML"},
		},
		{
			input: "an unknown field",
			req:   objects("- objectName: PMP-Production-Credentials\n  objectAliass: pmp"),
			code:  codes.InvalidArgument,
			want:  []string{`unknown field "objectAliass": did you mean objectAlias?`},
		},
		{
			input:  "two objects with one `objectAlias`",
			secret: "plain text",
			req: objects("- objectName: PMP-Production-Credentials\n  objectAlias: pmp\n" +
				"- objectName: PMP-Production-Credentials\n  objectVersionLabel: AWSCURRENT\n  objectAlias: pmp"),
			code: codes.InvalidArgument,
			want: []string{`the same file "pmp"`, "objectAlias"},
		},
		{
			input: "a bad `filePermission`",
			req:   objects("- objectName: PMP-Production-Credentials\n  filePermission: \"0999\""),
			code:  codes.InvalidArgument,
			want:  []string{"filePermission", `"0999"`},
		},
		{
			input: "an unsafe file name (`objectAlias: ../x`)",
			req:   objects("- objectName: PMP-Production-Credentials\n  objectAlias: ../etc"),
			code:  codes.InvalidArgument,
			want:  []string{"objectAlias", `"../etc"`},
		},
		{
			input:  "a key that would escape the volume",
			secret: `{"..": {"etc": "x"}}`,
			req:    objects(pmp),
			code:   codes.InvalidArgument,
			want:   []string{"cannot be a file name"},
		},
		{
			input:  "JSON nested past the bound",
			secret: strings.Repeat(`{"a":`, 200) + `"x"` + strings.Repeat("}", 200),
			req:    objects(pmp),
			code:   codes.InvalidArgument,
			want:   []string{"PMP-Production-Credentials", "nest"},
		},
		{
			input:  "a key name that is not UTF-8 (a binary JSON secret)",
			secret: "{\"VCS\": {\"Github\xffPAT\": \"x\"}}",
			binary: true,
			req:    objects(pmp),
			code:   codes.InvalidArgument,
			want:   []string{"PMP-Production-Credentials", "UTF-8"},
		},
		{
			input: "a control character in `objectVersion`",
			req:   objects("- objectName: PMP-Production-Credentials\n  objectVersion: \"v1\\nv2\""),
			code:  codes.InvalidArgument,
			want:  []string{"objectVersion", "control character"},
		},
		{
			input: "`failoverRegion` equal to `region`",
			req:   withFailover(pmp, "eu-west-1"),
			code:  codes.InvalidArgument,
			want:  []string{`parameter failoverRegion "eu-west-1" is the region itself`, "name another region"},
		},
		{
			input: "`failoverObject` without `failoverRegion`",
			req:   objects(pmp + "\n  failoverObject: {objectName: PMP-Replica}"),
			code:  codes.InvalidArgument,
			want:  []string{"failoverObject is read in the failoverRegion", "add the parameter failoverRegion"},
		},
		{
			input: "an ARN `objectName` with `failoverRegion` and no `failoverObject`",
			req:   withFailover("- objectName: arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Production-Credentials-AbCdEf", "us-west-2"),
			code:  codes.InvalidArgument,
			want:  []string{"objectName is an ARN, which names its region eu-west-1", "add failoverObject"},
		},
		{
			input: "a `failoverObject` ARN outside the `failoverRegion`",
			req: withFailover(pmp+"\n  failoverObject: {objectName: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:PMP-Production-Credentials-AbCdEf'}",
				"us-west-2"),
			code: codes.InvalidArgument,
			want: []string{"names the region eu-central-1, not the failoverRegion us-west-2"},
		},
		{
			input: "a `jmesPath` that cannot be bounded",
			req:   objects(pmp + "\n  jmesPath: [{path: \"pad_left('', `200000000`)\", objectAlias: pad}]"),
			code:  codes.InvalidArgument,
			want:  []string{"jmesPath[0]: path \"pad_left('', `200000000`)\" pads to a width of 200000000; pad_left() pads to at most 4096 characters"},
		},
		{
			input: "a `jmesPath` whose result outgrows the response",
			req:   objects(pmp + "\n  jmesPath: [{path: '@" + strings.Repeat(" | [@,@]", 16) + "', objectAlias: big}]"),
			code:  codes.InvalidArgument,
			want:  []string{"jmesPath[0] path \"@ | [@,@]", "(objectAlias big)", "the result would be over 3 MiB, the most a Mount can return: select a smaller part of the value"},
		},
	}
}

// withFailover is a Mount of objs in region eu-west-1 with failoverRegion
// failover.
func withFailover(objs, failover string) func() *v1alpha1.MountRequest {
	return func() *v1alpha1.MountRequest {
		r := pmpReq(objs)
		r.Parameters["region"], r.Parameters["failoverRegion"] = "eu-west-1", failover
		return r.Build()
	}
}

// TestBadInputIsRefusedNamingTheField: every bad request gets a final code
// (InvalidArgument, or Unauthenticated for a token), a message that names
// what is wrong, and no files at all.
func TestBadInputIsRefusedNamingTheField(t *testing.T) {
	// Without the cache each case reads the secret it stored.
	e := newEnv(t, func(o *provider.Options) { o.Cache = false })
	doc, _ := pmpTemplate(secretValue)
	for _, tc := range badInputs() {
		t.Run(tc.input, func(t *testing.T) {
			switch {
			case tc.binary:
				e.putBinary("PMP-Production-Credentials", []byte(tc.secret))
			case tc.secret != "":
				e.putSecret("PMP-Production-Credentials", tc.secret)
			default:
				e.putSecret("PMP-Production-Credentials", doc)
			}
			resp, err := e.client.Mount(t.Context(), tc.req())
			checkRefused(t, resp, err, tc.code, tc.want)
		})
	}
}

// TestBadInputTable: the "Bad input" table of docs/troubleshooting.md has
// one row for each case above, with the code the test sees.
func TestBadInputTable(t *testing.T) {
	d, err := mddoc.Load("../docs/troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	section := d.MustSection(t, "Bad input")
	rows := map[string]string{}
	row := regexp.MustCompile(`(?m)^\| (.+?) \| (\w+) \|`)
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		rows[m[1]] = m[2]
	}
	for _, tc := range badInputs() {
		code, ok := rows[tc.input]
		switch {
		case !ok:
			t.Errorf("the Bad input table has no row %q", tc.input)
		case code != tc.code.String():
			t.Errorf("the Bad input row %q says %s, the provider answers %s", tc.input, code, tc.code)
		}
		delete(rows, tc.input)
	}
	for input := range rows {
		if input != "input" && !strings.HasPrefix(input, "---") {
			t.Errorf("the Bad input table row %q has no test case in badinput_test.go", input)
		}
	}
}
