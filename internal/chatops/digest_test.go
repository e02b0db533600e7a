package chatops

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/registry"
)

const repo = "registry.example.com/oil/app"

// pinned is the reference /deploy sets for tag at digest.
func pinned(tag, digest string) string { return repo + ":" + tag + "@" + digest }

// TestDeployPinsTheDigest: /deploy sets the digest the tag has in the
// registry now, so that a tag pushed again rolls out, and what already runs
// is left alone.
func TestDeployPinsTheDigest(t *testing.T) {
	repushed := fakeDigest("0.10.5 pushed again")
	tests := []struct {
		name        string
		setup       func(h *harness)
		text        string
		wantOutcome Outcome
		wantReply   string // the first reply
		wantChanges []string
		wantAudit   string
	}{
		{"the same tag and digest already run", func(h *harness) { h.cluster.deploy.Image = pinned("0.10.5", fakeDigest("0.10.5")) },
			"/deploy 0.10.5", OutcomeNoop,
			"<b>oil-refinery-application</b> уже работает на <b>0.10.5 (sha256:ddb8838898f9)</b>: тег указывает на тот же образ, ничего не меняю.",
			nil, "@op (1001): /deploy 0.10.5 (sha256:ddb8838898f9) → без изменений"},
		{"the same tag pushed again rolls out", func(h *harness) {
			h.cluster.deploy.Image = pinned("0.10.5", fakeDigest("0.10.5"))
			h.registry.moved = map[string]string{"0.10.5": repushed}
		}, "/deploy 0.10.5", OutcomeOK, "Разворачиваю <b>0.10.5 (sha256:" + repushed[7:19] + ")</b> на <b>oil-refinery-application</b>…",
			[]string{"image=" + pinned("0.10.5", repushed) + " cause=/deploy 0.10.5 by @op (1001)"},
			"@op (1001): /deploy 0.10.5 (sha256:" + repushed[7:19] + ") → выполнено"},
		{"the running tag without a digest gets pinned", func(h *harness) { h.cluster.deploy.Image = repo + ":0.10.5" },
			"/deploy 0.10.5", OutcomeOK, "Разворачиваю <b>0.10.5 (sha256:ddb8838898f9)</b>",
			[]string{"image=" + pinned("0.10.5", fakeDigest("0.10.5")) + " cause=/deploy 0.10.5 by @op (1001)"},
			"@op (1001): /deploy 0.10.5 (sha256:ddb8838898f9) → выполнено"},
		{"a registry without digests gets the tag", func(h *harness) { h.registry.tags[0].Digest = "" },
			"/deploy 0.10.5", OutcomeOK, "Разворачиваю <b>0.10.5</b> на",
			[]string{"image=" + repo + ":0.10.5 cause=/deploy 0.10.5 by @op (1001)"},
			"@op (1001): /deploy 0.10.5 → выполнено"},
		{"a registry without digests and the tag running", func(h *harness) {
			h.registry.tags[0].Digest = ""
			h.cluster.deploy.Image = repo + ":0.10.5"
		}, "/deploy 0.10.5", OutcomeNoop, "<b>oil-refinery-application</b> уже работает на <b>0.10.5</b>:", nil, "@op (1001): /deploy 0.10.5 → без изменений"},
		{"another tag at the running digest is another version", func(h *harness) {
			h.cluster.deploy.Image = pinned("main", fakeDigest("0.10.5"))
		}, "/deploy 0.10.5", OutcomeOK, "Разворачиваю <b>0.10.5 (sha256:ddb8838898f9)</b>",
			[]string{"image=" + pinned("0.10.5", fakeDigest("0.10.5")) + " cause=/deploy 0.10.5 by @op (1001)"},
			"@op (1001): /deploy 0.10.5 (sha256:ddb8838898f9) → выполнено"},
		{"a tag missing from the cached listing but in the registry", func(h *harness) {
			h.registry.tags = append(h.registry.tags, registry.Tag{Name: "0.10.6", Digest: fakeDigest("0.10.6")})
		}, "/deploy 0.10.6", OutcomeOK, "Разворачиваю <b>0.10.6 (sha256:",
			[]string{"image=" + pinned("0.10.6", fakeDigest("0.10.6")) + " cause=/deploy 0.10.6 by @op (1001)"},
			"@op (1001): /deploy 0.10.6 (sha256:"},
		{"a tag the registry does not have", nil, "/deploy 0.10.9", OutcomeInvalid,
			"Версии <b>0.10.9</b> нет в реестре. Последние версии: <code>0.10.5</code>, <code>main</code>, <code>0.10.4</code>, <code>0.10.3</code>. Все версии: /showcontainers",
			nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if tt.setup != nil {
				tt.setup(h)
			}
			rec, res := h.run(t, operator, tt.text)
			if res.Outcome != tt.wantOutcome {
				t.Errorf("outcome %q, want %q", res.Outcome, tt.wantOutcome)
			}
			if len(rec.out) == 0 || !strings.HasPrefix(rec.out[0].Text, tt.wantReply) {
				t.Errorf("replies:\n%s\nwant the first to begin with %q", rec.texts(), tt.wantReply)
			}
			if diff := cmp.Diff(tt.wantChanges, h.cluster.changes); diff != "" {
				t.Errorf("cluster changes (-want +got):\n%s", diff)
			}
			var audit string
			for _, s := range rec.out {
				if s.Kind == "announce" {
					audit = s.Text
				}
			}
			if !strings.HasPrefix(audit, tt.wantAudit) || (tt.wantAudit == "") != (audit == "") {
				t.Errorf("audit chat %q, want %q", audit, tt.wantAudit)
			}
			if failing := h.core.Health().Failing(DepRegistry); failing != nil {
				t.Errorf("the registry counts as failing: %v", failing)
			}
		})
	}
}

