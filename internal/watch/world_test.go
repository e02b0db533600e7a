package watch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata"

	"gitlab.com/derrick-kit/derrick/internal/gitlabtest"
	"gitlab.com/derrick-kit/derrick/internal/proctest"
	"gitlab.com/derrick-kit/derrick/internal/redact"
	"gitlab.com/derrick-kit/derrick/internal/retry"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

const (
	tgToken     = "7000000001:AAFakeTokenForDerrickWatchTests"
	gitlabToken = "glpat-WatchTestSecret000"
	chatID      = -1001234567890
	project     = "oil/refinery"
	stateNS     = "derrick"
	stateName   = "oil-bot-watcher-state"
)

// world is GitLab (the stand-in), Telegram (the emulator) and the state
// ConfigMap (client-go's fake clientset) for watchers under test.
type world struct {
	gl   *gitlabtest.Server
	tg   *telegramtest.Server
	kube *fakeConfigMaps
	cfg  Config
	logs *proctest.SyncBuffer
	// offset moves the watchers' clock (for the created grace).
	mu     sync.Mutex
	offset time.Duration
}

func newWorld(t testing.TB) *world {
	t.Helper()
	gl, err := gitlabtest.Start(gitlabToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gl.Close)
	gl.AddProject(42, project)
	tg, err := telegramtest.New(telegramtest.Config{Token: tgToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	kube := newFakeConfigMaps(stateName)
	env := map[string]string{
		"TELEGRAM_BOT_TOKEN": tgToken, "TELEGRAM_CHAT_ID": "-1001234567890", "TELEGRAM_API_URL": tg.URL(),
		"GITLAB_URL": gl.URL(), "GITLAB_TOKEN": gitlabToken, "WATCH_PROJECTS": project,
		"WATCH_STATE_CONFIGMAP": stateName, "WATCH_NAMESPACE": stateNS,
		"WATCH_INTERVAL": "2s", "WATCH_REQUEST_TIMEOUT": "300ms", "WATCH_CREATED_GRACE": "2m",
		"NOTIFY_TIMEOUT": "2s",
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	w := &world{gl: gl, tg: tg, kube: kube, cfg: cfg, logs: &proctest.SyncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("watcher log:\n%s", w.logs.String())
		}
		for _, secret := range []string{tgToken, gitlabToken, "AAFakeTokenForDerrickWatchTests"} {
			if strings.Contains(w.logs.String(), secret) {
				t.Errorf("a token appears in the log:\n%s", w.logs.String())
			}
		}
	})
	return w
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.offset += d
	w.mu.Unlock()
}

func (w *world) now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Now().Add(w.offset)
}

// watcher loads the state from the ConfigMap, as a (re)started watcher does.
func (w *world) watcher(t testing.TB) (*Watcher, *Metrics) {
	t.Helper()
	store := newStore(w.kube, stateNS, stateName)
	state, err := store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	gl, err := NewGitLab(w.cfg.GitLabURL, w.cfg.GitLabToken, w.cfg.RequestTimeout, m)
	if err != nil {
		t.Fatal(err)
	}
	gl.backoff = retry.Policy{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	log := slog.New(redact.New(tgToken, gitlabToken).Handler(slog.NewJSONHandler(w.logs, nil)))
	wt := New(w.cfg, gl, newSender(w.cfg.Notify, m, gl.backoff), store, state, m, log)
	wt.now = w.now
	return wt, m
}

// texts is what the group received.
func (w *world) texts() []string {
	var out []string
	for _, m := range w.tg.Messages(chatID) {
		out = append(out, m.Text)
	}
	return out
}

// line is the notifier's line for a pipeline: Moscow time, the default layout.
func line(t testing.TB, id int64, created time.Time, ref string, word string) string {
	t.Helper()
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("Пайплайн %d %s %s %s", id, created.In(moscow).Format("2006-01-02 15:04:05 MST"), ref, word)
}

// notifyJobs are the notify component's jobs with the given statuses.
func notifyJobs(created, success, failed string) []gitlabtest.Job {
	return []gitlabtest.Job{
		{Name: "build", Stage: "build", Status: "success"},
		{Name: "notify-created", Stage: ".pre", Status: created},
		{Name: "notify-success", Stage: ".post", Status: success},
		{Name: "notify-failed", Stage: ".post", Status: failed},
	}
}

func look(t testing.TB, wt *Watcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	wt.Look(ctx)
}
