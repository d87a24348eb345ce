//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// env is the suite's configuration, read once from the environment.
type env struct {
	kubeconfig     string
	image          string // busybox image present on the node (imagePullPolicy: Never)
	node           string // the scheduler places the suite's pods on this node
	roleARN        string // put on the test service accounts
	region         string
	awsEndpoint    string // where the suite seeds and rotates secrets; empty = real AWS
	failoverRegion string // a second region, for failoverRegion and failoverObject
	awsFailover    string // the failover region's emulator, where the suite seeds it; empty = real AWS (an error with awsEndpoint)
	awsFront       string // the AWS front's URL, which doctor's AWS calls go to; empty: awsEndpoint
	frontControl   string // the AWS front's control URL; empty skips the fault tests
	restartCmd     string // restarts the provider; empty skips the restart test
	uninstallCmd   string // uninstalls the provider (helm uninstall); empty skips the uninstall test
	installCmd     string // installs it again after uninstallCmd
	daemonSet      string // namespace/name of the provider's DaemonSet; empty skips the chart tests
	socket         string // the provider's socket as this machine sees it; empty: not visible here
	chartManifests string // glob of YAML files rendered from the chart, for the dry run
	providerLog    string // file paths (or globs), dumped on failure when set
	driverLog      string
	kubeletLog     string
	spcProvider    string // SecretProviderClass spec.provider
	csiDriverName  string
	noClusterEdits bool   // skip the tests that edit the cluster-wide CSIDriver
	bin            string // the pmp-secrets-provider binary doctor runs as; empty: built from the checkout
	checkREADME    bool   // docs/pmp-tooling.md's doctor runs must be what doctor prints here
}

var (
	cfg  env
	rc   *rest.Config
	kube kubernetes.Interface
	dyn  dynamic.Interface
)

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	cfg = env{
		kubeconfig:     os.Getenv("PMP_E2E_KUBECONFIG"),
		image:          getenv("PMP_E2E_IMAGE", "pmp-e2e.local/busybox:e2e"),
		node:           os.Getenv("PMP_E2E_NODE"),
		roleARN:        getenv("PMP_E2E_ROLE_ARN", "arn:aws:iam::000000000000:role/PMP-SecretsManager-Role"),
		region:         getenv("PMP_E2E_AWS_REGION", "us-east-1"),
		awsEndpoint:    os.Getenv("PMP_E2E_AWS_ENDPOINT"),
		failoverRegion: getenv("PMP_E2E_FAILOVER_REGION", "us-west-2"),
		awsFailover:    os.Getenv("PMP_E2E_AWS_FAILOVER_ENDPOINT"),
		awsFront:       os.Getenv("PMP_E2E_AWS_FRONT_URL"),
		frontControl:   os.Getenv("PMP_E2E_AWS_FRONT_CONTROL"),
		restartCmd:     os.Getenv("PMP_E2E_PROVIDER_RESTART"),
		uninstallCmd:   os.Getenv("PMP_E2E_PROVIDER_UNINSTALL"),
		installCmd:     os.Getenv("PMP_E2E_PROVIDER_INSTALL"),
		daemonSet:      os.Getenv("PMP_E2E_PROVIDER_DAEMONSET"),
		socket:         os.Getenv("PMP_E2E_PROVIDER_SOCKET"),
		chartManifests: os.Getenv("PMP_E2E_CHART_MANIFESTS"),
		providerLog:    os.Getenv("PMP_E2E_PROVIDER_LOG"),
		driverLog:      os.Getenv("PMP_E2E_DRIVER_LOG"),
		kubeletLog:     os.Getenv("PMP_E2E_KUBELET_LOG"),
		spcProvider:    getenv("PMP_E2E_PROVIDER_NAME", "pmp"),
		csiDriverName:  "secrets-store.csi.k8s.io",
		noClusterEdits: os.Getenv("PMP_E2E_NO_CLUSTER_EDITS") == "1",
		bin:            os.Getenv("PMP_E2E_BIN"),
		checkREADME:    os.Getenv("PMP_E2E_CHECK_README") == "1",
	}
	if cfg.kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "e2e: PMP_E2E_KUBECONFIG is not set: run `make e2e`, or point it at a cluster with the driver and this provider installed (see e2e/README.md)")
		os.Exit(1)
	}
	var err error
	rc, err = clientcmd.BuildConfigFromFlags("", cfg.kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	rc.QPS, rc.Burst = 50, 100
	kube = kubernetes.NewForConfigOrDie(rc)
	dyn = dynamic.NewForConfigOrDie(rc)
	if cfg.node == "" {
		if cfg.node, err = readyNode(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(1)
		}
	}
	if err := checkCSIDriver(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := m.Run()
	removeBuilt()
	if left := namespacesGone(2 * time.Minute); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: namespaces not deleted 2 minutes after their tests: %v\n", left)
		code = max(code, 1)
	}
	os.Exit(code)
}

// checkCSIDriver fails fast on a cluster whose CSIDriver cannot serve IRSA,
// for instance one left edited by an interrupted TestCSIDriverWithoutTokenRequest.
func checkCSIDriver() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := kube.StorageV1().CSIDrivers().Get(ctx, cfg.csiDriverName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("CSIDriver %s: %w (is the Secrets Store CSI Driver installed?)", cfg.csiDriverName, err)
	}
	for _, r := range d.Spec.TokenRequests {
		if r.Audience == "sts.amazonaws.com" {
			return nil
		}
	}
	return fmt.Errorf("CSIDriver %s has no tokenRequests entry for audience sts.amazonaws.com: install the driver with tokenRequests[0].audience=sts.amazonaws.com", cfg.csiDriverName)
}

// readyNode picks the first Ready node that lists the CSI driver.
func readyNode() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Type != corev1.NodeReady || c.Status != corev1.ConditionTrue {
				continue
			}
			cn, err := kube.StorageV1().CSINodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			for _, d := range cn.Spec.Drivers {
				if d.Name == cfg.csiDriverName {
					return n.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no Ready node lists the CSI driver %s; set PMP_E2E_NODE", cfg.csiDriverName)
}
