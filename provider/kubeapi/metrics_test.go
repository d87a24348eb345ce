package kubeapi_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/promtest"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
)

func TestReadsCountedByResourceAndOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := kubeapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := apiServer(t, kubeapi.WithMetrics(m))
	ctx := context.Background()
	for _, sa := range []string{"pmp-secrets-access", "pmp-secrets-access", "nobody", "secret-reader", "flaky", "busy", "garbled"} {
		_, _ = c.ServiceAccountMeta(ctx, "pmp", sa)
	}
	_, _ = c.ServiceAccountMeta(ctx, "locked", "any")
	_, _ = c.NodeMeta(ctx, "node-1")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = c.NodeMeta(canceled, "node-1")

	want := map[[2]string]float64{
		{"serviceaccounts", kubeapi.OutcomeOK}:           2,
		{"serviceaccounts", kubeapi.OutcomeNotFound}:     1,
		{"serviceaccounts", kubeapi.OutcomeForbidden}:    1,
		{"serviceaccounts", kubeapi.OutcomeUnauthorized}: 1,
		{"serviceaccounts", kubeapi.OutcomeServerError}:  2, // 503, and a 200 that is not an object
		{"serviceaccounts", kubeapi.OutcomeThrottled}:    1,
		{"nodes", kubeapi.OutcomeOK}:                     1,
		{"nodes", kubeapi.OutcomeCanceled}:               1,
	}
	for k, v := range want {
		if got := promtest.Value(t, reg, "pmp_kube_requests_total", "resource", k[0], "outcome", k[1]); got != v {
			t.Errorf("pmp_kube_requests_total{resource=%q,outcome=%q} = %v, want %v", k[0], k[1], got, v)
		}
	}
	// No label names what was read.
	for _, l := range promtest.Labels(t, reg) {
		for _, name := range []string{"pmp-secrets-access", "secret-reader", "node-1", "pmp", "locked"} {
			if strings.HasSuffix(l, "="+name) {
				t.Errorf("label %s names an object", l)
			}
		}
	}
}

func TestReadsWithoutAnAnswerCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := kubeapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	refused, err := kubeapi.New(&rest.Config{Host: "http://" + addr}, kubeapi.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refused.NodeMeta(context.Background(), "node-1"); err == nil {
		t.Fatal("no error")
	}

	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			conn, err := hung.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	slow, err := kubeapi.New(&rest.Config{Host: "http://" + hung.Addr().String()}, kubeapi.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := slow.NodeMeta(ctx, "node-1"); err == nil {
		t.Fatal("no error")
	}
	for outcome, want := range map[string]float64{kubeapi.OutcomeNetwork: 1, kubeapi.OutcomeTimeout: 1} {
		if got := promtest.Value(t, reg, "pmp_kube_requests_total", "resource", "nodes", "outcome", outcome); got != want {
			t.Errorf("outcome %s = %v, want %v; %v", outcome, got, want, promtest.Labels(t, reg))
		}
	}
}
