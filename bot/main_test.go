package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/registrytest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// End-to-end tests: the built bot binary against the Telegram emulator, a
// real kube-apiserver with kwok nodes and pods (internal/clustertest) and a
// real OCI registry (internal/registrytest).

const (
	token    = "7000000002:AAFakeBotTokenForDerrickE2E_abc-d"
	operator = 1001
	viewer   = 2002
	stranger = 3003
	ns       = "oil"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bot-test")
	if err != nil {
		panic(err)
	}
	if binary, err = bottest.Build(".", dir); err != nil {
		panic(err)
	}
	code := clustertest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is everything one bot process talks to.
type world struct {
	cluster  *clustertest.Cluster
	registry *registrytest.Registry
	tg       *telegramtest.Server
	bot      *bottest.Bot
	repo     string   // REGISTRY_IMAGE
	env      []string // the bot's environment, to start it again
	// digests are the tags pushed before the bot started and their digests.
	digests map[string]string
}

var seedOnce sync.Once

func newWorld(t testing.TB, extraEnv ...string) *world {
	t.Helper()
	return newWorldWith(t, nil, extraEnv...)
}

// newWorldWith is newWorld with setup run on the Telegram emulator before
// the bot starts (to create the team's group, say).
func newWorldWith(t testing.TB, setup func(*telegramtest.Server), extraEnv ...string) *world {
	t.Helper()
	ctx := context.Background()
	c := clustertest.Shared(t)
	seedOnce.Do(func() {
		c.SeedNodes(ctx, t)
		c.SeedApp(ctx, t, ns, 3)
	})
	reg := registrytest.Start(t)
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	digests := map[string]string{}
	for i, tag := range []string{"0.10.3", "0.10.4", "main", "0.10.5"} {
		digests[tag] = reg.Push(t, "oil/app", tag, base.Add(time.Duration(i)*24*time.Hour))
	}
	tg := bottest.Telegram(t, token)
	if setup != nil {
		setup(tg)
	}
	w := &world{cluster: c, registry: reg, tg: tg, repo: reg.Host + "/oil/app", digests: digests}
	w.env = append([]string{
		"TELEGRAM_BOT_TOKEN=" + token,
		"TELEGRAM_API_URL=" + tg.URL(),
		fmt.Sprintf("CHATOPS_OPERATORS=%d", operator),
		fmt.Sprintf("CHATOPS_VIEWERS=%d", viewer),
		"KUBECONFIG=" + c.Kubeconfig,
		"APP_NAMESPACE=" + ns,
		"REGISTRY_SOURCE=oci",
		"REGISTRY_IMAGE=" + w.repo,
		"REGISTRY_USERNAME=" + reg.User,
		"REGISTRY_PASSWORD=" + reg.Password,
		"REGISTRY_INSECURE=true",
		"BOT_HTTP_ADDR=127.0.0.1:0",
		"BOT_ROLLOUT_TIMEOUT=60s",
	}, extraEnv...)
	w.bot = startBot(t, w.env)
	return w
}

func startBot(t testing.TB, env []string) *bottest.Bot {
	t.Helper()
	return bottest.Start(t, binary, token, env)
}

// say sends text as user in a DM and waits until the bot has answered, and
// the last answer satisfies done (nil: any).
func (w *world) say(t testing.TB, user int64, text string, done func(last telegramtest.Message) bool) []telegramtest.Message {
	t.Helper()
	return w.bot.Say(t, w.tg, user, text, done)
}

func TestOperatorRunsEveryCommand(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	kube := w.cluster.Client

	t.Run("command menu", func(t *testing.T) {
		for lang, first := range map[string]string{"": "версии образа в реестре", "en": "image versions in the registry"} {
			menu := w.tg.Commands(telegramtest.CommandScope{}, lang)
			if len(menu) != 11 || menu[0].Command != "showcontainers" || menu[0].Description != first {
				t.Errorf("setMyCommands for language %q: %+v", lang, menu)
			}
		}
	})

	t.Run("get_nodes", func(t *testing.T) {
		bottest.CheckSeededNodes(t, bottest.Plain(w.say(t, operator, "/get_nodes", nil)))
	})

	t.Run("cordon and uncordon", func(t *testing.T) {
		if got := bottest.Plain(w.say(t, operator, "/cordon node-ready", nil)); !strings.Contains(got, "выведена") {
			t.Fatalf("/cordon: %s", got)
		}
		if n, _ := kube.CoreV1().Nodes().Get(ctx, "node-ready", metav1.GetOptions{}); !n.Spec.Unschedulable {
			t.Errorf("node-ready is still schedulable after /cordon")
		}
		if got := bottest.Plain(w.say(t, operator, "/cordon node-ready", nil)); !strings.Contains(got, "уже недоступна") {
			t.Errorf("second /cordon: %s", got)
		}
		if got := bottest.Plain(w.say(t, operator, "/uncordon node-ready", nil)); !strings.Contains(got, "снова доступна") {
			t.Fatalf("/uncordon: %s", got)
		}
		if n, _ := kube.CoreV1().Nodes().Get(ctx, "node-ready", metav1.GetOptions{}); n.Spec.Unschedulable {
			t.Errorf("node-ready is still cordoned after /uncordon")
		}
		if got := bottest.Plain(w.say(t, operator, "/cordon node-nowhere", nil)); !strings.Contains(got, "нет в кластере") {
			t.Errorf("/cordon of an unknown node: %s", got)
		}
	})

	t.Run("get_pods and get_logs", func(t *testing.T) {
		pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=oil-refinery-application"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("pods: %v", err)
		}
		got := bottest.Plain(w.say(t, operator, "/get_pods", nil))
		for _, p := range pods.Items {
			if !strings.Contains(got, p.Name) {
				t.Errorf("/get_pods lacks %s:\n%s", p.Name, got)
			}
		}
		pod := pods.Items[0].Name
		msgs := w.say(t, operator, "/get_logs "+pod, nil)
		all := clustertest.AppLogLines()
		want := "Последние 30 строк лога " + pod + ":\n" + strings.Join(all[len(all)-30:], "\n")
		if got := bottest.Plain(msgs); got != want {
			t.Errorf("/get_logs:\n got %q\nwant %q", got, want)
		}
		if got := bottest.Plain(w.say(t, operator, "/get_logs kube-apiserver-0", nil)); !strings.Contains(got, "/get_pods") {
			t.Errorf("/get_logs of a foreign pod: %s", got)
		}
	})

	t.Run("showcontainers", func(t *testing.T) {
		got := bottest.Plain(w.say(t, operator, "/showcontainers", nil))
		order := regexp.MustCompile(`(?s)0\.10\.5.*main.*0\.10\.4.*0\.10\.3`)
		if !order.MatchString(got) {
			t.Errorf("/showcontainers not newest first:\n%s", got)
		}
	})

	t.Run("set_replicas", func(t *testing.T) {
		if got := bottest.Plain(w.say(t, operator, "/set_replicas 4", nil)); !strings.Contains(got, "3 → 4") {
			t.Fatalf("/set_replicas: %s", got)
		}
		d, _ := kube.AppsV1().Deployments(ns).Get(ctx, "oil-refinery-application", metav1.GetOptions{})
		if *d.Spec.Replicas != 4 {
			t.Errorf("replicas %d, want 4", *d.Spec.Replicas)
		}
		if got := bottest.Plain(w.say(t, operator, "/set_replicas 11", nil)); !strings.Contains(got, "от 0 до 10") {
			t.Errorf("/set_replicas 11: %s", got)
		}
		w.say(t, operator, "/set_replicas 3", nil)
	})

	t.Run("deploy", func(t *testing.T) {
		if got := bottest.Plain(w.say(t, operator, "/deploy 9.9.9", nil)); !strings.Contains(got, "нет в реестре") {
			t.Errorf("/deploy of an unknown tag: %s", got)
		}
		msgs := w.say(t, operator, "/deploy 0.10.5", func(last telegramtest.Message) bool {
			return strings.Contains(last.Plain, "развёрнута") || strings.Contains(last.Plain, "не ")
		})
		last := msgs[len(msgs)-1]
		digest := w.digests["0.10.5"]
		if want := "✅ 0.10.5 (" + digest[:19] + ") развёрнута"; !strings.HasPrefix(last.Plain, want) {
			t.Fatalf("/deploy ended with %q, want %q… (history %q)", last.Plain, want, last.History)
		}
		if len(last.History) == 0 {
			t.Errorf("the progress message was never edited")
		}
		d, _ := kube.AppsV1().Deployments(ns).Get(ctx, "oil-refinery-application", metav1.GetOptions{})
		if img, want := d.Spec.Template.Spec.Containers[0].Image, w.repo+":0.10.5@"+digest; img != want {
			t.Errorf("image %q, want %q", img, want)
		}
	})
}

