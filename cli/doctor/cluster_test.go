package doctor

import "testing"

func TestTolerated(t *testing.T) {
	dedicated := taint{Key: "dedicated", Value: "pmp", Effect: "NoSchedule"}
	for _, tc := range []struct {
		name string
		t    taint
		tols []toleration
		want bool
	}{
		{"no tolerations", dedicated, nil, false},
		{"Equal, same value", dedicated, []toleration{{Key: "dedicated", Operator: "Equal", Value: "pmp", Effect: "NoSchedule"}}, true},
		{"default operator is Equal", dedicated, []toleration{{Key: "dedicated", Value: "pmp"}}, true},
		{"Equal, other value", dedicated, []toleration{{Key: "dedicated", Value: "ci"}}, false},
		{"Exists on the key", dedicated, []toleration{{Key: "dedicated", Operator: "Exists"}}, true},
		{"Exists on everything", dedicated, []toleration{{Operator: "Exists"}}, true},
		{"other effect", dedicated, []toleration{{Key: "dedicated", Operator: "Exists", Effect: "NoExecute"}}, false},
		{"node conditions are tolerated by every DaemonSet", taint{Key: "node.kubernetes.io/unschedulable", Effect: "NoSchedule"}, nil, true},
	} {
		if got := tolerated(tc.t, tc.tols); got != tc.want {
			t.Errorf("%s: tolerated = %v, want %v", tc.name, got, tc.want)
		}
	}
}
