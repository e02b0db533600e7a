package watch

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/gitlabtest"
)

// fakeLease is the bot's Lease as the API server serves it (JSON).
type fakeLease struct {
	mu      sync.Mutex
	holder  string
	renewed time.Time
	missing bool
}

func (f *fakeLease) set(holder string, renewed time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holder, f.renewed = holder, renewed
}

func (f *fakeLease) getLease(context.Context) (lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing {
		return lease{}, &apiStatus{Code: http.StatusNotFound, Reason: "NotFound", Message: `leases.coordination.k8s.io "oil-bot" not found`}
	}
	// Through JSON, as kubeLeases decodes it: a MicroTime, an int32.
	raw := `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","spec":{"holderIdentity":"` + f.holder +
		`","leaseDurationSeconds":15,"renewTime":"` + f.renewed.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + `"}}`
	var l lease
	err := json.Unmarshal([]byte(raw), &l)
	return l, err
}

// step is one turn of Run: look when the gate lets it.
func step(t *testing.T, wt *Watcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if wt.active(ctx) {
		wt.Look(ctx)
	}
}

func TestOnlyTheLeasesHolderPosts(t *testing.T) {
	w := newWorld(t)
	created := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Second)
	canceled := func(id int64) {
		w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: id, Status: "canceled", Ref: "main", CreatedAt: created})
		w.gl.SetJobs(project, id, notifyJobs("success", "canceled", "canceled")...)
	}
	l := &fakeLease{}
	l.set("bot-a", time.Now())
	a, ma := w.watcher(t)
	a.WithGate(newLeaseGate(l, stateNS, "oil-bot", "bot-a"))
	b, mb := w.watcher(t)
	b.WithGate(newLeaseGate(l, stateNS, "oil-bot", "bot-b"))
	turns := func() {
		for range 3 {
			step(t, a)
			step(t, b)
		}
	}

	canceled(901)
	turns()
	want := []string{line(t, 901, created, "main", wFailed)}
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("with bot-a holding the lease, the group received (-want +got):\n%s", diff)
	}
	if ma.leading.value() != 1 || mb.leading.value() != 0 {
		t.Errorf("derrick_watch_leading: a %v, b %v; want 1, 0", ma.leading.value(), mb.leading.value())
	}

	// Handover: b reads what a saved and posts only the new ending.
	l.set("bot-b", time.Now())
	canceled(902)
	turns()
	want = append(want, line(t, 902, created, "main", wFailed))
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("after the handover to bot-b (-want +got):\n%s", diff)
	}

	// An expired lease (its holder died, nobody took over yet) is nobody's.
	l.set("bot-b", time.Now().Add(-20*time.Second))
	canceled(903)
	turns()
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("with the lease expired (-want +got):\n%s", diff)
	}

	// A Lease that cannot be read: standing by, and saying why.
	l.mu.Lock()
	l.missing = true
	l.mu.Unlock()
	turns()
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("with the lease missing (-want +got):\n%s", diff)
	}
	if got := w.logs.String(); !strings.Contains(got, "Lease derrick/oil-bot (WATCH_LEASE) not found") {
		t.Errorf("log does not name the missing lease:\n%s", got)
	}

	// a takes the lease again: it reads the state b left and posts 903 once.
	l.mu.Lock()
	l.missing = false
	l.mu.Unlock()
	l.set("bot-a", time.Now())
	turns()
	want = append(want, line(t, 903, created, "main", wFailed))
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("after bot-a took the lease back (-want +got):\n%s", diff)
	}
}

func TestLeaseConfig(t *testing.T) {
	base := map[string]string{
		"TELEGRAM_BOT_TOKEN": tgToken, "TELEGRAM_CHAT_ID": "-1001234567890",
		"GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": gitlabToken, "WATCH_PROJECTS": project,
		"WATCH_STATE_CONFIGMAP": stateName,
	}
	get := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	c, err := LoadConfig(get(map[string]string{"WATCH_LEASE": "oil-bot", "POD_NAME": "oil-bot-7d9f-abcde"}))
	if err != nil || c.Lease != "oil-bot" || c.Identity != "oil-bot-7d9f-abcde" {
		t.Errorf("LoadConfig = %+v, %v", c, err)
	}
	if _, err := LoadConfig(get(map[string]string{"WATCH_LEASE": "Oil Bot"})); err == nil || !strings.Contains(err.Error(), `WATCH_LEASE must be the name of the bot's leader Lease`) {
		t.Errorf("bad lease name: %v", err)
	}
}
