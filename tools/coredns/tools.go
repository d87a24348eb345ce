//go:build tools

// Package tools pins CoreDNS v1.14.2, the CoreDNS kubeadm v1.36.3 deploys (its CoreDNSVersion),
// for the kind node image that tools/kindnode.sh builds.
package tools

import _ "github.com/coredns/coredns"
