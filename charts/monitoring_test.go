package charts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

var (
	rulesFile     = filepath.Join(chartDir, "files", "prometheus-rules.yaml")
	dashboardFile = filepath.Join(chartDir, "files", "grafana-dashboard.json")
	rulesTestFile = filepath.Join("testdata", "prometheus-rules.test.yaml")
)

// prometheusTool returns Debian's prometheus or promtool: from env (make test sets it, after
// tools/prometheus.sh installs the package when missing), else from PATH, else the test is
// skipped with how to run it.
func prometheusTool(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Skipf("%s is not installed and %s is not set: run make test (tools/prometheus.sh installs Debian's prometheus package, which has prometheus and promtool)", name, env)
	return ""
}

func TestPrometheusRules(t *testing.T) {
	promtool := prometheusTool(t, "PROMTOOL_BIN", "promtool")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type dashboard struct {
	UID        string          `json:"uid"`
	Title      string          `json:"title"`
	Inputs     json.RawMessage `json:"__inputs"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int            `json:"id"`
		Type       string         `json:"type"`
		Title      string         `json:"title"`
		Datasource map[string]any `json:"datasource"`
		Targets    []struct {
			Expr       string         `json:"expr"`
			Datasource map[string]any `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// queries are the dashboard's panel expressions and the selectors of its variables.
func (d dashboard) queries() (exprs []string, variables []string) {
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			variables = append(variables, v.Definition)
		}
	}
	return exprs, variables
}

// TestDashboardLoadsThroughTheSidecar: what the Grafana sidecar needs to load the dashboard
// into any Grafana: no __inputs (those are for manual imports), a fixed uid, and every
// query on the dashboard's own data-source variable.
func TestDashboardLoadsThroughTheSidecar(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.Inputs != nil {
		t.Errorf("uid %q, title %q, __inputs %s: want a uid, a title, no __inputs", d.UID, d.Title, d.Inputs)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Equal(vars, []string{"datasource", "job", "instance"}) {
		t.Errorf("variables %v, want datasource, job, instance", vars)
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource["uid"] != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %v, %d queries", p.Title, p.Datasource, len(p.Targets))
		}
		for _, tg := range p.Targets {
			if tg.Datasource["uid"] != "${datasource}" || !strings.Contains(tg.Expr, `job=~"$job"`) {
				t.Errorf("panel %q query %q: not on ${datasource} and $job", p.Title, tg.Expr)
			}
		}
	}
	exprs, _ := d.queries()
	for _, want := range []string{"pmp_mounts_total", "pmp_mount_duration_seconds_bucket", "pmp_aws_requests_total", "pmp_cache_hits_total", "pmp_mounts_in_flight", "pmp_cache_stale_served_total"} {
		if !slices.ContainsFunc(exprs, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("no panel reads %s", want)
		}
	}
}