func TestDeployRegistryFailure(t *testing.T) {
	h := newHarness(t, nil)
	h.registry.err = errors.New("registry.example.com: 503 Service Unavailable")
	rec, res := h.run(t, operator, "/deploy 0.10.5")
	if res.Outcome != OutcomeError || len(rec.out) != 1 ||
		rec.out[0].Text != "Не удалось выполнить /deploy: registry.example.com: 503 Service Unavailable" {
		t.Errorf("outcome %q, replies:\n%s", res.Outcome, rec.texts())
	}
	if len(h.cluster.changes) != 0 {
		t.Errorf("changes %v, want none", h.cluster.changes)
	}
	if failing := h.core.Health().Failing(DepRegistry); len(failing) != 1 {
		t.Errorf("health %v, want the registry failing", failing)
	}
}

// TestDeploySummary: what a confirmation shows is planned without changing
// anything, the same each time, and another once the tag moved.
func TestDeploySummary(t *testing.T) {
	plan := commands["deploy"].plan
	for _, tt := range []struct {
		lang     string
		replicas int32
		want     string
	}{
		{"ru", 3, "oil-refinery-application: 0.10.4 → 0.10.5 (sha256:ddb8838898f9), 3 пода"},
		{"ru", 1, "oil-refinery-application: 0.10.4 → 0.10.5 (sha256:ddb8838898f9), 1 под"},
		{"ru", 5, "oil-refinery-application: 0.10.4 → 0.10.5 (sha256:ddb8838898f9), 5 подов"},
		{"en", 3, "oil-refinery-application: 0.10.4 → 0.10.5 (sha256:ddb8838898f9), 3 pods"},
		{"en", 1, "oil-refinery-application: 0.10.4 → 0.10.5 (sha256:ddb8838898f9), 1 pod"},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Lang = tt.lang })
			h.cluster.deploy.Replicas = tt.replicas
			cc := cmdCtx{in: Input{UserID: operator, Username: "op", ChatID: operator, Private: true}, args: []string{"0.10.5"}, role: Operator}
			_, ch := plan(h.core, context.Background(), cc)
			_, again := plan(h.core, context.Background(), cc)
			if ch == nil || again == nil || ch.Summary != tt.want || again.Summary != tt.want {
				t.Fatalf("summaries %+v, %+v; want %q twice", ch, again, tt.want)
			}
			if len(h.cluster.changes) != 0 {
				t.Errorf("planning changed %v", h.cluster.changes)
			}
			h.registry.moved = map[string]string{"0.10.5": fakeDigest("moved")}
			if _, moved := plan(h.core, context.Background(), cc); moved == nil || moved.Summary == tt.want {
				t.Errorf("after the tag moved the summary is %+v, want another than %q", moved, tt.want)
			}
		})
	}
}

