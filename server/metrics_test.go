package server_test

import (
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/promtest"
)

func TestMetricsCountMountsByResultAndAWSCallsByOutcome(t *testing.T) {
	e := newEnv(t)
	doc, _ := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)
	ok := pmpReq("- objectName: PMP-Production-Credentials")
	for range 2 { // the second is a republish, from the caches
		if _, err := e.mount(ok); err != nil {
			t.Fatal(err)
		}
	}
	noRole, ghost, bad := ok, ok, pmpReq("- objectName: [")
	noRole.ServiceAccount, ghost.ServiceAccount = "no-role", "ghost"
	for _, r := range []mountReq{noRole, ghost, bad} {
		if _, err := e.mount(r); err == nil {
			t.Fatal("Mount succeeded")
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pmp_mounts_total", []string{"result", "ok", "code", "OK"}, 2},
		{"pmp_mounts_total", []string{"result", "denied", "code", "PermissionDenied"}, 1},
		{"pmp_mounts_total", []string{"result", "not_found", "code", "NotFound"}, 1},
		{"pmp_mounts_total", []string{"result", "invalid", "code", "InvalidArgument"}, 1},
		{"pmp_mount_duration_seconds", []string{"result", "ok"}, 2},
		{"pmp_mount_duration_seconds", []string{"result", "error"}, 3},
		{"pmp_mounts_in_flight", nil, 0},
		{"pmp_aws_requests_total", []string{"service", "STS", "operation", "AssumeRoleWithWebIdentity", "outcome", "ok"}, 1},
		{"pmp_aws_requests_total", []string{"service", "Secrets Manager", "operation", "GetSecretValue", "outcome", "ok"}, 1},
		{"pmp_cache_hits_total", []string{"cache", "secrets"}, 1},
		{"pmp_cache_misses_total", []string{"cache", "secrets"}, 1},
	} {
		if got := promtest.Value(t, e.reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%q = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// No metric label holds a token, a secret value, or the name of a pod,
// namespace, service account, role or secret, on any success or failure
// path: labels come from small fixed sets.
func TestMetricLabelsNeverHoldSecretsTokensOrNames(t *testing.T) {
	e := newEnv(t)
	doc, want := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)
	if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range errorCases() {
		if tc.secret != "" {
			e.putSecret("PMP-Production-Credentials", tc.secret)
		}
		if tc.fault != nil {
			e.aws.Front.Inject(*tc.fault)
		}
		_, _ = e.mount(tc.req())
		e.aws.Front.Clear()
	}
	allowed := map[string]bool{"cache": true, "result": true, "code": true, "service": true, "operation": true, "outcome": true, "reason": true}
	forbidden := []string{"TOKEN-SENTINEL", "VALUE-SENTINEL", "pmp-0", "pmp-secrets-access", "no-role", "ghost",
		"PMP-Production-Credentials", "pmp-credentials", testRole, "0b0e3c1e", "arn:"}
	for _, v := range want {
		forbidden = append(forbidden, v)
	}
	// Every token the pods sent, and each of its three parts.
	for _, tok := range testIssuer.Issued() {
		forbidden = append(forbidden, tok)
		forbidden = append(forbidden, strings.Split(tok, ".")...)
	}
	for _, l := range promtest.Labels(t, e.reg) {
		name := l[strings.Index(l, "{")+1 : strings.Index(l, "}")]
		value := l[strings.Index(l, "}=")+2:]
		if !allowed[name] {
			t.Errorf("unexpected label %s", l)
		}
		if value == "pmp" || value == "other" && name != "code" {
			t.Errorf("label %s", l)
		}
		for _, f := range forbidden {
			if strings.Contains(value, f) {
				t.Errorf("label %s holds %.12q", l, f)
			}
		}
	}
}
