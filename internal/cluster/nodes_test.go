package cluster_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// node returns a Ready node named name; edit changes it.
func node(name string, edit ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: "10.0.0.1"},
				{Type: corev1.NodeHostName, Address: name},
			},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
			},
		},
	}
	for _, e := range edit {
		e(n)
	}
	return n
}

func externalIP(ips ...string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		for _, ip := range ips {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip})
		}
	}
}

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func ready(status corev1.ConditionStatus) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Status.Conditions[1].Status = status }
}

func taint(key string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: "x", Effect: effect})
	}
}

func TestNodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		node *corev1.Node
		want cluster.Node
	}{
		{"ready, only an internal address", node("a"), cluster.Node{Name: "a", InternalIP: "10.0.0.1", Schedulable: true}},
		{"no address at all", node("a", func(n *corev1.Node) { n.Status.Addresses = nil }), cluster.Node{Name: "a", Schedulable: true}},
		{"only an external address", node("a", func(n *corev1.Node) { n.Status.Addresses = nil }, externalIP("203.0.113.2")),
			cluster.Node{Name: "a", ExternalIP: "203.0.113.2", Schedulable: true}},
		{"first internal address", node("a", func(n *corev1.Node) {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.2"})
		}), cluster.Node{Name: "a", InternalIP: "10.0.0.1", Schedulable: true}},
		{"first external address", node("a", externalIP("203.0.113.1", "2001:db8::1")),
			cluster.Node{Name: "a", InternalIP: "10.0.0.1", ExternalIP: "203.0.113.1", Schedulable: true}},
		{"cordoned, with the taint Kubernetes adds for it", node("a", cordoned, taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)),
			cluster.Node{Name: "a", InternalIP: "10.0.0.1", Reasons: []cluster.Reason{{Kind: cluster.Cordoned}}}},
		{"unschedulable taint left after uncordon", node("a", taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)),
			cluster.Node{Name: "a", InternalIP: "10.0.0.1", Reasons: []cluster.Reason{{Kind: cluster.Tainted, TaintKey: "node.kubernetes.io/unschedulable", TaintEffect: corev1.TaintEffectNoSchedule}}}},
		{"NotReady, with the taints Kubernetes adds for it", node("a", ready(corev1.ConditionFalse),
			taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule), taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)),
			cluster.Node{Name: "a", InternalIP: "10.0.0.1", Reasons: []cluster.Reason{{Kind: cluster.NotReady}}}},
		{"Ready Unknown, unreachable", node("a", ready(corev1.ConditionUnknown), taint(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)),
			cluster.Node{Name: "a", InternalIP: "10.0.0.1", Reasons: []cluster.Reason{{Kind: cluster.NotReady}}}},
		{"no conditions yet", node("a", func(n *corev1.Node) { n.Status.Conditions = nil }),
			cluster.Node{Name: "a", InternalIP: "10.0.0.1", Reasons: []cluster.Reason{{Kind: cluster.NotReady}}}},
		{"NoSchedule and NoExecute taints, PreferNoSchedule ignored", node("a",
			taint("dedicated", corev1.TaintEffectNoSchedule), taint("soft", corev1.TaintEffectPreferNoSchedule), taint("evict", corev1.TaintEffectNoExecute)),
			cluster.Node{Name: "a", InternalIP: "10.0.0.1", Reasons: []cluster.Reason{{Kind: cluster.Tainted, TaintKey: "dedicated", TaintEffect: corev1.TaintEffectNoSchedule}, {Kind: cluster.Tainted, TaintKey: "evict", TaintEffect: corev1.TaintEffectNoExecute}}}},
		{"only PreferNoSchedule", node("a", taint("soft", corev1.TaintEffectPreferNoSchedule)),
			cluster.Node{Name: "a", InternalIP: "10.0.0.1", Schedulable: true}},
		{"every reason, in order", node("a", externalIP("203.0.113.9"), cordoned, ready(corev1.ConditionFalse), taint("gpu", corev1.TaintEffectNoSchedule)),
			cluster.Node{Name: "a", InternalIP: "10.0.0.1", ExternalIP: "203.0.113.9", Reasons: []cluster.Reason{{Kind: cluster.Cordoned}, {Kind: cluster.NotReady}, {Kind: cluster.Tainted, TaintKey: "gpu", TaintEffect: corev1.TaintEffectNoSchedule}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cluster.New(fake.NewClientset(tc.node), target).Nodes(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]cluster.Node{tc.want}, got); diff != "" {
				t.Errorf("Nodes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodesSortedByName(t *testing.T) {
	cs := fake.NewClientset(node("worker-10"), node("control-1"), node("worker-2"))
	got, err := cluster.New(cs, target).Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range got {
		names = append(names, n.Name)
	}
	if diff := cmp.Diff([]string{"control-1", "worker-10", "worker-2"}, names); diff != "" {
		t.Errorf("node order (-want +got):\n%s", diff)
	}
}

// pagedNodes serves n nodes named node-0000... in pages of the request's
// limit, the continue token being the next index; when expireAt > 0 a
// request continuing at that index gets 410 Expired. It records every
// request's options.
func pagedNodes(cs *fake.Clientset, n, expireAt int, requests *[]metav1.ListOptions) {
	cs.PrependReactor("list", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		opts := a.(k8stesting.ListActionImpl).ListOptions
		*requests = append(*requests, opts)
		start := 0
		if opts.Continue != "" {
			start, _ = strconv.Atoi(opts.Continue)
			if start == expireAt {
				return true, nil, apierrors.NewResourceExpired("the provided continue parameter is too old")
			}
		}
		end := n
		if opts.Limit > 0 && start+int(opts.Limit) < n {
			end = start + int(opts.Limit)
		}
		list := &corev1.NodeList{}
		for i := start; i < end; i++ {
			list.Items = append(list.Items, *node(fmt.Sprintf("node-%05d", i)))
		}
		if end < n {
			list.Continue = strconv.Itoa(end)
		}
		return true, list, nil
	})
}

func TestNodesPaging(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nodes    int
		expireAt int
		want     []metav1.ListOptions
	}{
		{"one page", 3, 0, []metav1.ListOptions{{Limit: 5000}}},
		{"three pages", 12000, 0, []metav1.ListOptions{{Limit: 5000}, {Limit: 5000, Continue: "5000"}, {Limit: 5000, Continue: "10000"}}},
		{"exactly one full page", 5000, 0, []metav1.ListOptions{{Limit: 5000}}},
		{"expired continue token: one full list", 12000, 10000,
			[]metav1.ListOptions{{Limit: 5000}, {Limit: 5000, Continue: "5000"}, {Limit: 5000, Continue: "10000"}, {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			var requests []metav1.ListOptions
			pagedNodes(cs, tc.nodes, tc.expireAt, &requests)
			got, err := cluster.New(cs, target).Nodes(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.nodes {
				t.Fatalf("got %d nodes, want %d", len(got), tc.nodes)
			}
			for i, n := range got {
				if want := fmt.Sprintf("node-%05d", i); n.Name != want {
					t.Fatalf("node %d is %q, want %q (each exactly once, sorted)", i, n.Name, want)
				}
			}
			if diff := cmp.Diff(tc.want, requests); diff != "" {
				t.Errorf("list requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodesError(t *testing.T) {
	cs := fake.NewClientset()
	failWith(cs, "list", "nodes", "", forbidden("nodes", ""))
	_, err := cluster.New(cs, target).Nodes(t.Context())
	if !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want a Forbidden error", err)
	}
	for _, want := range []string{"list nodes: ", "lacks permission to list nodes: check the chart's ClusterRole"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestSetSchedulable(t *testing.T) {
	for _, tc := range []struct {
		name          string
		unschedulable bool // the node's state before
		schedulable   bool // asked for
		wantChanged   bool
		wantWrites    []string
	}{
		{"cordon a schedulable node", false, false, true, []string{"patch nodes"}},
		{"cordon a cordoned node", true, false, false, nil},
		{"uncordon a cordoned node", true, true, true, []string{"patch nodes"}},
		{"uncordon a schedulable node", false, true, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := node("worker-1", taint("dedicated", corev1.TaintEffectNoSchedule))
			n.Spec.Unschedulable = tc.unschedulable
			cs := fake.NewClientset(n)
			changed, err := cluster.New(cs, target).SetSchedulable(t.Context(), "worker-1", tc.schedulable)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if diff := cmp.Diff(tc.wantWrites, writes(cs)); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			after, err := cs.CoreV1().Nodes().Get(t.Context(), "worker-1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if after.Spec.Unschedulable != !tc.schedulable {
				t.Errorf("spec.unschedulable = %v, want %v", after.Spec.Unschedulable, !tc.schedulable)
			}
			if diff := cmp.Diff(n.Spec.Taints, after.Spec.Taints); diff != "" {
				t.Errorf("taints changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetSchedulableErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		schedulable bool
		fail        func(*fake.Clientset)
		wantIs      error
		wantAPI     func(error) bool
		wantText    []string
	}{
		{
			name: "unknown node", wantIs: cluster.ErrNodeNotFound,
			wantText: []string{`cordon node "nope": node not found`},
		},
		{
			name: "no permission to patch", schedulable: false, wantAPI: apierrors.IsForbidden,
			fail:     func(cs *fake.Clientset) { failWith(cs, "patch", "nodes", "", forbidden("nodes", "worker-1")) },
			wantText: []string{`cordon node "worker-1": `, "lacks permission to patch nodes: check the chart's ClusterRole"},
		},
		{
			name: "no permission to read", schedulable: true, wantAPI: apierrors.IsForbidden,
			fail:     func(cs *fake.Clientset) { failWith(cs, "get", "nodes", "", forbidden("nodes", "worker-1")) },
			wantText: []string{`uncordon node "worker-1": `, "lacks permission to get nodes"},
		},
		{
			name: "credentials rejected", wantAPI: apierrors.IsUnauthorized,
			fail:     func(cs *fake.Clientset) { failWith(cs, "get", "nodes", "", apierrors.NewUnauthorized("token expired")) },
			wantText: []string{"rejected the bot's credentials"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := node("worker-1")
			n.Spec.Unschedulable = tc.schedulable // so that a change is needed
			cs := fake.NewClientset(n)
			if tc.fail != nil {
				tc.fail(cs)
			}
			name := "worker-1"
			if tc.wantIs == cluster.ErrNodeNotFound {
				name = "nope"
			}
			changed, err := cluster.New(cs, target).SetSchedulable(t.Context(), name, tc.schedulable)
			if err == nil {
				t.Fatal("no error")
			}
			if changed {
				t.Error("changed = true on error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
			if tc.wantAPI != nil && !tc.wantAPI(err) {
				t.Errorf("error %v is not the API error", err)
			}
			for _, want := range tc.wantText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestReasonString(t *testing.T) {
	for _, tc := range []struct {
		r    cluster.Reason
		want string
	}{
		{cluster.Reason{Kind: cluster.Cordoned}, "cordoned"},
		{cluster.Reason{Kind: cluster.NotReady}, "NotReady"},
		{cluster.Reason{Kind: cluster.Tainted, TaintKey: "dedicated", TaintEffect: corev1.TaintEffectNoExecute}, "taint dedicated:NoExecute"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.r, got, tc.want)
		}
	}
}
