package provider

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/logcapture"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

const misCased = `{"VCS": {"GithubAdminPat": "v", "GithubOrgOwnerPAT": "w"}, "Email": {"SMTPPassword": "s"}}`

func TestStrictKeys(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		strict      bool
		files       int
		says        string // in the error; "" for none
	}{
		{name: "mis-cased key, not strict", value: misCased, files: 3},
		{name: "mis-cased key, strict", value: misCased, strict: true,
			says: `secret PMP-Production-Credentials has a key that is not in the PMP catalog, so PMP never reads it (names are case-sensitive): "VCS.GithubAdminPat" (did you mean VCS.GithubAdminPAT?): rename it as the catalog spells it (pmp-secrets-provider template prints the catalog, validate checks a secret) (strictKeys: true)`},
		{name: "the catalog's keys, strict", value: `{"VCS": {"GithubAdminPAT": "v"}, "Email.SMTPPassword": "s"}`, strict: true, files: 2},
		{name: "another application's secret, strict", value: `{"db": {"password": "p"}}`, strict: true,
			says: `has a key that is not in the PMP catalog, so PMP never reads it (names are case-sensitive): key 1 of 1 in name order (11 bytes): rename it`},
		{name: "not JSON, strict", value: "plain", strict: true, says: "(flatten: true, keys or strictKeys), but the value is not a JSON object"},
		{name: "not JSON, not strict", value: "plain", files: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := params.Object{Name: "PMP-Production-Credentials", StrictKeys: tc.strict}
			out, err := ObjectFiles(obj, []byte(tc.value), 0o644, params.DefaultPathTranslation)
			if tc.says == "" {
				if err != nil || len(out) != tc.files {
					t.Fatalf("%d files, err %v; want %d files", len(out), err, tc.files)
				}
				return
			}
			var merr *mounterr.Error
			if !errors.As(err, &merr) || merr.Kind != mounterr.Invalid || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want Invalid saying %q", err, tc.says)
			}
			if strings.Contains(err.Error(), `"v"`) {
				t.Errorf("the error quotes a value: %v", err)
			}
		})
	}
}

func TestUnknownKeysMessageListsTenAtMost(t *testing.T) {
	var unknown []pmp.Unknown
	for i := 0; i < 12; i++ {
		unknown = append(unknown, pmp.Unknown{Name: fmt.Sprintf("X.K%02d", i), Index: i, Suggestions: []string{"X.K"}})
	}
	msg := unknownKeysMessage("S", unknown, 12)
	if !strings.Contains(msg, `has 12 keys`) || !strings.Contains(msg, `"X.K09" (did you mean X.K?), and 2 more: rename`) || strings.Contains(msg, "X.K10") {
		t.Errorf("message = %s", msg)
	}
}

// pasted is a credential pasted where a key name goes: no near-miss of
// any catalog key.
const pasted = "ghp_R4nd0mT0k3nV4lu3Th4tW4sP4st3dH3r3xyz"

// TestUnknownKeyNamesStayQuiet: a key name goes into the log line and
// the strictKeys error only when it is a near-miss of a catalog key, with
// the suggestion; any other is named by its position among the secret's
// keys and its length, with its catalog module when it is under one.
func TestUnknownKeyNamesStayQuiet(t *testing.T) {
	value := `{"VCS": {"GithubAdminPat": "v", "` + pasted + `": "w", "GithubOrgOwnerPAT": "x"}, "` + pasted + `": "y", "Email": {"SMTPPassword": "s"}}`
	// In name order: Email.SMTPPassword, VCS.GithubAdminPat, VCS.GithubOrgOwnerPAT, VCS.ghp_..., ghp_...
	says := []string{
		`secret PMP-Production-Credentials has 3 keys that are not in the PMP catalog`,
		`"VCS.GithubAdminPat" (did you mean VCS.GithubAdminPAT?)`,
		fmt.Sprintf(`key 4 of 5 in name order (under VCS, %d bytes)`, len("VCS."+pasted)),
		fmt.Sprintf(`key 5 of 5 in name order (%d bytes)`, len(pasted)),
	}
	check := func(t *testing.T, where, text string) {
		t.Helper()
		if strings.Contains(text, "ghp_") || strings.Contains(text, pasted[10:20]) {
			t.Errorf("%s names the pasted key: %s", where, text)
		}
		for _, want := range says {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %s: %s", where, want, text)
			}
		}
	}
	_, err := ObjectFiles(params.Object{Name: "PMP-Production-Credentials", StrictKeys: true}, []byte(value), 0o644, params.DefaultPathTranslation)
	if err == nil {
		t.Fatal("strictKeys mounted a secret with keys outside the catalog")
	}
	check(t, "the strictKeys error", err.Error())

	out := logs(t)
	var p Provider
	p.warnUnknownKeys(params.Object{Name: "PMP-Production-Credentials"}, &object.Version{Name: "PMP-Production-Credentials", VersionID: "v1", Value: []byte(value)})
	klog.Flush()
	if !strings.Contains(out.String(), "PMP secret has keys that are not in the PMP catalog") {
		t.Fatalf("no warning logged:\n%s", out)
	}
	check(t, "the log", strings.ReplaceAll(out.String(), `\"`, `"`)) // klog quotes the problem
}

func TestVersionSet(t *testing.T) {
	var v versionSet
	if !v.add(version{id: "a"}) || v.add(version{id: "a"}) || !v.add(version{id: "b"}) {
		t.Error("add does not report new keys")
	}
	for i := 0; i < maxChecked; i++ {
		v.add(version{id: fmt.Sprint(i)})
	}
	if len(v.seen) > maxChecked {
		t.Errorf("%d keys kept, bound %d", len(v.seen), maxChecked)
	}
}

// logs collects klog's output until the test ends.
func logs(t *testing.T) *logcapture.Buffer { return logcapture.Klog(t, 0) }

func TestWarnUnknownKeysOncePerVersion(t *testing.T) {
	out := logs(t)
	var p Provider
	obj := params.Object{Name: "PMP-Production-Credentials"}
	version := func(id, value string) *object.Version {
		// A fresh Secret per call: what the cache gives after each window.
		return &object.Version{ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Production-Credentials-AbCdEf",
			Name: "PMP-Production-Credentials", VersionID: id, Value: []byte(value)}
	}
	for i := 0; i < 5; i++ {
		p.warnUnknownKeys(obj, version("v1", misCased))
	}
	p.warnUnknownKeys(obj, version("v2", misCased))                                                  // a rotation, same mistake
	p.warnUnknownKeys(obj, version("v3", `{"VCS": {"GithubAdminPAT": "v"}}`))                        // fixed
	p.warnUnknownKeys(obj, version("v4", `{"db": {"pasword": "p"}}`))                                // not a PMP secret
	p.warnUnknownKeys(params.Object{Name: "x", Flatten: params.FlattenOff}, version("v5", misCased)) // mounted whole
	klog.Flush()
	lines := strings.Count(out.String(), "PMP secret has keys that are not in the PMP catalog")
	if lines != 2 {
		t.Errorf("%d warning lines, want 2 (versions v1 and v2):\n%s", lines, out)
	}
	for _, want := range []string{`secret="PMP-Production-Credentials"`, `versionId="v1"`, `versionId="v2"`, `(did you mean VCS.GithubAdminPAT?)`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}