var (
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promSelector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})?(\s*\()?`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "le": true}
)

// selectors returns the series selectors an expression reads, e.g.
// `pmp_mounts_total{result!="ok"}` of `sum by (job) (rate(pmp_mounts_total{result!="ok"}[5m]))`.
func selectors(expr string) []string {
	expr = promGrouping.ReplaceAllString(expr, "")
	expr = promRange.ReplaceAllString(expr, "")
	var out []string
	for _, m := range promSelector.FindAllStringSubmatch(expr, -1) {
		if m[3] != "" || promKeywords[m[1]] { // a function or aggregation, or a keyword
			continue
		}
		out = append(out, m[1]+m[2])
	}
	return out
}

func TestSelectors(t *testing.T) {
	got := selectors(`sum by (job, instance) (rate(pmp_aws_requests_total{service="Secrets Manager", outcome!="ok"}[15m])) > 0 unless histogram_quantile(0.5, sum by (le) (rate(b_bucket{x="}"}[$__rate_interval]))) / (1 - up{job=~".*"})`)
	want := []string{`pmp_aws_requests_total{service="Secrets Manager", outcome!="ok"}`, `b_bucket{x="}"}`, `up{job=~".*"}`}
	if !slices.Equal(got, want) {
		t.Errorf("selectors = %q, want %q", got, want)
	}
}

// TestMonitoringAgainstARealPrometheus runs Debian's Prometheus (loopback, its own data
// directory, 1s scrapes and rule evaluations) against the provider built from this tree,
// serving Mounts from the AWS emulator under load with faults and a short Secrets Manager
// outage, and checks that every query of the dashboard returns data, every series the
// dashboard and the alerts read exists, every rule evaluates without error, and the
// condition of the stale-values alert holds after the outage (the provider served the
// cached secret stale, with its default --stale-if-error).
func TestMonitoringAgainstARealPrometheus(t *testing.T) {
	prometheus := prometheusTool(t, "PROMETHEUS_BIN", "prometheus")
	a := awsemu.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	doc, _ := pmp.Document(func(name string) string { return "value-of-" + name })
	if _, err := a.Admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("PMP-Production-Credentials"), SecretString: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	api := apifake.Start(t)
	for name, role := range map[string]string{"pmp-secrets-access": "arn:aws:iam::111122223333:role/PMP-SecretsManager-Role", "no-role": ""} {
		sa := corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: metav1.ObjectMeta{Namespace: "pmp", Name: name}}
		if role != "" {
			sa.Annotations = map[string]string{"eks.amazonaws.com/role-arn": role}
		}
		api.Put("/api/v1/namespaces/pmp/serviceaccounts/"+name, sa)
	}

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "pmp-secrets-provider")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/pmp-secrets-provider/pmp-secrets-provider").CombinedOutput(); err != nil {
		t.Fatalf("building the provider: %v\n%s", err, out)
	}
	sockDir, err := os.MkdirTemp("", "pmpm") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	metricsAddr := freeAddr(t)
	provider := start(t, filepath.Join(tmp, "provider.log"), bin,
		[]string{"--provider-dir", sockDir, "--kubeconfig", api.Kubeconfig(t), "--secret-ttl", "1s", "--retry-budget", "2s", "--metrics-addr", metricsAddr},
		"AWS_REGION=eu-west-1", "AWS_ENDPOINT_URL="+a.Endpoint, "AWS_EC2_METADATA_DISABLED=true")

	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	promAddr := freeAddr(t)
	config := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: pmp-secrets-provider
    static_configs: [{targets: [%q]}]
`, rules, metricsAddr)
	configFile := filepath.Join(tmp, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, filepath.Join(tmp, "prometheus.log"), prometheus, []string{
		"--config.file=" + configFile, "--storage.tsdb.path=" + filepath.Join(tmp, "data"),
		"--web.listen-address=" + promAddr, "--log.level=warn",
	})
	prom := "http://" + promAddr

	sock := filepath.Join(sockDir, "pmp.sock")
	waitFor(ctx, t, "the provider's socket", func() error { _, err := os.Stat(sock); return err })
	waitFor(ctx, t, "Prometheus", func() error { return httpOK(prom + "/-/ready") })

	// Load: pods of one identity (mostly cached republishes, a fetch every second), a pod
	// whose service account has no role (denied), a secret that does not exist (not found),
	// AWS throttling and 5xx now and then (retries, error codes), and once the secret is
	// cached, Secrets Manager failing every call for longer than the retry budget (stale
	// answers).
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := v1alpha1.NewCSIDriverProviderClient(conn)
	request := func(sa, secret string) *v1alpha1.MountRequest {
		return driverreq.Request{
			PodName: "pmp-0", Namespace: "pmp", PodUID: "0b0e3c1e-0000-4000-8000-000000000001", ServiceAccount: sa,
			SecretProviderClass: "pmp-credentials", Parameters: map[string]string{"objects": "- objectName: " + secret + "\n"},
			Issuer: api.Issuer, // signs the pod's token as the kubelet would; the provider verifies it
		}.Build()
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Two callers at about 100 Mounts/s each: enough for every series, light enough that the
	// packages make test runs beside this one keep their CPU.
	for w := range 2 {
		wg.Go(func() {
			for i := 0; loadCtx.Err() == nil; i++ {
				req := request("pmp-secrets-access", "PMP-Production-Credentials")
				switch {
				case w == 0 && i%20 == 0:
					req = request("no-role", "PMP-Production-Credentials")
				case w == 1 && i%20 == 0:
					req = request("pmp-secrets-access", "PMP-Missing")
				}
				mctx, mcancel := context.WithTimeout(loadCtx, 5*time.Second)
				_, _ = client.Mount(mctx, req)
				mcancel()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; loadCtx.Err() == nil; i++ {
			if i == 2 { // the secret has been fetched: an outage past --retry-budget
				a.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 503, Code: "ServiceUnavailable", Until: time.Now().Add(4 * time.Second)})
			}
			a.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "ThrottlingException", Times: 2})
			a.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 503, Code: "ServiceUnavailable", Times: 1})
			select {
			case <-loadCtx.Done():
			case <-tick.C:
			}
		}
	})
	defer func() { stopLoad(); wg.Wait() }()

	d := readDashboard(t)
	exprs, variables := d.queries()
	var checks []string // PromQL that must return data
	for _, e := range exprs {
		e = strings.NewReplacer("$job", ".+", "$instance", ".+", "$__rate_interval", "10s").Replace(e)
		checks = append(checks, e)
		checks = append(checks, selectors(e)...)
	}
	for _, v := range variables {
		v = strings.ReplaceAll(v, "$job", ".+")
		checks = append(checks, selectors(strings.TrimSuffix(strings.TrimPrefix(v, "label_values("), ")"))[0])
	}
	var ruleFile struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	readYAML(t, rulesFile, &ruleFile)
	nRules, staleAlert := 0, ""
	for _, g := range ruleFile.Groups {
		for _, r := range g.Rules {
			nRules++
			checks = append(checks, selectors(r.Expr)...)
			if r.Alert == "PMPServingStaleValues" {
				staleAlert = strings.TrimSpace(r.Expr)
			}
		}
	}
	if staleAlert == "" {
		t.Fatal("the rules have no PMPServingStaleValues")
	}
	// Its condition holds (the series it reads exist and rose) once the outage is on.
	checks = append(checks, staleAlert)
	slices.Sort(checks)
	checks = slices.Compact(checks)

	var missing []string
	deadline := time.Now().Add(35 * time.Second)
	for {
		missing = missing[:0]
		for _, q := range checks {
			if n, err := queryCount(prom, q); err != nil || n == 0 {
				missing = append(missing, fmt.Sprintf("%s (%d series, %v)", q, n, err))
			}
		}
		if bad := unhealthyRules(t, prom, nRules); len(bad) > 0 {
			missing = append(missing, bad...)
		}
		if len(missing) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	for _, m := range missing {
		t.Errorf("no data: %s", m)
	}
	if t.Failed() {
		t.Logf("provider log tail:\n%s", tailFile(provider))
	}
	t.Logf("%d queries and selectors of the dashboard and %d rules checked", len(checks), nRules)
}

