package params

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func parserAttrs(t *testing.T, objects string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{
		AttrPodName: "pmp-0", AttrPodNamespace: "pmp", AttrServiceAccount: "pmp-secrets-access",
		AttrSPC: "pmp-credentials", ParamObjects: objects,
		AttrTokens: `{"sts.amazonaws.com":{"token":"t","expirationTimestamp":"2030-01-01T00:00:00Z"}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A Parser answers exactly as Parse, the first time and from its cache.
func TestParserAnswersAsParse(t *testing.T) {
	var p Parser
	for _, objects := range []string{
		"- objectName: PMP-Production-Credentials\n  filePermission: \"0440\"",
		"- objectName: PMP-Production-Credentials\n  keys: [\"VCS.*\"]\n  layout: nested",
		"- objectName: A\n  objectAlias: a\n- objectName: B\n  objectAlias: b",
		"",
		"not: [a list",
		"- objectName: bad name!\n  layout: sideways\n  colour: red",
		"- {}",
	} {
		attrs := parserAttrs(t, objects)
		want, wantErr := Parse(attrs, "null", "420")
		for round := range 2 {
			got, err := p.Parse(attrs, "null", "420")
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("objects %q round %d: error %v, want %v", objects, round, err, wantErr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("objects %q round %d: request (-Parse +Parser):\n%s", objects, round, diff)
			}
		}
	}
}

// Each Parse gets its own Objects slice: changing one request does not
// change the next.
func TestParserRequestsDoNotShareObjects(t *testing.T) {
	var p Parser
	attrs := parserAttrs(t, "- objectName: PMP-Production-Credentials")
	first, err := p.Parse(attrs, "null", "420")
	if err != nil {
		t.Fatal(err)
	}
	first.Objects[0].Name = "changed"
	first.Objects = append(first.Objects, Object{Name: "extra"})
	second, err := p.Parse(attrs, "null", "420")
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Objects) != 1 || second.Objects[0].Name != "PMP-Production-Credentials" {
		t.Errorf("second request's objects = %+v, want the parsed PMP-Production-Credentials only", second.Objects)
	}
}

func TestParserIsBounded(t *testing.T) {
	var p Parser
	for i := range 3 * maxParsedObjects {
		if _, err := p.Parse(parserAttrs(t, fmt.Sprintf("- objectName: secret-%d", i)), "null", "420"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(p.objects); n > maxParsedObjects {
		t.Errorf("%d objects parameters kept, want at most %d", n, maxParsedObjects)
	}
	if _, kept := p.objects[fmt.Sprintf("- objectName: secret-%d", 3*maxParsedObjects-1)]; !kept {
		t.Error("the newest objects parameter was not kept: a full cache must make room")
	}
	long := fmt.Sprintf("- objectName: PMP-Production-Credentials\n#%0*d", maxParsedObjectsLen, 0)
	if _, err := p.Parse(parserAttrs(t, long), "null", "420"); err != nil {
		t.Fatal(err)
	}
	if _, kept := p.objects[long]; kept {
		t.Errorf("an objects parameter over %d bytes was kept", maxParsedObjectsLen)
	}
}

// FuzzParserMatchesParse: for any objects parameter, a Parser answers as
// Parse does, the first time and from its cache.
func FuzzParserMatchesParse(f *testing.F) {
	for _, s := range []string{
		"- objectName: PMP-Production-Credentials\n  filePermission: \"0440\"",
		"- objectName: A\n  keys: [\"VCS.*\", Email.SMTPPassword]\n  layout: nested\n  keepEmpty: true",
		"- objectName: arn:aws:secretsmanager:eu-west-1:111122223333:secret:PMP-AbCdEf\n  flatten: false",
		"[", "- 1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, objects string) {
		b, err := json.Marshal(map[string]string{
			AttrPodName: "p", AttrPodNamespace: "n", AttrServiceAccount: "s", ParamObjects: objects,
		})
		if err != nil {
			t.Skip()
		}
		attrs := string(b)
		want, wantErr := Parse(attrs, "", "420")
		var p Parser
		for round := range 2 {
			got, err := p.Parse(attrs, "", "420")
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("round %d: error %v, want %v", round, err, wantErr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("round %d: request (-Parse +Parser):\n%s", round, diff)
			}
		}
	})
}
