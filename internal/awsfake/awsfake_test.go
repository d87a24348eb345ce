package awsfake_test

import (
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend/secretsmanager"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
)

// The fakes stand in for the provider's AWS interfaces. (The check lives
// here because identity's and the backends' own tests import this package.)
var (
	_ identity.STSAPI         = (*awsfake.STS)(nil)
	_ secretsmanager.API      = (*awsfake.SM)(nil)
	_ identity.PodCredentials = (*awsfake.Creds)(nil)
)