// queryCount runs an instant query and returns how many series (or 1 for a scalar) it gave.
func queryCount(prom, q string) (int, error) {
	resp, err := noProxyClient.Get(prom + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Status, Error string
		Data          struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	if out.Status != "success" {
		return 0, fmt.Errorf("%s", out.Error)
	}
	if out.Data.ResultType == "scalar" {
		return 1, nil
	}
	var series []json.RawMessage
	if err := json.Unmarshal(out.Data.Result, &series); err != nil {
		return 0, err
	}
	return len(series), nil
}

// unhealthyRules lists the rules Prometheus has not evaluated, or evaluated with an error.
func unhealthyRules(t *testing.T, prom string, want int) []string {
	resp, err := noProxyClient.Get(prom + "/api/v1/rules")
	if err != nil {
		return []string{"rules: " + err.Error()}
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				}
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return []string{"rules: " + err.Error()}
	}
	var bad []string
	n := 0
	for _, g := range out.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				bad = append(bad, fmt.Sprintf("rule %s: health %q %s", r.Name, r.Health, r.LastError))
			}
		}
	}
	if n != want {
		bad = append(bad, fmt.Sprintf("Prometheus loaded %d rules, the file has %d", n, want))
	}
	return bad
}

var noProxyClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}

func httpOK(u string) error {
	resp, err := noProxyClient.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs bin with args (and the environment without proxies, AWS or kube settings, plus
// env), logging to logFile, until the test ends: then SIGTERM, and SIGKILL after 10s.
func start(t *testing.T, logFile, bin string, args []string, env ...string) string {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasSuffix(strings.ToUpper(k), "_PROXY") || k == "KUBECONFIG" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return logFile
}

func waitFor(ctx context.Context, t *testing.T, what string, ready func() error) {
	t.Helper()
	var err error
	for ctx.Err() == nil {
		if err = ready(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready: %v", what, err)
}

func tailFile(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
