package provider

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"

	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/secrets"
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
		{name: "another application's secret, strict", value: `{"db": {"password": "p"}}`, strict: true, says: `"db.password": rename it`},
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
		unknown = append(unknown, pmp.Unknown{Name: fmt.Sprintf("X.K%02d", i)})
	}
	msg := unknownKeysMessage("S", unknown)
	if !strings.Contains(msg, `has 12 keys`) || !strings.Contains(msg, `"X.K09", and 2 more: rename`) || strings.Contains(msg, "X.K10") {
		t.Errorf("message = %s", msg)
	}
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
func logs(t *testing.T) *syncBuffer {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for k, v := range map[string]string{"logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"} {
		if err := fs.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	buf := &syncBuffer{}
	klog.SetOutput(buf)
	t.Cleanup(func() { klog.Flush(); _ = fs.Set("logtostderr", "true") })
	return buf
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWarnUnknownKeysOncePerVersion(t *testing.T) {
	out := logs(t)
	var p Provider
	obj := params.Object{Name: "PMP-Production-Credentials"}
	version := func(id, value string) *secrets.Secret {
		// A fresh Secret per call: what the cache gives after each window.
		return &secrets.Secret{ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Production-Credentials-AbCdEf",
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
