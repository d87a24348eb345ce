//go:build tools

// Package tools pins the Kubernetes binaries of the kind node image that
// tools/kindnode.sh builds: kubelet, kubeadm, kubectl, and the control plane
// and kube-proxy images, all v1.36.3 (the version of the local cluster).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
