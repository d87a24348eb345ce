package params

import (
	"encoding/json"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// jsonAttributes is what encoding/json reads from s, as attributes.
func jsonAttributes(s string) (attributes, error) {
	var m map[string]string
	var a attributes
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return a, err
	}
	for k, v := range m {
		a.set(k, v)
	}
	return a, nil
}

// jsonTokens is what encoding/json reads from s, as parseTokens' entries
// by audience.
func jsonTokens(s string) (map[string]tokenEntry, error) {
	entries, err := decodeTokens(s)
	if err != nil {
		return nil, err
	}
	m := map[string]tokenEntry{}
	for _, e := range entries {
		m[e.audience] = e
	}
	return m, nil
}

func tokensByAudience(entries []tokenEntry) map[string]tokenEntry {
	m := map[string]tokenEntry{}
	for _, e := range entries {
		if _, dup := m[e.audience]; dup {
			return nil // scanTokens keeps one entry per audience
		}
		m[e.audience] = e
	}
	return m
}

// checkScanAttributes fails when the scanner answers and its answer is
// not encoding/json's. It reports whether the scanner answered.
func checkScanAttributes(t *testing.T, s string) bool {
	t.Helper()
	got, ok := scanAttributes(s)
	if !ok {
		return false
	}
	want, err := jsonAttributes(s)
	if err != nil {
		t.Fatalf("scanAttributes(%q) read it, encoding/json refuses it: %v", s, err)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(attributes{})); diff != "" {
		t.Fatalf("scanAttributes(%q) (-encoding/json +scanner):\n%s", s, diff)
	}
	return true
}

func checkScanTokens(t *testing.T, s string) bool {
	t.Helper()
	entries, ok := scanTokens(s, nil)
	if !ok {
		return false
	}
	want, err := jsonTokens(s)
	if err != nil {
		t.Fatalf("scanTokens(%q) read it, encoding/json refuses it: %v", s, err)
	}
	if diff := cmp.Diff(want, tokensByAudience(entries), cmp.AllowUnexported(tokenEntry{})); diff != "" {
		t.Fatalf("scanTokens(%q) (-encoding/json +scanner):\n%s", s, diff)
	}
	return true
}

func TestScanAttributes(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		// scanned: the scanner answers (else encoding/json decodes it)
		scanned bool
	}{
		{"driver request", `{"csi.storage.k8s.io/pod.name":"pmp-0","csi.storage.k8s.io/pod.namespace":"pmp","secretProviderClass":"spc","objects":"- objectName: a\n  filePermission: \"0440\"\n"}`, true},
		{"empty", `{}`, true},
		{"null", ` null `, true},
		{"whitespace", " {\n\t\"region\" : \"eu-west-1\" ,\r\"objects\":\"x\" } ", true},
		{"duplicate key: the last wins", `{"region":"a","region":"b"}`, true},
		{"pathTranslation set empty", `{"pathTranslation":""}`, true},
		{"escapes", `{"objects":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac"}`, true},
		{"escaped key", `{"obj\u0065cts":"x"}`, true},
		{"case differs: another key", `{"Region":"eu-west-1"}`, true},
		{"unknown keys skipped", `{"csi.storage.k8s.io/ephemeral":"false","x":"y"}`, true},
		{"non-ASCII", `{"objects":"é"}`, false},
		{"invalid UTF-8", "{\"objects\":\"\xff\"}", false},
		{"surrogate pair", `{"objects":"\ud83d\ude00"}`, false},
		{"lone surrogate", `{"objects":"\ud83d"}`, false},
		{"number value", `{"region":1}`, false},
		{"null value", `{"region":null}`, false},
		{"object value", `{"region":{}}`, false},
		{"trailing comma", `{"region":"a",}`, false},
		{"trailing text", `{"region":"a"} x`, false},
		{"two objects", `{}{}`, false},
		{"unterminated", `{"region":"a`, false},
		{"control character", "{\"region\":\"a\nb\"}", false},
		{"bad escape", `{"region":"\x"}`, false},
		{"short \\u", `{"region":"\u12"}`, false},
		{"bad hex", `{"region":"\u12g4"}`, false},
		{"array", `[]`, false},
		{"empty text", ``, false},
		{"nul", `nul`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkScanAttributes(t, tc.in); got != tc.scanned {
				t.Fatalf("scanAttributes(%q) answered %v, want %v", tc.in, got, tc.scanned)
			}
		})
	}
}

func TestScanTokens(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		scanned bool
	}{
		{"driver tokens", `{"sts.amazonaws.com":{"token":"eyJ.a.b","expirationTimestamp":"2026-11-26T19:18:12Z"}}`, true},
		{"two audiences", `{"a":{"token":"1"},"b":{"expirationTimestamp":"x","token":"2"}}`, true},
		{"duplicate audience: the last wins", `{"a":{"token":"1"},"a":{"token":"2"}}`, true},
		{"duplicate field: the last wins", `{"a":{"token":"1","token":"2"}}`, true},
		{"empty entry", `{"a":{}}`, true},
		{"empty", `{}`, true},
		{"null", `null`, true},
		{"unknown field", `{"a":{"token":"1","other":"x"}}`, false},
		{"field case differs", `{"a":{"Token":"1"}}`, false},
		{"null field", `{"a":{"token":null}}`, false},
		{"entry not an object", `{"a":"TOKEN"}`, false},
		{"unterminated", `{"a":{"token":"1"`, false},
		{"trailing text", `{"a":{"token":"1"}}]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkScanTokens(t, tc.in); got != tc.scanned {
				t.Fatalf("scanTokens(%q) answered %v, want %v", tc.in, got, tc.scanned)
			}
		})
	}
}

// TestScanAttributesCopies: the values kept never hold the text alive (it
// holds the pod's token), and neither do the attributes parse skips.
func TestScanAttributesCopies(t *testing.T) {
	in := `{"csi.storage.k8s.io/pod.namespace":"pmp","objects":"x","csi.storage.k8s.io/serviceAccount.tokens":"{}"}`
	a, ok := scanAttributes(in)
	if !ok {
		t.Fatal("declined")
	}
	for _, v := range []string{a.podNamespace, a.objects, a.tokens} {
		if within(in, v) {
			t.Errorf("value %q is a substring of the attributes text", v)
		}
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`{"csi.storage.k8s.io/pod.name":"pmp-0","objects":"- objectName: a\n","pathTranslation":"False"}`,
		`{"sts.amazonaws.com":{"token":"eyJ.a.b","expirationTimestamp":"2026-11-26T19:18:12Z"}}`,
		`{"a":"\u00e9\"\\"}`, `null`, `{}`, `{"a":{"token":"1"},"a":{}}`, `{"region":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkScanAttributes(t, s)
		checkScanTokens(t, s)
	})
}

// within reports whether v's bytes lie inside s's memory.
func within(s, v string) bool {
	if len(v) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(v)))
	return p >= start && p < start+uintptr(len(s))
}
