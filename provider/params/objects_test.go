package params

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/jmes"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

const pmpARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Production-Credentials-AbCdEf"

func TestParseObjects(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []Object
	}{
		{
			name: "the minimal PMP volume",
			raw:  "- objectName: PMP-Production-Credentials",
			want: []Object{{Name: "PMP-Production-Credentials"}},
		},
		{
			name: "every field",
			raw: `- objectName: PMP-Production-Credentials
  objectAlias: pmp
  objectType: secretsmanager
  objectVersion: EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE
  filePermission: "0400"
  flatten: true
  keys: ["VCS.*", Email.SMTPPassword]
  layout: nested
  keepEmpty: true
  secretTTL: 90s`,
			want: []Object{{
				Name: "PMP-Production-Credentials", Alias: "pmp", Version: "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE",
				Mode: 0o400, Flatten: FlattenOn, Keys: []string{"VCS.*", "Email.SMTPPassword"}, Layout: files.Nested, KeepEmpty: true,
				SecretTTL: 90 * time.Second,
			}},
		},
		{
			name: "version label",
			raw:  "- {objectName: PMP-Production-Credentials, objectVersionLabel: AWSPREVIOUS}",
			want: []Object{{Name: "PMP-Production-Credentials", VersionLabel: "AWSPREVIOUS"}},
		},
		{
			name: "ARN gives the region",
			raw:  "- objectName: " + pmpARN,
			want: []Object{{Name: pmpARN, Region: "eu-west-1"}},
		},
		{
			name: "ARN in another partition",
			raw:  "- objectName: arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:PMP-x",
			want: []Object{{Name: "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:PMP-x", Region: "cn-north-1"}},
		},
		{
			name: "GovCloud ARN",
			raw:  "- objectName: arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:PMP-x",
			want: []Object{{Name: "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:PMP-x", Region: "us-gov-west-1"}},
		},
		{
			name: "whole value with keepEmpty",
			raw:  "- {objectName: PMP-License, flatten: false, keepEmpty: true}",
			want: []Object{{Name: "PMP-License", Flatten: FlattenOff, KeepEmpty: true}},
		},
		{
			name: "decode base64 on a whole value",
			raw:  "- {objectName: PMP-Keystore, flatten: false, decode: base64}",
			want: []Object{{Name: "PMP-Keystore", Flatten: FlattenOff, Decode: DecodeBase64}},
		},
		{
			name: "decode base64url on selected keys",
			raw:  "- {objectName: PMP-x, keys: [TLS.*], decode: base64url}",
			want: []Object{{Name: "PMP-x", Keys: []string{"TLS.*"}, Decode: DecodeBase64URL}},
		},
		{
			name: "strictKeys",
			raw:  "- {objectName: PMP-x, strictKeys: true}",
			want: []Object{{Name: "PMP-x", StrictKeys: true}},
		},
		{
			name: "filePermission without the leading zero",
			raw:  `- {objectName: a, filePermission: "600"}`,
			want: []Object{{Name: "a", Mode: 0o600}},
		},
		{
			name: "filePermission 0777",
			raw:  `- {objectName: a, filePermission: "0777"}`,
			want: []Object{{Name: "a", Mode: 0o777}},
		},
		{
			name: "layout dotted, keepEmpty false spelled out",
			raw:  "- {objectName: a, layout: dotted, keepEmpty: false}",
			want: []Object{{Name: "a", Layout: files.Dotted}},
		},
		{
			name: "values are trimmed",
			raw:  `- {objectName: "  PMP-x  ", objectAlias: " pmp ", keys: [" VCS.* "]}`,
			want: []Object{{Name: "PMP-x", Alias: "pmp", Keys: []string{"VCS.*"}}},
		},
		{
			name: "null fields are unset",
			raw:  "- {objectName: a, objectAlias: null, keys: null, flatten: ~, filePermission: null}",
			want: []Object{{Name: "a"}},
		},
		{
			name: "empty keys list selects every key",
			raw:  "- {objectName: a, keys: []}",
			want: []Object{{Name: "a"}},
		},
		{
			name: "secret names with a path and every allowed character",
			raw:  "- objectName: prod/PMP_Credentials+=.@-1",
			want: []Object{{Name: "prod/PMP_Credentials+=.@-1"}},
		},
		{
			name: "several objects, flow style",
			raw:  "[{objectName: PMP-a}, {objectName: PMP-b, objectAlias: b}]",
			want: []Object{{Name: "PMP-a"}, {Name: "PMP-b", Alias: "b"}},
		},
		{
			name: "JSON is YAML",
			raw:  `[{"objectName": "PMP-a", "flatten": false}]`,
			want: []Object{{Name: "PMP-a", Flatten: FlattenOff}},
		},
		{
			name: "YAML anchors",
			raw:  "- &o {objectName: PMP-a, keys: [VCS.*]}\n- *o",
			want: []Object{{Name: "PMP-a", Keys: []string{"VCS.*"}}, {Name: "PMP-a", Keys: []string{"VCS.*"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := parseObjects(tt.raw)
			if len(errs) > 0 {
				t.Fatalf("parseObjects() errors = %v", errs)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("parseObjects() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseObjectsErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []string // one part of each error, in order
	}{
		{name: "empty", raw: "", want: []string{`parameter objects is missing or empty: add at least one object, e.g. objects: "- objectName: PMP-Production-Credentials"`}},
		{name: "blank", raw: " \n ", want: []string{"parameter objects is missing or empty"}},
		{name: "empty list", raw: "[]", want: []string{"parameter objects lists no object"}},
		{name: "null", raw: "null", want: []string{"parameter objects lists no object"}},
		{name: "a map, not a list", raw: "objectName: PMP-Production-Credentials",
			want: []string{"parameter objects is not a YAML list of objects (each entry must be a map such as {objectName: NAME}): write it as a block"}},
		{name: "a plain string", raw: "PMP-Production-Credentials", want: []string{"each entry must be a map"}},
		{name: "an entry that is a list", raw: "- [PMP]", want: []string{"each entry must be a map"}},
		{name: "malformed YAML", raw: "- objectName: [PMP", want: []string{"parameter objects is not a YAML list of objects (yaml: line"}},
		{name: "objectName twice", raw: "- objectName: PMP-a\n  objectName: PMP-b",
			want: []string{`parameter objects sets a field twice in one object (line 2: key "objectName" already set in map): keep one`}},
		{name: "keys twice", raw: "- objectName: PMP-a\n  keys: [VCS.*]\n  keys: [Email.*]",
			want: []string{`line 3: key "keys" already set in map`}},
		{name: "no objectName", raw: "- objectAlias: pmp",
			want: []string{"objects[0]: objectName is required: the secret's name (e.g. PMP-Production-Credentials) or ARN"}},
		{name: "a null entry", raw: "- ~", want: []string{"objects[0]: objectName is required"}},
		{name: "blank objectName", raw: `- objectName: "  "`, want: []string{"objects[0]: objectName is required"}},
		{name: "objectName a number", raw: "- objectName: 2024",
			want: []string{"objects[0]: objectName must be a string: put the value in quotes"}},
		{name: "objectName with a space", raw: "- objectName: PMP Credentials",
			want: []string{`objects[0] (PMP Credentials): objectName "PMP Credentials" is not a Secrets Manager secret name (1-512 of A-Z a-z 0-9 / _ + = . @ -)`}},
		{name: "objectName over 512 characters", raw: "- objectName: " + strings.Repeat("P", 513),
			want: []string{"is not a Secrets Manager secret name"}},
		{name: "an IAM ARN", raw: "- objectName: arn:aws:iam::123456789012:role/pmp",
			want: []string{`objectName "arn:aws:iam::123456789012:role/pmp" is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)`}},
		{name: "an ARN with a short account", raw: "- objectName: arn:aws:secretsmanager:eu-west-1:12345:secret:PMP",
			want: []string{"is not a Secrets Manager secret ARN"}},
		{name: "an ARN with a mistyped region", raw: "- objectName: arn:aws:secretsmanager:eu-west:123456789012:secret:PMP",
			want: []string{`names the region "eu-west", which is not an AWS region name such as eu-west-1`}},
		{name: "an ARN with an availability zone", raw: "- objectName: arn:aws:secretsmanager:eu-west-1a:123456789012:secret:PMP",
			want: []string{`names the region "eu-west-1a"`}},
		{name: "decode unknown", raw: "- {objectName: a, decode: base32}",
			want: []string{`objects[0] (a): decode "base32" is not supported: use one of base64, base64url (or leave it out)`}},
		{name: "decode not a string", raw: "- {objectName: a, decode: true}",
			want: []string{"objects[0] (a): decode must be a string: put the value in quotes"}},
		{name: "objectType unknown", raw: "- {objectName: a, objectType: vault}",
			want: []string{`objectType "vault" is not supported: use one of secretsmanager, ssmparameter, ssm (or leave it out for secretsmanager)`}},
		{name: "version and label", raw: "- {objectName: a, objectVersion: v1, objectVersionLabel: AWSCURRENT}",
			want: []string{"set objectVersion or objectVersionLabel, not both"}},
		{name: "hidden alias", raw: "- {objectName: a, objectAlias: .pmp}", want: []string{`objectAlias ".pmp" starts with '.'`}},
		{name: "dot-dot alias", raw: "- {objectName: a, objectAlias: ..}", want: []string{`objectAlias ".." starts with '.'`}},
		{name: "alias with a slash", raw: "- {objectName: a, objectAlias: ../etc}", want: []string{`objectAlias "../etc" starts with '.'`}},
		{name: "alias nested", raw: "- {objectName: a, objectAlias: x/y}", want: []string{`objectAlias "x/y" contains '/'`}},
		{name: "alias too long", raw: "- {objectName: a, objectAlias: " + strings.Repeat("x", 256) + "}", want: []string{"is 256 bytes long"}},
		{name: "secretTTL not a duration", raw: `- {objectName: a, secretTTL: "30"}`,
			want: []string{`secretTTL "30" is not a duration: write it as e.g. "30s" or "5m"`}},
		{name: "secretTTL too short", raw: "- {objectName: a, secretTTL: 100ms}",
			want: []string{`secretTTL 100ms is outside 1s-24h0m0s (for no cache at all, the provider's --cache=false)`}},
		{name: "secretTTL too long", raw: "- {objectName: a, secretTTL: 48h}",
			want: []string{`secretTTL 48h is outside 1s-24h0m0s`}},
		{name: "alias with a control character", raw: `- {objectName: a, objectAlias: "x\ty"}`, want: []string{"control character U+0009"}},
		{name: "unquoted filePermission", raw: "- {objectName: a, filePermission: 0400}",
			want: []string{"objects[0] (a): filePermission must be a string: put the value in quotes"}},
		{name: "filePermission 0000", raw: `- {objectName: a, filePermission: "0000"}`,
			want: []string{`filePermission 0000 would make the files unreadable: use e.g. "0400"`}},
		{name: "filePermission with setuid", raw: `- {objectName: a, filePermission: "4755"}`,
			want: []string{`filePermission "4755" is not an octal mode in quotes such as "0400"`}},
		{name: "filePermission symbolic", raw: `- {objectName: a, filePermission: "rw-r--r--"}`, want: []string{"is not an octal mode"}},
		{name: "filePermission with 0o", raw: `- {objectName: a, filePermission: "0o644"}`, want: []string{"is not an octal mode"}},
		{name: "filePermission not octal", raw: `- {objectName: a, filePermission: "0888"}`, want: []string{"is not an octal mode"}},
		{name: "flatten quoted", raw: `- {objectName: a, flatten: "false"}`, want: []string{"flatten must be true or false"}},
		{name: "keepEmpty a word", raw: `- {objectName: a, keepEmpty: "sometimes"}`, want: []string{"keepEmpty must be true or false"}},
		{name: "strictKeys quoted", raw: `- {objectName: a, strictKeys: "true"}`, want: []string{"strictKeys must be true or false"}},
		{name: "strictKeys of a whole value", raw: `- {objectName: a, flatten: false, strictKeys: true}`,
			want: []string{"strictKeys checks the keys of a flattened value: remove strictKeys or flatten: false"}},
		{name: "keys a string", raw: `- {objectName: a, keys: "VCS.*"}`, want: []string{`keys must be a list of patterns, e.g. keys: ["VCS.*"]`}},
		{name: "keys with a number and an empty string", raw: `- {objectName: a, keys: [1, "", VCS.*]}`,
			want: []string{"keys must hold non-empty strings", "keys must hold non-empty strings"}},
		{name: "keys malformed pattern", raw: `- {objectName: a, keys: ["VCS.[a"]}`, want: []string{`keys pattern "VCS.[a" is malformed`}},
		{name: "a NUL in objectVersion", raw: `- {objectName: a, objectVersion: "v1\0x"}`,
			want: []string{`objectVersion "v1\x00x" contains the control character U+0000`}},
		{name: "a newline in objectVersionLabel", raw: `- {objectName: a, objectVersionLabel: "AWSCURRENT\nAWSPREVIOUS"}`,
			want: []string{`objectVersionLabel "AWSCURRENT\nAWSPREVIOUS" contains the control character U+000A`}},
		{name: "a NUL in a keys pattern", raw: `- {objectName: a, keys: ["VCS.*\0", "Email.*"]}`,
			want: []string{`keys pattern "VCS.*\x00" contains the control character U+0000`}},
		{name: "a C1 control in a keys pattern", raw: `- {objectName: a, keys: ["VCS.\x85*"]}`,
			want: []string{`contains the control character U+0085`}},
		{name: "layout unknown", raw: "- {objectName: a, layout: tree}", want: []string{`layout "tree" is not dotted or nested`}},
		{name: "keys without flattening", raw: "- {objectName: a, flatten: false, keys: [VCS.*]}",
			want: []string{"keys selects keys of a flattened value: remove keys or flatten: false"}},
		{name: "layout without flattening", raw: "- {objectName: a, flatten: false, layout: dotted}",
			want: []string{"layout applies to flattened values: remove layout or flatten: false"}},
		{name: "a typo in a field name", raw: "- objetName: PMP-Production-Credentials",
			want: []string{`objects[0]: unknown field "objetName": did you mean objectName? (known fields: objectName, objectAlias, objectType, objectVersion, objectVersionLabel, filePermission, decode, flatten, keys, layout, keepEmpty, strictKeys, jmesPath, secretTTL, assumeRoleArn, assumeRoleExternalId, assumeRoleDurationSeconds, failoverObject, optional)`,
				"objects[0]: objectName is required"}},
		{name: "unknown fields, sorted", raw: "- {objectName: a, zeta: 1, alpha: 2, path: x}",
			want: []string{`unknown field "alpha"`, `unknown field "path"`, `unknown field "zeta"`}},
		{name: "every problem of every object", raw: "- {objectName: PMP-a, layout: tree, filePermission: 644}\n- {objectAlias: .b}\n- objectName: PMP-c",
			want: []string{
				"objects[0] (PMP-a): filePermission must be a string",
				`objects[0] (PMP-a): layout "tree"`,
				"objects[1]: objectName is required",
				`objects[1]: objectAlias ".b" starts with '.'`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parseObjects(tt.raw)
			got := make([]string, len(errs))
			for i, e := range errs {
				got[i] = e.Error()
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parseObjects() gave %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestObjectFileName(t *testing.T) {
	tests := []struct {
		name        string
		obj         Object
		translation string // "" is pathTranslation "False"
		want        string
	}{
		{name: "secret name", obj: Object{Name: "PMP-License"}, translation: "_", want: "PMP-License"},
		{name: "alias wins", obj: Object{Name: "PMP-License", Alias: "license"}, translation: "_", want: "license"},
		{name: "a path becomes one file name", obj: Object{Name: "prod/pmp/license"}, translation: "_", want: "prod_pmp_license"},
		{name: "another translation character", obj: Object{Name: "prod/pmp/license"}, translation: "-", want: "prod-pmp-license"},
		{name: "pathTranslation False keeps the directories", obj: Object{Name: "prod/pmp/license"}, want: "prod/pmp/license"},
		{name: "a parameter's hierarchy", obj: Object{Name: "/app/db/password", Type: SSMParameter}, translation: "_", want: "_app_db_password"},
		{name: "the name in a parameter ARN", obj: Object{Name: "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db", Type: SSMParameter}, translation: "_", want: "_app_db"},
		{name: "the name in an ARN", obj: Object{Name: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/PMP-AbCdEf"}, translation: "_", want: "prod_PMP-AbCdEf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.obj.FileName(tt.translation); got != tt.want {
				t.Errorf("FileName() = %q, want %q", got, tt.want)
			}
		})
	}
}

func mustCompile(t *testing.T, path string) *jmes.Expr {
	t.Helper()
	e, err := jmes.Compile(path)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var exprByText = cmp.Comparer(func(a, b *jmes.Expr) bool { return a.String() == b.String() })

// TestParseObjectsASCP: the fields of the official AWS provider, spelled
// as its documentation and its own manifests spell them.
func TestParseObjectsASCP(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []Object
	}{
		{
			name: "a parameter by name",
			raw:  "- {objectName: /app/db/password, objectType: ssmparameter}",
			want: []Object{{Name: "/app/db/password", Type: SSMParameter}},
		},
		{
			name: "objectType ssm for short",
			raw:  "- {objectName: app.db-user_1, objectType: ssm}",
			want: []Object{{Name: "app.db-user_1", Type: SSMParameter}},
		},
		{
			name: "a parameter version and label",
			raw:  "- {objectName: /app/a, objectType: ssmparameter, objectVersion: \"3\"}\n- {objectName: /app/b, objectType: ssmparameter, objectVersionLabel: prod-1}",
			want: []Object{{Name: "/app/a", Type: SSMParameter, Version: "3"}, {Name: "/app/b", Type: SSMParameter, VersionLabel: "prod-1"}},
		},
		{
			name: "a parameter ARN gives the type and the region",
			raw:  "- objectName: arn:aws:ssm:eu-central-1:123456789012:parameter/app/db",
			want: []Object{{Name: "arn:aws:ssm:eu-central-1:123456789012:parameter/app/db", Type: SSMParameter, Region: "eu-central-1"}},
		},
		{
			name: "jmesPath as ASCP's README writes it",
			raw: `- objectName: MySecret
  objectType: secretsmanager
  filePermission: "0440"
  jmesPath:
    - path: username
      objectAlias: dbusername
    - path: '"db-creds".password'
      objectAlias: dbpassword
      filePermission: "0400"`,
			want: []Object{{Name: "MySecret", Mode: 0o440, JMESPath: []JMESPath{
				{Path: mustCompile(t, "username"), Alias: "dbusername"},
				{Path: mustCompile(t, `"db-creds".password`), Alias: "dbpassword", Mode: 0o400},
			}}},
		},
		{
			name: "jmesPath as ASCP's own manifests write it: Path and ObjectAlias",
			raw: `- objectName: MySecret
  jmesPath:
    - Path: username
      ObjectAlias: dbusername`,
			want: []Object{{Name: "MySecret", JMESPath: []JMESPath{{Path: mustCompile(t, "username"), Alias: "dbusername"}}}},
		},
		{
			name: "field names in any case, as ASCP reads them",
			raw:  "- {ObjectName: MySecret, OBJECTALIAS: s, objecttype: ssmparameter, ObjectVersionLabel: prod}",
			want: []Object{{Name: "MySecret", Alias: "s", Type: SSMParameter, VersionLabel: "prod"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := parseObjects(tt.raw)
			if len(errs) > 0 {
				t.Fatalf("parseObjects() errors = %v", errs)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty(), exprByText); diff != "" {
				t.Errorf("parseObjects() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseObjectsASCPErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{name: "a field twice in two spellings", raw: "- {objectName: a, ObjectName: b}",
			want: []string{"sets objectName twice (in two spellings): keep one"}},
		{name: "a typo in a jmesPath field", raw: "- {objectName: a, jmesPath: [{pth: x, objectAlias: z}]}",
			want: []string{`jmesPath[0]: unknown field "pth": did you mean path? (known fields: path, objectAlias, filePermission, optional)`, "jmesPath[0]: path is required"}},
		{name: "jmesPath without objectAlias", raw: "- {objectName: a, jmesPath: [{path: x}]}",
			want: []string{"objects[0] (a): jmesPath[0]: objectAlias is required"}},
		{name: "jmesPath syntax error", raw: "- {objectName: a, jmesPath: [{path: 'x[', objectAlias: z}]}",
			want: []string{`jmesPath[0]: path "x[" is not a JMESPath expression`}},
		{name: "jmesPath alias with a slash", raw: "- {objectName: a, jmesPath: [{path: x, objectAlias: d/y}]}",
			want: []string{`jmesPath[0]: objectAlias "d/y"`}},
		{name: "jmesPath filePermission unquoted", raw: "- {objectName: a, jmesPath: [{path: x, objectAlias: z, filePermission: 0400}]}",
			want: []string{"jmesPath[0]: filePermission must be a string"}},
		{name: "jmesPath not a list", raw: "- {objectName: a, jmesPath: x}",
			want: []string{"jmesPath must be a list of entries"}},
		{name: "parameter version not a number", raw: "- {objectName: /a, objectType: ssmparameter, objectVersion: v3}",
			want: []string{`objectVersion "v3" of a parameter is not a version number`}},
		{name: "parameter label starting with a digit", raw: "- {objectName: /a, objectType: ssmparameter, objectVersionLabel: 1st}",
			want: []string{`objectVersionLabel "1st" is not a Parameter Store label`}},
		{name: "parameter name:version", raw: "- {objectName: '/a:3', objectType: ssmparameter}",
			want: []string{"select a version with objectVersion (a number) or objectVersionLabel, not name:version"}},
		{name: "parameter name with a space", raw: "- {objectName: 'a b', objectType: ssm}",
			want: []string{"is not a Parameter Store parameter name"}},
		{name: "a secret ARN as a parameter", raw: "- {objectName: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x', objectType: ssmparameter}",
			want: []string{"is not a Parameter Store parameter ARN"}},
		{name: "a typo in a failoverObject field", raw: "- {objectName: a, failoverObject: {objectNam: b}}",
			want: []string{`objects[0] (a): failoverObject: unknown field "objectNam": did you mean objectName? (known fields: objectName, objectVersion, objectVersionLabel)`}},
		{name: "failoverObject not a map", raw: "- {objectName: a, failoverObject: b}",
			want: []string{"failoverObject: must be a map such as {objectName: "}},
		{name: "failoverObject with a parameter ARN for a secret", raw: "- {objectName: a, failoverObject: {objectName: 'arn:aws:ssm:us-west-2:123456789012:parameter/a'}}",
			want: []string{"failoverObject: objectName \"arn:aws:ssm:us-west-2:123456789012:parameter/a\" is not a Secrets Manager secret ARN"}},
		{name: "failoverObject with version and label", raw: "- {objectName: a, failoverObject: {objectVersion: v, objectVersionLabel: AWSPREVIOUS}}",
			want: []string{"failoverObject: set objectVersion or objectVersionLabel, not both"}},
		{name: "failoverObject of a parameter with a bad version", raw: "- {objectName: /a, objectType: ssm, failoverObject: {objectName: /b, objectVersion: x}}",
			want: []string{`failoverObject: objectVersion "x" of a parameter is not a version number`}},
		{name: "objectType values are not case-insensitive", raw: "- {objectName: a, objectType: SSM}",
			want: []string{`objectType "SSM" is not supported: use one of secretsmanager, ssmparameter, ssm`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parseObjects(tt.raw)
			got := make([]string, len(errs))
			for i, e := range errs {
				got[i] = e.Error()
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parseObjects() gave %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseFailover(t *testing.T) {
	const arnWest = "arn:aws:secretsmanager:us-west-2:123456789012:secret:PMP-Production-Credentials-AbCdEf"
	raw := attrs(t, map[string]string{ParamRegion: "us-east-1", ParamFailoverRegion: "us-west-2", ParamObjects: `
- objectName: arn:aws:secretsmanager:us-east-1:123456789012:secret:PMP-Production-Credentials-AbCdEf
  objectAlias: pmp
  FailoverObject: {ObjectName: ` + arnWest + `}
- {objectName: PMP-b, objectVersionLabel: AWSCURRENT, failoverObject: {objectVersionLabel: AWSPENDING}}
- {objectName: /app/db, objectType: ssmparameter, objectVersion: "3", failoverObject: {objectName: /app/db-west}}
- {objectName: PMP-c}
`})
	req, err := Parse(raw, "", "420")
	if err != nil {
		t.Fatal(err)
	}
	if req.FailoverRegion != "us-west-2" {
		t.Errorf("FailoverRegion = %q", req.FailoverRegion)
	}
	type read struct{ name, version, label string }
	want := []read{{arnWest, "", ""}, {"PMP-b", "", "AWSPENDING"}, {"/app/db-west", "3", ""}, {"PMP-c", "", ""}}
	for i, w := range want {
		name, version, label := req.Objects[i].InFailover()
		if got := (read{name, version, label}); got != w {
			t.Errorf("objects[%d] in the failover region: %+v, want %+v", i, got, w)
		}
	}
	if r := req.Objects[0].Failover.Region; r != "us-west-2" {
		t.Errorf("objects[0] failoverObject region %q, want us-west-2", r)
	}
	if req.Objects[3].Failover != nil {
		t.Error("objects[3] has no failoverObject but reads as having one")
	}
}

func TestParseFailoverReportsEveryProblemAtOnce(t *testing.T) {
	raw := attrs(t, map[string]string{ParamFailoverRegion: "us-west-2", ParamObjects: `
- {objectName: "arn:aws:secretsmanager:us-east-1:123456789012:secret:a"}
- {objectName: b, failoverObject: {objectName: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:b", objectVersion: v, objectVersionLabel: l}}
`})
	_, err := Parse(raw, "", "420")
	if mounterr.KindOf(err) != mounterr.Invalid {
		t.Fatalf("Parse() = %v, want Invalid", err)
	}
	for _, w := range []string{
		"has 3 problems",
		"objects[0] (arn:aws:secretsmanager:us-east-1:123456789012:secret:a): objectName is an ARN, which names its region us-east-1",
		"objects[1] (b): failoverObject: set objectVersion or objectVersionLabel, not both",
		"objects[1] (b): failoverObject objectName \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:b\" names the region eu-west-1, not the failoverRegion us-west-2",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\nwant it to contain %q", err, w)
		}
	}
}

// TestParseRefusesUnboundedJMESPath: the pad_left, which made the
// provider allocate 380 MiB at the first Mount, is refused with the
// SecretProviderClass, naming the object and the path, before any secret
// is read.
func TestParseRefusesUnboundedJMESPath(t *testing.T) {
	raw := attrs(t, map[string]string{ParamRegion: "us-east-1", ParamObjects: "- {objectName: db, jmesPath: [{path: 'password', objectAlias: pw}, {path: \"pad_left('', `200000000`)\", objectAlias: pad}]}\n" +
		"- {objectName: api, jmesPath: [{path: 'repeat(token, `1000`)', objectAlias: t}]}\n"})
	_, err := Parse(raw, "", "420")
	if mounterr.KindOf(err) != mounterr.Invalid {
		t.Fatalf("Parse() = %v, want Invalid", err)
	}
	for _, w := range []string{
		"objects[0] (db): jmesPath[1]: path \"pad_left('', `200000000`)\" pads to a width of 200000000; pad_left() pads to at most 4096 characters: pad to a smaller width",
		"objects[1] (api): jmesPath[0]: path \"repeat(token, `1000`)\" calls repeat(), which is not a JMESPath function",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\nwant it to contain %q", err, w)
		}
	}
}

// TestParseOptional: optional marks an object, or a jmesPath entry, as
// skipped when missing; it is true or false as written, nothing else, and
// a bad value names the field and the object.
func TestParseOptional(t *testing.T) {
	got, errs := parseObjects(`- objectName: PMP-Storage
  optional: true
  jmesPath:
    - {path: a, objectAlias: a, optional: true}
    - {path: b, objectAlias: b, Optional: false}
    - {path: c, objectAlias: c}
- {objectName: /app/db, objectType: ssm, optional: false}
- {objectName: PMP-Database, OPTIONAL: True}
- objectName: PMP-Config`)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	var objects []bool
	for _, o := range got {
		objects = append(objects, o.Optional)
	}
	if want := []bool{true, false, true, false}; !slices.Equal(objects, want) {
		t.Errorf("objects' optional = %v, want %v", objects, want)
	}
	var entries []bool
	for _, j := range got[0].JMESPath {
		entries = append(entries, j.Optional)
	}
	if want := []bool{true, false, false}; !slices.Equal(entries, want) {
		t.Errorf("jmesPath entries' optional = %v, want %v", entries, want)
	}

	for _, tt := range []struct{ name, raw, want string }{
		{"quoted", `- {objectName: a, optional: "true"}`, "objects[0] (a): optional must be true or false"},
		{"a number", `- {objectName: a, optional: 1}`, "objects[0] (a): optional must be true or false"},
		{"a list", `- {objectName: a, optional: [true]}`, "objects[0] (a): optional must be true or false"},
		{"YAML 1.1's yes", `- {objectName: a, optional: yes}`, "objects[0] (a): optional must be true or false, not yes (YAML 1.1's spelling of true): write true"},
		{"YAML 1.1's y, in a block", "- objectName: a\n  optional: y", "objects[0] (a): optional must be true or false, not y (YAML 1.1's spelling of true): write true"},
		{"YAML 1.1's Off", `- {objectName: a, optional: Off}`, "objects[0] (a): optional must be true or false, not Off (YAML 1.1's spelling of false): write false"},
		{"YAML 1.1's on through an anchor", "- {objectName: a, keepEmpty: &t on, optional: *t}", "objects[0] (a): optional must be true or false, not on"},
		{"a jmesPath entry's, quoted", `- {objectName: a, jmesPath: [{path: x, objectAlias: x, optional: "yes"}]}`, "objects[0] (a): jmesPath[0]: optional must be true or false"},
		{"a jmesPath entry's yes", `- {objectName: a, jmesPath: [{path: x, objectAlias: x}, {path: q, objectAlias: q, optional: yes}]}`, "objects[0] (a): jmesPath[1]: optional must be true or false, not yes"},
		{"the second object's", "- {objectName: a}\n- {objectName: b, optional: on}", "objects[1] (b): optional must be true or false, not on"},
		{"a failoverObject has none", `- {objectName: a, failoverObject: {objectName: b, optional: true}}`, `objects[0] (a): failoverObject: unknown field "optional"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parseObjects(tt.raw)
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want) {
				t.Fatalf("errors = %v, want one saying %q", errs, tt.want)
			}
		})
	}
}
