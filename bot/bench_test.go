package main

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/deploy"
	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// Benchmarks of the bot's command handling on the real control plane,
// beside the kubectl process an operator would otherwise run (see
// docs/PERFORMANCE.md):
//
//	CI=true go test -run '^$' -bench . -benchtime 20x ./bot/

var benchCommands = []struct {
	name    string
	command string
	kubectl []string
}{
	{"get_nodes", "/get_nodes", []string{"get", "nodes", "-o", "wide"}},
	{"get_pods", "/get_pods", []string{"get", "pods", "-n", ns, "-l", "app.kubernetes.io/name=oil-refinery-application"}},
	{"get_logs", "/get_logs POD", []string{"logs", "-n", ns, "--tail=30", "POD"}},
	{"cordon", "/cordon node-tainted", []string{"cordon", "node-tainted"}},
}

func benchCluster(b *testing.B) (*clustertest.Cluster, string) {
	c := clustertest.Shared(b)
	ctx := context.Background()
	seedOnce.Do(func() {
		c.SeedNodes(ctx, b)
		c.SeedApp(ctx, b, ns, 3)
	})
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, listApp)
	if err != nil || len(pods.Items) == 0 {
		b.Fatalf("no app pods: %v", err)
	}
	return c, pods.Items[0].Name
}

func BenchmarkBotCommand(b *testing.B) {
	c, pod := benchCluster(b)
	// The bot's own client configuration (cluster.Config: QPS 20, burst 40),
	// without the client-side rate limiter, which back-to-back iterations
	// would otherwise measure instead of the handling.
	cfg, err := cluster.Config(c.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	kc := cluster.New(kube, cluster.Target{Namespace: ns, Deployment: clustertest.AppName})
	core := chatops.New(chatops.Config{Operators: []int64{operator}}, kc, &deploy.KubernetesDeployer{Cluster: kc},
		nil, slog.New(slog.NewJSONHandler(io.Discard, nil)), ns, clustertest.AppName)
	for _, bc := range benchCommands {
		b.Run(bc.name, func(b *testing.B) {
			text := strings.ReplaceAll(bc.command, "POD", pod)
			for b.Loop() {
				res := core.Handle(context.Background(), chatops.Input{UserID: operator, ChatID: operator, Private: true, Text: text, Sent: time.Now()}, "")
				if res.Outcome != chatops.OutcomeOK && res.Outcome != chatops.OutcomeNoop {
					b.Fatalf("%s: %s", text, res.Outcome)
				}
				_ = res.Reply.Text() // rendered as the adapter renders a short reply
			}
		})
	}
}

func BenchmarkKubectl(b *testing.B) {
	c, pod := benchCluster(b)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		b.Skip("kubectl not installed")
	}
	for _, bc := range benchCommands {
		b.Run(bc.name, func(b *testing.B) {
			args := append([]string{"--kubeconfig", c.Kubeconfig}, bc.kubectl...)
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "POD", pod)
			}
			for b.Loop() {
				if out, err := exec.Command(kubectl, args...).CombinedOutput(); err != nil {
					b.Fatalf("kubectl %v: %v\n%s", args, err, out)
				}
			}
		})
	}
}

// BenchmarkIdleRSS reports the resident memory of a started, idle bot
// process (after start-up and a few polls), in MiB.
func BenchmarkIdleRSS(b *testing.B) {
	w := newWorld(b)
	w.say(b, viewer, "/get_nodes", nil) // warm: one command handled
	time.Sleep(3 * time.Second)         // then idle, long-polling
	rss, _, err := proctest.Memory(w.bot.PID())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(rss)/(1<<20), "MiB-rss")
}

var listApp = metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=oil-refinery-application"}
