package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// End-to-end tests of delivery under hung dependencies, floods, groups,
// forwards and crashes (issue 12): the built bot, the emulator and the real
// API server.

// waitMsgs waits up to d until chat has at least n answers.
func waitMsgs(t *testing.T, tg *telegramtest.Server, chat int64, n int, d time.Duration) []telegramtest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	msgs, err := tg.WaitFor(ctx, chat, func(m []telegramtest.Message) bool { return len(m) >= n })
	if err != nil {
		t.Fatalf("chat %d: %d answers within %s, want %d: %+v", chat, len(msgs), d, n, msgs)
	}
	return msgs
}

// waitUntil waits up to d for cond, re-checking at every change of the
// emulator's state.
func waitUntil(t *testing.T, tg *telegramtest.Server, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		changed := tg.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("not within %s: %s", d, what)
		}
	}
}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHungGitLabIsNamedWithinTheCommandTimeout(t *testing.T) {
	stop := make(chan struct{})
	gitlab := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never answers
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(func() { close(stop); gitlab.Close() })
	const timeout = 3 * time.Second
	w := newWorld(t, "REGISTRY_SOURCE=gitlab", "GITLAB_URL="+gitlab.URL, "GITLAB_TOKEN=glpat-hung", "GITLAB_PROJECT=oil/app",
		"BOT_COMMAND_TIMEOUT="+timeout.String())

	start := time.Now()
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Text: "/showcontainers"})
	// Another chat is served while the registry hangs.
	got := bottest.Plain(w.say(t, viewer, "/get_nodes", nil))
	if !strings.Contains(got, "node-ready") || len(w.tg.Messages(operator)) != 0 {
		t.Fatalf("viewer got %q; operator answers %d", got, len(w.tg.Messages(operator)))
	}
	msgs := waitMsgs(t, w.tg, operator, 1, timeout+10*time.Second)
	took := time.Since(start)
	if want := "⏱ /showcontainers: реестр образов не ответил за 3s"; !strings.HasPrefix(msgs[0].Plain, want) {
		t.Errorf("answer %q, want %q", msgs[0].Plain, want)
	}
	if took < timeout || took > timeout+5*time.Second {
		t.Errorf("answered after %s, want about BOT_COMMAND_TIMEOUT (%s)", took, timeout)
	}
	t.Logf("hung registry answered after %s", took.Round(time.Millisecond))
	if code, body := httpGet(t, "http://"+w.bot.HTTPAddr()+"/readyz"); code != 503 || !strings.Contains(body, "registry: last call") || strings.Contains(body, "telegram") {
		t.Errorf("/readyz = %d %q, want 503 naming the registry only", code, body)
	}

	// More hung commands than slots: each is answered, two waves at most.
	const chats = 20
	start = time.Now()
	for i := range chats {
		w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Chat: telegramtest.Chat{ID: int64(-1000 - i)}, Text: "/showcontainers@oil_bot"})
	}
	for i := range chats {
		waitMsgs(t, w.tg, int64(-1000-i), 1, 2*timeout+10*time.Second)
	}
	t.Logf("%d hung commands over 16 slots answered in %s", chats, time.Since(start).Round(time.Millisecond))
	if got := bottest.Plain(w.say(t, viewer, "/get_pods", nil)); !strings.Contains(got, "oil-refinery-application") {
		t.Errorf("viewer after the wave: %q", got)
	}
}

