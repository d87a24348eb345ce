// Package driverreq builds Mount requests the way the Secrets Store CSI
// Driver (v1.6) sends them: the SecretProviderClass parameters overlaid
// with the pod's volume context, the kubelet's service-account tokens (in
// the attributes, or in the secrets with serviceAccountTokenInSecrets), and
// the default file mode as JSON. Tests, the demo and the benchmark harness
// share it, so they all speak to the provider exactly as the driver does.
package driverreq

import (
	"encoding/json"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// Request describes one pod's Mount.
type Request struct {
	PodName, Namespace, PodUID, ServiceAccount string
	SecretProviderClass                        string
	// Parameters are the SecretProviderClass's spec.parameters.
	Parameters map[string]string
	// Token is the kubelet's token for Audience. Empty: Issuer signs one
	// for the pod, as the kubelet does; no Issuer either sends no tokens, as
	// a CSIDriver without tokenRequests does.
	Token    string
	Issuer   *issuer.Issuer
	Audience string // default sts.amazonaws.com
	// MoreAudiences are the CSIDriver's other tokenRequests audiences
	// (e.g. pods.eks.amazonaws.com for EKS Pod Identity): Issuer signs one
	// token for each.
	MoreAudiences []string
	// TokensInSecrets moves the tokens to the request's secrets, as the
	// CSIDriver's serviceAccountTokenInSecrets: true does.
	TokensInSecrets bool
	Permission      string // default "420" (0644)
}

// Build returns the request as the driver sends it.
func (r Request) Build() *v1alpha1.MountRequest {
	attrs := make(map[string]string, len(r.Parameters)+7)
	for k, v := range r.Parameters {
		attrs[k] = v
	}
	attrs[params.AttrPodName] = r.PodName
	attrs[params.AttrPodNamespace] = r.Namespace
	attrs[params.AttrPodUID] = r.PodUID
	attrs[params.AttrServiceAccount] = r.ServiceAccount
	attrs["csi.storage.k8s.io/ephemeral"] = "true"
	attrs[params.AttrSPC] = r.SecretProviderClass

	secrets := "null" // the driver's JSON of an absent nodePublishSecretRef
	aud := r.Audience
	if aud == "" {
		aud = "sts.amazonaws.com"
	}
	token := r.Token
	if token == "" && r.Issuer != nil {
		token = r.Issuer.Sign(issuer.Token{
			Namespace: r.Namespace, ServiceAccount: r.ServiceAccount, PodName: r.PodName, PodUID: r.PodUID, Audience: []string{aud},
		})
	}
	byAudience := map[string]map[string]string{}
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if token != "" {
		byAudience[aud] = map[string]string{"token": token, "expirationTimestamp": expires}
	}
	if r.Issuer != nil {
		for _, a := range r.MoreAudiences {
			byAudience[a] = map[string]string{"token": r.Issuer.Sign(issuer.Token{
				Namespace: r.Namespace, ServiceAccount: r.ServiceAccount, PodName: r.PodName, PodUID: r.PodUID, Audience: []string{a},
			}), "expirationTimestamp": expires}
		}
	}
	if len(byAudience) > 0 {
		tokens, _ := json.Marshal(byAudience)
		if r.TokensInSecrets {
			b, _ := json.Marshal(map[string]string{params.AttrTokens: string(tokens)})
			secrets = string(b)
		} else {
			attrs[params.AttrTokens] = string(tokens)
		}
	}
	perm := r.Permission
	if perm == "" {
		perm = "420"
	}
	ab, _ := json.Marshal(attrs) // a map of strings always marshals
	return &v1alpha1.MountRequest{
		Attributes: string(ab), Secrets: secrets, Permission: perm,
		TargetPath: "/var/lib/kubelet/pods/" + r.PodUID + "/volumes/kubernetes.io~csi/pmp/mount",
	}
}
