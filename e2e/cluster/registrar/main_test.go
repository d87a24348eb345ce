package main

import (
	"context"
	"testing"

	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// The kubelet must be told the endpoint it dials, which with the driver's
// chart is --kubelet-registration-path, not the sidecar's own --csi-address.
func TestChartArgumentsRegisterTheKubeletsEndpoint(t *testing.T) {
	r, sock, err := parseArgs([]string{"--v=2", "--csi-address=/csi/csi.sock",
		"--kubelet-registration-path=/var/lib/kubelet/plugins/csi-secrets-store/csi.sock"})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := r.GetInfo(context.Background(), &registerapi.InfoRequest{})
	if info.Endpoint != "/var/lib/kubelet/plugins/csi-secrets-store/csi.sock" || info.Name != "secrets-store.csi.k8s.io" {
		t.Errorf("GetInfo = %s at %s, want secrets-store.csi.k8s.io at the kubelet registration path", info.Name, info.Endpoint)
	}
	if sock != "/registration/secrets-store.csi.k8s.io-reg.sock" {
		t.Errorf("listens on %s, want /registration/secrets-store.csi.k8s.io-reg.sock (where the chart mounts plugins_registry)", sock)
	}
}

func TestLocalClusterArguments(t *testing.T) {
	r, sock, err := parseArgs([]string{"--csi-address=/tmp/k/plugins/csi.sock",
		"--registration-socket=/tmp/k/plugins_registry/secrets-store.csi.k8s.io-reg.sock"})
	if err != nil {
		t.Fatal(err)
	}
	if r.endpoint != "/tmp/k/plugins/csi.sock" || sock != "/tmp/k/plugins_registry/secrets-store.csi.k8s.io-reg.sock" {
		t.Errorf("endpoint %s, socket %s: want the arguments as given", r.endpoint, sock)
	}
}

func TestMissingEndpointIsAnError(t *testing.T) {
	if _, _, err := parseArgs([]string{"--registration-socket=/tmp/x.sock"}); err == nil {
		t.Fatal("no --csi-address and no --kubelet-registration-path: want an error")
	}
}
