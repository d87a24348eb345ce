//go:build tools

// Package tools pins the Go vulnerability database that make vulncheck
// scans against: the module golang.org/x/vulndb at one commit holds every
// report as an OSV file (data/osv), and its cmd/indexdb writes them as a
// database in the layout govulncheck -db file:// reads. tools/build.sh
// vulndb builds both outside the repo.
package tools

import _ "golang.org/x/vulndb/cmd/indexdb"
