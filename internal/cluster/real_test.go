package cluster_test

// Tests on a real control plane (etcd, kube-apiserver, controller-manager,
// scheduler, kwok) from internal/clustertest, shared by this package's
// tests through TestMain. They skip when the binaries are missing (fail with
// CI=true); build them with hack/k8s/build-tools.sh.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

// realApp starts (or reuses) the shared cluster, seeds the standard nodes
// and the app with replicas pods in namespace ns, and returns the cluster
// and a Client for the app.
func realApp(t *testing.T, ns string, replicas int32) (*clustertest.Cluster, *cluster.Client) {
	t.Helper()
	c := clustertest.Shared(t)
	c.SeedNodes(t.Context(), t)
	c.SeedApp(t.Context(), t, ns, replicas)
	t.Cleanup(func() {
		// Deletion finishes in the background; the cluster is shared.
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	return c, cluster.New(c.Client, cluster.Target{Namespace: ns, Deployment: clustertest.AppName})
}

func TestRealNodes(t *testing.T) {
	c := clustertest.Shared(t)
	c.SeedNodes(t.Context(), t)
	nodes, err := cluster.New(c.Client, target).Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cluster.Node{}
	for _, n := range nodes {
		got[n.Name] = n
	}
	want := map[string]cluster.Node{
		clustertest.NodeReady:    {Name: clustertest.NodeReady, InternalIP: "127.0.0.1", ExternalIP: "203.0.113.10", Schedulable: true},
		clustertest.NodeCordoned: {Name: clustertest.NodeCordoned, InternalIP: "127.0.0.1", ExternalIP: "203.0.113.11", Reasons: []cluster.Reason{{Kind: cluster.Cordoned}}},
		clustertest.NodeTainted:  {Name: clustertest.NodeTainted, InternalIP: "127.0.0.1", ExternalIP: "203.0.113.12", Reasons: []cluster.Reason{{Kind: cluster.Tainted, TaintKey: "dedicated", TaintEffect: corev1.TaintEffectNoSchedule}}},
		clustertest.NodeNotReady: {Name: clustertest.NodeNotReady, InternalIP: "127.0.0.1", ExternalIP: "203.0.113.13", Reasons: []cluster.Reason{{Kind: cluster.NotReady}}},
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			delete(got, name) // another test's node
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Nodes (-want +got):\n%s", diff)
	}
}

func TestRealSetSchedulable(t *testing.T) {
	c := clustertest.Shared(t)
	const name = "node-toggle"
	c.SeedNodes(t.Context(), t, clustertest.NodeSpec{Name: name, ExternalIP: "203.0.113.30"})
	t.Cleanup(func() { _ = c.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	rec, cs := recording(t, c.Config)
	cl := cluster.New(cs, target)

	for _, step := range []struct {
		schedulable bool
		wantChanged bool
		wantWrites  []string
	}{
		{false, true, []string{"PATCH /api/v1/nodes/node-toggle"}},
		{false, false, nil},
		{true, true, []string{"PATCH /api/v1/nodes/node-toggle"}},
		{true, false, nil},
	} {
		rec.reset()
		changed, err := cl.SetSchedulable(t.Context(), name, step.schedulable)
		if err != nil {
			t.Fatalf("SetSchedulable(%v): %v", step.schedulable, err)
		}
		if changed != step.wantChanged {
			t.Errorf("SetSchedulable(%v) changed = %v, want %v", step.schedulable, changed, step.wantChanged)
		}
		if diff := cmp.Diff(step.wantWrites, rec.writes()); diff != "" {
			t.Errorf("SetSchedulable(%v) writes (-want +got):\n%s", step.schedulable, diff)
		}
		after, err := c.Client.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.Spec.Unschedulable != !step.schedulable {
			t.Errorf("after SetSchedulable(%v) spec.unschedulable = %v", step.schedulable, after.Spec.Unschedulable)
		}
	}

	if _, err := cl.SetSchedulable(t.Context(), "node-nope", false); !errors.Is(err, cluster.ErrNodeNotFound) {
		t.Errorf("cordon of an unknown node: got %v, want ErrNodeNotFound", err)
	}
}

func TestRealPermissions(t *testing.T) {
	c := clustertest.Shared(t)
	const ns, sa = "derrick-cluster-rbac", "no-rights"
	c.SeedNamespace(t.Context(), t, ns)
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(c.ServiceAccountConfig(t.Context(), t, ns, sa))
	if err != nil {
		t.Fatal(err)
	}
	cl := cluster.New(cs, cluster.Target{Namespace: ns, Deployment: clustertest.AppName})
	_, nodesErr := cl.Nodes(t.Context())
	_, cordonErr := cl.SetSchedulable(t.Context(), clustertest.NodeReady, false)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"list nodes", nodesErr, "list nodes: "},
		{"cordon", cordonErr, `cordon node "node-ready": `},
		{"ping", cl.Ping(t.Context()), "get deployments: check the chart's Role"},
	} {
		if !apierrors.IsForbidden(tc.err) || !strings.Contains(tc.err.Error(), tc.want) ||
			!strings.Contains(tc.err.Error(), "the bot's ServiceAccount lacks permission") {
			t.Errorf("%s as a ServiceAccount without rights: got %v, want Forbidden with %q and the fix", tc.name, tc.err, tc.want)
		}
	}
}

func TestRealPodsAndLogs(t *testing.T) {
	const ns = "derrick-cluster-pods"
	c, cl := realApp(t, ns, 2)
	ctx := t.Context()

	pods, err := cl.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(clustertest.AppSelector).String()})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range list.Items {
		want = append(want, p.Name)
	}
	var got []string
	for _, p := range pods {
		got = append(got, p.Name)
		if p.Phase != "Running" || p.Status != "Running" || p.Ready != 1 || p.Containers != 1 || p.Node == "" || p.Created.IsZero() {
			t.Errorf("pod %+v: want Running, 1/1 ready, on a node, with a creation time", p)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" || len(got) != 2 {
		t.Fatalf("Pods names, sorted (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name  string
		lines int64
		want  []string
	}{
		{"last 30 lines", 30, clustertest.AppLogLines()[clustertest.AppLogLineCount-30:]},
		{"more than the log has", 500, clustertest.AppLogLines()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := cl.Logs(ctx, pods[0].Name, tc.lines)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, lines); diff != "" {
				t.Errorf("Logs (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("a pod of another app is refused", func(t *testing.T) {
		other := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{"app.kubernetes.io/name": "other"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: clustertest.AppContainer, Image: clustertest.AppImage}}},
		}
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, other, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Logs(ctx, "other", 30); !errors.Is(err, cluster.ErrPodNotInDeployment) {
			t.Errorf("Logs of a pod of another app: got %v, want ErrPodNotInDeployment", err)
		}
		pods, err := cl.Pods(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			if p.Name == "other" {
				t.Error("Pods lists a pod the Deployment does not select")
			}
		}
	})

	// Look-alikes carry the Deployment's labels, so its selector selects
	// them, but it does not own them: a bare pod, and a pod of another
	// Deployment whose selector is narrower (the real ReplicaSet controller
	// creates it, so its owner chain is real).
	t.Run("a look-alike pod with the app's labels is refused", func(t *testing.T) {
		bare := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "look-alike", Labels: clustertest.AppSelector},
			Spec: corev1.PodSpec{
				NodeName:   clustertest.NodeReady,
				Containers: []corev1.Container{{Name: clustertest.AppContainer, Image: clustertest.AppImage}},
			},
		}
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"app.kubernetes.io/name": clustertest.AppName, "impostor": "true"}
		other := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "impostor"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						Containers:                    []corev1.Container{{Name: clustertest.AppContainer, Image: clustertest.AppImage}},
						TerminationGracePeriodSeconds: ptr.To[int64](0),
					},
				},
			},
		}
		if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, other, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var impostor string
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "impostor=true"})
			if err != nil || len(list.Items) == 0 || metav1.GetControllerOf(&list.Items[0]) == nil {
				return false, nil
			}
			impostor = list.Items[0].Name
			return true, nil
		})
		if err != nil {
			t.Fatalf("no pod of Deployment impostor: %v", err)
		}
		for _, name := range []string{"look-alike", impostor} {
			if _, err := cl.Logs(ctx, name, 30); !errors.Is(err, cluster.ErrPodNotInDeployment) {
				t.Errorf("Logs of look-alike pod %s: got %v, want ErrPodNotInDeployment", name, err)
			}
		}
		// The app's own pods are still readable after the extra check.
		if _, err := cl.Logs(ctx, pods[0].Name, 1); err != nil {
			t.Errorf("Logs of the app's pod %s: %v", pods[0].Name, err)
		}
	})
}

