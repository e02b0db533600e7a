package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// Names of the nodes StandardNodes describes.
const (
	NodeReady    = "node-ready"
	NodeCordoned = "node-cordoned"
	NodeTainted  = "node-tainted"
	NodeNotReady = "node-notready"
)

// TaintDedicated is the NoSchedule taint of NodeTainted.
var TaintDedicated = corev1.Taint{Key: "dedicated", Value: "database", Effect: corev1.TaintEffectNoSchedule}

// NodeSpec describes a kwok-managed node for SeedNodes.
type NodeSpec struct {
	Name string
	// ExternalIP is kept in status.addresses; kwok adds InternalIP
	// 127.0.0.1 (where the apiserver fetches logs) and Hostname.
	ExternalIP string
	// InternalIP, when set, is kept in status.addresses (with a Hostname
	// address) instead of the one kwok would add. The apiserver cannot reach a kubelet there, so
	// give such a node a NoSchedule taint unless its pods need no logs.
	InternalIP string
	// Unmanaged leaves the node to no kwok: its status.addresses stay
	// exactly as given (kwok would add an InternalIP), it is never Ready
	// and keeps the not-ready taint, so no pod is placed on it. SeedNodes
	// does not wait for it.
	Unmanaged bool
	// Unschedulable cordons the node from the start.
	Unschedulable bool
	Taints        []corev1.Taint
	// NotReady keeps the Ready condition False (reason KubeletNotReady).
	NotReady bool
	Labels   map[string]string
}

// StandardNodes returns one node of each kind a bot has to tell apart: a
// normal one, a cordoned one, one with a NoSchedule taint and a NotReady
// one, with ExternalIPs from 203.0.113.0/24 (TEST-NET-3).
func StandardNodes() []NodeSpec {
	return []NodeSpec{
		{Name: NodeReady, ExternalIP: "203.0.113.10"},
		{Name: NodeCordoned, ExternalIP: "203.0.113.11", Unschedulable: true},
		{Name: NodeTainted, ExternalIP: "203.0.113.12", Taints: []corev1.Taint{TaintDedicated}},
		{Name: NodeNotReady, ExternalIP: "203.0.113.13", NotReady: true},
	}
}

// taintNotReady is the taint a kubelet registers its node with; the node
// lifecycle controller removes it once the node is Ready. Creating nodes
// with it keeps the scheduler off them until then.
var taintNotReady = corev1.Taint{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}

// SeedNodes creates the nodes (StandardNodes when none are given) unless
// they exist, and waits until each is Ready (or NotReady, as specified) and
// schedulable nodes have lost the not-ready taint. It returns the nodes.
func (c *Cluster) SeedNodes(ctx context.Context, t testing.TB, nodes ...NodeSpec) []*corev1.Node {
	t.Helper()
	if len(nodes) == 0 {
		nodes = StandardNodes()
	}
	for _, spec := range nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        spec.Name,
				Annotations: map[string]string{KwokNodeAnnotation: "fake"},
				Labels: map[string]string{
					"type":                   "kwok",
					"kubernetes.io/hostname": spec.Name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
				},
			},
			Spec: corev1.NodeSpec{
				Unschedulable: spec.Unschedulable,
				Taints:        append([]corev1.Taint{taintNotReady}, spec.Taints...),
			},
		}
		for k, v := range spec.Labels {
			node.Labels[k] = v
		}
		if spec.NotReady {
			node.Labels[NotReadyLabel] = "true"
		}
		if spec.InternalIP != "" {
			// With a Hostname too, as a kubelet reports it: kwok's
			// node-initialize stage then leaves the addresses alone.
			node.Status.Addresses = append(node.Status.Addresses,
				corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: spec.InternalIP},
				corev1.NodeAddress{Type: corev1.NodeHostName, Address: spec.Name})
		}
		if spec.ExternalIP != "" {
			node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: spec.ExternalIP})
		}
		if spec.Unmanaged {
			delete(node.Annotations, KwokNodeAnnotation)
			node.Labels["type"] = "unmanaged"
		}
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create node %q: %v", spec.Name, err)
		}
	}
	out := make([]*corev1.Node, 0, len(nodes))
	for _, spec := range nodes {
		var node *corev1.Node
		if spec.Unmanaged {
			n, err := c.Client.CoreV1().Nodes().Get(ctx, spec.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get node %q: %v", spec.Name, err)
			}
			out = append(out, n)
			continue
		}
		want := corev1.ConditionTrue
		if spec.NotReady {
			want = corev1.ConditionFalse
		}
		c.waitFor(ctx, t, fmt.Sprintf("node %q to be Ready=%s", spec.Name, want), func(ctx context.Context) error {
			var err error
			node, err = c.Client.CoreV1().Nodes().Get(ctx, spec.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			ready, tainted := nodeReady(node), hasTaint(node, taintNotReady)
			// Schedulable nodes must also have lost the not-ready taint.
			if ready != want || (want == corev1.ConditionTrue && tainted) {
				return fmt.Errorf("Ready=%s, not-ready taint %v", ready, tainted)
			}
			return nil
		})
		out = append(out, node)
	}
	return out
}

