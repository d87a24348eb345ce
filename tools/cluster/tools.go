//go:build tools

// Package tools pins the cluster the e2e suite runs on: kube-apiserver,
// kube-controller-manager, kube-scheduler and kubelet v1.36.3 and the
// Secrets Store CSI Driver v1.6.1 (built with the mlog shim in
// e2e/cluster/mlogshim). tools/build.sh builds them outside the repo.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver"
)