func TestRealScaleAndSetImage(t *testing.T) {
	const ns = "derrick-cluster-rollout"
	c, _ := realApp(t, ns, 2)
	rec, cs := recording(t, c.Config)
	cl := cluster.New(cs, cluster.Target{Namespace: ns, Deployment: clustertest.AppName})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	d, err := cl.Deployment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := cluster.Deployment{Name: clustertest.AppName, Namespace: ns, Container: clustertest.AppContainer,
		Image: clustertest.AppImage, Replicas: 2}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("Deployment (-want +got):\n%s", diff)
	}

	t.Run("scale 2 to 3", func(t *testing.T) {
		prev, err := cl.Scale(ctx, 3)
		if err != nil || prev != 2 {
			t.Fatalf("Scale(3) = %d, %v; want 2, nil", prev, err)
		}
		r, err := cl.WaitRollout(ctx, 100*time.Millisecond, nil)
		if err != nil {
			t.Fatalf("WaitRollout: %v (last %+v)", err, r)
		}
		if r.Desired != 3 || r.Available != 3 || !r.Done {
			t.Errorf("rollout %+v, want 3 available and done", r)
		}
		rec.reset()
		if prev, err := cl.Scale(ctx, 3); err != nil || prev != 3 {
			t.Fatalf("Scale(3) again = %d, %v; want 3, nil", prev, err)
		}
		if w := rec.writes(); len(w) != 0 {
			t.Errorf("Scale to the same number wrote: %v", w)
		}
	})

	t.Run("set image and follow the rollout", func(t *testing.T) {
		next := strings.TrimSuffix(clustertest.AppImage, ":1.4.2") + ":1.4.3"
		start := time.Now()
		prev, err := cl.SetImageCause(ctx, next, "")
		if err != nil || prev != clustertest.AppImage {
			t.Fatalf("SetImage = %q, %v; want %q, nil", prev, err, clustertest.AppImage)
		}
		var reports []cluster.Rollout
		r, err := cl.WaitRollout(ctx, 100*time.Millisecond, func(r cluster.Rollout) { reports = append(reports, r) })
		if err != nil {
			t.Fatalf("WaitRollout: %v (last %+v)", err, r)
		}
		t.Logf("rollout to %s done in %v after %d distinct reports", next, time.Since(start).Round(time.Millisecond), len(reports))
		if len(reports) == 0 || reports[len(reports)-1] != r || !r.Done {
			t.Errorf("reports %+v do not end with the final %+v", reports, r)
		}
		for i := 1; i < len(reports); i++ {
			if reports[i] == reports[i-1] {
				t.Errorf("report %d repeats the previous figures %+v", i, reports[i])
			}
		}

		// Every pod that is not going away runs the new image.
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(clustertest.AppSelector).String()})
		if err != nil {
			t.Fatal(err)
		}
		var live int
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			live++
			if img := p.Spec.Containers[0].Image; img != next || p.Status.Phase != corev1.PodRunning {
				t.Errorf("pod %s: %s on %s, want Running on %s", p.Name, p.Status.Phase, img, next)
			}
		}
		if live != 3 {
			t.Errorf("%d live pods, want 3", live)
		}

		rec.reset()
		if prev, err := cl.SetImageCause(ctx, next, ""); err != nil || prev != next {
			t.Fatalf("SetImage again = %q, %v; want %q, nil", prev, err, next)
		}
		if w := rec.writes(); len(w) != 0 {
			t.Errorf("SetImage to the same image wrote: %v", w)
		}
	})
}

