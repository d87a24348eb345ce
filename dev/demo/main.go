// Command demo runs the provider's main job on a laptop, with no cloud
// account and no cluster: it starts the kumo AWS emulator, stores the PMP
// credentials template with sample values, serves the provider on a unix
// socket, and then acts as the Secrets Store CSI Driver would: it sends the
// Mount for examples/pmp-secretproviderclass.yaml and writes the returned
// files into a directory with the driver's own atomic writer. It then
// rotates one credential and mounts again, as a republish would.
//
// The Kubernetes API is a client-go fake holding the service account (with
// its eks.amazonaws.com/role-arn annotation) and a stand-in service-account
// issuer that signs the pod's token as the kubelet would and serves the
// keys the provider verifies it with; everything else is the real provider
// code path.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/pkg/util/fileutil"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
)

const (
	secretName = "PMP-Production-Credentials"
	namespace  = "pmp"
	saName     = "pmp-secrets-access"
	roleARN    = "arn:aws:iam::111122223333:role/PMP-SecretsManager-Role"
)

func main() {
	dir := flag.String("dir", "demo-volume", "directory to mount the files into (created; its previous content is replaced)")
	spcFile := flag.String("spc", "examples/pmp-secretproviderclass.yaml", "SecretProviderClass to mount")
	flag.Parse()
	if err := run(*dir, *spcFile); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(dir, spcFile string) error {
	ctx := context.Background()
	fmt.Println("1. starting the kumo AWS emulator on 127.0.0.1 ...")
	emu, err := awsemu.StartEmulator()
	if err != nil {
		return err
	}
	defer emu.Stop()
	up, _ := url.Parse(emu.Endpoint)
	front := awsemu.NewFront(up) // counts the provider's AWS calls
	frontSrv := httptest.NewServer(front)
	defer frontSrv.Close()

	doc := sampleCredentials()
	admin := awsemu.AdminClient(emu.Endpoint)
	if _, err := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(doc)}); err != nil {
		return fmt.Errorf("storing %s: %w", secretName, err)
	}
	fmt.Printf("2. stored %s: the PMP template with sample values; GitLab and Azure left empty, as unused credentials are\n", secretName)

	spc, err := readSPC(spcFile)
	if err != nil {
		return err
	}
	os.Setenv("AWS_ENDPOINT_URL", frontSrv.URL)
	os.Setenv("AWS_REGION", "eu-west-1")
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	awsCfg, err := provider.LoadAWSConfig(ctx)
	if err != nil {
		return err
	}
	const ttl = 2 * time.Second
	tokenIssuer := issuer.New()
	kube := apifake.New(tokenIssuer)
	defer kube.Close()
	kube.PutServiceAccount(namespace, saName, roleARN)
	p := provider.New(awsCfg, kube.Client(), provider.Options{TokenAudience: "sts.amazonaws.com", Cache: true, SecretTTL: ttl, NegativeTTL: 10 * time.Second, CacheSize: 64})

	sockDir, err := os.MkdirTemp("", "pmp-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sockDir)
	sock := server.SocketPath(sockDir, "pmp")
	ln, err := server.Listen(sock)
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = server.Serve(sctx, ln, &server.Server{Mounter: p, RuntimeVersion: "demo"}, time.Second) }()
	fmt.Printf("3. provider serving on %s (secret freshness window %s for the demo; 2m by default)\n", sock, ttl)

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := v1alpha1.NewCSIDriverProviderClient(conn)

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fmt.Printf("4. Mount of SecretProviderClass %s for pod %s/pmp-0 (service account %s), as the driver sends it:\n", spc.Metadata.Name, namespace, saName)
	first, err := mount(ctx, client, spc, tokenIssuer)
	if err != nil {
		return err
	}
	if err := fileutil.WritePayloads(dir, first.GetFiles()); err != nil {
		return fmt.Errorf("writing files: %w", err)
	}
	list(dir, first)

	fmt.Println("5. republish (the kubelet calls again about every minute):")
	if _, err := mount(ctx, client, spc, tokenIssuer); err != nil {
		return err
	}
	fmt.Printf("   served from the cache: AWS calls so far %s\n", calls(front))

	fmt.Println("6. a process on the node names the same pod with a token it signed itself (the secret is cached):")
	if _, err := mount(ctx, client, spc, tokenIssuer.Forger()); err != nil {
		fmt.Printf("   refused, no AWS call: %v\n", err)
	} else {
		return fmt.Errorf("a forged token was served the pod's secret")
	}

	fmt.Println("7. rotating VCS.GithubAdminPAT in Secrets Manager (PutSecretValue) ...")
	var m map[string]map[string]string
	_ = json.Unmarshal([]byte(doc), &m)
	m["VCS"]["GithubAdminPAT"] = "ghp_demoRotated0000000000000000000000"
	rotated, _ := json.Marshal(m)
	if _, err := admin.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName), SecretString: aws.String(string(rotated))}); err != nil {
		return err
	}
	time.Sleep(ttl)
	second, err := mount(ctx, client, spc, tokenIssuer)
	if err != nil {
		return err
	}
	if err := fileutil.WritePayloads(dir, second.GetFiles()); err != nil {
		return err
	}
	fmt.Printf("   after the freshness window the next republish brings version %s (was %s):\n",
		second.GetObjectVersion()[0].GetVersion(), first.GetObjectVersion()[0].GetVersion())
	b, _ := os.ReadFile(filepath.Join(dir, "VCS.GithubAdminPAT"))
	fmt.Printf("   %s/VCS.GithubAdminPAT now holds %s\n", dir, show(string(b)))
	fmt.Printf("8. AWS calls for the 3 mounts served: %s\n", calls(front))
	fmt.Printf("\nThe files are in ./%s (cat them: the sample values are not secret).\n", dir)
	return nil
}

