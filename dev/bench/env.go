package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
)

const (
	region     = "eu-west-1"
	roleARN    = "arn:aws:iam::111122223333:role/PMP-SecretsManager-Role"
	secretName = "PMP-Production-Credentials"
)

// env is everything the scenarios run against: kumo, the front process,
// the Kubernetes stand-in and the binaries.
type env struct {
	tmp         string
	providerBin string
	baselineBin string
	frontBin    string
	selfBin     string

	emu        *awsemu.Emulator
	front      *exec.Cmd
	frontDone  chan struct{}
	frontURL   string
	controlURL string
	kube       *kubeAPI
	kubeSrv    *http.Server
	kubeconfig string
	admin      *secretsmanager.Client
	http       *http.Client
	providerV  int
}

// noProxy is for every HTTP client of the harness: loopback only.
var noProxy = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}

func newEnv(o options) (*env, error) {
	tmp, err := os.MkdirTemp("", "pmpbench")
	if err != nil {
		return nil, err
	}
	e := &env{tmp: tmp, http: noProxy, providerV: o.providerV}
	self, err := os.Executable()
	if err != nil {
		return e, err
	}
	e.selfBin = self

	fmt.Fprintln(os.Stderr, "bench: building the provider and the AWS front ...")
	e.providerBin = filepath.Join(tmp, "pmp-secrets-provider")
	e.frontBin = filepath.Join(tmp, "awsfront")
	for _, b := range [][2]string{{e.providerBin, "."}, {e.frontBin, "./dev/awsfront"}} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", b[0], b[1])
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return e, fmt.Errorf("go build %s (run from the repository root): %w", b[1], err)
		}
	}

	if o.baseline != "" {
		if err := e.buildBaseline(o.baseline); err != nil {
			return e, err
		}
	}

	fmt.Fprintln(os.Stderr, "bench: starting kumo, the AWS front and the Kubernetes stand-in ...")
	if e.emu, err = awsemu.StartEmulator(); err != nil {
		return e, err
	}
	if err := e.startFront(); err != nil {
		return e, err
	}
	if err := e.startKube(); err != nil {
		return e, err
	}
	e.admin = secretsmanager.New(secretsmanager.Options{
		Region:       region,
		BaseEndpoint: aws.String(e.emu.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		HTTPClient:   noProxy,
	})
	return e, nil
}

func (e *env) close(keep bool) {
	if e.kubeSrv != nil {
		_ = e.kubeSrv.Close()
	}
	if e.front != nil && e.front.Process != nil {
		_ = e.front.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.frontDone:
		case <-time.After(5 * time.Second):
			_ = e.front.Process.Kill()
			<-e.frontDone
		}
	}
	if e.emu != nil {
		e.emu.Stop()
	}
	if keep {
		fmt.Fprintln(os.Stderr, "bench: kept", e.tmp)
		return
	}
	_ = os.RemoveAll(e.tmp)
}

