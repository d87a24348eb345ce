//go:build tools

// Package tools pins helm, which make test uses to lint and render the chart
// in charts/ (and e2e to install it). tools/build.sh builds it outside the repo.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
