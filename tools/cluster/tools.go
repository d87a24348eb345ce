//go:build tools

// Package tools pins the cluster the e2e suite runs on: kube-apiserver and
// kubelet v1.36.3 and the Secrets Store CSI Driver v1.6.1. hack/tools.sh
// builds them outside the repo.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver"
)
