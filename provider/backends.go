package provider

import (
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend/parameterstore"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend/secretsmanager"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// backends are the object types a SecretProviderClass may name, each with
// its backend: the one place a backend is registered, one line each. A new
// backend is a package of provider/backend/ (its backend.Reader and
// backend.Info), its line here, and its client in APIs.
var backends = map[params.ObjectType]registered{
	params.SecretsManager: {&secretsmanager.Info, func(a APIs) backend.Reader { return secretsmanager.New(a.SecretsManager) }},
	params.SSMParameter:   {&parameterstore.Info, func(a APIs) backend.Reader { return parameterstore.New(a.SSM) }},
}

// registered is a backend: what it is, and its Reader over the provider's
// AWS clients.
type registered struct {
	info *backend.Info
	new  func(APIs) backend.Reader
}

// Backend is what reads objects of type t: for messages, doctor and
// policy, which ask it instead of telling the types apart.
func Backend(t params.ObjectType) *backend.Info {
	return backends[t].info
}
