// Package testenv starts the real components tests run against: the kumo
// AWS emulator (a real process on a loopback port) behind an awsfront that
// counts calls and injects the faults kumo cannot produce.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfront"
)

// AWS is a running emulator and its front.
type AWS struct {
	// Endpoint is the front's URL: point AWS_ENDPOINT_URL here.
	Endpoint string
	// EmulatorEndpoint is kumo's own URL, bypassing the front.
	EmulatorEndpoint string
	Front            *awsfront.Front
	// Admin is a Secrets Manager client for seeding and rotating, straight
	// to the emulator so it is not counted.
	Admin *secretsmanager.Client
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// KumoBinary returns the emulator binary: $KUMO_BIN, or the one
// hack/tools.sh builds (and caches) on first use.
func KumoBinary() (string, error) {
	binOnce.Do(func() {
		if p := os.Getenv("KUMO_BIN"); p != "" {
			binPath = p
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		var out, errb bytes.Buffer
		cmd := exec.Command(filepath.Join(root, "hack", "tools.sh"), "kumo")
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			binErr = fmt.Errorf("building kumo with hack/tools.sh: %v: %s", err, errb.String())
			return
		}
		binPath = strings.TrimSpace(out.String())
	})
	return binPath, binErr
}

// StartAWS starts kumo on a free loopback port and a front before it, both
// stopped when the test ends.
func StartAWS(t testing.TB) *AWS {
	t.Helper()
	bin, err := KumoBinary()
	if err != nil {
		t.Fatal(err)
	}
	var endpoint string
	for attempt := 0; attempt < 5 && endpoint == ""; attempt++ {
		port := freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
		cmd.Env = append(os.Environ(), "KUMO_DATA_DIR=")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatalf("starting kumo: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		u := fmt.Sprintf("http://127.0.0.1:%d", port)
		if waitHTTP(u, done) {
			endpoint = u
			t.Cleanup(func() { cancel(); <-done })
			break
		}
		cancel()
		<-done
		t.Logf("kumo did not start on port %d: %s", port, logs.String())
	}
	if endpoint == "" {
		t.Fatal("kumo did not start")
	}
	up, _ := url.Parse(endpoint)
	front := awsfront.New(up)
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)

	admin := secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return &AWS{Endpoint: srv.URL, EmulatorEndpoint: endpoint, Front: front, Admin: admin}
}

// UseFrom points the AWS SDK of this process at the front, the way a user
// points the provider at a VPC endpoint, and keeps the test off IMDS.
func (a *AWS) UseFrom(t testing.TB, region string) {
	t.Setenv("AWS_ENDPOINT_URL", a.Endpoint)
	t.Setenv("AWS_REGION", region)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SECRETS_MANAGER"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitHTTP(u string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := http.Get(u + "/")
		if err == nil {
			resp.Body.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
