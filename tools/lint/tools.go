//go:build tools

// Package tools pins the linters make lint runs: staticcheck and
// govulncheck. tools/build.sh builds them outside the repo.
package tools

import (
	_ "golang.org/x/vuln/cmd/govulncheck"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
