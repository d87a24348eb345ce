//go:build tools

// Package tools pins etcd v3.6.8, the etcd kubeadm v1.36.3 runs (its DefaultEtcdVersion),
// for the kind node image that tools/kindnode.sh builds.
package tools

import _ "go.etcd.io/etcd/server/v3"
