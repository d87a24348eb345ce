//go:build tools

// Package tools pins kind v0.33.0, the CLI e2e/kind/run.sh creates its cluster with.
package tools

import _ "sigs.k8s.io/kind"
