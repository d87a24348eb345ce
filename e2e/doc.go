// Package e2e runs real pods that mount PMP credentials through the real
// Secrets Store CSI Driver and this provider. Its tests carry the build tag
// e2e and talk to the cluster only through a kubeconfig, so the same suite
// runs against the local cluster of e2e/run.sh (make e2e), a kind cluster
// (e2e/kind) or EKS. README.md lists the environment it reads.
package e2e
