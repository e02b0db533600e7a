package chatops

import (
	"strings"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/deploy"
)

// A rollout made elsewhere without a change-cause of its own inherits the
// Deployment's last one (the Deployment controller copies it to the new
// ReplicaSet): /history shows "—" for it, not the bot's /deploy of another tag.
func TestHistoryIgnoresAnInheritedChangeCause(t *testing.T) {
	h := newHarness(t, nil)
	deployed := "/deploy 0.10.4 by @ivan (1001)"
	h.cluster.revisions = append([]cluster.Revision{{Revision: 3, Image: "registry.example.com/oil/app:main", ChangeCause: deployed,
		Created: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}}, h.cluster.revisions...)
	rec, res := h.run(t, viewer, "/history")
	if res.Outcome != OutcomeOK {
		t.Fatalf("outcome %v: %s", res.Outcome, rec.texts())
	}
	for _, want := range []string{
		"3         main                          2026-12-01 08:00 UTC  —\n",
		"2         0.10.4                        2026-11-30 09:15 UTC  " + deployed + "\n",
	} {
		if !strings.Contains(rec.texts(), want) {
			t.Errorf("/history lacks %q:\n%s", want, rec.texts())
		}
	}
}

// An Argo CD history entry whose source has no image override names no
// image: its row says "—" rather than leaving the column empty.
func TestHistoryOfAnUnknownImage(t *testing.T) {
	h := newHarness(t, nil)
	h.cluster.revisions = []cluster.Revision{{Revision: 0, ChangeCause: "automated"}}
	rec, _ := h.run(t, viewer, "/history")
	if want := "0         —        —     automated</pre>"; !strings.Contains(rec.texts(), want) {
		t.Errorf("/history lacks %q:\n%s", want, rec.texts())
	}
}

func TestCauseOf(t *testing.T) {
	const repo = "registry.example.com/oil/app"
	pinned := repo + ":0.10.5@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, image, cause, want string
	}{
		{"the bot's deploy of this tag", repo + ":0.10.5", "/deploy 0.10.5 by @olga (7)", "/deploy 0.10.5 by @olga (7)"},
		{"the bot's deploy of this tag, pinned", pinned, "/deploy 0.10.5 by @olga (7)", "/deploy 0.10.5 by @olga (7)"},
		{"the bot's rollback to this tag", pinned, "/rollback to 0.10.5 by 7", "/rollback to 0.10.5 by 7"},
		{"the bot's rollback to an untagged image", repo + "@sha256:ab", "/rollback to " + repo + "@sha256:ab by 7", "/rollback to " + repo + "@sha256:ab by 7"},
		{"inherited from a deploy of another tag", repo + ":main", "/deploy 0.10.5 by @olga (7)", "—"},
		{"inherited from a rollback to another tag", repo + ":main", "/rollback to 0.10.4 by @olga (7)", "—"},
		{"another tool's cause", repo + ":main", "kubectl set image deployment/app app=" + repo + ":main", "kubectl set image deployment/app app=" + repo + ":main"},
		{"no cause", repo + ":main", "", "—"},
		{"image unknown", "", "/deploy 0.10.5 by @olga (7)", "/deploy 0.10.5 by @olga (7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := causeOf(deploy.Rollout{Image: tc.image, Cause: tc.cause}); got != tc.want {
				t.Errorf("causeOf(%q, %q) = %q, want %q", tc.image, tc.cause, got, tc.want)
			}
		})
	}
}