func TestStrangerFloodKeepsMetricsSmallAndOperatorsServed(t *testing.T) {
	w := newWorld(t)
	const strangers, each = 100, 10
	for i := range strangers * each {
		user := int64(500_000 + i%strangers)
		w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: user}, Text: fmt.Sprintf("/x%d_%d", i, i*7919)})
	}
	if got := bottest.Plain(w.say(t, operator, "/help", nil)); !strings.Contains(got, "/deploy") {
		t.Errorf("operator /help during the flood: %q", got)
	}
	waitUntil(t, w.tg, 60*time.Second, "every stranger message confirmed", func() bool { return w.tg.Pending() == 0 })
	for i := range strangers {
		if n := len(w.tg.Messages(int64(500_000 + i))); n != 1 {
			t.Fatalf("stranger %d got %d answers to %d messages, want 1", 500_000+i, n, each)
		}
	}
	// Metrics are recorded just after the last answer.
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body = httpGet(t, "http://"+w.bot.HTTPAddr()+"/metrics")
		if strings.Contains(body, fmt.Sprintf(`derrick_bot_commands_total{command="unknown",outcome="refused"} %d`, strangers*each)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(body, fmt.Sprintf(`derrick_bot_commands_total{command="unknown",outcome="refused"} %d`, strangers*each)) {
		t.Errorf("strangers' commands not counted as unknown:\n%s", grepLines(body, "derrick_bot_commands_total"))
	}
	if len(body) > 100_000 || strings.Contains(body, `command="x1_`) {
		t.Errorf("/metrics is %d bytes; stranger labels: %v", len(body), strings.Contains(body, `command="x1_`))
	}
	t.Logf("/metrics after %d stranger messages: %d bytes", strangers*each, len(body))
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestGroupsAndForwards(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	const group = -100200300
	in := func(text string, forwarded bool) {
		m := telegramtest.Incoming{From: telegramtest.User{ID: operator}, Chat: telegramtest.Chat{ID: group, Type: "supergroup"}, Text: text}
		if forwarded {
			m.ForwardFrom = &telegramtest.User{ID: operator}
		}
		w.tg.Inject(m)
	}
	in("/get_nodes", false)                     // bare: meant for some other bot
	in("/cordon@oil_bot node-ready", true)      // forwarded: never run
	in("/get_logs@oil_bot app-0", false)        // logs would reach every member
	in("/get_nodes@oil_bot", false)             // runs
	in("/get_pods@other_bot", false)            // not ours
	in("/uncordon@oil_bot node-cordoned", true) // forwarded
	msgs := waitMsgs(t, w.tg, group, 4, 30*time.Second)
	waitUntil(t, w.tg, 10*time.Second, "all confirmed", func() bool { return w.tg.Pending() == 0 })
	msgs = w.tg.Messages(group)
	if len(msgs) != 4 {
		t.Fatalf("%d answers in the group, want 4:\n%s", len(msgs), bottest.Plain(msgs))
	}
	// Refusals are sent apart from commands, so their order may differ.
	counts := map[string]int{}
	for _, m := range msgs {
		for _, want := range []string{"Пересланные сообщения не выполняются", "В группе /get_logs не выполняется", "Ноды кластера"} {
			if strings.Contains(m.Plain, want) {
				counts[want]++
			}
		}
	}
	if counts["Пересланные сообщения не выполняются"] != 2 || counts["В группе /get_logs не выполняется"] != 1 || counts["Ноды кластера"] != 1 {
		t.Errorf("answers in the group:\n%s\nwant 2 forward refusals, 1 get_logs refusal, 1 node list", bottest.Plain(msgs))
	}
	for name, want := range map[string]bool{"node-ready": false, "node-cordoned": true} {
		n, err := w.cluster.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil || n.Spec.Unschedulable != want {
			t.Errorf("%s unschedulable = %v (%v), want %v: a forward was run", name, n.Spec.Unschedulable, err, want)
		}
	}
	// In a DM too.
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Text: "/set_replicas 0", ForwardFrom: &telegramtest.User{ID: viewer}})
	if got := bottest.Plain(waitMsgs(t, w.tg, operator, 1, 30*time.Second)); !strings.Contains(got, "Пересланные") {
		t.Errorf("forward in a DM: %q", got)
	}
}