func TestStrangersAndViewersChangeNothing(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	kube := w.cluster.Client
	snapshot := func() string {
		nodes, _ := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		d, _ := kube.AppsV1().Deployments(ns).Get(ctx, "oil-refinery-application", metav1.GetOptions{})
		var b strings.Builder
		for _, n := range nodes.Items {
			fmt.Fprintf(&b, "%s:%v ", n.Name, n.Spec.Unschedulable)
		}
		fmt.Fprintf(&b, "replicas:%d image:%s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
		return b.String()
	}
	before := snapshot()
	mutating := []string{"/deploy 0.10.4", "/set_replicas 1", "/cordon node-ready", "/uncordon node-cordoned"}
	reads := []string{"/showcontainers", "/get_nodes", "/get_pods", "/get_logs x"}
	// A stranger is refused once per BOT_STRANGER_REPLY_EVERY; the rest
	// is dropped, and nothing runs.
	if got := bottest.Plain(w.say(t, stranger, mutating[0], nil)); !strings.Contains(got, "Доступ запрещён") {
		t.Errorf("stranger %s: %s", mutating[0], got)
	}
	for _, cmd := range append(mutating[1:], reads...) {
		w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: stranger}, Text: cmd})
	}
	waitUntil(t, w.tg, 30*time.Second, "the stranger's commands confirmed", func() bool { return w.tg.Pending() == 0 })
	if n := len(w.tg.Messages(stranger)); n != 1 {
		t.Errorf("the stranger got %d answers to %d commands, want 1", n, len(mutating)+len(reads))
	}
	for _, cmd := range mutating {
		if got := bottest.Plain(w.say(t, viewer, cmd, nil)); !strings.Contains(got, "только операторам") {
			t.Errorf("viewer %s: %s", cmd, got)
		}
	}
	if got := bottest.Plain(w.say(t, viewer, "/get_nodes", nil)); !strings.Contains(got, "node-ready") {
		t.Errorf("viewer /get_nodes: %s", got)
	}
	if after := snapshot(); after != before {
		t.Errorf("the cluster changed:\nbefore %s\nafter  %s", before, after)
	}
}

