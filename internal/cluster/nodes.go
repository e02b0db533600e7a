package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// nodePageSize is how many nodes one list request returns. The answer is
// decoded one node at a time as it arrives (listNodesStream), so a page's
// size costs the bot no memory; 5,000 makes a cluster of that size one round
// trip instead of kubectl's ten pages of 500, while a larger one is still
// paged so that no single answer grows without bound.
const nodePageSize = 5000

// ReasonKind is why a node takes no new pods.
type ReasonKind int

// The kinds of Reason, in the order Node.Reasons lists them.
const (
	// Cordoned: spec.unschedulable is set (kubectl cordon).
	Cordoned ReasonKind = iota + 1
	// NotReady: the node's Ready condition is False, Unknown or missing.
	NotReady
	// Tainted: a NoSchedule or NoExecute taint (Reason.TaintKey, TaintEffect).
	Tainted
)

// Reason is one reason a node takes no new pods.
type Reason struct {
	Kind ReasonKind
	// TaintKey and TaintEffect name the taint when Kind is Tainted.
	TaintKey    string
	TaintEffect corev1.TaintEffect
}

// String is the reason as kubectl users read it: "cordoned", "NotReady" or
// "taint KEY:EFFECT".
func (r Reason) String() string {
	switch r.Kind {
	case Cordoned:
		return "cordoned"
	case NotReady:
		return "NotReady"
	case Tainted:
		return "taint " + r.TaintKey + ":" + string(r.TaintEffect)
	}
	return fmt.Sprintf("ReasonKind(%d)", int(r.Kind))
}

// Node is one node as /get_nodes shows it.
type Node struct {
	Name string
	// ExternalIP is the node's first ExternalIP address, "" if it has none.
	ExternalIP string
	// InternalIP is the node's first InternalIP address, "" if it has none
	// (on VM clusters often the only address a node has).
	InternalIP string
	// Schedulable is true when new pods can be placed on the node:
	// not cordoned, Ready, and no NoSchedule or NoExecute taint.
	Schedulable bool
	// Reasons says why the node is not schedulable, in this order:
	// Cordoned, NotReady, then Tainted for each NoSchedule or NoExecute
	// taint. The taints Kubernetes adds because of the first two
	// (node.kubernetes.io/unschedulable, not-ready, unreachable) are left
	// out when that reason is already given.
	Reasons []Reason
}

// Nodes lists every node, sorted by name. It lists in pages of 5,000 and
// converts each node to a Node as it is decoded, so the bot keeps one API
// object at a time, not the list, whatever the size of the cluster.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out []Node
	opts := metav1.ListOptions{Limit: nodePageSize}
	for {
		next, err := c.listNodes(ctx, opts, func(n *corev1.Node) { out = append(out, nodeOf(n)) })
		if apierrors.IsResourceExpired(err) && opts.Continue != "" {
			// The continue token outlived etcd's compaction: start over
			// with one full list, as kubectl does.
			out, opts = nil, metav1.ListOptions{}
			continue
		}
		if err != nil {
			return nil, apiError("list nodes", "list nodes", "ClusterRole", err)
		}
		if next == "" || opts.Limit == 0 {
			break
		}
		opts.Continue = next
	}
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// listNodes lists one page of nodes, calls each for every node, and returns
// the continue token. Against a real API server it streams the protobuf
// answer (listNodesStream); other clients (the client-go fake) go through
// the typed List.
func (c *Client) listNodes(ctx context.Context, opts metav1.ListOptions, each func(*corev1.Node)) (string, error) {
	rc, ok := c.cs.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		list, err := c.cs.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return "", err
		}
		for i := range list.Items {
			each(&list.Items[i])
		}
		return list.Continue, nil
	}
	body, err := rc.Get().Resource("nodes").VersionedParams(&opts, scheme.ParameterCodec).
		SetHeader("Accept", protobufMediaType+", application/json").Stream(ctx)
	if err != nil {
		return "", err
	}
	defer body.Close()
	return listNodesStream(body, each)
}

func nodeOf(n *corev1.Node) Node {
	out := Node{Name: n.Name}
	for _, a := range n.Status.Addresses {
		switch {
		case a.Type == corev1.NodeExternalIP && out.ExternalIP == "":
			out.ExternalIP = a.Address
		case a.Type == corev1.NodeInternalIP && out.InternalIP == "":
			out.InternalIP = a.Address
		}
	}
	cordoned := n.Spec.Unschedulable
	if cordoned {
		out.Reasons = append(out.Reasons, Reason{Kind: Cordoned})
	}
	ready := false
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		out.Reasons = append(out.Reasons, Reason{Kind: NotReady})
	}
	for _, t := range n.Spec.Taints {
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		switch t.Key {
		case corev1.TaintNodeUnschedulable:
			if cordoned {
				continue
			}
		case corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable:
			if !ready {
				continue
			}
		}
		out.Reasons = append(out.Reasons, Reason{Kind: Tainted, TaintKey: t.Key, TaintEffect: t.Effect})
	}
	out.Schedulable = len(out.Reasons) == 0
	return out
}

// SetSchedulable cordons (schedulable false) or uncordons (true) a node,
// like kubectl cordon and uncordon: it reads the node and patches
// spec.unschedulable only when it differs. changed is false when the node
// already was so. An unknown node gives an error wrapping ErrNodeNotFound.
func (c *Client) SetSchedulable(ctx context.Context, node string, schedulable bool) (changed bool, err error) {
	verb := "cordon"
	if schedulable {
		verb = "uncordon"
	}
	fail := func(need string, err error) (bool, error) {
		if apierrors.IsNotFound(err) {
			return false, fmt.Errorf("%s node %q: %w", verb, node, ErrNodeNotFound)
		}
		return false, apiError(fmt.Sprintf("%s node %q", verb, node), need, "ClusterRole", err)
	}
	nodes := c.cs.CoreV1().Nodes()
	n, err := nodes.Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return fail("get nodes", err)
	}
	if n.Spec.Unschedulable == !schedulable {
		return false, nil
	}
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, !schedulable)
	if _, err := nodes.Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fail("patch nodes", err)
	}
	return true, nil
}
