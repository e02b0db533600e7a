package chatops

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/deploy"
)

// fakeArgo is a Deployer that reports Argo CD states.
type fakeArgo struct {
	image    string
	replicas int32
	states   []deploy.Progress
	sets     []string
}

func (f *fakeArgo) Mode() deploy.Mode                                      { return deploy.ArgoCD }
func (f *fakeArgo) Current(context.Context) (string, int32, error)         { return f.image, f.replicas, nil }
func (f *fakeArgo) History(context.Context, int) ([]deploy.Rollout, error) { return nil, nil }
func (f *fakeArgo) Previous(context.Context) (string, deploy.Rollout, bool, error) {
	return f.image, deploy.Rollout{}, false, nil
}
func (f *fakeArgo) SetImage(_ context.Context, image, _ string) error {
	f.sets = append(f.sets, "image="+image)
	return nil
}
func (f *fakeArgo) SetReplicas(_ context.Context, n int32) error {
	f.sets = append(f.sets, "replicas="+string(rune('0'+n)))
	return nil
}
func (f *fakeArgo) Wait(_ context.Context, _ string, report func(deploy.Progress)) (deploy.Progress, error) {
	var last deploy.Progress
	for _, p := range f.states {
		report(p)
		last = p
	}
	return last, nil
}

// TestDeployThroughArgoCD: /deploy and /set_replicas change the Application
// and follow Argo CD's states (out of sync with a sync running, then synced
// and progressing, then settled), never the Deployment directly.
func TestDeployThroughArgoCD(t *testing.T) {
	for _, tc := range []struct{ command, wantSet, golden string }{
		{"/deploy 0.10.5", "image=registry.example.com/oil/app:0.10.5@" + fakeDigest("0.10.5"), "deploy_argocd"},
		{"/set_replicas 3", "replicas=3", "set_replicas_argocd"},
	} {
		t.Run(tc.command, func(t *testing.T) {
			h := newHarness(t, nil)
			argo := &fakeArgo{image: "registry.example.com/oil/app:0.10.4", replicas: 2, states: []deploy.Progress{
				{Mode: deploy.ArgoCD, Argo: argocd.App{Sync: "OutOfSync", Health: "Healthy", Operation: argocd.Operation{Phase: "Running"}, Compared: true}},
				{Mode: deploy.ArgoCD, Argo: argocd.App{Sync: "Synced", Health: "Progressing", Operation: argocd.Operation{Phase: "Succeeded"}, Compared: true}},
				{Mode: deploy.ArgoCD, Argo: argocd.App{Sync: "Synced", Health: "Healthy", Operation: argocd.Operation{Phase: "Succeeded"}, Compared: true}, Done: true},
			}}
			h.core = New(h.core.cfg, h.cluster, argo, h.registry, slog.New(slog.NewJSONHandler(h.logs, nil)), "oil", "oil-refinery-application")
			h.core.now = func() time.Time { return time.Unix(now, 0) }
			rec, res := h.run(t, operator, tc.command)
			if res.Outcome != OutcomeOK || len(argo.sets) != 1 || argo.sets[0] != tc.wantSet {
				t.Fatalf("outcome %q, changes %v", res.Outcome, argo.sets)
			}
			golden(t, tc.golden, rec.texts())
			if len(h.cluster.changes) != 0 {
				t.Errorf("the Deployment was changed directly: %v", h.cluster.changes)
			}
		})
	}
}

func TestRolloutFailureAndTimeout(t *testing.T) {
	t.Run("progress deadline exceeded", func(t *testing.T) {
		h := newHarness(t, nil)
		h.cluster.rollouts = []cluster.Rollout{{Desired: 3, Updated: 1, Failed: true, Message: `ReplicaSet "x" has timed out progressing`}}
		rec, _ := h.run(t, operator, "/deploy 0.10.5")
		last := rec.out[len(rec.out)-2] // before the audit announcement
		if !strings.Contains(last.Text, `❌ /deploy 0.10.5 (sha256:ddb8838898f9) не удалось: ReplicaSet &quot;x&quot; has timed out progressing`) {
			t.Errorf("replies:\n%s", rec.texts())
		}
		if a := rec.out[len(rec.out)-1]; a.Kind != "announce" || !strings.HasSuffix(a.Text, "→ ошибка") {
			t.Errorf("audit: %+v", a)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.RolloutTimeout = 50 * time.Millisecond })
		h.cluster.rollouts = []cluster.Rollout{{Desired: 3, Updated: 1, Ready: 3, Available: 3}}
		rec, _ := h.run(t, operator, "/deploy 0.10.5")
		if !strings.Contains(rec.texts(), "⏱ /deploy 0.10.5 (sha256:ddb8838898f9) не завершилось за 50ms. Последнее состояние: Разворачиваю <b>0.10.5 (sha256:ddb8838898f9)</b>: обновлено 1/3") {
			t.Errorf("replies:\n%s", rec.texts())
		}
	})
}

func TestDeploySupersededIsNotReportedDone(t *testing.T) {
	h := newHarness(t, nil)
	rec := &recorder{chatID: operator}
	res := h.core.Handle(context.Background(), Input{UserID: operator, ChatID: operator, Private: true,
		Text: "/deploy 0.10.5", Sent: time.Unix(now-1, 0)}, "oil_bot")
	msg := rec.deliver(t, res)
	// Another operator deploys main before this rollout is followed.
	h.cluster.deploy.Image = "registry.example.com/oil/app:main"
	rec.follow(context.Background(), res, msg)
	if got := rec.texts(); !strings.Contains(got, "❌ /deploy 0.10.5 (sha256:ddb8838898f9) не удалось: superseded: the Deployment now runs registry.example.com/oil/app:main") ||
		strings.Contains(got, "✅") {
		t.Errorf("replies:\n%s", got)
	}
}

func TestFollowAfterShutdownStillAnswers(t *testing.T) {
	h := newHarness(t, nil)
	h.cluster.rollouts = []cluster.Rollout{{Desired: 3, Updated: 1, Ready: 3, Available: 3}}
	rec := &recorder{chatID: operator}
	res := h.core.Handle(context.Background(), Input{UserID: operator, ChatID: operator, Private: true,
		Text: "/deploy 0.10.5", Sent: time.Unix(now-1, 0)}, "oil_bot")
	msg := rec.deliver(t, res)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the bot is stopping
	rec.follow(ctx, res, msg)
	if got := rec.texts(); !strings.Contains(got, "⏸ Бот перезапускается и больше не следит за /deploy 0.10.5 (sha256:ddb8838898f9)") ||
		!strings.Contains(got, "→ ошибка") {
		t.Errorf("replies:\n%s", got)
	}
}

func TestInvalidUTF8InLogsIsReplaced(t *testing.T) {
	h := newHarness(t, nil)
	h.cluster.logs["oil-refinery-application-7d9f-abcde"] = []string{"ok", "bin \xff\xfe <x>"}
	rec, _ := h.run(t, viewer, "/get_logs oil-refinery-application-7d9f-abcde")
	if got := rec.out[0].Text; !utf8.ValidString(got) || !strings.Contains(got, "bin \uFFFD &lt;x&gt;") {
		t.Errorf("reply %q", got)
	}
}