func TestFaultsAnswerEveryCommandExactlyOnce(t *testing.T) {
	w := newWorld(t)
	faults := []telegramtest.Fault{
		{Method: "sendMessage", Times: 1, Status: 429, RetryAfter: 1},
		{Method: "getUpdates", Times: 2, Status: 502, Description: "Bad Gateway"},
		{Method: "sendMessage", Times: 1, Status: 500, Description: "Internal Server Error"},
		{Method: "sendMessage", Times: 1, Drop: true},
		{Method: "getUpdates", Times: 1, Drop: true},
	}
	for _, f := range faults {
		if err := w.tg.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	cmds := []string{"/cordon node-tainted", "/get_pods", "/uncordon node-tainted", "/help", "/get_nodes"}
	for _, cmd := range cmds {
		w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Text: cmd})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msgs, err := w.tg.WaitFor(ctx, operator, func(m []telegramtest.Message) bool { return len(m) >= len(cmds) })
	if err != nil {
		t.Fatalf("got %d answers to %d commands: %v", len(msgs), len(cmds), err)
	}
	// A marker sent last is answered last (one chat's commands run in
	// order), so a duplicate of any answer above arrives before it.
	const marker = "/marker_after_faults"
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Text: marker})
	msgs, err = w.tg.WaitFor(ctx, operator, func(m []telegramtest.Message) bool {
		return len(m) > 0 && strings.Contains(m[len(m)-1].Plain, marker)
	})
	if err != nil {
		t.Fatalf("the marker %s was not answered: %v\n%s", marker, err, bottest.Plain(msgs))
	}
	if msgs = msgs[:len(msgs)-1]; len(msgs) != len(cmds) {
		t.Errorf("%d answers to %d commands:\n%s", len(msgs), len(cmds), bottest.Plain(msgs))
	}
	var cordons, uncordons int
	for _, m := range msgs {
		cordons += strings.Count(m.Plain, "выведена из размещения")
		uncordons += strings.Count(m.Plain, "снова доступна")
	}
	if cordons != 1 || uncordons != 1 {
		t.Errorf("cordon answered %d times, uncordon %d; want once each", cordons, uncordons)
	}
	if !strings.Contains(w.bot.Logs(), "poll failed; backing off") {
		t.Errorf("the poll faults were not logged")
	}
}

