package apifake

// Paths of the objects of a Mendix app environment that MendixEnvironment
// stores.
const (
	MendixNamespace      = "my-namespace"
	MendixEnvironmentApp = "my-app"
	MendixRole           = "arn:aws:iam::123456789012:role/my-app"
	MendixAppCRDPath     = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/mendixapps.privatecloud.mendix.com"
	MendixAppPath        = "/apis/privatecloud.mendix.com/v1alpha1/namespaces/my-namespace/mendixapps/my-app"
	MendixClassPath      = "/apis/secrets-store.csi.x-k8s.io/v1/namespaces/my-namespace/secretproviderclasses/my-app"
	MendixAccountPath    = "/api/v1/namespaces/my-namespace/serviceaccounts/my-app"
)

// MendixEnvironment stores a Mendix app environment my-namespace/my-app as
// the Mendix Operator finds it, reading secret my-namespace/my-app: the
// MendixApp CRD and MendixApp my-app (allowOverrideSecretsWithSecretStoreCSIDriver:
// true), ServiceAccount my-app annotated as the environment's and with
// MendixRole, and SecretProviderClass my-app annotated as the
// environment's. The cluster's objects (CSIDriver, DaemonSets) are PMP's.
func (s *Server) MendixEnvironment() {
	s.Put(MendixAppCRDPath, Obj{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": Obj{"name": "mendixapps.privatecloud.mendix.com"},
		"spec": Obj{"group": "privatecloud.mendix.com", "names": Obj{"kind": "MendixApp", "plural": "mendixapps"},
			"versions": []Obj{{"name": "v1alpha1", "served": true, "storage": true}}}})
	s.Put(MendixAppPath, MendixApp(MendixEnvironmentApp, true))
	s.Put(MendixAccountPath, MendixServiceAccount(MendixEnvironmentApp, Obj{"privatecloud.mendix.com/environment-account": "true", "eks.amazonaws.com/role-arn": MendixRole}))
	s.Put(MendixClassPath, MendixClass(MendixEnvironmentApp, Obj{"privatecloud.mendix.com/environment-class": "true"}))
}

// MendixApp is a MendixApp in my-namespace, with
// allowOverrideSecretsWithSecretStoreCSIDriver set to allow.
func MendixApp(name string, allow bool) Obj {
	return Obj{"apiVersion": "privatecloud.mendix.com/v1alpha1", "kind": "MendixApp",
		"metadata": Obj{"name": name, "namespace": MendixNamespace},
		"spec":     Obj{"allowOverrideSecretsWithSecretStoreCSIDriver": allow, "replicas": 1}}
}

// MendixServiceAccount is a ServiceAccount in my-namespace.
func MendixServiceAccount(name string, annotations Obj) Obj {
	return Obj{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": Obj{"name": name, "namespace": MendixNamespace, "annotations": annotations}}
}

// MendixClass is a SecretProviderClass in my-namespace reading secret
// my-namespace/my-app.
func MendixClass(name string, annotations Obj) Obj {
	return Obj{"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
		"metadata": Obj{"name": name, "namespace": MendixNamespace, "annotations": annotations},
		"spec":     Obj{"provider": "pmp", "parameters": Obj{"objects": "- objectName: my-namespace/my-app\n"}}}
}