func nodeReady(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func hasTaint(node *corev1.Node, taint corev1.Taint) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == taint.Key && t.Effect == taint.Effect {
			return true
		}
	}
	return false
}

// SeedNamespace creates namespace name unless it exists and waits for its
// default ServiceAccount, without which no pod can be created.
func (c *Cluster) SeedNamespace(ctx context.Context, t testing.TB, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %q: %v", name, err)
	}
	c.waitFor(ctx, t, fmt.Sprintf("service account default in namespace %q", name), func(ctx context.Context) error {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// The Deployment SeedApp creates.
const (
	AppName      = "oil-refinery-application"
	AppContainer = "app"
	AppImage     = "registry.example.com/oil/refinery-application:1.4.2"
)

// AppSelector selects the pods of the Deployment SeedApp creates.
var AppSelector = map[string]string{"app.kubernetes.io/name": AppName}

// SeedApp creates namespace and, in it, Deployment AppName with replicas
// pods, and waits until they all run (on kwok nodes, which serve
// AppLogLines as every container's log). Schedulable nodes must exist; see
// SeedNodes. If the Deployment exists it is scaled to replicas.
func (c *Cluster) SeedApp(ctx context.Context, t testing.TB, namespace string, replicas int32) *appsv1.Deployment {
	t.Helper()
	c.SeedNamespace(ctx, t, namespace)
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: AppName, Namespace: namespace, Labels: AppSelector},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: AppSelector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: AppSelector},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:  AppContainer,
						Image: AppImage,
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("10m"),
							corev1.ResourceMemory: resource.MustParse("32Mi"),
						}},
					}},
					TerminationGracePeriodSeconds: ptr.To[int64](0),
				},
			},
		},
	}
	deployments := c.Client.AppsV1().Deployments(namespace)
	if _, err := deployments.Create(ctx, deploy, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		c.ScaleApp(ctx, t, namespace, replicas)
	} else if err != nil {
		t.Fatalf("create deployment %s/%s: %v", namespace, AppName, err)
	}
	return c.WaitForApp(ctx, t, namespace)
}

// ScaleApp sets the replicas of Deployment AppName in namespace and waits
// until the new number of pods runs.
func (c *Cluster) ScaleApp(ctx context.Context, t testing.TB, namespace string, replicas int32) *appsv1.Deployment {
	t.Helper()
	deployments := c.Client.AppsV1().Deployments(namespace)
	scale, err := deployments.GetScale(ctx, AppName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get scale of deployment %s/%s: %v", namespace, AppName, err)
	}
	scale.Spec.Replicas = replicas
	if _, err := deployments.UpdateScale(ctx, AppName, scale, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("scale deployment %s/%s to %d: %v", namespace, AppName, replicas, err)
	}
	return c.WaitForApp(ctx, t, namespace)
}

// WaitForApp waits until Deployment AppName in namespace has rolled out and
// exactly spec.replicas of its pods are Running, and returns it.
func (c *Cluster) WaitForApp(ctx context.Context, t testing.TB, namespace string) *appsv1.Deployment {
	t.Helper()
	var deploy *appsv1.Deployment
	c.waitFor(ctx, t, fmt.Sprintf("deployment %s/%s to run", namespace, AppName), func(ctx context.Context) error {
		var err error
		deploy, err = c.Client.AppsV1().Deployments(namespace).Get(ctx, AppName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := ptr.Deref(deploy.Spec.Replicas, 1)
		st := deploy.Status
		if st.ObservedGeneration < deploy.Generation || st.UpdatedReplicas != want ||
			st.ReadyReplicas != want || st.Replicas != want {
			return fmt.Errorf("generation %d observed %d, replicas %d updated %d ready %d, want %d",
				deploy.Generation, st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, want)
		}
		pods, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(AppSelector).String(),
		})
		if err != nil {
			return err
		}
		var running int32
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		if running != want {
			return fmt.Errorf("%d pods Running, want %d", running, want)
		}
		return nil
	})
	return deploy
}

// waitFor polls cond every 100ms for up to 30s until it returns nil, and
// fails t with what and the last reason cond gave when it never does.
func (c *Cluster) waitFor(ctx context.Context, t testing.TB, what string, cond func(context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		last = cond(ctx)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last state: %v)", what, err, last)
	}
}
