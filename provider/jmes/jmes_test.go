package jmes

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

const doc = `{"username":"app","password":"s3cret","port":5432,"ratio":1.5,"tls":true,"none":null,
"db-creds":{"user":"admin"},"hosts":["a","b"],"nested":{"k":"v","n":{"x":1}},"html":"<a&b>"}`

func TestSearch(t *testing.T) {
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"string as raw text (ASCP)", "password", "s3cret"},
		{"number as JSON text", "port", "5432"},
		{"fraction", "ratio", "1.5"},
		{"boolean", "tls", "true"},
		{"object as compact JSON", "nested", `{"k":"v","n":{"x":1}}`},
		{"array", "hosts", `["a","b"]`},
		{"index", "hosts[1]", "b"},
		{"hyphenated key quoted", `"db-creds".user`, "admin"},
		{"function", "length(hosts)", "2"},
		{"no HTML escaping", "html", "<a&b>"},
		{"multiselect", "[username, password]", `["app","s3cret"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Search(d)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Search(%s) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestSearchErrors(t *testing.T) {
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		is         error
		want       string
	}{
		{"missing key", "nokey", ErrNoMatch, "selects nothing"},
		{"null", "none", ErrNoMatch, "selects nothing"},
		{"unquoted hyphen is a subtraction", "db-creds.user", ErrNoMatch, `written in double quotes, e.g. '"db-creds".password'`},
		{"function on the wrong type, no value echoed", "abs(nested)", nil, "wrong type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Search(d)
			if err == nil {
				t.Fatalf("Search(%s) succeeded", tt.path)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			for _, secret := range []string{"s3cret", "admin", `"k"`} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds a value", err)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, p := range []string{"a[", "a.", "[", "a ||"} {
		_, err := Compile(p)
		if err == nil {
			t.Errorf("Compile(%q) succeeded", p)
			continue
		}
		if !strings.Contains(err.Error(), "is not a JMESPath expression") || !strings.Contains(err.Error(), "double quotes") {
			t.Errorf("Compile(%q) error %q does not say what is wrong and how keys are quoted", p, err)
		}
	}
}

func TestParseNotJSON(t *testing.T) {
	for _, raw := range []string{"plain text", `{"a": "s3cret"`, ""} {
		_, err := Parse([]byte(raw))
		if !errors.Is(err, ErrNotJSON) {
			t.Errorf("Parse(%q) = %v, want ErrNotJSON", raw, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error %q echoes the value", err)
		}
	}
}

// FuzzSearch: any accepted expression on a document of up to 64 KiB
// allocates at most searchBound (Budget, the result, and 512 KiB), returns
// at most MaxResultBytes, never panics, and an error never holds the value
// searched; "k" selects a string value exactly.
func FuzzSearch(f *testing.F) {
	f.Add("k", "s3cret-value-0001")
	f.Add(`"n".k`, "another secret value")
	f.Add("abs(n)", "a value of the wrong type")
	f.Add("[k, n.k] | join(',', @)", "joined secret value")
	f.Add("n.*", "\u00e9t\u00e9 secret")
	f.Add("pad_left('', `200000000`)", "v")
	f.Add(doubling(16), "v")
	f.Add("to_string("+doubling(16)+")", "v")
	f.Add("a[*].map(&$.a, $.a)", "v")
	f.Add("a[*].split($.s, '')", "v")
	f.Add("let $d = @ in a[*].map(&[$d.o], $d.a)", "v")
	f.Add("a | [@,@,@,@] | [@,@,@,@] | [@,@,@,@][][]", "v")
	f.Add("items(o)[*].to_string(@) | join(s, @)", "v")
	f.Add("sort_by(a[*].{n: @}, &n)[::-1] | group_by(@, &to_string(n))", "v")
	f.Fuzz(func(t *testing.T, path, value string) {
		if !utf8.ValidString(value) || len(value) > 4<<10 {
			return // JSON text holds UTF-8; bigDoc leaves 4 KiB for it
		}
		d, err := Parse(bigDoc(value))
		if err != nil {
			t.Fatalf("Parse of marshalled JSON: %v", err)
		}
		k, _ := Compile("k")
		if got, err := k.Search(d); value != "" && (err != nil || string(got) != value) {
			t.Fatalf("k = %q, %v; want %q", got, err, value)
		}
		e, err := Compile(path)
		if err != nil {
			return
		}
		if len(path) > MaxLength {
			t.Fatalf("Compile accepted %d bytes", len(path))
		}
		var got []byte
		n := allocated(func() { got, err = e.Search(d) })
		if n > searchBound(got) {
			t.Fatalf("Search(%s) allocated %d bytes, over %d", path, n, searchBound(got))
		}
		if len(got) > MaxResultBytes {
			t.Fatalf("Search(%s) returned %d bytes", path, len(got))
		}
		if err != nil && len(value) >= 12 && !strings.Contains(path, value) && strings.Contains(err.Error(), value) {
			t.Fatalf("error %q holds the value", err)
		}
	})
}