// A kill -9 at any moment loses no command and applies none twice: killed
// after the change but before its answer, the restarted bot answers "already
// done"; killed with a command queued and not started, the restarted bot
// runs it. A SIGTERM leaves commands not started for the next instance.
func TestKillAndRestartRunEveryCommandOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	deploy := func() (replicas int32, generation int64) {
		d, err := w.cluster.Client.AppsV1().Deployments(ns).Get(ctx, clustertest.AppName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas, d.Generation
	}
	t.Cleanup(func() {
		s, err := w.cluster.Client.AppsV1().Deployments(ns).GetScale(ctx, clustertest.AppName, metav1.GetOptions{})
		if err == nil && s.Spec.Replicas != 3 {
			s.Spec.Replicas = 3
			_, _ = w.cluster.Client.AppsV1().Deployments(ns).UpdateScale(ctx, clustertest.AppName, s, metav1.UpdateOptions{})
		}
		node, err := w.cluster.Client.CoreV1().Nodes().Get(ctx, "node-tainted", metav1.GetOptions{})
		if err == nil && node.Spec.Unschedulable {
			node.Spec.Unschedulable = false
			_, _ = w.cluster.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		}
	})
	replicas0, gen0 := deploy()
	if replicas0 == 5 {
		t.Fatalf("the app already has 5 replicas")
	}
	// The answer of /set_replicas 5 hangs in Telegram: the change is
	// applied, its update not confirmed, a /cordon queued behind it.
	if err := w.tg.InjectFault(telegramtest.Fault{Method: "sendMessage", Times: 1, Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	sends := w.tg.Calls("sendMessage")
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Text: "/set_replicas 5"})
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Text: "/cordon node-tainted"})
	waitUntil(t, w.tg, 30*time.Second, "the answer to /set_replicas is being sent", func() bool { return w.tg.Calls("sendMessage") > sends })
	if r, g := deploy(); r != 5 || g != gen0+1 {
		t.Fatalf("before the kill: replicas %d generation %d, want 5 and %d", r, g, gen0+1)
	}
	if err := w.bot.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-w.bot.Done()
	if n := w.tg.Pending(); n != 2 {
		t.Fatalf("%d updates unconfirmed after kill -9, want 2", n)
	}

	second := startBot(t, w.env)
	msgs := waitMsgs(t, w.tg, operator, 2, 60*time.Second)
	if !strings.Contains(msgs[0].Plain, "уже 5 реплик") || !strings.Contains(msgs[1].Plain, "выведена из размещения") {
		t.Errorf("after the restart:\n%s\nwant /set_replicas answered as already done, then /cordon run", bottest.Plain(msgs))
	}
	if r, g := deploy(); r != 5 || g != gen0+1 {
		t.Errorf("after the restart: replicas %d generation %d, want 5 and %d (applied once)", r, g, gen0+1)
	}
	waitUntil(t, w.tg, 10*time.Second, "all confirmed after the restart", func() bool { return w.tg.Pending() == 0 })

	// SIGTERM while an answer is slow: that command finishes, the one
	// queued behind it is left for the next instance.
	if err := w.tg.InjectFault(telegramtest.Fault{Method: "sendMessage", Times: 1, Delay: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	sends = w.tg.Calls("sendMessage")
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Text: "/uncordon node-tainted"})
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator}, Text: "/get_pods"})
	waitUntil(t, w.tg, 30*time.Second, "the answer to /uncordon is being sent", func() bool { return w.tg.Calls("sendMessage") > sends })
	if err := second.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of SIGTERM")
	}
	if msgs := w.tg.Messages(operator); len(msgs) != 3 || !strings.Contains(msgs[2].Plain, "снова доступна") {
		t.Fatalf("at SIGTERM:\n%s\nwant /uncordon finished and /get_pods not run", bottest.Plain(msgs))
	}
	if n := w.tg.Pending(); n != 1 {
		t.Fatalf("%d updates unconfirmed after SIGTERM, want 1 (/get_pods)", n)
	}
	startBot(t, w.env)
	msgs = waitMsgs(t, w.tg, operator, 4, 60*time.Second)
	if !strings.Contains(msgs[3].Plain, "Поды") {
		t.Errorf("the next instance answered %q, want /get_pods", msgs[3].Plain)
	}
	waitUntil(t, w.tg, 10*time.Second, "all confirmed", func() bool { return w.tg.Pending() == 0 })
}