func TestPodsPlural(t *testing.T) {
	for n, want := range map[int32]string{0: "0 подов", 1: "1 под", 2: "2 пода", 4: "4 пода", 5: "5 подов", 11: "11 подов",
		12: "12 подов", 14: "14 подов", 21: "21 под", 22: "22 пода", 25: "25 подов", 101: "101 под", 111: "111 подов"} {
		if got := ruPods(n); got != want {
			t.Errorf("ruPods(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int32]string{0: "0 pods", 1: "1 pod", 2: "2 pods", 21: "21 pods"} {
		if got := enPods(n); got != want {
			t.Errorf("enPods(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestShowContainersMarksByDigest: the arrow goes to the tag whose digest
// runs, the running tag looked up afresh rather than from the listing.
func TestShowContainersMarksByDigest(t *testing.T) {
	for _, tt := range []struct {
		name   string
		setup  func(h *harness)
		marked []string // tags with the arrow
		moved  bool     // a note that the running tag moved
	}{
		{"a tag without a digest by name", nil, []string{"0.10.4"}, false},
		{"pinned", func(h *harness) { h.cluster.deploy.Image = pinned("0.10.5", fakeDigest("0.10.5")) }, []string{"0.10.5"}, false},
		{"pushed again since the deploy", func(h *harness) {
			h.cluster.deploy.Image = pinned("0.10.5", fakeDigest("0.10.5"))
			h.registry.moved = map[string]string{"0.10.5": fakeDigest("again")}
		}, nil, true},
		{"deployed after a push the listing has not seen", func(h *harness) {
			h.cluster.deploy.Image = pinned("0.10.5", fakeDigest("again"))
			h.registry.moved = map[string]string{"0.10.5": fakeDigest("again")}
		}, []string{"0.10.5"}, false},
		{"another tag of the running image", func(h *harness) {
			h.cluster.deploy.Image = pinned("0.10.5", fakeDigest("main"))
		}, []string{"main"}, true},
		{"a digest only", func(h *harness) { h.cluster.deploy.Image = repo + "@" + fakeDigest("0.10.3") }, []string{"0.10.3"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if tt.setup != nil {
				tt.setup(h)
			}
			_, res := h.run(t, viewer, "/showcontainers")
			var marked []string
			for _, l := range res.Reply.Lines {
				if strings.HasSuffix(l, "  ←") {
					marked = append(marked, strings.Fields(l)[0])
				}
			}
			if diff := cmp.Diff(tt.marked, marked); diff != "" {
				t.Errorf("marked (-want +got):\n%s\n%s", diff, res.Reply.Text())
			}
			if got := strings.Contains(res.Reply.HTML, "⚠"); got != tt.moved {
				t.Errorf("moved note %v, want %v:\n%s", got, tt.moved, res.Reply.HTML)
			}
		})
	}
}

// TestDigestRepliesGolden keeps the replies about digests in testdata/
// (ru) and testdata/en/.
func TestDigestRepliesGolden(t *testing.T) {
	cases := []struct {
		name, text string
		user       int64
		setup      func(h *harness)
	}{
		{"deploy_same", "/deploy 0.10.5", operator, func(h *harness) { h.cluster.deploy.Image = pinned("0.10.5", fakeDigest("0.10.5")) }},
		{"deploy_repushed", "/deploy 0.10.5", operator, func(h *harness) {
			h.cluster.deploy.Image = pinned("0.10.5", fakeDigest("0.10.5"))
			h.registry.moved = map[string]string{"0.10.5": fakeDigest("0.10.5 pushed again")}
		}},
		{"showcontainers_moved", "/showcontainers", viewer, func(h *harness) {
			h.cluster.deploy.Image = pinned("0.10.5", fakeDigest("0.10.5"))
			h.registry.moved = map[string]string{"0.10.5": fakeDigest("0.10.5 pushed again")}
		}},
	}
	for _, lang := range Languages() {
		for _, tt := range cases {
			t.Run(lang+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t, func(c *Config) { c.Lang = lang })
				tt.setup(h)
				rec, _ := h.run(t, tt.user, tt.text)
				name := tt.name
				if lang != "ru" {
					name = filepath.Join(lang, name)
				}
				golden(t, name, rec.texts())
			})
		}
	}
}
