package chart

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/proctest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// Scale of BenchmarkScale.
const (
	benchNodes = 5000
	benchPods  = 1000
	benchNS    = "bench"     // the app's namespace, pods created directly
	benchBotNS = "bench-bot" // the chart's release
	nodeLabel  = "derrick.example.com/bench"
)

// BenchmarkScale: /get_nodes with 5,000 nodes and /get_pods with 1,000 pods,
// answered by the bot binary running as the chart's ServiceAccount, beside
// the kubectl command an operator would otherwise run, in the same cluster.
// ns/op of .../bot is the time from the user's message to the bot's last
// reply in the Telegram emulator.
//
//	go test -run '^$' -bench Scale -benchtime 5x ./test/chart/
func BenchmarkScale(b *testing.B) {
	ctx := context.Background()
	c := clustertest.Shared(b)
	if _, err := helmPath(); err != nil {
		proctest.SkipOrFail(b, "%v", err)
	}
	fast := unlimited(b, c.Config)

	c.SeedNodes(ctx, b) // kwok nodes for the pods
	start := time.Now()
	createNodes(ctx, b, fast, benchNodes)
	b.Logf("created %d nodes in %v", benchNodes, time.Since(start).Round(time.Millisecond))
	b.Cleanup(func() {
		_ = fast.CoreV1().Nodes().DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: nodeLabel})
	})
	start = time.Now()
	createPods(ctx, b, c, fast, benchPods)
	b.Logf("created %d pods in %v", benchPods, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	waitNodesUnreachable(ctx, b, fast)
	b.Logf("node lifecycle controller done with the nodes after another %v", time.Since(start).Round(time.Millisecond))

	tg := bottest.Telegram(b, token)
	createNamespace(ctx, b, c, benchBotNS, restricted)
	objs := render(b, benchBotNS, "-f", writeValues(b, map[string]any{
		"telegram": map[string]any{"token": token, "apiURL": tg.URL()},
		"chatops":  map[string]any{"operators": []int64{operator}},
		"app":      map[string]any{"namespace": benchNS},
		// /get_nodes and /get_pods never ask the registry.
		"registry":     map[string]any{"image": "127.0.0.1:1/oil/app", "insecure": true},
		"replicaCount": 0,
	}))
	if err := newApplier(b, c.Config).apply(ctx, objs, false); err != nil {
		b.Fatal(err)
	}
	env := envOf(b, objs, nil)
	env["KUBECONFIG"] = c.ServiceAccountKubeconfig(ctx, b, benchBotNS, deploymentOf(b, objs).Spec.Template.Spec.ServiceAccountName)
	env["BOT_HTTP_ADDR"] = "127.0.0.1:0"
	bot := startBot(b, env)
	w := &chat{tg: tg, bot: bot}

	kubectl, kubectlErr := exec.LookPath("kubectl")
	for _, bc := range []struct {
		name    string
		command string
		items   int // lines the reply must hold
		kubectl []string
	}{
		{"get_nodes", "/get_nodes", benchNodes + len(clustertest.StandardNodes()), []string{"get", "nodes", "-o", "wide"}},
		{"get_pods", "/get_pods", benchPods, []string{"get", "pods", "-n", benchNS, "-l", "app.kubernetes.io/name=" + clustertest.AppName, "-o", "wide"}},
	} {
		b.Run(bc.name+"/bot", func(b *testing.B) {
			var (
				msgs  int
				times []time.Duration
			)
			for b.Loop() {
				start := time.Now()
				got := w.say(b, operator, bc.command, func(last telegramtest.Message) bool { return last.Document != nil })
				times = append(times, time.Since(start))
				msgs += len(got)
				checkLongReply(b, got, bc.items)
			}
			logTimes(b, times)
			_, peak, err := proctest.Memory(bot.PID())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
			b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-rss")
		})
		b.Run(bc.name+"/kubectl", func(b *testing.B) {
			if kubectlErr != nil {
				b.Skip("kubectl not installed")
			}
			args := append([]string{"--kubeconfig", c.Kubeconfig}, bc.kubectl...)
			var (
				lines int
				times []time.Duration
			)
			for b.Loop() {
				start := time.Now()
				out, err := exec.Command(kubectl, args...).Output()
				if err != nil {
					b.Fatalf("kubectl %v: %v", args, err)
				}
				times = append(times, time.Since(start))
				lines = strings.Count(string(out), "\n") - 1 // less the header
			}
			logTimes(b, times)
			if lines != bc.items {
				b.Errorf("kubectl listed %d, want %d", lines, bc.items)
			}
		})
	}
	// Nothing arrived after the document: one reply per command.
	time.Sleep(200 * time.Millisecond)
	if n := tg.Calls("sendMessage"); n != 0 {
		b.Errorf("the bot also sent %d text messages", n)
	}
}

