package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"google.golang.org/grpc"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// pmpGroups is the PMP credentials document: 30 credentials in 11 groups
// (examples/pmp-credentials.template.json).
var pmpGroups = []struct {
	name string
	keys []string
}{
	{"VCS", []string{"BitbucketProjectAdminPAT", "BitbucketAdminPassword", "GitlabGroupOwnerPAT", "GitlabAdminPAT", "GithubOrgOwnerPAT", "GithubAdminPAT", "GithubEnterpriseClientSecret", "AzureDevOpsOrgAdminPAT", "AzureAuthSecret"}},
	{"BuildPackage", []string{"FileBasicAuthPassword", "AwsSecretAccessKey"}},
	{"RuntimeBaseImage", []string{"PrivateRegistryPassword", "S3CompatibleAccessKey"}},
	{"MDAStorage", []string{"FileBasicAuthPassword", "AwsSecretAccessKey"}},
	{"OCIRegistry", []string{"PrivateRegistryPassword", "S3CompatibleAccessKey"}},
	{"BuildCluster", []string{"KubernetesConfigureToken"}},
	{"CIAdmin", []string{"JenkinsConfigureAPIToken", "JenkinsTriggerAuthToken", "AzureOrgAdminPAT", "AzureBlobStorageToken", "AzureAwsS3SK"}},
	{"ClusterManager", []string{"KubernetesApiToken"}},
	{"ClusterSettings", []string{"KubernetesAdminPassword", "GrafanaAPIKey", "MDAAWSS3AccessKey", "OCIRegistryPassword"}},
	{"Marketplace", []string{"ImportCDNPassword"}},
	{"Email", []string{"SMTPPassword"}},
}

// pmpDocument returns the secret's JSON and the files it must give
// (dotted name -> value). Values are synthetic, about the length of a real
// personal access token, and differ per generation.
func pmpDocument(generation string) (string, map[string]string) {
	doc := map[string]map[string]string{}
	want := map[string]string{}
	for _, g := range pmpGroups {
		doc[g.name] = map[string]string{}
		for _, k := range g.keys {
			v := fmt.Sprintf("bench-%s-%s-%s", generation, g.name, k)
			for len(v) < 48 {
				v += "x"
			}
			doc[g.name][k] = v
			want[g.name+"."+k] = v
		}
	}
	b, _ := json.Marshal(doc)
	return string(b), want
}

// nullResponse is the provider's answer for the PMP document with the
// SecretProviderClass's filePermission "0440", precomputed.
func nullResponse() *v1alpha1.MountResponse {
	_, files := pmpDocument("null")
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	resp := &v1alpha1.MountResponse{}
	for _, p := range paths {
		resp.Files = append(resp.Files, &v1alpha1.File{Path: p, Mode: 0o440, Contents: []byte(files[p])})
		resp.ObjectVersion = append(resp.ObjectVersion, &v1alpha1.ObjectVersion{Id: p, Version: "00000000-0000-4000-8000-00000000null"})
	}
	return resp
}

type nullProvider struct {
	v1alpha1.UnimplementedCSIDriverProviderServer
	resp *v1alpha1.MountResponse
}

func (n *nullProvider) Version(context.Context, *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: "null-provider", RuntimeVersion: "bench"}, nil
}

func (n *nullProvider) Mount(context.Context, *v1alpha1.MountRequest) (*v1alpha1.MountResponse, error) {
	return n.resp, nil
}

// runNullProvider serves the null provider on sock until SIGTERM.
func runNullProvider(sock string) error {
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", sock)
	syscall.Umask(old)
	if err != nil {
		return err
	}
	g := grpc.NewServer()
	v1alpha1.RegisterCSIDriverProviderServer(g, &nullProvider{resp: nullResponse()})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { <-ctx.Done(); g.GracefulStop() }()
	err = g.Serve(ln)
	_ = os.Remove(sock)
	return err
}
