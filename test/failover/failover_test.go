// Package failover tests the bot's leader election (issue 16) for real: two
// built bot binaries with the same token against one Telegram emulator and
// the real kube-apiserver of internal/clustertest. Each bot reaches the
// emulator through its own counting proxy, so the test knows which process
// called getUpdates and whether two long polls ever overlapped.
//
// This package has its own shared cluster: the outage test stops its
// apiserver without touching other packages' tests.
//
//	CI=true go test -count=1 ./test/failover/
//	go test -run '^$' -bench Failover -benchtime 10x ./test/failover/
package failover

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

const (
	token    = "7000000002:AAFakeBotTokenForDerrickFailover_x"
	operator = 1001
)

// bin is the bot binary, built once into a directory TestMain removes; a
// failed build fails each test that starts a bot.
var bin struct {
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	if bin.dir, bin.err = os.MkdirTemp("", "failover-test"); bin.err == nil {
		bin.path, bin.err = bottest.Build("../../bot", bin.dir)
	}
	code := clustertest.Main(m)
	_ = os.RemoveAll(bin.dir)
	os.Exit(code)
}

// polls counts getUpdates calls per bot process, and long polls of two
// processes that overlapped in time.
type polls struct {
	mu       sync.Mutex
	calls    map[string]int
	inFlight map[string]int
	first    map[string]time.Time // first getUpdates of each process
	overlaps []string
}

func (p *polls) begin(who string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for other, n := range p.inFlight {
		if other != who && n > 0 {
			p.overlaps = append(p.overlaps, fmt.Sprintf("%s polled while %s did, at %s", who, other, time.Now().Format("15:04:05.000")))
		}
	}
	p.calls[who]++
	p.inFlight[who]++
	if _, ok := p.first[who]; !ok {
		p.first[who] = time.Now()
	}
}

func (p *polls) end(who string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight[who]--
}

func (p *polls) count(who string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[who]
}

func (p *polls) firstPoll(who string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.first[who]
	return t, ok
}

func (p *polls) overlapping() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.overlaps...)
}

// world is one namespace with the app, the emulator and bot replicas.
type world struct {
	c     *clustertest.Cluster
	ns    string
	tg    *telegramtest.Server
	polls *polls
	env   []string
	bots  map[string]*bottest.Bot
}

var (
	nsSeq     atomic.Int32
	seedNodes sync.Once
)

// newWorld seeds a namespace with the app at 3 replicas; timings are extra
// BOT_LEASE_* settings (none: client-go's 15s/10s/2s).
func newWorld(t testing.TB, timings ...string) *world {
	t.Helper()
	ctx := context.Background()
	c := clustertest.Shared(t)
	ns := fmt.Sprintf("failover-%d", nsSeq.Add(1))
	seedNodes.Do(func() { c.SeedNodes(ctx, t) })
	c.SeedApp(ctx, t, ns, 3)
	w := &world{c: c, ns: ns, tg: bottest.Telegram(t, token), bots: map[string]*bottest.Bot{},
		polls: &polls{calls: map[string]int{}, inFlight: map[string]int{}, first: map[string]time.Time{}}}
	w.env = append([]string{
		"TELEGRAM_BOT_TOKEN=" + token,
		fmt.Sprintf("CHATOPS_OPERATORS=%d", operator),
		"KUBECONFIG=" + c.Kubeconfig,
		"APP_NAMESPACE=" + ns,
		"POD_NAMESPACE=" + ns,
		"REGISTRY_SOURCE=oci",
		"REGISTRY_IMAGE=127.0.0.1:1/oil/app",
		"REGISTRY_INSECURE=true",
		"BOT_HTTP_ADDR=127.0.0.1:0",
		"BOT_LANG=en",
		"BOT_LEADER_ELECTION=true",
	}, timings...)
	return w
}

// start runs a replica named name, reaching the emulator through a proxy
// that records its getUpdates calls.
func (w *world) start(t testing.TB, name string) *bottest.Bot {
	t.Helper()
	target, _ := url.Parse(w.tg.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // cancelled long polls of a stopped bot
	proxy := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(strings.ToLower(r.URL.Path), "/getupdates") {
			w.polls.begin(name)
			defer w.polls.end(name)
		}
		rp.ServeHTTP(rw, r)
	}), ReadHeaderTimeout: 5 * time.Second}
	ln := listen(t)
	go func() { _ = proxy.Serve(ln) }()
	t.Cleanup(func() { _ = proxy.Close() })
	if bin.err != nil {
		t.Fatalf("build the bot: %v", bin.err)
	}
	b := bottest.Start(t, bin.path, token, append(append([]string(nil), w.env...),
		"POD_NAME="+name, "TELEGRAM_API_URL=http://"+ln.Addr().String()))
	w.bots[name] = b
	return b
}

