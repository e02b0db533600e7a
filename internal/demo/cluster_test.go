package demo

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// fast makes the simulated cluster move in milliseconds.
var fast = Timing{PodStart: 60 * time.Millisecond, PodStop: 30 * time.Millisecond, Tick: 5 * time.Millisecond}

// running starts the simulated cluster's controller until the test ends
// and returns the production client the bot would use on it.
func running(t *testing.T, tm Timing) (*Cluster, *cluster.Client) {
	t.Helper()
	c, err := NewCluster(tm, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, cluster.New(c.Clientset(), cluster.Target{Namespace: Namespace, Deployment: Deployment})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Errorf("simulated cluster logged: %s", p)
	return len(p), nil
}

func TestSeed(t *testing.T) {
	_, kc := running(t, fast)
	ctx := t.Context()
	nodes, err := kc.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name, IP    string
		Schedulable bool
		Reasons     []cluster.Reason
	}
	var got []row
	for _, n := range nodes {
		got = append(got, row{n.Name, n.ExternalIP, n.Schedulable, n.Reasons})
	}
	want := []row{
		{"worker-1", "203.0.113.11", true, nil},
		{"worker-2", "203.0.113.12", false, []cluster.Reason{{Kind: cluster.Cordoned}}},
		{"worker-3", "203.0.113.13", false, []cluster.Reason{{Kind: cluster.Tainted, TaintKey: "dedicated", TaintEffect: corev1.TaintEffectNoSchedule}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	d, err := kc.Deployment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Image != Repository+":"+StartTag || d.Replicas != 3 || d.ArgoApp != "" {
		t.Errorf("deployment = %+v, want 3 replicas of %s not managed by Argo CD", d, StartTag)
	}
	pods, err := kc.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 3 {
		t.Fatalf("%d pods, want 3", len(pods))
	}
	for _, p := range pods {
		if p.Status != "Running" || p.Ready != 1 || !strings.HasPrefix(p.Name, Deployment+"-") {
			t.Errorf("pod %+v, want Running and ready", p)
		}
	}
	r, err := kc.Rollout(ctx)
	if err != nil || !r.Done {
		t.Errorf("Rollout = %+v, %v; want done", r, err)
	}
}

// watch follows the rollout the way /deploy does and returns what it saw.
func watch(t *testing.T, kc *cluster.Client, within time.Duration) []cluster.Rollout {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	var seen []cluster.Rollout
	last, err := kc.WaitRollout(ctx, 2*time.Millisecond, func(r cluster.Rollout) { seen = append(seen, r) })
	if err != nil {
		t.Fatalf("WaitRollout: %v (last %+v; seen %+v)", err, last, seen)
	}
	return seen
}

func TestScaleChangesPodsOverTime(t *testing.T) {
	c, kc := running(t, fast)
	ctx := t.Context()
	if _, err := kc.Scale(ctx, 5); err != nil {
		t.Fatal(err)
	}
	seen := watch(t, kc, 5*time.Second)
	if first := seen[0]; first.Done || first.Available == 5 {
		t.Errorf("the first figures after scaling to 5 are %+v: the change looked done before any pod started", first)
	}
	if last := seen[len(seen)-1]; !last.Done || last.Available != 5 || last.Desired != 5 {
		t.Errorf("the last figures are %+v, want 5 available", last)
	}
	pods, err := kc.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 5 {
		t.Errorf("%d pods after scaling to 5, want 5", len(pods))
	}
	// The new pods went to the only schedulable node.
	for _, p := range pods {
		if p.Created.After(c.start) && p.Node != "worker-1" {
			t.Errorf("new pod %s on %q, want worker-1 (worker-2 is cordoned, worker-3 tainted)", p.Name, p.Node)
		}
	}

	if _, err := kc.Scale(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sawTerminating := false
	deadline := time.Now().Add(5 * time.Second)
	for {
		pods, err = kc.Pods(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			sawTerminating = sawTerminating || p.Status == "Terminating"
		}
		if len(pods) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if len(pods) != 1 || pods[0].Status != "Running" {
		t.Errorf("after scaling to 1: %+v, want one Running pod", pods)
	}
	if !sawTerminating {
		t.Error("the surplus pods never showed as Terminating")
	}
}

func TestDeployRollsOutTheNewImage(t *testing.T) {
	c, kc := running(t, fast)
	ctx := t.Context()
	before, err := kc.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	image := Repository + ":0.10.5"
	if _, err := kc.SetImage(ctx, image); err != nil {
		t.Fatal(err)
	}
	// Right after the write, before the controller ran, the rollout is not done.
	if r, err := kc.Rollout(ctx); err != nil || r.Done {
		t.Errorf("Rollout right after SetImage = %+v, %v; want not done (generation must change with the spec)", r, err)
	}
	seen := watch(t, kc, 5*time.Second)
	last := seen[len(seen)-1]
	if !last.Done || last.Updated != 3 || last.Available != 3 {
		t.Errorf("the rollout ended at %+v, want 3 updated and available", last)
	}
	var updated []int32
	for _, r := range seen {
		if len(updated) == 0 || updated[len(updated)-1] != r.Updated {
			updated = append(updated, r.Updated)
		}
		// maxUnavailable rounds down to 0 for 3 replicas: never fewer than 3 available.
		if r.Available < 3 {
			t.Errorf("only %d available during the rollout (%+v); the rolling update may not take any away", r.Available, r)
		}
	}
	if !slices.Contains(updated, 1) || !slices.Contains(updated, 2) {
		t.Errorf("updated replicas went %v, want the pods replaced one by one", updated)
	}

	all, err := kc.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The last old pod may still be shutting down, as in a real cluster.
	after := slices.DeleteFunc(all, func(p cluster.Pod) bool { return p.Status == "Terminating" })
	if len(after) != 3 {
		t.Fatalf("%d pods after the rollout, want 3", len(after))
	}
	hash := templateHash(nil)
	for _, p := range after {
		if slices.ContainsFunc(before, func(b cluster.Pod) bool { return b.Name == p.Name }) {
			t.Errorf("old pod %s survived the rollout", p.Name)
		}
		obj, err := c.Clientset().CoreV1().Pods(Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if obj.Spec.Containers[0].Image != image || obj.Labels["pod-template-hash"] == hash {
			t.Errorf("pod %s runs %s with hash %s, want %s under a new hash", p.Name, obj.Spec.Containers[0].Image, obj.Labels["pod-template-hash"], image)
		}
	}
}

func TestPodsWaitForASchedulableNode(t *testing.T) {
	c, kc := running(t, fast)
	ctx := t.Context()
	if _, err := kc.SetSchedulable(ctx, "worker-1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Scale(ctx, 4); err != nil {
		t.Fatal(err)
	}
	// Wait for the scheduler's verdict: a pod marked PodScheduled=False
	// (Unschedulable). A pod placed anyway never gets it.
	deadline := time.Now().Add(5 * time.Second)
	for !hasUnschedulablePod(t, c) {
		if time.Now().After(deadline) {
			t.Fatal("no pod was marked Unschedulable within 5s of scaling to 4 with every node cordoned or tainted")
		}
		time.Sleep(2 * time.Millisecond)
	}
	pods, err := kc.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pending []cluster.Pod
	for _, p := range pods {
		if p.Status == "Pending" && p.Node == "" {
			pending = append(pending, p)
		}
	}
	if len(pods) != 4 || len(pending) != 1 {
		t.Fatalf("with every node cordoned or tainted: %+v, want one new pod Pending", pods)
	}
	if r, _ := kc.Rollout(ctx); r.Done {
		t.Errorf("Rollout = %+v while a pod cannot be placed, want not done", r)
	}
	if _, err := kc.SetSchedulable(ctx, "worker-2", true); err != nil {
		t.Fatal(err)
	}
	watch(t, kc, 5*time.Second)
	pods, err = kc.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Name == pending[0].Name && (p.Node != "worker-2" || p.Status != "Running") {
			t.Errorf("after uncordoning worker-2 the pending pod is %+v, want Running on worker-2", p)
		}
	}
}

// hasUnschedulablePod says whether the simulated scheduler has refused a
// pod of the Deployment (condition PodScheduled False, reason Unschedulable).
func hasUnschedulablePod(t *testing.T, c *Cluster) bool {
	t.Helper()
	list, err := c.Clientset().CoreV1().Pods(Namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				return true
			}
		}
	}
	return false
}

func TestUnschedulableMessage(t *testing.T) {
	c, err := NewCluster(fast, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Clientset().CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list.Items[0].Spec.Unschedulable = true
	p := &corev1.Pod{}
	if !setUnschedulable(p, list.Items, time.Now()) {
		t.Fatal("setUnschedulable reported no change on a new pod")
	}
	want := "0/3 nodes are available: 2 node(s) were unschedulable, 1 node(s) had untolerated taint {dedicated: monitoring}."
	if got := p.Status.Conditions[0].Message; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if setUnschedulable(p, list.Items, time.Now()) {
		t.Error("setUnschedulable reported a change for the same reasons: the controller would rewrite the pod every tick")
	}
}

func TestRegistry(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tags, err := NewRegistry(now).Tags(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range tags {
		names = append(names, tg.Name)
		if tg.Created.IsZero() || !tg.Created.Before(now) || !strings.HasPrefix(tg.Digest, "sha256:") {
			t.Errorf("tag %+v: want a build time before now and a digest", tg)
		}
	}
	if diff := cmp.Diff([]string{"main", "0.10.5", "0.10.4", "0.10.3"}, names); diff != "" {
		t.Errorf("tags, newest first (-want +got):\n%s", diff)
	}
}