func readSPC(path string) (*spclass.SecretProviderClass, error) {
	classes, err := spclass.Read(path)
	if err != nil {
		return nil, err
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("%s holds no SecretProviderClass", path)
	}
	return &classes[0], nil
}

// mount sends the driver's Mount for pod pmp-0, with a token iss signs for
// it as the kubelet would.
func mount(ctx context.Context, client v1alpha1.CSIDriverProviderClient, spc *spclass.SecretProviderClass, iss *issuer.Issuer) (*v1alpha1.MountResponse, error) {
	req := driverreq.Request{
		PodName: "pmp-0", Namespace: namespace, PodUID: "7d5e1c2a-0000-4000-8000-000000000001",
		ServiceAccount: saName, SecretProviderClass: spc.Metadata.Name, Parameters: spc.Spec.Parameters,
		Issuer: iss,
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return client.Mount(ctx, req.Build())
}

func list(dir string, resp *v1alpha1.MountResponse) {
	for _, f := range resp.GetFiles() {
		fmt.Printf("   %s  %4d bytes  %-42s %s\n", os.FileMode(f.GetMode()), len(f.GetContents()), f.GetPath(), show(string(f.GetContents())))
	}
	fmt.Printf("   %d files in ./%s, object version %s\n", len(resp.GetFiles()), dir, resp.GetObjectVersion()[0].GetVersion())
}

// show prints a sample value. Only the demo does this: its values are
// made up here; the provider never prints or logs a value.
func show(v string) string { return fmt.Sprintf("%q", v) }

func calls(f *awsemu.Front) string {
	c := f.Counts()
	ops := make([]string, 0, len(c))
	for op, n := range c {
		ops = append(ops, fmt.Sprintf("%s=%d", op, n))
	}
	sort.Strings(ops)
	return strings.Join(ops, " ")
}

// sampleCredentials fills the PMP template with recognisable sample values,
// leaving GitLab and Azure empty as a PMP installation on GitHub would.
func sampleCredentials() string {
	doc, _ := pmp.Document(func(name string) string {
		if unused(name) {
			return ""
		}
		return "sample-" + strings.ToLower(strings.ReplaceAll(name, ".", "-"))
	})
	return doc
}

// unused reports the credentials a PMP installation on GitHub leaves
// empty: GitLab and Azure DevOps.
func unused(name string) bool {
	_, key, _ := strings.Cut(name, ".")
	return strings.HasPrefix(key, "Gitlab") || strings.HasPrefix(key, "Azure")
}
