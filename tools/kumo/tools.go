//go:build tools

// Package tools pins the AWS emulator used by the integration tests, the
// demo and the benchmark harness. tools/build.sh builds it outside the repo.
package tools

import _ "github.com/sivchari/kumo/cmd/kumo"