// checkLongReply: a reply of more than 4 messages' worth comes as one
// document holding every line, with the header as caption.
func checkLongReply(b *testing.B, msgs []telegramtest.Message, items int) {
	b.Helper()
	if len(msgs) != 1 || msgs[0].Document == nil {
		b.Fatalf("%d messages, want one document", len(msgs))
	}
	doc := msgs[0].Document
	if n := strings.Count(string(doc.Content), "\n"); n < items {
		b.Fatalf("document %s has %d lines, want at least %d", doc.Name, n, items)
	}
	if !strings.Contains(msgs[0].Plain, fmt.Sprintf("(%d)", items)) {
		b.Fatalf("caption %q does not count %d", msgs[0].Plain, items)
	}
}

// unlimited returns an admin client without client-side rate limit.
func unlimited(b *testing.B, cfg *rest.Config) kubernetes.Interface {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// parallel runs do(i) for i in [0, n) on 32 goroutines and fails b on the
// first error.
func parallel(b *testing.B, n int, do func(i int) error) {
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed error
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := do(i); err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
}

// createNodes creates n Ready nodes with external addresses that kwok does
// not manage (no kwok annotation): nothing heartbeats them, so they cost the
// control plane nothing until the node lifecycle controller marks them
// unreachable after its grace period (40s).
func createNodes(ctx context.Context, b *testing.B, cs kubernetes.Interface, n int) {
	now := metav1.Now()
	parallel(b, n, func(i int) error {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:   fmt.Sprintf("bench-node-%04d", i),
				Labels: map[string]string{nodeLabel: "true", "kubernetes.io/os": "linux"},
			},
			Status: corev1.NodeStatus{
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)}},
				Conditions: []corev1.NodeCondition{{
					Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
					LastHeartbeatTime: now, LastTransitionTime: now,
				}},
			},
		}
		_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		return err
	})
}

// createPods creates the app Deployment with 0 replicas (the bot lists the
// pods its selector selects) and n bare pods with its labels, bound to the
// kwok node node-ready, which runs them.
func createPods(ctx context.Context, b *testing.B, c *clustertest.Cluster, cs kubernetes.Interface, n int) {
	c.SeedNamespace(ctx, b, benchNS)
	labels := clustertest.AppSelector
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: clustertest.AppName, Namespace: benchNS, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: clustertest.AppContainer, Image: clustertest.AppImage}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(benchNS).Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	parallel(b, n, func(i int) error {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-bench-%04d", clustertest.AppName, i), Namespace: benchNS, Labels: labels},
			Spec: corev1.PodSpec{
				NodeName:                      clustertest.NodeReady,
				Containers:                    []corev1.Container{{Name: clustertest.AppContainer, Image: clustertest.AppImage}},
				TerminationGracePeriodSeconds: ptr.To[int64](0),
			},
		}
		_, err := cs.CoreV1().Pods(benchNS).Create(ctx, pod, metav1.CreateOptions{})
		return err
	})
	// Let kwok finish starting them, so the measurements see a quiet cluster.
	var running int
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(benchNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		running = 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running >= n, nil
	})
	if err != nil {
		b.Logf("%d of %d pods Running after 2m; measuring anyway", running, n)
	}
}

// waitNodesUnreachable waits (up to 2 minutes) until the node lifecycle
// controller has marked every bench node unreachable, which it does 40s
// after their creation, 5,000 updates at once: measured during that, both
// the bot and kubectl time the controller's load on the API server.
func waitNodesUnreachable(ctx context.Context, b *testing.B, cs kubernetes.Interface) {
	var tainted int
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: nodeLabel})
		if err != nil {
			return false, nil
		}
		tainted = 0
		for _, n := range nodes.Items {
			for _, t := range n.Spec.Taints {
				if t.Key == corev1.TaintNodeUnreachable && t.Effect == corev1.TaintEffectNoExecute {
					tainted++
					break
				}
			}
		}
		return tainted >= benchNodes, nil
	})
	if err != nil {
		b.Logf("%d of %d nodes marked unreachable after 2m; measuring anyway", tainted, benchNodes)
	}
}

// logTimes logs each iteration's time and the median: on a shared machine
// one slow iteration moves the mean (ns/op) a lot.
func logTimes(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	var each []string
	for _, d := range times {
		each = append(each, d.Round(time.Millisecond).String())
	}
	b.Logf("median %v of %s", sorted[len(sorted)/2].Round(time.Millisecond), strings.Join(each, " "))
}
