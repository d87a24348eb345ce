package params_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// driverAttributes is what the driver sends for one pod of the PMP
// SecretProviderClass (examples/pmp-secretproviderclass.yaml): the
// parameters overlaid with the volume context and the token map.
func driverAttributes(b *testing.B) string {
	b.Helper()
	tokens, err := json.Marshal(map[string]any{"sts.amazonaws.com": map[string]string{
		"token":               "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOlsic3RzLmFtYXpvbmF3cy5jb20iXX0.c2lnbmF0dXJl",
		"expirationTimestamp": time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339),
	}})
	if err != nil {
		b.Fatal(err)
	}
	attrs, err := json.Marshal(map[string]string{
		params.AttrPodName:             "pmp-0",
		params.AttrPodNamespace:        "pmp",
		params.AttrPodUID:              "0b0e3c1e-0000-4000-8000-000000000001",
		params.AttrServiceAccount:      "pmp-secrets-access",
		params.AttrTokens:              string(tokens),
		"csi.storage.k8s.io/ephemeral": "false",
		params.AttrSPC:                 "pmp-credentials",
		params.ParamRegion:             "eu-west-1",
		params.ParamObjects:            "- objectName: PMP-Production-Credentials\n  filePermission: \"0440\"\n",
	})
	if err != nil {
		b.Fatal(err)
	}
	return string(attrs)
}

// BenchmarkParse is the parsing every Mount does, republishes included.
func BenchmarkParse(b *testing.B) {
	attrs := driverAttributes(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := params.Parse(attrs, "null", "420"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseObjectsVary parses a different objects parameter each
// time, as many SecretProviderClasses would: no reuse of earlier work.
func BenchmarkParseObjectsVary(b *testing.B) {
	var m map[string]string
	if err := json.Unmarshal([]byte(driverAttributes(b)), &m); err != nil {
		b.Fatal(err)
	}
	const n = 4096
	variants := make([]string, n)
	for i := range variants {
		m[params.ParamObjects] = "- objectName: PMP-Production-Credentials\n  filePermission: \"0440\"\n  objectAlias: pmp" + string(rune('a'+i%26)) + "\n  keys: [\"VCS.*\"]\n#" + string(rune('a'+i/26%26)) + string(rune('a'+i/676)) + "\n"
		v, _ := json.Marshal(m)
		variants[i] = string(v)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := params.Parse(variants[i%n], "null", "420"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkParserParse is what the server does on a republish: the
// objects parameter comes from the Parser's cache.
func BenchmarkParserParse(b *testing.B) {
	attrs := driverAttributes(b)
	var p params.Parser
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(attrs, "null", "420"); err != nil {
			b.Fatal(err)
		}
	}
}