func TestHTTPEndpointsAndGracefulStop(t *testing.T) {
	w := newWorld(t)
	base := "http://" + w.bot.HTTPAddr()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ok", "/metrics": "derrick_bot_commands_total"} {
		if path == "/metrics" {
			w.say(t, viewer, "/get_pods", nil)
		}
		var (
			resp *http.Response
			body []byte
			err  error
		)
		// Metrics are recorded just after the answer is sent: allow a moment.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err = http.Get(base + path); err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) || time.Now().After(deadline) {
				break
			}
		}
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d %.200q, want 200 with %q", path, resp.StatusCode, body, want)
		}
	}
	// A command in flight when SIGTERM arrives is finished and confirmed.
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Text: "/get_nodes"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := w.tg.WaitFor(ctx, operator, func(m []telegramtest.Message) bool { return len(m) == 1 }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w.bot.Signal(syscall.SIGTERM)
	select {
	case <-w.bot.Done():
		if err := w.bot.Err(); err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the bot did not stop within 10s of SIGTERM")
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if n := w.tg.Pending(); n != 0 {
		t.Errorf("%d updates left unconfirmed after shutdown; they would run again", n)
	}
}

func TestStartupRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no token", []string{"CHATOPS_OPERATORS=1"}, "TELEGRAM_BOT_TOKEN is not set"},
		{"nobody allowed", []string{"TELEGRAM_BOT_TOKEN=" + token}, "none of CHATOPS_OPERATORS, CHATOPS_VIEWERS, CHATOPS_GROUP_ID is set"},
		{"malformed group id", []string{"TELEGRAM_BOT_TOKEN=" + token, "CHATOPS_GROUP_ID=@oil_team"}, `CHATOPS_GROUP_ID must be the numeric id of a Telegram group, negative such as -1001234567890, got \"@oil_team\"`},
		{"malformed group role", []string{"TELEGRAM_BOT_TOKEN=" + token, "CHATOPS_GROUP_ID=-1001234567890", "CHATOPS_GROUP_MEMBER_ROLE=reader"}, `CHATOPS_GROUP_MEMBER_ROLE must be one of operator, viewer, none, got \"reader\"`},
		{"username instead of id", []string{"TELEGRAM_BOT_TOKEN=" + token, "CHATOPS_OPERATORS=@boss"}, `CHATOPS_OPERATORS must be comma-separated numeric Telegram user ids`},
		{"bad max replicas", []string{"TELEGRAM_BOT_TOKEN=" + token, "CHATOPS_OPERATORS=1", "REGISTRY_SOURCE=oci", "REGISTRY_IMAGE=r.example.com/oil/app", "BOT_MAX_REPLICAS=ten"}, "BOT_MAX_REPLICAS must be a whole number from 0 to 1000"},
		{"no source", []string{"TELEGRAM_BOT_TOKEN=" + token, "CHATOPS_OPERATORS=1"}, "REGISTRY_SOURCE is not set"},
		{"bad source", []string{"TELEGRAM_BOT_TOKEN=" + token, "CHATOPS_OPERATORS=1", "REGISTRY_SOURCE=dockerhub"}, "REGISTRY_SOURCE must be one of gitlab, oci"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary)
			cmd.Env = tt.env
			out, err := cmd.CombinedOutput()
			exit, ok := err.(*exec.ExitError)
			if !ok || exit.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; output %s", err, out)
			}
			if lines := strings.Count(strings.TrimSpace(string(out)), "\n"); lines != 0 || !strings.Contains(string(out), tt.want) {
				t.Errorf("output %q, want one line with %q", out, tt.want)
			}
			if strings.Contains(string(out), token) {
				t.Errorf("token in output")
			}
		})
	}
}
