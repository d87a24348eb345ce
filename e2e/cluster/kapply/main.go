// Command kapply is the little of kubectl the e2e cluster scripts need, so
// that they depend on no kubectl of the machine's:
//
//	kapply --kubeconfig F apply FILE...      server-side apply of YAML documents
//	kapply --kubeconfig F wait-crds NAME...  wait until the CRDs are Established
//	kapply --kubeconfig F wait-node NAME     wait until the node is Ready, has
//	                                         lost its not-ready taint and lists
//	                                         the CSI driver --csi-driver
//	kapply --kubeconfig F wait-daemonset NS NAME
//	                                         wait until the DaemonSet is rolled
//	                                         out: every pod of it updated and
//	                                         Ready, no old one left
//	kapply --kubeconfig F wait-no-pods NS SELECTOR
//	                                         wait until no pod matches the
//	                                         label selector
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kapply:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	csiDriver := flag.String("csi-driver", "", "wait-node: also wait for this driver in the CSINode")
	flag.Parse()
	if flag.NArg() < 2 {
		return errors.New("usage: kapply --kubeconfig F apply|wait-crds|wait-node|wait-daemonset|wait-no-pods ARG [ARG ...]")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	switch cmd, args := flag.Arg(0), flag.Args()[1:]; cmd {
	case "apply":
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			return err
		}
		mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
		for _, f := range args {
			if err := apply(ctx, dyn, mapper, f); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
		return nil
	case "wait-crds":
		crd := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		for _, name := range args {
			err := poll(ctx, func() (bool, error) {
				u, err := dyn.Resource(crd).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, nil
				}
				conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
				for _, c := range conds {
					m, _ := c.(map[string]any)
					if m["type"] == "Established" && m["status"] == "True" {
						return true, nil
					}
				}
				return false, nil
			})
			if err != nil {
				return fmt.Errorf("crd %s not established: %w", name, err)
			}
		}
		return nil
	case "wait-node":
		name := args[0]
		return poll(ctx, func() (bool, error) {
			n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			ready := false
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			if !ready {
				return false, nil
			}
			// The kubelet registers the node tainted not-ready; the
			// controller-manager's node-lifecycle lifts it. Until then only
			// pods that tolerate it (DaemonSets) are scheduled.
			for _, t := range n.Spec.Taints {
				if t.Key == corev1.TaintNodeNotReady {
					return false, nil
				}
			}
			if *csiDriver == "" {
				return true, nil
			}
			cn, err := cs.StorageV1().CSINodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, d := range cn.Spec.Drivers {
				if d.Name == *csiDriver {
					return true, nil
				}
			}
			return false, nil
		})
	case "wait-daemonset":
		if len(args) != 2 {
			return errors.New("usage: wait-daemonset NAMESPACE NAME")
		}
		var why string
		err := poll(ctx, func() (bool, error) {
			why = daemonSetPending(ctx, cs, args[0], args[1])
			return why == "", nil
		})
		if err != nil {
			return fmt.Errorf("daemonset %s/%s not rolled out: %s: %w", args[0], args[1], why, err)
		}
		return nil
	case "wait-no-pods":
		if len(args) != 2 {
			return errors.New("usage: wait-no-pods NAMESPACE SELECTOR")
		}
		var left int
		err := poll(ctx, func() (bool, error) {
			pods, err := cs.CoreV1().Pods(args[0]).List(ctx, metav1.ListOptions{LabelSelector: args[1]})
			if err != nil {
				return false, nil
			}
			left = len(pods.Items)
			return left == 0, nil
		})
		if err != nil {
			return fmt.Errorf("%d pods in %s still match %s: %w", left, args[0], args[1], err)
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func apply(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		gvk := u.GroupVersionKind()
		var m *meta.RESTMapping
		err := poll(ctx, func() (bool, error) {
			var err error
			m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				if r, ok := mapper.(meta.ResettableRESTMapper); ok {
					r.Reset()
				}
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("no API for %s: %w", gvk, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := u.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		data, err := u.MarshalJSON()
		if err != nil {
			return err
		}
		force := true
		if _, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "kapply", Force: &force}); err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err)
		}
	}
}

func poll(ctx context.Context, done func() (bool, error)) error {
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// daemonSetPending says why the DaemonSet is not rolled out yet, or "" when
// its controller has seen its last change, every scheduled pod runs the
// current template and is Ready, and no pod of an older template is left
// (not even one terminating).
func daemonSetPending(ctx context.Context, cs kubernetes.Interface, ns, name string) string {
	ds, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	st := ds.Status
	switch {
	case st.ObservedGeneration < ds.Generation:
		return "its controller has not seen the last change"
	case st.DesiredNumberScheduled == 0:
		return "no node to run on"
	case st.UpdatedNumberScheduled != st.DesiredNumberScheduled:
		return fmt.Sprintf("%d of %d pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case st.NumberReady != st.DesiredNumberScheduled || st.NumberUnavailable != 0:
		return fmt.Sprintf("%d of %d pods Ready", st.NumberReady, st.DesiredNumberScheduled)
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return err.Error()
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return err.Error()
	}
	if n := len(pods.Items); n != int(st.DesiredNumberScheduled) {
		return fmt.Sprintf("%d pods, want %d", n, st.DesiredNumberScheduled)
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp != nil {
			return "pod " + pods.Items[i].Name + " is terminating"
		}
	}
	return ""
}
