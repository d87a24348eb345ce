package jmes

import (
	"errors"
	"strings"
	"testing"
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
