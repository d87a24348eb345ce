package apifake

// Paths of the objects of the healthy PMP set-up PMP stores.
const (
	CSIDriverPath      = "/apis/storage.k8s.io/v1/csidrivers/secrets-store.csi.k8s.io"
	DriverDaemonSet    = "/apis/apps/v1/namespaces/kube-system/daemonsets/csi-secrets-store"
	ProviderDaemonSet  = "/apis/apps/v1/namespaces/kube-system/daemonsets/pmp-secrets-provider"
	DeploymentPath     = "/apis/apps/v1/namespaces/pmp/deployments/pmp-deployment"
	ClassPath          = "/apis/secrets-store.csi.x-k8s.io/v1/namespaces/pmp/secretproviderclasses/pmp-credentials"
	ServiceAccountPath = "/api/v1/namespaces/pmp/serviceaccounts/pmp-secrets-access"
	Role               = "arn:aws:iam::123456789012:role/PMP-SecretsManager-Role"
	Nodes              = 2
)

// Obj is a JSON object, as the API server stores it.
type Obj = map[string]any

// PMP stores a healthy set-up: the driver's CSIDriver with the IRSA token
// request, the driver and the provider DaemonSets with ready pods on
// both nodes, Deployment pmp/pmp-deployment running as service account
// pmp-secrets-access (annotated with Role) and mounting
// SecretProviderClass pmp-credentials, which reads secret
// PMP-Production-Credentials in eu-west-1.
func (s *Server) PMP() {
	s.Put("/version", Obj{"major": "1", "minor": "36"})
	s.Put(CSIDriverPath, CSIDriver(true, true, true))
	s.Put(DriverDaemonSet, DaemonSet("kube-system", "csi-secrets-store", "csi-secrets-store",
		Obj{"name": "secrets-store", "image": "registry.k8s.io/csi-secrets-store/driver:v1.6.1",
			"args": []string{"--endpoint=$(CSI_ENDPOINT)", "--provider-volume=/var/run/secrets-store-csi-providers"}}, nil))
	s.Put(ProviderDaemonSet, DaemonSet("kube-system", "pmp-secrets-provider", "pmp-secrets-provider",
		Obj{"name": "provider", "image": "ghcr.io/example/pmp-secrets-provider:1.0"}, nil))
	for _, n := range []string{"node-1", "node-2"} {
		s.Put("/api/v1/nodes/"+n, Obj{"metadata": Obj{"name": n}})
		s.Put("/api/v1/namespaces/kube-system/pods/csi-secrets-store-"+n, Pod("kube-system", "csi-secrets-store-"+n, "csi-secrets-store", n, true))
		s.Put("/api/v1/namespaces/kube-system/pods/pmp-secrets-provider-"+n, Pod("kube-system", "pmp-secrets-provider-"+n, "pmp-secrets-provider", n, true))
	}
	s.Put(DeploymentPath, Deployment("pmp-secrets-access", "pmp-credentials", nil))
	s.Put(ClassPath, Class("pmp-credentials", "pmp", "eu-west-1", "- objectName: PMP-Production-Credentials\n  filePermission: \"0440\"\n"))
	s.Put(ServiceAccountPath, ServiceAccount("pmp-secrets-access", Role))
	s.Put("/api/v1/namespaces/pmp/serviceaccounts/default", ServiceAccount("default", ""))
}

// CSIDriver is the driver's CSIDriver object.
func CSIDriver(tokenRequest, podInfo, republish bool) Obj {
	spec := Obj{"podInfoOnMount": podInfo, "requiresRepublish": republish, "attachRequired": false, "serviceAccountTokenInSecrets": true}
	if tokenRequest {
		spec["tokenRequests"] = []Obj{{"audience": "sts.amazonaws.com"}}
	}
	return Obj{"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": Obj{"name": "secrets-store.csi.k8s.io"}, "spec": spec}
}

// DaemonSet is a DaemonSet whose pods (label app=app) run c.
func DaemonSet(ns, name, app string, c Obj, tolerations []Obj) Obj {
	return Obj{"metadata": Obj{"name": name, "namespace": ns}, "spec": Obj{
		"selector": Obj{"matchLabels": Obj{"app": app}},
		"template": Obj{"metadata": Obj{"labels": Obj{"app": app}}, "spec": Obj{"containers": []Obj{c}, "tolerations": tolerations}},
	}}
}

// Pod is a DaemonSet's pod on node.
func Pod(ns, name, app, node string, ready bool) Obj {
	st := "False"
	if ready {
		st = "True"
	}
	return Obj{"metadata": Obj{"name": name, "namespace": ns, "labels": Obj{"app": app}}, "spec": Obj{"nodeName": node},
		"status": Obj{"conditions": []Obj{{"type": "Ready", "status": st}}}}
}

// Deployment is pmp/pmp-deployment, running as sa and mounting class,
// with annotations on the Deployment.
func Deployment(sa, class string, annotations Obj) Obj {
	return Obj{"metadata": Obj{"name": "pmp-deployment", "namespace": "pmp", "annotations": annotations}, "spec": Obj{
		"template": Obj{"spec": Obj{
			"serviceAccountName": sa,
			"containers":         []Obj{{"name": "pmp", "image": "pmp:1"}},
			"volumes": []Obj{{"name": "pmp", "csi": Obj{"driver": "secrets-store.csi.k8s.io", "readOnly": true,
				"volumeAttributes": Obj{"secretProviderClass": class}}}},
		}},
	}}
}

// Class is a SecretProviderClass in namespace pmp; region "" sets none.
func Class(name, provider, region, objects string) Obj {
	params := Obj{"objects": objects}
	if region != "" {
		params["region"] = region
	}
	return Obj{"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
		"metadata": Obj{"name": name, "namespace": "pmp"}, "spec": Obj{"provider": provider, "parameters": params}}
}

// ServiceAccount is a service account in namespace pmp, annotated with
// role unless it is empty.
func ServiceAccount(name, role string) Obj { return ServiceAccountIn("pmp", name, role) }

// ServiceAccountIn is a service account in namespace ns, annotated with
// role unless it is empty.
func ServiceAccountIn(ns, name, role string) Obj {
	m := Obj{"name": name, "namespace": ns}
	if role != "" {
		m["annotations"] = Obj{"eks.amazonaws.com/role-arn": role}
	}
	return Obj{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": m}
}

// ServiceAccountPathOf is the path of service account ns/name.
func ServiceAccountPathOf(ns, name string) string {
	return "/api/v1/namespaces/" + ns + "/serviceaccounts/" + name
}

// PutServiceAccount stores service account ns/name, annotated with role
// unless it is empty.
func (s *Server) PutServiceAccount(ns, name, role string) {
	s.Put(ServiceAccountPathOf(ns, name), ServiceAccountIn(ns, name, role))
}

// NodePath is the path of node name.
func NodePath(name string) string { return "/api/v1/nodes/" + name }

// PutNode stores node name with labels (nil: none).
func (s *Server) PutNode(name string, labels map[string]string) {
	m := Obj{"name": name}
	if labels != nil {
		m["labels"] = labels
	}
	s.Put(NodePath(name), Obj{"apiVersion": "v1", "kind": "Node", "metadata": m})
}
