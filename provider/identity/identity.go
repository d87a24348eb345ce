// Package identity resolves who a Mount is for: the IAM role of the pod's
// service account (IRSA) or its EKS Pod Identity association, the AWS
// region, and short-lived credentials for that role, from STS or the node's
// Pod Identity Agent, for the pod's own token; and, for cross-account
// access, a role assumed with those; and it runs an AWS call with them
// (DoAs), renewing cached credentials AWS refuses. The provider's own AWS
// identity is never used for a pod.
package identity

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// RoleAnnotation is the service-account annotation that names the IAM role.
const RoleAnnotation = "eks.amazonaws.com/role-arn"

// Source is where a pod's own credentials come from.
type Source int

const (
	// IRSA exchanges the pod's token (audience sts.amazonaws.com) with STS
	// AssumeRoleWithWebIdentity for the role annotated on its service
	// account.
	IRSA Source = iota
	// PodIdentity asks the EKS Pod Identity Agent on the node, with the
	// pod's token for audience pods.eks.amazonaws.com; the role is the one
	// of the cluster's Pod Identity association for the service account.
	PodIdentity
)

func (s Source) String() string {
	if s == PodIdentity {
		return "EKS Pod Identity"
	}
	return "IRSA"
}

// AddressType is which address of the EKS Pod Identity Agent is asked.
type AddressType int

const (
	// AddressAuto asks the IPv4 address, then the IPv6 one when the IPv4
	// one cannot be reached.
	AddressAuto AddressType = iota
	AddressIPv4
	AddressIPv6
)

// Target is a role assumed with sts:AssumeRole with the pod's own
// credentials (cross-account access). The zero Target assumes nothing.
type Target struct {
	RoleARN    string
	ExternalID string
	// Duration is the session's DurationSeconds; zero: STS's default.
	Duration time.Duration
}

// Identity is a pod identity: the role it asks for and who asks. Caches of
// credentials and secrets are keyed by all of it, never by role alone: STS
// enforces the role's trust policy per namespace and service account, so a
// pod elsewhere that copied the annotation must go through STS itself; a
// role assumed across accounts is kept per pod identity and target, so
// only pods whose own identity the target trusts are served with it.
type Identity struct {
	Source Source
	// RoleARN is the service account's annotated role (IRSA); empty with
	// Pod Identity, whose association decides the role.
	RoleARN        string
	Namespace      string
	ServiceAccount string
	Region         string
	// Address is the agent address Pod Identity asks. It is not part of
	// the key: every address of the node's agent answers the same.
	Address AddressType
	// Target, when set, is the role the secrets are read as, assumed with
	// the credentials of the rest of the identity.
	Target Target
	// PodUID is, with EKS Pod Identity, the pod the credentials are for:
	// the agent tags each session with the pod's name and UID
	// (kubernetes-pod-name, kubernetes-pod-uid), which a policy may match
	// (${aws:PrincipalTag/kubernetes-pod-name}: a StatefulSet replica's own
	// secret), so what was read as one pod is never served to another.
	// Empty: the credentials carry no pod, or are shared by the service
	// account's pods (IRSA; --pod-identity-share-by-service-account; a
	// token bound to no pod, which the agent can tag with none).
	PodUID string
}

// Key is the cache key of an identity: every field of it but the agent
// Address. It holds no token.
type Key struct {
	Source                                     Source
	RoleARN, Namespace, ServiceAccount, Region string
	Target                                     Target
	PodUID                                     string
}

// Key is the cache key of the identity.
func (i Identity) Key() Key {
	return Key{Source: i.Source, RoleARN: i.RoleARN, Namespace: i.Namespace, ServiceAccount: i.ServiceAccount,
		Region: i.Region, Target: i.Target, PodUID: i.PodUID}
}

// LogFields are the log key/values of the identity, for a line that has
// only its key (a cache's): its role, namespace, service account, for a
// cross-account read the target role, and the pod of a Pod Identity kept
// per pod.
func (k Key) LogFields() []any {
	kv := []any{"role", k.RoleARN, "namespace", k.Namespace, "serviceAccount", k.ServiceAccount}
	if k.Target.RoleARN != "" {
		kv = append(kv, "targetRole", k.Target.RoleARN)
	}
	if k.PodUID != "" {
		kv = append(kv, "podUID", k.PodUID)
	}
	return kv
}

// Bytes is the length of k's strings, for a cache's estimate of what a
// key holds in bytes.
func (k Key) Bytes() int64 {
	return int64(len(k.RoleARN) + len(k.Namespace) + len(k.ServiceAccount) + len(k.Region) +
		len(k.Target.RoleARN) + len(k.Target.ExternalID) + len(k.PodUID))
}

// Partition is the AWS partition of a region, for the ARNs that messages
// and policies name.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// Own is the pod's own identity, without its Target.
func (i Identity) Own() Identity {
	i.Target = Target{}
	return i
}

// Principal names the pod's own identity as an IAM policy names it, for
// messages: its role ARN (IRSA), or where the role is decided (Pod
// Identity).
func (i Identity) Principal() string {
	if i.Source == PodIdentity {
		return fmt.Sprintf("the IAM role of the EKS Pod Identity association of service account %s/%s", i.Namespace, i.ServiceAccount)
	}
	return i.RoleARN
}

// Subject is the token subject an IRSA trust policy must name.
func (i Identity) Subject() string {
	return "system:serviceaccount:" + i.Namespace + ":" + i.ServiceAccount
}

var roleARNRE = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)

// ValidRoleARN reports whether s is an IAM role ARN.
func ValidRoleARN(s string) bool { return roleARNRE.MatchString(s) }

var sessionUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// SessionName is the RoleSessionName STS records in CloudTrail: it tells a
// reader which pod identity asked ("pmp-NAMESPACE-SERVICEACCOUNT"), within
// STS's 64 characters of [\w+=,.@-]. Over-long names keep their start and
// end around a "..": namespace and service account stay recognisable.
func SessionName(namespace, serviceAccount string) string {
	s := sessionUnsafe.ReplaceAllString("pmp-"+namespace+"-"+serviceAccount, "_")
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:30] + ".." + s[len(s)-(max-32):]
}
