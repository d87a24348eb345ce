package params

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// jwt stands for a real service-account token: it must never appear in an
// error.
const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl-t0ken"

const minimalObjects = "- objectName: PMP-Production-Credentials"

// attrs returns the attributes of a driver v1.6 Mount for pod pmp-0 in
// namespace pmp, with extra overlaid; an empty value deletes the key.
func attrs(t testing.TB, extra map[string]string) string {
	t.Helper()
	m := map[string]string{
		AttrPodName:                    "pmp-0",
		AttrPodNamespace:               "pmp",
		AttrPodUID:                     "0b7c9a6e-1111-2222-3333-444455556666",
		AttrServiceAccount:             "pmp-secret-access",
		AttrSPC:                        "pmp-credentials",
		"csi.storage.k8s.io/ephemeral": "false",
		ParamObjects:                   minimalObjects,
	}
	for k, v := range extra {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func tokens(t testing.TB, byAudience map[string]string) string {
	t.Helper()
	m := map[string]map[string]string{}
	for aud, tok := range byAudience {
		m[aud] = map[string]string{"token": tok, "expirationTimestamp": "2026-11-26T19:18:12Z"}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func secrets(t testing.TB, m map[string]string) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var expires = time.Date(2026, 11, 26, 19, 18, 12, 0, time.UTC)

func pmpRequest(mut func(*Request)) *Request {
	r := &Request{
		Pod:                 Pod{Name: "pmp-0", Namespace: "pmp", UID: "0b7c9a6e-1111-2222-3333-444455556666", ServiceAccount: "pmp-secret-access"},
		SecretProviderClass: "pmp-credentials",
		Objects:             []Object{{Name: "PMP-Production-Credentials"}},
		Mode:                0o644,
		Tokens:              map[string]Token{},
		PathTranslation:     DefaultPathTranslation,
	}
	if mut != nil {
		mut(r)
	}
	return r
}

func TestParse(t *testing.T) {
	tests := []struct {
		name                string
		attributes, secrets string
		permission          string
		want                *Request
	}{
		{
			name:       "driver v1.6 request, permission as sent (420)",
			attributes: attrs(t, nil), secrets: "null", permission: "420",
			want: pmpRequest(nil),
		},
		{
			name:       "permission quoted",
			attributes: attrs(t, nil), secrets: "null", permission: `"420"`,
			want: pmpRequest(nil),
		},
		{
			name:       "no permission: 0644",
			attributes: attrs(t, nil), permission: "",
			want: pmpRequest(nil),
		},
		{
			name:       "permission 0400",
			attributes: attrs(t, nil), permission: "256",
			want: pmpRequest(func(r *Request) { r.Mode = 0o400 }),
		},
		{
			name:       "permission 0777",
			attributes: attrs(t, nil), permission: " 511 ",
			want: pmpRequest(func(r *Request) { r.Mode = 0o777 }),
		},
		{
			name:       "region",
			attributes: attrs(t, map[string]string{ParamRegion: " eu-west-1 "}), permission: "420",
			want: pmpRequest(func(r *Request) { r.Region = "eu-west-1" }),
		},
		{
			name:       "GovCloud region",
			attributes: attrs(t, map[string]string{ParamRegion: "us-gov-west-1"}), permission: "420",
			want: pmpRequest(func(r *Request) { r.Region = "us-gov-west-1" }),
		},
		{
			name:       "ascpCompat mounts a JSON value whole",
			attributes: attrs(t, map[string]string{ParamASCPCompat: "true"}), permission: "420",
			want: pmpRequest(func(r *Request) { r.ASCPCompat = true; r.Objects[0].Flatten = FlattenOff }),
		},
		{
			name: "ascpCompat leaves objects that ask for keys flattened",
			attributes: attrs(t, map[string]string{ParamASCPCompat: "True",
				ParamObjects: "- {objectName: PMP-Production-Credentials, keys: [VCS.*]}\n- {objectName: b, flatten: true}"}), permission: "420",
			want: pmpRequest(func(r *Request) {
				r.ASCPCompat = true
				r.Objects = []Object{{Name: "PMP-Production-Credentials", Keys: []string{"VCS.*"}}, {Name: "b", Flatten: FlattenOn}}
			}),
		},
		{
			name:       "ascpCompat false",
			attributes: attrs(t, map[string]string{ParamASCPCompat: "false"}), permission: "420",
			want: pmpRequest(nil),
		},
		{
			name:       "pathTranslation False",
			attributes: attrs(t, map[string]string{ParamPathTranslation: "False"}), permission: "420",
			want: pmpRequest(func(r *Request) { r.PathTranslation = "" }),
		},
		{
			name:       "pathTranslation True is the default",
			attributes: attrs(t, map[string]string{ParamPathTranslation: "True"}), permission: "420",
			want: pmpRequest(nil),
		},
		{
			name:       "pathTranslation one character",
			attributes: attrs(t, map[string]string{ParamPathTranslation: "-"}), permission: "420",
			want: pmpRequest(func(r *Request) { r.PathTranslation = "-" }),
		},
		{
			name:       "no pod UID is fine",
			attributes: attrs(t, map[string]string{AttrPodUID: ""}), permission: "420",
			want: pmpRequest(func(r *Request) { r.Pod.UID = "" }),
		},
		{
			name:       "token in attributes",
			attributes: attrs(t, map[string]string{AttrTokens: tokens(t, map[string]string{"sts.amazonaws.com": jwt})}), secrets: "null", permission: "420",
			want: pmpRequest(func(r *Request) { r.Tokens = map[string]Token{"sts.amazonaws.com": {Value: jwt, Expires: expires}} }),
		},
		{
			name:       "token in secrets (serviceAccountTokenInSecrets)",
			attributes: attrs(t, nil),
			secrets:    secrets(t, map[string]string{AttrTokens: tokens(t, map[string]string{"sts.amazonaws.com": jwt})}),
			permission: "420",
			want:       pmpRequest(func(r *Request) { r.Tokens = map[string]Token{"sts.amazonaws.com": {Value: jwt, Expires: expires}} }),
		},
		{
			name:       "tokens in both: secrets win for an audience, others merge",
			attributes: attrs(t, map[string]string{AttrTokens: tokens(t, map[string]string{"sts.amazonaws.com": "from-attributes", "vault": "v-token"})}),
			secrets:    secrets(t, map[string]string{AttrTokens: tokens(t, map[string]string{"sts.amazonaws.com": jwt}), "other": "x"}),
			permission: "420",
			want: pmpRequest(func(r *Request) {
				r.Tokens = map[string]Token{"sts.amazonaws.com": {Value: jwt, Expires: expires}, "vault": {Value: "v-token", Expires: expires}}
			}),
		},
		{
			name:       "an empty token is no token",
			attributes: attrs(t, map[string]string{AttrTokens: `{"sts.amazonaws.com":{"token":"","expirationTimestamp":"2026-11-26T19:18:12Z"}}`}),
			permission: "420",
			want:       pmpRequest(nil),
		},
		{
			name:       "an empty token in secrets does not hide the one in attributes",
			attributes: attrs(t, map[string]string{AttrTokens: tokens(t, map[string]string{"sts.amazonaws.com": jwt})}),
			secrets:    secrets(t, map[string]string{AttrTokens: `{"sts.amazonaws.com":{"token":""}}`}),
			permission: "420",
			want:       pmpRequest(func(r *Request) { r.Tokens = map[string]Token{"sts.amazonaws.com": {Value: jwt, Expires: expires}} }),
		},
		{
			name:       "an unreadable expiry leaves Expires zero",
			attributes: attrs(t, map[string]string{AttrTokens: `{"sts.amazonaws.com":{"token":"` + jwt + `","expirationTimestamp":"soon"}}`}),
			permission: "420",
			want:       pmpRequest(func(r *Request) { r.Tokens = map[string]Token{"sts.amazonaws.com": {Value: jwt}} }),
		},
		{
			name:       "nodePublishSecretRef data without tokens",
			attributes: attrs(t, nil), secrets: `{"username":"u"}`, permission: "420",
			want: pmpRequest(nil),
		},
		{
			name:       "several objects",
			attributes: attrs(t, map[string]string{ParamObjects: "- {objectName: PMP-a, objectAlias: a}\n- {objectName: PMP-b, layout: nested}"}),
			permission: "420",
			want: pmpRequest(func(r *Request) {
				r.Objects = []Object{{Name: "PMP-a", Alias: "a"}, {Name: "PMP-b", Layout: files.Nested}}
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.attributes, tt.secrets, tt.permission)
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Parse() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	withTokens := map[string]string{AttrTokens: tokens(t, map[string]string{"sts.amazonaws.com": jwt})}
	overlay := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range withTokens {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name                string
		attributes, secrets string
		permission          string
		want                string // the whole message, or with prefix "~" a part of it
	}{
		{name: "attributes not JSON", attributes: "pod.name=pmp-0", permission: "420",
			want: "mount request attributes are not a JSON map of strings (is this a secrets-store-csi-driver request?)"},
		{name: "attributes with a non-string value", attributes: `{"csi.storage.k8s.io/pod.name":1}`, permission: "420",
			want: "~mount request attributes are not a JSON map of strings"},
		{name: "secrets not JSON", attributes: attrs(t, withTokens), secrets: `{"token":` + jwt, permission: "420",
			want: "mount request secrets are not a JSON map of strings"},
		{name: "no pod info", attributes: attrs(t, overlay(map[string]string{AttrPodName: "", AttrServiceAccount: ""})), permission: "420",
			want: `SecretProviderClass "pmp-credentials": the driver sent no pod name, namespace or service account: set podInfoOnMount: true on the CSIDriver secrets-store.csi.k8s.io`},
		{name: "empty attributes", attributes: `{}`, permission: "420",
			want: "SecretProviderClass has 2 problems: the driver sent no pod name, namespace or service account: set podInfoOnMount: true on the CSIDriver secrets-store.csi.k8s.io; parameter objects is missing or empty: add at least one object, e.g. objects: \"- objectName: PMP-Production-Credentials\""},
		{name: "null attributes", attributes: `null`, permission: "420",
			want: "~SecretProviderClass has 2 problems: the driver sent no pod name"},
		{name: "region in capitals", attributes: attrs(t, overlay(map[string]string{ParamRegion: "EU-WEST-1"})), permission: "420",
			want: `SecretProviderClass "pmp-credentials": parameter region "EU-WEST-1" is not an AWS region name such as eu-west-1`},
		{name: "an availability zone as region", attributes: attrs(t, overlay(map[string]string{ParamRegion: "eu-west-1a"})), permission: "420",
			want: `~parameter region "eu-west-1a" is not an AWS region name`},
		{name: "pathTranslation of two characters", attributes: attrs(t, overlay(map[string]string{ParamPathTranslation: "__"})), permission: "420",
			want: `SecretProviderClass "pmp-credentials": parameter pathTranslation "__" is not "False", "True" or one character that can be in a file name (not / . or a control character), e.g. "_"`},
		{name: "pathTranslation a slash", attributes: attrs(t, overlay(map[string]string{ParamPathTranslation: "/"})), permission: "420",
			want: `~parameter pathTranslation "/" is not`},
		{name: "pathTranslation lower-case false", attributes: attrs(t, overlay(map[string]string{ParamPathTranslation: "false"})), permission: "420",
			want: `~parameter pathTranslation "false" is not`},
		{name: "region without number", attributes: attrs(t, overlay(map[string]string{ParamRegion: "eu-west"})), permission: "420",
			want: `~parameter region "eu-west" is not`},
		{name: "permission 0", attributes: attrs(t, withTokens), permission: "0",
			want: `SecretProviderClass "pmp-credentials": mount request permission 0 is outside 0001-0777`},
		{name: "permission 01000", attributes: attrs(t, withTokens), permission: "512",
			want: "~mount request permission 01000 is outside 0001-0777"},
		{name: "permission negative", attributes: attrs(t, withTokens), permission: "-1",
			want: `~mount request permission "-1" is not a file mode`},
		{name: "permission fractional", attributes: attrs(t, withTokens), permission: "420.5",
			want: `~mount request permission "420.5" is not a file mode`},
		{name: "permission a word", attributes: attrs(t, withTokens), permission: `"rw"`,
			want: `~mount request permission "\"rw\"" is not a file mode`},
		{name: "permission not JSON", attributes: attrs(t, withTokens), permission: "rw-r--r--",
			want: `~mount request permission "rw-r--r--" is not JSON`},
		{name: "permission a boolean", attributes: attrs(t, withTokens), permission: "true",
			want: "~is not a file mode"},
		{name: "failoverRegion not a region", attributes: attrs(t, map[string]string{ParamFailoverRegion: "us-west"}), permission: "420",
			want: `~parameter failoverRegion "us-west" is not an AWS region name`},
		{name: "failoverRegion the region itself", attributes: attrs(t, map[string]string{ParamRegion: "us-east-1", ParamFailoverRegion: "us-east-1"}), permission: "420",
			want: `~parameter failoverRegion "us-east-1" is the region itself`},
		{name: "failoverObject without failoverRegion", attributes: attrs(t, map[string]string{ParamObjects: "- {objectName: a, objectAlias: a, failoverObject: {objectName: b}}"}), permission: "420",
			want: `~objects[0] (a): failoverObject is read in the failoverRegion, which the SecretProviderClass does not set`},
		{name: "an ARN object with failoverRegion and no failoverObject", attributes: attrs(t, map[string]string{ParamFailoverRegion: "us-west-2",
			ParamObjects: "- objectName: arn:aws:secretsmanager:us-east-1:123456789012:secret:a"}), permission: "420",
			want: `~objectName is an ARN, which names its region us-east-1: with failoverRegion, add failoverObject`},
		{name: "a failoverObject ARN in another region", attributes: attrs(t, map[string]string{ParamFailoverRegion: "us-west-2",
			ParamObjects: "- {objectName: a, failoverObject: {objectName: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:a'}}"}), permission: "420",
			want: `~names the region eu-west-1, not the failoverRegion us-west-2`},
		{name: "an ARN object in the failoverRegion", attributes: attrs(t, map[string]string{ParamFailoverRegion: "us-west-2",
			ParamObjects: "- {objectName: 'arn:aws:ssm:us-west-2:123456789012:parameter/a', failoverObject: {objectName: /a}}"}), permission: "420",
			want: `~objectName names the failoverRegion us-west-2 itself`},
		{name: "ascpCompat not a boolean", attributes: attrs(t, map[string]string{ParamASCPCompat: "yes"}), permission: "420",
			want: `~parameter ascpCompat "yes" is not "true" or "false"`},
		{name: "tokens in attributes not JSON", attributes: attrs(t, map[string]string{AttrTokens: `{"sts.amazonaws.com":{"token":"` + jwt + `"`}), permission: "420",
			want: `SecretProviderClass "pmp-credentials": the driver's csi.storage.k8s.io/serviceAccount.tokens value is not a JSON map of audience to token`},
		{name: "tokens in attributes of the wrong shape", attributes: attrs(t, map[string]string{AttrTokens: `{"sts.amazonaws.com":"` + jwt + `"}`}), permission: "420",
			want: "~serviceAccount.tokens value is not a JSON map of audience to token"},
		{name: "tokens in secrets not JSON", attributes: attrs(t, nil),
			secrets: secrets(t, map[string]string{AttrTokens: jwt}), permission: "420",
			want: "~serviceAccount.tokens value is not a JSON map of audience to token"},
		{name: "objects missing", attributes: attrs(t, overlay(map[string]string{ParamObjects: ""})), permission: "420",
			want: `SecretProviderClass "pmp-credentials": parameter objects is missing or empty: add at least one object, e.g. objects: "- objectName: PMP-Production-Credentials"`},
		{name: "every problem at once, in order", permission: "4096",
			attributes: attrs(t, overlay(map[string]string{AttrPodNamespace: "", ParamRegion: "Ireland", ParamObjects: "- {objectName: PMP-a, layout: tree}\n- objetName: b"})),
			want: `SecretProviderClass "pmp-credentials" has 6 problems: ` +
				"the driver sent no pod name, namespace or service account: set podInfoOnMount: true on the CSIDriver secrets-store.csi.k8s.io; " +
				`parameter region "Ireland" is not an AWS region name such as eu-west-1; ` +
				"mount request permission 010000 is outside 0001-0777; " +
				`objects[0] (PMP-a): layout "tree" is not dotted or nested; ` +
				`objects[1]: unknown field "objetName": did you mean objectName? (known fields: objectName, objectAlias, objectType, objectVersion, objectVersionLabel, filePermission, decode, flatten, keys, layout, keepEmpty, strictKeys, jmesPath, secretTTL, assumeRoleArn, assumeRoleExternalId, assumeRoleDurationSeconds, failoverObject, optional); ` +
				"objects[1]: objectName is required: the secret's name (e.g. PMP-Production-Credentials) or ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.attributes, tt.secrets, tt.permission)
			if err == nil {
				t.Fatalf("Parse() = %+v, want an error", got)
			}
			if got != nil {
				t.Errorf("Parse() returned a request with the error")
			}
			if k := mounterr.KindOf(err); k != mounterr.Invalid {
				t.Errorf("KindOf(err) = %v, want Invalid", k)
			}
			msg := err.Error()
			if part, ok := strings.CutPrefix(tt.want, "~"); ok {
				if !strings.Contains(msg, part) {
					t.Errorf("Parse() error = %q, want it to contain %q", msg, part)
				}
			} else if msg != tt.want {
				t.Errorf("Parse() error:\n got %q\nwant %q", msg, tt.want)
			}
			if strings.Contains(msg, jwt) || strings.Contains(msg, "t0ken") {
				t.Errorf("Parse() error = %q contains the token", msg)
			}
		})
	}
}

func TestRequestObjectNames(t *testing.T) {
	r := pmpRequest(func(r *Request) { r.Objects = []Object{{Name: "PMP-a"}, {Name: "PMP-b", Alias: "b"}} })
	if diff := cmp.Diff([]string{"PMP-a", "PMP-b"}, r.ObjectNames()); diff != "" {
		t.Errorf("ObjectNames() (-want +got):\n%s", diff)
	}
}

// fuzzToken is put in the tokens map in place of TOKEN.
const fuzzToken = "eyJhbGciOiJSUzI1NiJ9.ZnV6ei10b2tlbg.fuzz-t0ken-sig"

func FuzzParse(f *testing.F) {
	okTokens := `{"sts.amazonaws.com":{"token":"TOKEN","expirationTimestamp":"2026-11-26T19:18:12Z"}}`
	seeds := []struct {
		attributes, secrets, permission, objects, region, tokens string
		inSecrets                                                bool
	}{
		{attrs(f, nil), "null", "420", minimalObjects, "", okTokens, false},
		{attrs(f, nil), "", `"420"`, minimalObjects, "eu-west-1", okTokens, true},
		{`{}`, `{}`, "", "- {objectName: PMP-a, objectAlias: a, keys: [VCS.*], layout: nested, filePermission: \"0400\"}", "us-gov-west-1", `{"sts.amazonaws.com":{"token":"TOKEN"`, false},
		{`null`, `null`, "0", "- objectName: " + pmpARN, "EU", `{"sts.amazonaws.com":"TOKEN"}`, true},
		{`[]`, `x`, "-1", "- {objectName: a, objectAlias: ../x}\n- {objectName: b, objectAlias: .data}", "eu-west-1a", `TOKEN`, false},
		{attrs(f, nil), "null", "1e10", "- objectName: x\n  objectName: y", "", `{"a":{"token":"TOKEN"},"b":{"token":""}}`, true},
		{attrs(f, nil), "null", "420", "- {objectName: a, flatten: false, keys: [\"[\"], layout: x, keepEmpty: 1, objetName: z}", "", okTokens, false},
		{attrs(f, nil), "null", "420", "- &a {objectName: a}\n- *a\n- [x]", "", okTokens, false},
		{attrs(f, nil), "null", "420", "objects: - : [", "", okTokens, false},
		{attrs(f, nil), "null", "420", "- objectName: arn:aws:secretsmanager:eu-west:123456789012:secret:PMP-x", "", okTokens, false},
		{attrs(f, map[string]string{ParamObjects: "- objectName: arn:aws:secretsmanager:x:123456789012:secret:PMP-x"}), "null", "420", "", "", okTokens, false},
		{attrs(f, map[string]string{ParamASCPCompat: "true"}), "null", "420", "- {objectName: /a/b, objectType: ssmparameter, objectVersionLabel: p, jmesPath: [{Path: '\"x-y\".z', ObjectAlias: q, filePermission: \"0400\"}, {path: 'a[', objectAlias: ../q}]}", "", okTokens, false},
		{attrs(f, nil), "null", "420", "- {ObjectName: arn:aws:ssm:eu-west-1:123456789012:parameter/a, objectName: b, failoverObject: {}}", "", okTokens, false},
	}
	for _, s := range seeds {
		f.Add(s.attributes, s.secrets, s.permission, s.objects, s.region, s.tokens, s.inSecrets)
	}
	f.Fuzz(func(t *testing.T, attributes, secretsJSON, permission, objects, region, tokensRaw string, inSecrets bool) {
		// Any request: no panic, same output for the same input, and a
		// success is a usable request.
		req, err := Parse(attributes, secretsJSON, permission)
		req2, err2 := Parse(attributes, secretsJSON, permission)
		if fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Fatalf("Parse is not deterministic: %v vs %v", err, err2)
		}
		if diff := cmp.Diff(req, req2); diff != "" {
			t.Fatalf("Parse is not deterministic (-first +second):\n%s", diff)
		}
		checkParsed(t, req, err)

		// A request built like the driver's, with a real token in the
		// attributes or the secrets: the token never shows in an error.
		tokensJSON := strings.ReplaceAll(tokensRaw, "TOKEN", fuzzToken)
		m := map[string]string{
			AttrPodName: "pmp-0", AttrPodNamespace: "pmp", AttrServiceAccount: "pmp-sa", AttrSPC: "spc",
			ParamObjects: objects, ParamRegion: region,
		}
		sec := map[string]string{}
		if inSecrets {
			sec[AttrTokens] = tokensJSON
		} else {
			m[AttrTokens] = tokensJSON
		}
		ab, _ := json.Marshal(m)
		sb, _ := json.Marshal(sec)
		req, err = Parse(string(ab), string(sb), permission)
		checkParsed(t, req, err)
		echoed := strings.Contains(objects+region+permission, fuzzToken)
		if err != nil && !echoed && strings.Contains(err.Error(), fuzzToken) {
			t.Fatalf("the error quotes the token: %v", err)
		}
		if err == nil && !echoed {
			for aud, tok := range req.Tokens {
				if tok.Value == "" {
					t.Fatalf("audience %q has an empty token", aud)
				}
			}
		}
	})
}

func checkParsed(t *testing.T, req *Request, err error) {
	t.Helper()
	if err != nil {
		if req != nil {
			t.Fatalf("Parse returned a request with error %v", err)
		}
		if k := mounterr.KindOf(err); k != mounterr.Invalid {
			t.Fatalf("Parse error %v is of kind %v, want Invalid", err, k)
		}
		return
	}
	if len(req.Objects) == 0 {
		t.Fatal("Parse succeeded without objects")
	}
	if req.Mode == 0 || req.Mode > 0o777 {
		t.Fatalf("Parse succeeded with mode %#o", req.Mode)
	}
	if req.Pod.Name == "" || req.Pod.Namespace == "" || req.Pod.ServiceAccount == "" {
		t.Fatalf("Parse succeeded without pod identity: %+v", req.Pod)
	}
	if req.Region != "" && !regionRE.MatchString(req.Region) {
		t.Fatalf("Parse succeeded with region %q", req.Region)
	}
	for i, o := range req.Objects {
		if o.Name == "" {
			t.Fatalf("object %d has no name", i)
		}
		if o.Alias != "" {
			if err := files.CheckElement(o.Alias); err != nil {
				t.Fatalf("object %d alias %q: %v", i, o.Alias, err)
			}
		}
		if o.Mode > 0o777 {
			t.Fatalf("object %d has mode %#o", i, o.Mode)
		}
		if o.Region != "" && !regionRE.MatchString(o.Region) {
			t.Fatalf("object %d has region %q", i, o.Region)
		}
		for _, k := range o.Keys {
			if k == "" {
				t.Fatalf("object %d has an empty keys pattern", i)
			}
		}
	}
}
