package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
)

// instance is one provider process serving on a socket.
type instance struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    strings.Builder // its stderr, written until exited closes
}

// startInstance runs the provider binary and returns once it serves.
func startInstance(t *testing.T, bin string, args ...string) *instance {
	t.Helper()
	in := &instance{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	stderr, err := in.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.cmd.Process.Kill()
		<-in.exited
	})
	serving := make(chan struct{})
	go func(serving chan struct{}) {
		defer close(in.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			in.log.WriteString(sc.Text() + "\n")
			if serving != nil && strings.Contains(sc.Text(), `"serving"`) {
				close(serving)
				serving = nil
			}
		}
		io.Copy(io.Discard, stderr)
		in.cmd.Wait()
	}(serving)
	select {
	case <-serving:
	case <-in.exited:
		t.Fatalf("the provider exited before serving:\n%s", in.log.String())
	}
	return in
}

// stop sends SIGTERM, as the kubelet does, and waits for the exit.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-in.exited
	if code := in.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the provider exited with %d after SIGTERM:\n%s", code, in.log.String())
	}
}

// TestRollingUpdateKeepsTheSocket: during a rolling update with surge (or
// with two releases of one provider name), a second provider process
// starts while the first serves and takes the socket over; when the first
// stops, the socket is still there and Mounts, through a fresh connection
// as the driver dials after the first one's goodbye, keep succeeding.
func TestRollingUpdateKeepsTheSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	a := awsemu.Start(t)
	a.UseFrom(t, "eu-west-1")
	doc, want := pmp.Document(func(name string) string { return "value-of-" + name })
	if _, err := a.Admin.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("PMP-Production-Credentials"), SecretString: aws.String(doc),
	}, func(o *secretsmanager.Options) { o.Region = "eu-west-1" }); err != nil {
		t.Fatal(err)
	}
	api := apifake.Start(t)
	api.PMP()

	bin := filepath.Join(t.TempDir(), "pmp-secrets-provider")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Unix socket paths are limited to 108 bytes: keep the directory short.
	dir, err := os.MkdirTemp("", "pmp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := server.SocketPath(dir, "pmp")
	args := []string{"--provider-dir", dir, "--kubeconfig", api.Kubeconfig(t), "--node-name", "node-1", "--shutdown-grace", "5s"}

	mount := func(when string) {
		t.Helper()
		// A fresh connection each time, as the driver's after a GOAWAY.
		conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req := driverreq.Request{
			PodName: "pmp-0", Namespace: "pmp", PodUID: "0b0e3c1e-0000-4000-8000-000000000001",
			ServiceAccount: "pmp-secrets-access", SecretProviderClass: "pmp-credentials",
			Parameters: map[string]string{"objects": "- objectName: PMP-Production-Credentials"}, Issuer: api.Issuer,
		}
		resp, err := v1alpha1.NewCSIDriverProviderClient(conn).Mount(ctx, req.Build())
		if err != nil || len(resp.GetFiles()) != len(want) {
			t.Fatalf("Mount %s = %d files, %v; want %d", when, len(resp.GetFiles()), err, len(want))
		}
	}

	first := startInstance(t, bin, args...)
	mount("with one instance")
	second := startInstance(t, bin, args...)
	mount("with both instances")
	first.stop(t)
	mount("after the first instance stopped")
	mount("again")
	second.stop(t)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the last instance left its socket after stopping: %v", err)
	}
}
