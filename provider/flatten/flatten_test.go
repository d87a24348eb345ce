// The tests are in package flatten_test: the fuzz target combines Flatten
// with files.Select, and package files imports flatten.
package flatten_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
)

type entries = []flatten.Entry

func e(name, value string) flatten.Entry { return flatten.Entry{Name: name, Value: []byte(value)} }

// nest is n levels of objects around a string value: {"k1":{"k2":...}}.
func nest(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"k%d":`, i)
	}
	b.WriteString(`"s3cr3t-value"`)
	b.WriteString(strings.Repeat("}", n))
	return b.String()
}

func nestedName(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "k" + strconv.Itoa(i+1)
	}
	return strings.Join(parts, ".")
}

func TestFlatten(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want entries
	}{
		{name: "nested", in: `{"VCS":{"GithubAdminPAT":"ghp_1","GitlabAdminPAT":"glpat-2"}}`,
			want: entries{e("VCS.GithubAdminPAT", "ghp_1"), e("VCS.GitlabAdminPAT", "glpat-2")}},
		{name: "flat dotted keys", in: `{"VCS.GithubAdminPAT":"ghp_1","Email.SMTPPassword":"smtp"}`,
			want: entries{e("Email.SMTPPassword", "smtp"), e("VCS.GithubAdminPAT", "ghp_1")}},
		{name: "mixed, different names", in: `{"VCS":{"GithubAdminPAT":"ghp_1"},"VCS.GitlabAdminPAT":"glpat-2"}`,
			want: entries{e("VCS.GithubAdminPAT", "ghp_1"), e("VCS.GitlabAdminPAT", "glpat-2")}},
		{name: "mixed, both spellings agree", in: `{"VCS":{"GithubAdminPAT":"ghp_1"},"VCS.GithubAdminPAT":"ghp_1"}`,
			want: entries{e("VCS.GithubAdminPAT", "ghp_1")}},
		{name: "mixed, dotted first, agree", in: `{"a.b.c":"x","a":{"b":{"c":"x"}},"a.b":{"c":"x"}}`,
			want: entries{e("a.b.c", "x")}},
		{name: "a dotted key holding an object", in: `{"a.b":{"c":"x"}}`,
			want: entries{e("a.b.c", "x")}},
		{name: "a name and a deeper name", in: `{"a":"x","a.b":"y"}`,
			want: entries{e("a", "x"), e("a.b", "y")}},
		{name: "numbers keep their JSON text", in: `{"price":1.50,"exp":1e3,"neg":-0,"big":12345678901234567890123,"int":7}`,
			want: entries{e("big", "12345678901234567890123"), e("exp", "1e3"), e("int", "7"), e("neg", "-0"), e("price", "1.50")}},
		{name: "booleans", in: `{"on":true,"off":false}`,
			want: entries{e("off", "false"), e("on", "true")}},
		{name: "null is skipped", in: `{"a":null,"b":"x","c":{"d":null}}`,
			want: entries{e("b", "x")}},
		{name: "null does not clash with a dotted spelling", in: `{"a":{"b":null},"a.b":"x"}`,
			want: entries{e("a.b", "x")}},
		{name: "arrays are compact JSON text", in: `{"hosts":[ "a" , 1.50, {"k" : null}, [] ]}`,
			want: entries{e("hosts", `["a",1.50,{"k":null},[]]`)}},
		{name: "empty string is kept as an empty value", in: `{"VCS":{"AzureAuthSecret":""}}`,
			want: entries{e("VCS.AzureAuthSecret", "")}},
		{name: "strings are raw bytes, escapes decoded, no newline added", in: `{"k":"line1\nline2 \u00e9 \"q\" \\"}`,
			want: entries{e("k", "line1\nline2 é \"q\" \\")}},
		{name: "a PEM-like multi-line value", in: `{"key":"-----BEGIN-----\nMIIB\n-----END-----\n"}`,
			want: entries{e("key", "-----BEGIN-----\nMIIB\n-----END-----\n")}},
		{name: "sorted by name whatever the input order", in: `{"z":"1","m":{"b":"2","a":"3"},"a":"4"}`,
			want: entries{e("a", "4"), e("m.a", "3"), e("m.b", "2"), e("z", "1")}},
		{name: "empty object", in: `{}`, want: nil},
		{name: "empty nested object", in: `{"VCS":{}}`, want: nil},
		{name: "whitespace around", in: " \n\t{\"a\":\"b\"}\n ", want: entries{e("a", "b")}},
		{name: "unicode keys", in: `{"clé":{"日本":"v"}}`, want: entries{e("clé.日本", "v")}},
		{name: "keys that are unsafe file names are flattened (files rejects them)", in: `{"../x":"v","a/b":"w"}`,
			want: entries{e("../x", "v"), e("a/b", "w")}},
		{name: "nesting at MaxDepth", in: nest(flatten.MaxDepth),
			want: entries{e(nestedName(flatten.MaxDepth), "s3cr3t-value")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := flatten.Flatten([]byte(tt.in))
			if err != nil {
				t.Fatalf("Flatten() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Flatten() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFlattenKeepsRawBytes: a binary secret's JSON may hold bytes that are
// not UTF-8; its files hold exactly those bytes (encoding/json would write
// U+FFFD in their place). Escapes decode as JSON says.
func TestFlattenKeepsRawBytes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want entries
	}{
		{name: "invalid UTF-8 in a value", in: "{\"key\":\"a\xff\xfeb\"}", want: entries{e("key", "a\xff\xfeb")}},
		{name: "a lone continuation byte beside an escape", in: "{\"key\":\"\x80\\n\"}", want: entries{e("key", "\x80\n")}},
		{name: "Latin-1 text", in: "{\"DB\":{\"Password\":\"p\xe4ssw\xf6rd\"}}", want: entries{e("DB.Password", "p\xe4ssw\xf6rd")}},
		{name: "a key's bytes are kept too (files refuses them)", in: "{\"k\xff\":\"v\"}", want: entries{e("k\xff", "v")}},
		{name: "every escape", in: `{"k":"\" \\ \/ \b \f \n \r \t \u00e9 \u65e5"}`, want: entries{e("k", "\" \\ / \b \f \n \r \t é 日")}},
		{name: "a surrogate pair", in: `{"k":"\ud83d\ude00","\ud83d\udd11":"x"}`, want: entries{e("k", "😀"), e("🔑", "x")}},
		{name: "escaped NUL", in: `{"k":"a\u0000b"}`, want: entries{e("k", "a\x00b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := flatten.Flatten([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Flatten() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFlattenBoundsNames: one long key over thousands of sub-keys would
// repeat in every name, 64 KiB of JSON becoming over 100 MiB of names.
func TestFlattenBoundsNames(t *testing.T) {
	long := strings.Repeat("k", 30_000)
	var b strings.Builder
	b.WriteString(`{"` + long + `":{`)
	for i := range 4_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d":1`, i)
	}
	b.WriteString("}}")
	if b.Len() > 65536 {
		t.Fatalf("the document is %d bytes, over Secrets Manager's 64 KiB", b.Len())
	}
	_, err := flatten.Flatten([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "the key names add up to over 1048576 bytes") {
		t.Fatalf("Flatten() error = %.300v, want the name bound", err)
	}
	if len(err.Error()) > 1024 {
		t.Errorf("the error is %d bytes long: a key in a message must be cut", len(err.Error()))
	}
	// Empty objects count too: they cost their names all the same.
	b.Reset()
	b.WriteString(`{"` + long + `":{`)
	for i := range 4_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d":{}`, i)
	}
	b.WriteString("}}")
	if _, err := flatten.Flatten([]byte(b.String())); err == nil {
		t.Error("Flatten() accepted 4,000 empty objects under a 30 KB key")
	}
}

func TestFlattenErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		is   error // ErrNotObject, ErrInvalidJSON or nil
		want string
	}{
		{name: "nested and dotted disagree", in: `{"VCS":{"GithubAdminPAT":"s3cr3t-value"},"VCS.GithubAdminPAT":"s3cr3t-other"}`,
			want: `key "VCS.GithubAdminPAT" is set twice with different values (nested and as a dotted key): keep one spelling`},
		{name: "dotted first, nested disagrees", in: `{"a.b":"s3cr3t-value","a":{"b":"s3cr3t-other"}}`,
			want: `key "a.b" is set twice with different values`},
		{name: "a value and an empty value disagree", in: `{"a.b":"s3cr3t-value","a":{"b":""}}`,
			want: `key "a.b" is set twice with different values`},
		{name: "number texts disagree", in: `{"a":{"n":1.0},"a.n":1}`,
			want: `key "a.n" is set twice with different values`},
		{name: "duplicate key in one object", in: `{"a":"s3cr3t-value","a":"s3cr3t-value"}`,
			want: `key "a" appears twice in the same object`},
		{name: "duplicate key in a nested object", in: `{"VCS":{"GithubAdminPAT":"s3cr3t-value","GithubAdminPAT":"s3cr3t-other"}}`,
			want: `key "VCS.GithubAdminPAT" appears twice in the same object`},
		{name: "empty key at the top level", in: `{"":"s3cr3t-value"}`,
			want: "an empty key is under the top level: every key needs a name"},
		{name: "empty key nested", in: `{"VCS":{"":"s3cr3t-value"}}`,
			want: `an empty key is under "VCS": every key needs a name`},
		{name: "nesting deeper than MaxDepth", in: nest(flatten.MaxDepth + 1),
			want: fmt.Sprintf("key %q nests deeper than %d levels", nestedName(flatten.MaxDepth), flatten.MaxDepth)},
		{name: "very deep nesting", in: nest(5000), want: "nests deeper than 32 levels"},
		{name: "array", in: `["s3cr3t-value"]`, is: flatten.ErrNotObject, want: "the value is not a JSON object"},
		{name: "string", in: `"s3cr3t-value"`, is: flatten.ErrNotObject, want: "the value is not a JSON object"},
		{name: "plain text", in: `s3cr3t-value`, is: flatten.ErrNotObject, want: "the value is not a JSON object"},
		{name: "number", in: `42`, is: flatten.ErrNotObject, want: "the value is not a JSON object"},
		{name: "null", in: `null`, is: flatten.ErrNotObject, want: "the value is not a JSON object"},
		{name: "empty", in: ``, is: flatten.ErrNotObject, want: "the value is not a JSON object"},
		{name: "blank", in: " \n ", is: flatten.ErrNotObject, want: "the value is not a JSON object"},
		{name: "invalid JSON starting with '{'", in: `{"a":"s3cr3t-value"`, is: flatten.ErrInvalidJSON,
			want: "the value starts with '{' but is not valid JSON (syntax error at byte 19)"},
		{name: "trailing comma", in: `{"a":"s3cr3t-value",}`, is: flatten.ErrInvalidJSON, want: "not valid JSON"},
		{name: "two objects", in: `{"a":"s3cr3t-value"} {}`, is: flatten.ErrInvalidJSON, want: "not valid JSON"},
		{name: "single quotes", in: `{'a':'s3cr3t-value'}`, is: flatten.ErrInvalidJSON, want: "not valid JSON"},
		{name: "unquoted key", in: `{a:"s3cr3t-value"}`, is: flatten.ErrInvalidJSON, want: "not valid JSON"},
		{name: "a lone surrogate in a value", in: `{"k":"s3cr3t\ud800-value"}`, want: `the value of key "k": a \u escape of half a UTF-16 surrogate pair`},
		{name: "a low surrogate first", in: `{"k":"s3cr3t\udc00\ud800"}`, want: "surrogate pair"},
		{name: "a lone surrogate in a key", in: `{"VCS":{"k\udfff":"s3cr3t-value"}}`, want: `a key under "VCS": a \u escape of half`},
		{name: "a long key is cut in the message", in: `{"` + strings.Repeat("k", 5000) + `":1,"` + strings.Repeat("k", 5000) + `":1}`,
			want: `... (5000 bytes) appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := flatten.Flatten([]byte(tt.in))
			if err == nil {
				t.Fatalf("Flatten() = %v, want an error", got)
			}
			if got != nil {
				t.Errorf("Flatten() returned %d entries with the error", len(got))
			}
			for _, target := range []error{flatten.ErrNotObject, flatten.ErrInvalidJSON} {
				if want := target == tt.is; errors.Is(err, target) != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, target, !want, want)
				}
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Flatten() error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("Flatten() error = %q contains a value", err)
			}
		})
	}
}

// pmpNames are the 30 key names of the PMP document's key catalog.
var pmpNames = []string{
	"BuildCluster.KubernetesConfigureToken",
	"BuildPackage.AwsSecretAccessKey",
	"BuildPackage.FileBasicAuthPassword",
	"CIAdmin.AzureAwsS3SK",
	"CIAdmin.AzureBlobStorageToken",
	"CIAdmin.AzureOrgAdminPAT",
	"CIAdmin.JenkinsConfigureAPIToken",
	"CIAdmin.JenkinsTriggerAuthToken",
	"ClusterManager.KubernetesApiToken",
	"ClusterSettings.GrafanaAPIKey",
	"ClusterSettings.KubernetesAdminPassword",
	"ClusterSettings.MDAAWSS3AccessKey",
	"ClusterSettings.OCIRegistryPassword",
	"Email.SMTPPassword",
	"MDAStorage.AwsSecretAccessKey",
	"MDAStorage.FileBasicAuthPassword",
	"Marketplace.ImportCDNPassword",
	"OCIRegistry.PrivateRegistryPassword",
	"OCIRegistry.S3CompatibleAccessKey",
	"RuntimeBaseImage.PrivateRegistryPassword",
	"RuntimeBaseImage.S3CompatibleAccessKey",
	"VCS.AzureAuthSecret",
	"VCS.AzureDevOpsOrgAdminPAT",
	"VCS.BitbucketAdminPassword",
	"VCS.BitbucketProjectAdminPAT",
	"VCS.GithubAdminPAT",
	"VCS.GithubEnterpriseClientSecret",
	"VCS.GithubOrgOwnerPAT",
	"VCS.GitlabAdminPAT",
	"VCS.GitlabGroupOwnerPAT",
}

func readTemplate(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "pmp-template.json"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestFlattenPMPTemplate flattens the JSON template of the PMP document as
// published: 30 names, all empty, matching the document's key catalog.
func TestFlattenPMPTemplate(t *testing.T) {
	got, err := flatten.Flatten(readTemplate(t))
	if err != nil {
		t.Fatalf("Flatten(template) error = %v", err)
	}
	want := make(entries, len(pmpNames))
	for i, n := range pmpNames {
		want[i] = flatten.Entry{Name: n}
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Flatten(template) (-want +got):\n%s", diff)
	}
}

// TestFlattenPMPFilled fills the template's values in the three spellings a
// user may store (nested as published, flat dotted keys, both at once) and
// expects the same 30 files' worth of entries each time.
func TestFlattenPMPFilled(t *testing.T) {
	var tmpl map[string]map[string]string
	if err := json.Unmarshal(readTemplate(t), &tmpl); err != nil {
		t.Fatal(err)
	}
	value := func(name string) string { return "value of " + name + "\twith\nspecials \"'\\" }
	nested := map[string]map[string]string{}
	flat := map[string]string{}
	var want entries
	for mod, keys := range tmpl {
		nested[mod] = map[string]string{}
		for k := range keys {
			name := mod + "." + k
			nested[mod][k] = value(name)
			flat[name] = value(name)
			want = append(want, e(name, value(name)))
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
	mixed := map[string]any{}
	for k, v := range nested {
		mixed[k] = v
	}
	for k, v := range flat {
		mixed[k] = v
	}
	for _, tc := range []struct {
		name string
		doc  any
	}{{"nested", nested}, {"flat dotted", flat}, {"both spellings", mixed}} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := flatten.Flatten(raw)
			if err != nil {
				t.Fatalf("Flatten() error = %v", err)
			}
			if len(got) != 30 {
				t.Errorf("Flatten() gave %d entries, want 30", len(got))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Flatten() (-want +got):\n%s", diff)
			}
		})
	}
}

// canary rewrites a valid JSON object so that every leaf value becomes a
// distinct marker string, equal leaves (by their flattened bytes) getting
// equal markers. Empty leaves stay empty and nulls stay null, so the
// rewritten document has the same names, the same agreements between
// spellings, and must give the same errors: an error message that changes
// with the values would be quoting them.
type canary struct {
	marks map[string]string // flattened bytes -> marker
}

func (c *canary) rewrite(raw []byte, depth int) ([]byte, error) {
	if depth > flatten.MaxDepth+1 {
		return raw, nil // Flatten fails on the way in and never reads it
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if i > 0 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(tok.(string))
		out.Write(k)
		out.WriteByte(':')
		leaf := []byte(v)
		switch v[0] {
		case '{':
			sub, err := c.rewrite(v, depth+1)
			if err != nil {
				return nil, err
			}
			out.Write(sub)
			continue
		case 'n':
			out.WriteString("null")
			continue
		case '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, err
			}
			leaf = []byte(s)
		case '[':
			var b bytes.Buffer
			if err := json.Compact(&b, v); err != nil {
				return nil, err
			}
			leaf = b.Bytes()
		}
		if len(leaf) == 0 {
			out.WriteString(`""`)
			continue
		}
		m, ok := c.marks[string(leaf)]
		if !ok {
			m = fmt.Sprintf("canary-%d-", len(c.marks))
			c.marks[string(leaf)] = m
		}
		out.WriteString(strconv.Quote(m))
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// stringValues lists the string values and the key paths of a valid JSON
// object, to recognise a value quoted in an error message.
func stringValues(raw []byte) (values, keyPaths []string) {
	var walk func(v any, prefix string)
	walk = func(v any, prefix string) {
		switch v := v.(type) {
		case map[string]any:
			for k, sub := range v {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				keyPaths = append(keyPaths, p)
				walk(sub, p)
			}
		case []any:
			for _, sub := range v {
				walk(sub, prefix)
			}
		case string:
			values = append(values, v)
		}
	}
	var doc any
	if json.Unmarshal(raw, &doc) == nil {
		walk(doc, "")
	}
	return values, keyPaths
}

var surrogateEscapeRE = regexp.MustCompile(`\\u[dD][89a-fA-F]`)

// leafNames are the dotted names of the leaves of a JSON object other than
// null, as encoding/json reads them, sorted and unique.
func leafNames(raw []byte) []string {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // 1e700 is a number to mount, not a float64
	if dec.Decode(&doc) != nil {
		return nil
	}
	set := map[string]bool{}
	var walk func(m map[string]any, prefix string)
	walk = func(m map[string]any, prefix string) {
		for k, v := range m {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			switch v := v.(type) {
			case map[string]any:
				walk(v, name)
			case nil:
			default:
				set[name] = true
			}
		}
	}
	walk(doc, "")
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func names(es []flatten.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}

var invalidJSONRE = regexp.MustCompile(`^the value starts with '\{' but is not valid JSON( \(syntax error at byte \d+\))?$`)

func FuzzFlatten(f *testing.F) {
	f.Add(readTemplate(f))
	for _, s := range []string{
		`{"VCS":{"GithubAdminPAT":"s3cr3t-value"},"VCS.GithubAdminPAT":"s3cr3t-other"}`,
		`{"VCS":{"GithubAdminPAT":"s3cr3t-value"},"VCS.GithubAdminPAT":"s3cr3t-value"}`,
		`{"a":"s3cr3t-value","a":"s3cr3t-value"}`,
		`{"":"s3cr3t-value"}`,
		`{"VCS":{"":"s3cr3t-value"}}`,
		`{"../../etc/passwd":"s3cr3t-value","a/b":"s3cr3t-value",".data":"x"}`,
		`{"a..b":"s3cr3t-value","a.":"s3cr3t-value","\u0000":"s3cr3t-value"}`,
		`{"a":"s3cr3t-value","a.b":"s3cr3t-value","a.b.c":{"d":"s3cr3t-value"}}`,
		`{"n":1.50,"e":1e3,"t":true,"f":false,"z":null,"arr":[1,"s3cr3t-value"],"s":""}`,
		`{"a":{"n":1.0},"a.n":1}`,
		`{"a":"1","a":1}`,
		`{"a.b":"1","a":{"b":1}}`,
		nest(flatten.MaxDepth),
		nest(flatten.MaxDepth + 1),
		`{"a":"s3cr3t-value"`,
		`["s3cr3t-value"]`,
		`s3cr3t-value`,
		"",
	} {
		f.Add([]byte(s))
	}
	volume := filepath.Join(f.TempDir(), "volume")
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := flatten.Flatten(raw)

		// Same input, same output.
		again, err2 := flatten.Flatten(raw)
		if diff := cmp.Diff(got, again); diff != "" || fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Fatalf("Flatten is not deterministic: %v vs %v, entries (-first +second):\n%s", err, err2, diff)
		}

		if err != nil {
			if got != nil {
				t.Fatalf("Flatten returned entries with error %v", err)
			}
			// Nothing of the input may be echoed: these texts are fixed.
			if errors.Is(err, flatten.ErrNotObject) {
				if err.Error() != flatten.ErrNotObject.Error() {
					t.Fatalf("ErrNotObject error has an unexpected text %q", err)
				}
				return
			}
			if errors.Is(err, flatten.ErrInvalidJSON) {
				if !invalidJSONRE.MatchString(err.Error()) {
					t.Fatalf("ErrInvalidJSON error has an unexpected text %q", err)
				}
				return
			}
		} else {
			// Sorted, unique, named.
			for i, en := range got {
				if en.Name == "" {
					t.Fatalf("entry %d has an empty name", i)
				}
				if i > 0 && got[i-1].Name >= en.Name {
					t.Fatalf("names not sorted and unique: %q then %q", got[i-1].Name, en.Name)
				}
			}
		}

		// Error messages never quote a value: seeded values ("s3cr3t...")
		// must not appear outside the key names the message quotes...
		if err != nil {
			values, keyPaths := stringValues(raw)
			msg := err.Error()
			sort.Slice(keyPaths, func(i, j int) bool { return len(keyPaths[i]) > len(keyPaths[j]) })
			for _, p := range keyPaths {
				msg = strings.ReplaceAll(msg, strconv.Quote(p), "")
			}
			for _, v := range values {
				if strings.Contains(v, "s3cr3t") && strings.Contains(msg, v) {
					t.Fatalf("error %q contains the value %q", err, v)
				}
			}
		}
		// encoding/json, which the canary and the reference below read
		// with, replaces bytes that are not UTF-8 and lone surrogate
		// escapes with U+FFFD, where Flatten keeps the bytes (or refuses):
		// the comparisons hold for other documents only.
		if !utf8.Valid(raw) || surrogateEscapeRE.Match(raw) {
			return
		}
		// ...and, for any input, replacing every value by a marker gives
		// the same names and the very same error text.
		c := &canary{marks: map[string]string{}}
		marked, cerr := c.rewrite(bytes.TrimSpace(raw), 1)
		if cerr != nil {
			t.Fatalf("rewriting a document Flatten accepted as JSON: %v", cerr)
		}
		mgot, merr := flatten.Flatten(marked)
		if fmt.Sprint(err) != fmt.Sprint(merr) {
			t.Fatalf("error depends on the values:\n  original: %v\n  markers:  %v", err, merr)
		}
		if len(got) != len(mgot) {
			t.Fatalf("names depend on the values: %d vs %d entries", len(got), len(mgot))
		}
		for i := range got {
			if got[i].Name != mgot[i].Name {
				t.Fatalf("names depend on the values: %q vs %q", got[i].Name, mgot[i].Name)
			}
			if len(got[i].Value) == 0 {
				continue
			}
			if want := c.marks[string(got[i].Value)]; want != string(mgot[i].Value) {
				t.Fatalf("value of %q is not the original leaf", got[i].Name)
			}
		}
		if err != nil {
			return
		}
		// The names are those encoding/json reads.
		if want := leafNames(bytes.TrimSpace(raw)); !cmp.Equal(want, names(got), cmpopts.EquateEmpty()) {
			t.Fatalf("names differ from encoding/json's reading: %s", cmp.Diff(want, names(got), cmpopts.EquateEmpty()))
		}

		// Whatever files.Select accepts stays inside the volume.
		for _, sel := range []files.Selection{
			{Layout: files.Dotted, KeepEmpty: true, Mode: 0o644},
			{Layout: files.Nested, KeepEmpty: true, Mode: 0o644},
			{Layout: files.Nested, Dir: "pmp", Mode: 0o644},
		} {
			out, err := files.Select(got, sel)
			if err != nil {
				var nm *files.NoMatchError
				if errors.As(err, &nm) {
					t.Fatalf("Select without keys gave %v", err)
				}
				continue
			}
			for _, fl := range out {
				p := fl.Path
				if err := files.CheckPath(p); err != nil {
					t.Fatalf("Select returned path %q that CheckPath rejects: %v", p, err)
				}
				if filepath.IsAbs(p) {
					t.Fatalf("Select returned absolute path %q", p)
				}
				for _, el := range strings.Split(p, "/") {
					if el == ".." {
						t.Fatalf("Select returned path %q with a .. element", p)
					}
				}
				if j := filepath.Join(volume, p); !strings.HasPrefix(j, volume+string(filepath.Separator)) {
					t.Fatalf("Select returned path %q that lands at %q, outside %q", p, j, volume)
				}
				if fl.Mode != sel.Mode {
					t.Fatalf("file %q has mode %v, want %v", p, fl.Mode, sel.Mode)
				}
			}
		}
	})
}
