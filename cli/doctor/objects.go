package doctor

// The Kubernetes objects doctor reads, as far as it reads them. Decoded
// from the API's JSON into these few fields instead of k8s.io/api's types:
// those would add every API group to the provider's binary (see
// provider/kubeapi).

type meta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type list[T any] struct {
	Items []T `json:"items"`
}

type csiDriver struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		PodInfoOnMount    *bool `json:"podInfoOnMount"`
		RequiresRepublish *bool `json:"requiresRepublish"`
		TokenRequests     []struct {
			Audience string `json:"audience"`
		} `json:"tokenRequests"`
		ServiceAccountTokenInSecrets *bool `json:"serviceAccountTokenInSecrets"`
	} `json:"spec"`
}

type csiNode struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Drivers []struct {
			Name string `json:"name"`
		} `json:"drivers"`
	} `json:"spec"`
}

type container struct {
	Name    string   `json:"name"`
	Image   string   `json:"image"`
	Command []string `json:"command"`
	Args    []string `json:"args"`
}

type toleration struct {
	Key      string `json:"key"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
	Effect   string `json:"effect"`
}

type volume struct {
	Name string `json:"name"`
	CSI  *struct {
		Driver           string            `json:"driver"`
		VolumeAttributes map[string]string `json:"volumeAttributes"`
	} `json:"csi"`
}

type podSpec struct {
	ServiceAccountName string       `json:"serviceAccountName"`
	NodeName           string       `json:"nodeName"`
	Containers         []container  `json:"containers"`
	Tolerations        []toleration `json:"tolerations"`
	Volumes            []volume     `json:"volumes"`
}

// serviceAccount is the pod's service account: "default" when unset.
func (s podSpec) serviceAccount() string {
	if s.ServiceAccountName == "" {
		return "default"
	}
	return s.ServiceAccountName
}

type podTemplate struct {
	Metadata meta    `json:"metadata"`
	Spec     podSpec `json:"spec"`
}

type daemonSet struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Template podTemplate `json:"template"`
	} `json:"spec"`
}

type deployment struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Template podTemplate `json:"template"`
	} `json:"spec"`
}

type pod struct {
	Metadata meta    `json:"metadata"`
	Spec     podSpec `json:"spec"`
	Status   struct {
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

func (p pod) ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

type taint struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Effect string `json:"effect"`
}

type node struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Taints []taint `json:"taints"`
	} `json:"spec"`
}

type serviceAccount struct {
	Metadata meta `json:"metadata"`
}

type tokenRequest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Audiences         []string `json:"audiences"`
		ExpirationSeconds int64    `json:"expirationSeconds"`
	} `json:"spec"`
	Status struct {
		Token string `json:"token"`
	} `json:"status"`
}

type serverVersion struct {
	Major string `json:"major"`
	Minor string `json:"minor"`
}
