package awsfake_test

import (
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/secrets"
)

// The fakes stand in for the provider's AWS interfaces. (The check lives
// here because identity's and secrets' own tests import this package.)
var (
	_ identity.STSAPI = (*awsfake.STS)(nil)
	_ secrets.API     = (*awsfake.SM)(nil)
)