// leader waits up to d until exactly one of names has polled since the
// counts in before, and returns it.
func (w *world) leader(t testing.TB, d time.Duration, before map[string]int, names ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var polled []string
		for _, n := range names {
			if w.polls.count(n) > before[n] {
				polled = append(polled, n)
			}
		}
		switch {
		case len(polled) > 1:
			t.Fatalf("replicas %v all polled getUpdates", polled)
		case len(polled) == 1:
			return polled[0]
		case time.Now().After(deadline):
			t.Fatalf("no replica of %v polled within %s", names, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) counts() map[string]int {
	w.polls.mu.Lock()
	defer w.polls.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.polls.calls {
		out[k] = v
	}
	return out
}

// noConflicts fails t when a bot logged a 409 or two long polls overlapped.
func (w *world) noConflicts(t testing.TB) {
	t.Helper()
	for name, b := range w.bots {
		if logs := b.Logs(); strings.Contains(logs, "Conflict") || strings.Contains(logs, "another instance is polling") {
			t.Errorf("%s logged a 409 Conflict", name)
		}
	}
	if o := w.polls.overlapping(); len(o) > 0 {
		t.Errorf("long polls of two replicas overlapped: %v", o)
	}
}

// say sends text and waits up to d for an answer satisfying ok.
func (w *world) say(t testing.TB, text string, d time.Duration, ok func(string) bool) string {
	t.Helper()
	before := len(w.tg.Messages(operator))
	w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator, Username: "op"}, Text: text})
	return w.answer(t, before, d, ok)
}

