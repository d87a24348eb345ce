package server_test

import (
	"bytes"
	"flag"
	"regexp"
	"strings"
	"sync"
	"testing"

	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

// syncBuffer collects klog output from every goroutine.
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

// captureLogs turns klog up to its maximum verbosity and collects its
// output until the test ends.
func captureLogs(t *testing.T) *syncBuffer {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for k, v := range map[string]string{"v": "10", "logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"} {
		if err := fs.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	buf := &syncBuffer{}
	klog.SetOutput(buf)
	t.Cleanup(func() {
		klog.Flush()
		_ = fs.Set("v", "0")
		_ = fs.Set("logtostderr", "true")
	})
	return buf
}

var stsSecretRE = regexp.MustCompile(`ASIA[0-9a-fA-F]{12,}`)

// leaksToken reports whether s holds any token testIssuer signed, or the
// signature of one (the part only the token's holder can know).
func leaksToken(s string) bool {
	for _, tok := range testIssuer.Issued() {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(s, tok) || strings.Contains(s, sig) {
			return true
		}
	}
	return false
}

func TestLogsNeverContainSecretsOrTokens(t *testing.T) {
	logs := captureLogs(t)

	// Every success path: first mount, cached republish, rotation.
	e := newEnv(t, func(o *provider.Options) { o.SecretTTL = 1 })
	doc, want := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)
	for i := 0; i < 2; i++ {
		if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
			t.Fatal(err)
		}
	}
	rotated, _ := pmpTemplate(func(n string) string { return secretValue(n) + "-ROTATED" })
	e.putSecret("PMP-Production-Credentials", rotated)
	if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials\n  layout: nested")); err != nil {
		t.Fatal(err)
	}
	// Every failure path.
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) { runErrorCase(t, newEnv(t), tc) })
	}
	klog.Flush()
	out := logs.String()

	if leaksToken(out) {
		t.Error("logs contain a pod's service-account token")
	}
	for name, v := range want {
		if strings.Contains(out, v) {
			t.Errorf("logs contain the value of %s", name)
		}
	}
	if strings.Contains(out, "VALUE-SENTINEL") {
		t.Error("logs contain a secret value")
	}
	if m := stsSecretRE.FindString(out); m != "" {
		t.Errorf("logs contain STS credentials (%s...)", m[:8])
	}
	// One line per Mount with who, what and how it went.
	okLines := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"mount"`) && strings.Contains(line, `result="ok"`) {
			okLines++
			for _, k := range []string{`pod="pmp/pmp-0"`, `serviceAccount="pmp-secrets-access"`, `role="arn:aws:iam::`, `objects=["PMP-Production-Credentials"]`, "duration=", "files=30"} {
				if !strings.Contains(line, k) {
					t.Errorf("mount line lacks %s: %s", k, line)
				}
			}
		}
	}
	if okLines != 3 {
		t.Errorf("%d successful mount lines, want 3", okLines)
	}
	if n := strings.Count(out, `"mount failed"`); n < len(errorCases()) {
		t.Errorf("%d failed-mount lines, want at least %d", n, len(errorCases()))
	}
}