func (e *env) startFront() error {
	addrFile := filepath.Join(e.tmp, "awsfront.addr")
	log, err := os.Create(filepath.Join(e.tmp, "awsfront.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(e.frontBin, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--upstream", e.emu.Endpoint, "--addr-file", addrFile)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = childEnv(nil)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting awsfront: %w", err)
	}
	e.front, e.frontDone = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(e.frontDone) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil {
			urls := strings.Fields(string(b))
			if len(urls) == 2 {
				e.frontURL, e.controlURL = urls[0], urls[1]
				return nil
			}
		}
		select {
		case <-e.frontDone:
			return errors.New("awsfront exited at start (see its log with -keep)")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("awsfront did not start within 20s")
}

// awsCounts reads the front's counts; resetCounts zeroes them.
func (e *env) awsCounts() (map[string]int64, error) {
	resp, err := e.http.Get(e.controlURL + "/counts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]int64
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

func (e *env) resetCounts() error {
	req, _ := http.NewRequest(http.MethodDelete, e.controlURL+"/counts", nil)
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("awsfront DELETE /counts: %s", resp.Status)
	}
	return nil
}

// putSecret stores a new version of the PMP secret straight in the
// emulator (not through the front, so it is not counted) and returns its
// version id.
func (e *env) putSecret(value string) (string, error) { return e.putNamed(secretName, value) }

// putNamed stores a new version of secret name, creating it if need be.
func (e *env) putNamed(name, value string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	put, err := e.admin.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
	if err == nil {
		return aws.ToString(put.VersionId), nil
	}
	out, cerr := e.admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if cerr != nil {
		return "", fmt.Errorf("storing %s: put: %v; create: %v", name, err, cerr)
	}
	return aws.ToString(out.VersionId), nil
}

// childEnv is the harness's environment without AWS settings or proxies,
// plus extra.
func childEnv(extra []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasSuffix(strings.ToUpper(k), "_PROXY") || k == "KUBECONFIG" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// kubeAPI answers the reads the provider makes of the Kubernetes API, with
// real k8s.io/api objects, and counts them. Every service account it is
// asked for exists and carries the role annotation; the service-account
// issuer's discovery is tokenIssuer's.
type kubeAPI struct {
	mu     sync.Mutex
	counts map[string]int64
}

func (k *kubeAPI) count(what string) {
	k.mu.Lock()
	k.counts[what]++
	k.mu.Unlock()
}

func (k *kubeAPI) take() map[string]int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.counts
	k.counts = map[string]int64{}
	return c
}

func (k *kubeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/serviceaccounts/{name}", func(w http.ResponseWriter, r *http.Request) {
		k.count("get serviceaccounts")
		writeJSON(w, http.StatusOK, &corev1.ServiceAccount{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{
				Namespace: r.PathValue("ns"), Name: r.PathValue("name"), UID: "bench-sa-uid", ResourceVersion: "1",
				Annotations: map[string]string{"eks.amazonaws.com/role-arn": roleARN},
			},
		})
	})
	mux.HandleFunc("GET /api/v1/nodes/{name}", func(w http.ResponseWriter, r *http.Request) {
		k.count("get nodes")
		writeJSON(w, http.StatusOK, &corev1.Node{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
			ObjectMeta: metav1.ObjectMeta{Name: r.PathValue("name"), Labels: map[string]string{"topology.kubernetes.io/region": region}},
		})
	})
	discovery := http.NewServeMux()
	tokenIssuer.Register(discovery)
	for _, path := range []string{issuer.DiscoveryPath, issuer.JWKSPath} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			k.count("get " + path)
			discovery.ServeHTTP(w, r)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		k.count("other")
		writeJSON(w, http.StatusNotFound, &metav1.Status{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
			Status:   metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound,
			Message: "the benchmark's Kubernetes stand-in serves service accounts, nodes and service-account issuer discovery only",
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (e *env) startKube() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.kube = &kubeAPI{counts: map[string]int64{}}
	e.kubeSrv = &http.Server{Handler: e.kube.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.kubeSrv.Serve(ln) }()
	e.kubeconfig = filepath.Join(e.tmp, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: http://%s
contexts:
- name: bench
  context:
    cluster: bench
    user: bench
current-context: bench
users:
- name: bench
  user: {}
`, ln.Addr())
	return os.WriteFile(e.kubeconfig, []byte(cfg), 0o600)
}

// target is what a scenario runs against.
type target string

const (
	cached   target = "cached"
	uncached target = "cache off"
	null     target = "null"
	// baseline is the provider built from -baseline, caching on.
	baseline target = "baseline"
	// staleOn and staleOff are the provider, caching on, with
	// --stale-if-error at its default and off (the outage scenarios).
	staleOn  target = "stale-if-error 1h"
	staleOff target = "stale-if-error 0"
)

// proc is a running provider (real or null) and the driver's connection.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	dir    string
	log    string
	conn   *grpc.ClientConn
	client v1alpha1.CSIDriverProviderClient
}

// startProvider starts a provider process for t with freshness window ttl
// (and extra flags, after the harness's own: a later flag wins) and
// connects to its socket as the driver does.
func (e *env) startProvider(t target, ttl time.Duration, name string, extra ...string) (*proc, error) {
	// Unix socket paths are limited to 108 bytes: a short directory.
	dir, err := os.MkdirTemp("", "pmpb")
	if err != nil {
		return nil, err
	}
	p := &proc{dir: dir, done: make(chan struct{})}
	var cmd *exec.Cmd
	sock := filepath.Join(dir, "pmp.sock")
	if t == null {
		cmd = exec.Command(e.selfBin, "-null-provider", sock)
		cmd.Env = childEnv(nil)
	} else {
		bin := e.providerBin
		if t == baseline {
			bin = e.baselineBin
		}
		cmd = exec.Command(bin,
			"--provider-dir", dir, "--provider-name", "pmp", "--kubeconfig", e.kubeconfig,
			"--secret-ttl", ttl.String(), "--cache="+strconv.FormatBool(t != uncached),
			"--retry-budget", "10s", "-v", strconv.Itoa(e.providerV),
			// Metrics served, as in production (the chart always sets it);
			// only the outage scenarios read them (metric).
			"--metrics-addr", "127.0.0.1:0")
		cmd.Args = append(cmd.Args, extra...)
		cmd.Env = childEnv([]string{"AWS_REGION=" + region, "AWS_ENDPOINT_URL=" + e.frontURL, "AWS_EC2_METADATA_DISABLED=true"})
	}
	log, err := os.Create(filepath.Join(e.tmp, fmt.Sprintf("provider-%s-%s.log", strings.ReplaceAll(string(t), " ", "-"), name)))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting the %s provider: %w", t, err)
	}
	p.cmd, p.log = cmd, log.Name()
	go func() { _ = cmd.Wait(); log.Close(); close(p.done) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-p.done:
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("the %s provider exited at start: %s", t, tail(log.Name()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("the %s provider made no socket within 30s", t)
		}
	}
	// As the driver dials: insecure, authority localhost.
	p.conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("localhost"))
	if err != nil {
		p.stop()
		return nil, err
	}
	p.client = v1alpha1.NewCSIDriverProviderClient(p.conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.client.Version(ctx, &v1alpha1.VersionRequest{Version: "v1alpha1"}, grpc.WaitForReady(true)); err != nil {
		p.stop()
		return nil, fmt.Errorf("the %s provider does not answer Version: %w", t, err)
	}
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) stop() {
	if p.conn != nil {
		p.conn.Close()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = os.RemoveAll(p.dir)
}

// procStats are a process's memory and open files, from /proc.
type procStats struct {
	RSS, HWM int64 // bytes: current and peak resident set
	FDs      int
	// CPU is the process's user and system time so far.
	CPU time.Duration
}

func readProc(pid int) (procStats, error) {
	var s procStats
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		if k == "VmRSS" {
			s.RSS = kb << 10
		} else {
			s.HWM = kb << 10
		}
	}
	// utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks
	// of 1/100 s (USER_HZ on Linux); the fields after the command name
	// (which may hold spaces) start after its closing parenthesis.
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 12 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				s.CPU = time.Duration(u+st) * 10 * time.Millisecond
			}
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(ents)
	return s, nil
}

// tail returns the end of a log file, for an error message. Provider logs
// hold names and codes, never values or tokens.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// buildBaseline builds the provider at git revision rev, from a copy of
// that tree (git archive), leaving the repository as it is.
func (e *env) buildBaseline(rev string) error {
	src := filepath.Join(e.tmp, "baseline-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	sh := fmt.Sprintf("git archive --format=tar %q | tar -x -C %q", rev, src)
	cmd := exec.Command("bash", "-o", "pipefail", "-c", sh)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("-baseline %s: %w", rev, err)
	}
	e.baselineBin = filepath.Join(e.tmp, "pmp-secrets-provider-baseline")
	cmd = exec.Command("go", "build", "-trimpath", "-o", e.baselineBin, ".")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building -baseline %s: %w", rev, err)
	}
	return nil
}

// fault makes the front answer op with an AWS error until clearFaults.
func (e *env) fault(op string, status int, code string) error {
	return e.inject(frontFault{Operation: op, Status: status, Code: code})
}

// frontFault is a fault as the front's control API takes it
// (awsemu.ControlHandler): an AWS error, a delay, or both, for one
// operation or all, for every call or a fraction of them.
type frontFault struct {
	Operation   string  `json:"operation,omitempty"`
	Status      int     `json:"status,omitempty"`
	Code        string  `json:"code,omitempty"`
	Message     string  `json:"message,omitempty"`
	Delay       string  `json:"delay,omitempty"`
	Probability float64 `json:"probability,omitempty"`
}

// inject adds f to the front's faults until clearFaults.
func (e *env) inject(f frontFault) error {
	if f.Status != 0 && f.Message == "" {
		f.Message = "injected by the benchmark"
	}
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	resp, err := e.http.Post(e.controlURL+"/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("awsfront POST /faults: %s", resp.Status)
	}
	return nil
}

func (e *env) clearFaults() error {
	req, _ := http.NewRequest(http.MethodDelete, e.controlURL+"/faults", nil)
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// metricsAddrRE reads the provider's metrics address (--metrics-addr
// 127.0.0.1:0 picks a free port) from the line it logs when it serves.
var metricsAddrRE = regexp.MustCompile(`"serving HTTP" flag="--metrics-addr" addr="([^"]+)"`)

// metric scrapes the provider's /metrics and returns the sum of the
// samples of name whose labels hold every one of labels (`cache="secrets"`),
// zero when there is none.
func (e *env) metric(p *proc, name string, labels ...string) (float64, error) {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return 0, err
	}
	m := metricsAddrRE.FindSubmatch(b)
	if m == nil {
		return 0, errors.New("the provider logged no metrics address")
	}
	resp, err := e.http.Get("http://" + string(m[1]) + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// name{labels} value: label values may hold spaces, the value not.
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		series, value := line[:i], line[i+1:]
		metric, labelSet, _ := strings.Cut(series, "{")
		if metric != name || !containsAll(labelSet, labels) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", series, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	// No sample is zero: a labelled counter has no series before its
	// first count.
	return sum, nil
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
