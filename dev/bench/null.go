package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"google.golang.org/grpc"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

// pmpDocument returns the secret's JSON (the PMP template of
// provider/pmp, all 30 credentials set) and the files it must give
// (dotted name -> value). Values are synthetic, about the length of a
// real personal access token, and differ per generation.
func pmpDocument(generation string) (string, map[string]string) {
	return pmp.Document(func(name string) string {
		return fmt.Sprintf("%-48s", "bench-"+generation+"-"+name)
	})
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