// answer waits up to d until an answer after the first before satisfies ok.
func (w *world) answer(t testing.TB, before int, d time.Duration, ok func(string) bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	msgs, err := w.tg.WaitFor(ctx, operator, func(m []telegramtest.Message) bool {
		for _, x := range m[min(before, len(m)):] {
			if ok == nil || ok(x.Plain) {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no answer within %s; chat: %+v", d, msgs)
	}
	return bottest.Plain(msgs[before:])
}

func isHelp(s string) bool { return strings.Contains(s, "/set_replicas") }

var probeClient = &http.Client{Timeout: 10 * time.Second}

// httpGet fetches path from bot's HTTP endpoints.
func httpGet(t testing.TB, b *bottest.Bot, path string) (code int, body string) {
	t.Helper()
	resp, err := probeClient.Get("http://" + b.HTTPAddr() + path)
	if err == nil {
		var data []byte
		data, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, string(data)
	}
	if err != nil {
		t.Fatalf("GET %s of the bot: %v", path, err)
	}
	return code, body
}

func TestOnePollerAndFailover(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.start(t, "bot-a")
	w.start(t, "bot-b")
	lead := w.leader(t, 30*time.Second, nil, "bot-a", "bot-b")
	standby := map[string]string{"bot-a": "bot-b", "bot-b": "bot-a"}[lead]
	t.Logf("leader %s, standby %s", lead, standby)

	t.Run("exactly one polls and answers", func(t *testing.T) {
		for range 3 {
			w.say(t, "/help", 30*time.Second, isHelp)
		}
		if n := w.polls.count(standby); n != 0 {
			t.Errorf("standby %s called getUpdates %d times", standby, n)
		}
		for name, want := range map[string]string{lead: "leader", standby: "standby"} {
			bot := w.bots[name]
			code, body := httpGet(t, bot, "/readyz")
			if code != 200 || !strings.Contains(body, want) {
				t.Errorf("%s /readyz = %d %q, want 200 saying %s", name, code, body, want)
			}
			if code, _ := httpGet(t, bot, "/healthz"); code != 200 {
				t.Errorf("%s /healthz = %d, want 200", name, code)
			}
			_, metrics := httpGet(t, bot, "/metrics")
			gauge := map[string]string{"leader": "\nderrick_bot_leader 1\n", "standby": "\nderrick_bot_leader 0\n"}[want]
			if !strings.Contains(metrics, gauge) || !strings.Contains(metrics, "derrick_bot_leadership_changes_total") {
				t.Errorf("%s /metrics lacks %q or the leadership changes", name, gauge)
			}
		}
		if !strings.Contains(w.bots[lead].Logs(), `"replica":"`+lead+`"`) {
			t.Errorf("the audit lines of %s do not name the replica", lead)
		}
	})

	t.Run("SIGTERM hands over within 3s", func(t *testing.T) {
		old, next := w.bots[lead], standby
		before := w.counts()
		start := time.Now()
		if err := old.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if got := w.leader(t, 10*time.Second, before, next); got != next {
			t.Fatalf("leader after SIGTERM: %s", got)
		}
		took := time.Since(start)
		w.say(t, "/help", 10*time.Second, isHelp)
		t.Logf("SIGTERM handover: %s to the standby's first getUpdates, %s to an answer", took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if took > 3*time.Second {
			t.Errorf("handover took %s, want < 3s", took)
		}
		<-old.Done()
		if err := old.Err(); err != nil {
			t.Errorf("%s exited with %v after SIGTERM", lead, err)
		}
		lead = next
	})

	t.Run("kill -9 with a set_replicas in flight", func(t *testing.T) {
		w.start(t, "bot-c")
		deployments := w.c.Client.AppsV1().Deployments(w.ns)
		d0, err := deployments.Get(ctx, clustertest.AppName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := *d0.Spec.Replicas + 2
		before := w.counts()
		msgs := len(w.tg.Messages(operator))
		w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: operator, Username: "op"}, Text: fmt.Sprintf("/set_replicas %d", want)})
		// Killed as soon as it has taken the update, before it can confirm.
		waitFor(t, 10*time.Second, "the leader to fetch /set_replicas", func() bool { return w.polls.count(lead) > before[lead] })
		start := time.Now()
		if err := w.bots[lead].Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-w.bots[lead].Done()
		w.leader(t, 30*time.Second, w.counts(), "bot-c")
		w.say(t, "/help", 30*time.Second, isHelp)
		took := time.Since(start)
		t.Logf("kill -9 failover (lease 15s): standby answered a new command %s after the kill", took.Round(time.Millisecond))
		// The standby sees the last renewal up to one jittered retry
		// (2.2 × 2s) late and tries again up to one more after the lease
		// ran out: lease duration + 2 × 4.4s is the worst case.
		if bound := 15*time.Second + 2*4400*time.Millisecond + time.Second; took > bound {
			t.Errorf("failover after kill -9 took %s, want < %s", took, bound)
		}
		got := w.answer(t, msgs, 10*time.Second, func(s string) bool { return strings.Contains(s, fmt.Sprint(want)) && !isHelp(s) })
		t.Logf("answers since /set_replicas %d:\n%s", want, got)
		d1, err := deployments.Get(ctx, clustertest.AppName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d1.Generation != d0.Generation+1 || *d1.Spec.Replicas != want {
			t.Errorf("after the failover: generation %d → %d, replicas %d; want one change to %d", d0.Generation, d1.Generation, *d1.Spec.Replicas, want)
		}
	})
	w.noConflicts(t)
}

func TestAPIServerOutage(t *testing.T) {
	w := newWorld(t)
	w.start(t, "bot-a")
	w.start(t, "bot-b")
	w.leader(t, 30*time.Second, nil, "bot-a", "bot-b")
	w.say(t, "/help", 30*time.Second, isHelp)

	if err := w.c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = w.c.StartAPIServer(context.Background())
		}
	})
	// 20s without the API server: the leader cannot renew and stops
	// polling after the renew deadline; nobody can take over.
	waitFor(t, 30*time.Second, "20s of outage", func() bool { return time.Since(stopped) >= 20*time.Second })
	for name, b := range w.bots {
		b.Running(t)
		if code, _ := httpGet(t, b, "/healthz"); code != 200 {
			t.Errorf("%s /healthz during the outage = %d", name, code)
		}
	}
	if err := w.c.StartAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	back := time.Now()
	w.say(t, "/help", 60*time.Second, isHelp)
	t.Logf("after the outage a leader answered %s after the apiserver was back", time.Since(back).Round(time.Millisecond))
	lost := 0
	for _, b := range w.bots {
		b.Running(t)
		if strings.Contains(b.Logs(), "leader: lost the lease") {
			lost++
		}
	}
	// 20s without renewal: the leader must have given up (renew deadline 10s).
	if lost != 1 {
		t.Errorf("%d replicas logged losing the lease during the outage, want 1", lost)
	}
	leaders := 0
	for _, b := range w.bots {
		if _, m := httpGet(t, b, "/metrics"); strings.Contains(m, "\nderrick_bot_leader 1\n") {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d replicas lead after the outage, want 1", leaders)
	}
	w.noConflicts(t)
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