func TestRealConfigAndPing(t *testing.T) {
	c := clustertest.Shared(t)
	cfg, err := cluster.Config(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.New(cs, target).Ping(t.Context()); err != nil {
		t.Errorf("Ping through Config(admin kubeconfig): %v", err)
	}
}

// recorder records the requests that pass through it as "METHOD PATH".
type recorder struct {
	rt   http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	return r.rt.RoundTrip(req)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

// count returns how many requests were "METHOD PATH".
func (r *recorder) count(req string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int
	for _, q := range r.reqs {
		if q == req {
			n++
		}
	}
	return n
}

// writes returns the requests that were not GETs.
func (r *recorder) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.reqs {
		if !strings.HasPrefix(q, http.MethodGet+" ") {
			out = append(out, q)
		}
	}
	return out
}

// recording returns a clientset for cfg whose requests rec records.
func recording(t *testing.T, cfg *rest.Config) (*recorder, kubernetes.Interface) {
	t.Helper()
	rec := &recorder{}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.rt = rt; return rec })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rec, cs
}

func TestRealNodesPaging(t *testing.T) {
	c := clustertest.Shared(t)
	const count, workers, prefix = 1200, 8, "paging-"

	fast := rest.CopyConfig(c.Config)
	fast.QPS, fast.Burst = -1, 0 // no client-side rate limit
	admin, err := kubernetes.NewForConfig(fast)
	if err != nil {
		t.Fatal(err)
	}
	name := func(i int) string { return fmt.Sprintf("%s%04d", prefix, i) }
	t.Cleanup(func() {
		// One DELETE per node from several workers: DeleteCollection
		// deletes one node at a time on the server and takes longer.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := parallel(count, workers, func(i int) error {
			err := admin.CoreV1().Nodes().Delete(ctx, name(i), metav1.DeleteOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}); err != nil {
			t.Errorf("delete paging nodes: %v", err)
		}
	})

	start := time.Now()
	if err := parallel(count, workers, func(i int) error {
		// Not managed by kwok, and tainted like a node that has not
		// reported Ready yet, so nothing is scheduled there.
		_, err := admin.CoreV1().Nodes().Create(t.Context(), &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name(i)},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{
				{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}}},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		t.Fatalf("create nodes: %v", err)
	}
	created := time.Since(start)

	rec, cs := recording(t, c.Config)
	start = time.Now()
	nodes, err := cluster.New(cs, target).Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	listed := time.Since(start)
	t.Logf("created %d nodes in %v; Nodes() listed %d in %v with %d requests",
		count, created.Round(time.Millisecond), len(nodes), listed.Round(time.Millisecond), rec.count("GET /api/v1/nodes"))

	var got int
	for i, n := range nodes {
		if i > 0 && nodes[i-1].Name >= n.Name {
			t.Fatalf("nodes not sorted or repeated: %q then %q", nodes[i-1].Name, n.Name)
		}
		if strings.HasPrefix(n.Name, prefix) {
			if want := name(got); n.Name != want {
				t.Fatalf("paging node %d is %q, want %q", got, n.Name, want)
			}
			got++
		}
	}
	if got != count {
		t.Errorf("Nodes returned %d of the %d paging nodes", got, count)
	}
	if want := (len(nodes) + 4999) / 5000; rec.count("GET /api/v1/nodes") != want {
		t.Errorf("Nodes made %d list requests for %d nodes, want %d pages of 5,000", rec.count("GET /api/v1/nodes"), len(nodes), want)
	}
}

// parallel calls fn(0) to fn(n-1) from workers goroutines and returns the
// first error; after an error the remaining calls are skipped.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		next    atomic.Int64
		errOnce sync.Once
		first   error
		failed  atomic.Bool
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errOnce.Do(func() { first = err; failed.Store(true) })
				}
			}
		})
	}
	wg.Wait()
	return first
}
