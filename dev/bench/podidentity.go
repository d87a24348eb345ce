package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/podagent"
)

// The Pod Identity scenario: what keeping EKS Pod Identity credentials,
// and the secrets read with them, per pod (the default: the agent's
// session tags name the pod) costs against sharing them per service
// account (--pod-identity-share-by-service-account).

// Targets of the Pod Identity scenario: the provider, caching on, per pod
// and shared.
const (
	perPod    target = "pod identity per pod"
	perShared target = "pod identity shared"
)

// podIdentityPodsOf is n pods of one service account mounting a
// SecretProviderClass with usePodIdentity, each with its own token for
// pods.eks.amazonaws.com.
func podIdentityPodsOf(namespace, serviceAccount string, n int) []pod {
	out := make([]pod, n)
	for i := range out {
		uid := fmt.Sprintf("0b0e3c1e-0000-4000-8000-%012d", i)
		name := fmt.Sprintf("pmp-%d", i)
		out[i] = pod{req: driverreq.Request{
			PodName: name, Namespace: namespace, PodUID: uid, ServiceAccount: serviceAccount,
			SecretProviderClass: "pmp-credentials",
			Parameters:          map[string]string{"region": region, "objects": objectsParam, "usePodIdentity": "true"},
			Audience:            podagent.Audience,
			Token: tokenIssuer.Sign(issuer.Token{
				Namespace: namespace, ServiceAccount: serviceAccount, PodName: name, PodUID: uid,
				Audience: []string{podagent.Audience}, Expiry: time.Now().Add(6 * time.Hour),
			}),
		}.Build()}
	}
	return out
}

// startAgent serves a stand-in EKS Pod Identity Agent on loopback whose
// credentials come from sts:AssumeRole through the counting front (so its
// calls, EKS Auth's in a cluster, show among the AWS calls), with an
// association for namespace/serviceAccount.
func (e *env) startAgent(namespace, serviceAccount string) (url string, stop func(), err error) {
	a := podagent.New(e.frontURL)
	a.Associate(namespace, serviceAccount, roleARN)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/v1/credentials", func() { _ = srv.Close() }, nil
}

// podIdentity: pods of one service account with usePodIdentity,
// republished in rounds every half freshness window, as republish does,
// per pod and shared by the service account.
func (b *bench) podIdentity() error {
	name := fmt.Sprintf("podidentity %dx%d", b.o.pods, b.o.rounds)
	pods := podIdentityPodsOf("pmp", "pmp-secrets-access", b.o.pods)
	url, stop, err := b.e.startAgent("pmp", "pmp-secrets-access")
	if err != nil {
		return err
	}
	defer stop()
	for _, t := range []target{perPod, perShared} {
		extra := []string{"--pod-identity-agent-url", url, "--pod-identity-agent-url-ipv6", ""}
		if t == perShared {
			extra = append(extra, "--pod-identity-share-by-service-account")
		}
		_, err := b.measureWith(name, t, b.o.window, 8, extra, func(p *proc, r *row) error {
			b.republishRounds(p, r, pods, checkFiles(b.secret.get))
			r.note = fmt.Sprintf("usePodIdentity; rounds every %s, freshness window %s: %d windows; the agent's credentials are an sts:AssumeRole each (EKS Auth's call in a cluster)", b.o.window/2, b.o.window, r.windows)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
