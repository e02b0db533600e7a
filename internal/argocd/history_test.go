package argocd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
)

// historyPatch is a status.history in the shape Argo CD records
// (RevisionHistory: id, revision, deployedAt, deployStartedAt, source,
// initiatedBy), oldest first as Argo CD appends: 0.10.3, 0.10.4 pinned,
// 0.10.4 pinned again after a manual sync, 0.10.5 pinned.
var historyPatch = `{"status":{"history":[
 {"id":0,"revision":"1111111111111111111111111111111111111111","deployStartedAt":"2026-11-20T10:00:00Z","deployedAt":"2026-11-20T10:00:05Z",
  "source":{"repoURL":"git://127.0.0.1:9418/oil.git","path":"deploy","targetRevision":"HEAD","kustomize":{"images":["registry.example.com/oil/app:0.10.3","registry.example.com/oil/sidecar:1.2"]}},
  "initiatedBy":{"automated":true}},
 {"id":1,"revision":"2222222222222222222222222222222222222222","deployStartedAt":"2026-11-21T10:00:00Z","deployedAt":"2026-11-21T10:00:05Z",
  "source":{"repoURL":"git://127.0.0.1:9418/oil.git","path":"deploy","targetRevision":"HEAD","kustomize":{"images":["registry.example.com/oil/app:0.10.4@sha256:` + hexA + `","registry.example.com/oil/sidecar:1.2"]}},
  "initiatedBy":{"username":"derrick-bot"}},
 {"id":2,"revision":"2222222222222222222222222222222222222222","deployStartedAt":"2026-11-22T10:00:00Z","deployedAt":"2026-11-22T10:00:05Z",
  "source":{"repoURL":"git://127.0.0.1:9418/oil.git","path":"deploy","targetRevision":"HEAD","kustomize":{"images":["registry.example.com/oil/app:0.10.4@sha256:` + hexA + `","registry.example.com/oil/sidecar:1.2"]}},
  "initiatedBy":{"username":"admin"}},
 {"id":3,"revision":"3333333333333333333333333333333333333333","deployStartedAt":"2026-11-23T10:00:00Z","deployedAt":"2026-11-23T10:00:05Z",
  "source":{"repoURL":"git://127.0.0.1:9418/oil.git","path":"deploy","targetRevision":"HEAD","kustomize":{"images":["registry.example.com/oil/sidecar:1.2","registry.example.com/oil/app:0.10.5@sha256:` + hexB + `"]}},
  "initiatedBy":{"username":"derrick-bot"}}
]},"spec":{"source":{"kustomize":{"images":["registry.example.com/oil/sidecar:1.2","registry.example.com/oil/app:0.10.5@sha256:` + hexB + `"]}}}}`

var hexA, hexB = strings.Repeat("a", 64), strings.Repeat("b", 64)

const appRepo = "registry.example.com/oil/app"

func TestHistory(t *testing.T) {
	f := newFakeArgo(t)
	f.set(historyPatch)
	c := f.client(t)
	current, history, err := c.History(t.Context(), appRepo)
	if err != nil {
		t.Fatal(err)
	}
	at := func(day int) time.Time { return time.Date(2026, 11, day, 10, 0, 5, 0, time.UTC) }
	pinnedA, pinnedB := appRepo+":0.10.4@sha256:"+hexA, appRepo+":0.10.5@sha256:"+hexB
	if current != pinnedB {
		t.Errorf("current = %q, want %q", current, pinnedB)
	}
	type row struct {
		ID             int64
		Revision, By   string
		Image          string
		DeployedAt     time.Time
		KustomizeCount int
	}
	var got []row
	for _, d := range history {
		got = append(got, row{d.ID, d.Revision[:1], d.InitiatedBy, d.Image, d.DeployedAt, len(d.KustomizeImages)})
	}
	want := []row{
		{3, "3", "derrick-bot", pinnedB, at(23), 2},
		{2, "2", "admin", pinnedA, at(22), 2},
		{1, "2", "derrick-bot", pinnedA, at(21), 2},
		{0, "1", "automated", appRepo + ":0.10.3", at(20), 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("History (-want +got):\n%s", diff)
	}

	cur, prev, ok, err := c.PreviousImage(t.Context(), appRepo)
	if err != nil || !ok || cur != pinnedB || prev.ID != 2 || prev.Image != pinnedA {
		t.Errorf("PreviousImage = %q, %+v, %v, %v; want entry 2 on %q", cur, prev, ok, err, pinnedA)
	}

	// Rolled back to 0.10.4 (the spec says so, no new entry yet): the
	// previous distinct image is 0.10.5, the newest entry.
	f.set(`{"spec":{"source":{"kustomize":{"images":["registry.example.com/oil/app:0.10.4@sha256:` + hexA + `"]}}}}`)
	if _, prev, ok, err := c.PreviousImage(t.Context(), appRepo); err != nil || !ok || prev.ID != 3 {
		t.Errorf("PreviousImage after the rollback = %+v, %v, %v; want entry 3", prev, ok, err)
	}
}

func TestHistoryEdges(t *testing.T) {
	tests := []struct {
		name, patch, repo string
		cfg               func(*argocd.Config)
		current           string
		images            []string // of the history, newest first
		prevID            int64    // -1: nothing to go back to
		wantErr           string
	}{
		{name: "no history yet", patch: `{"status":{"history":null}}`, repo: appRepo,
			current: appRepo + ":0.10.4", prevID: -1},
		{name: "every entry ran the current image", repo: appRepo,
			patch:   `{"status":{"history":[{"id":0,"revision":"a","source":{"kustomize":{"images":["registry.example.com/oil/app:0.10.4"]}}},{"id":1,"revision":"b","source":{"kustomize":{"images":["registry.example.com/oil/app:0.10.4"]}}}]}}`,
			current: appRepo + ":0.10.4", images: []string{appRepo + ":0.10.4", appRepo + ":0.10.4"}, prevID: -1},
		{name: "renamed override and an entry without it", repo: appRepo,
			patch:   `{"spec":{"source":{"kustomize":{"images":["app=registry.example.com/oil/app:0.2.0"]}}},"status":{"history":[{"id":4,"revision":"a","source":{"kustomize":{"images":["registry.example.com/oil/app=:0.1.0"]}}},{"id":5,"revision":"b","source":{"path":"deploy"}}]}}`,
			current: appRepo + ":0.2.0", images: []string{"", appRepo + ":0.1.0"}, prevID: 4},
		{name: "no override in the spec: the live image", repo: appRepo,
			patch:   `{"spec":{"source":{"kustomize":null}},"status":{"history":[{"id":0,"revision":"a","source":{"kustomize":{"images":["registry.example.com/oil/app:0.10.3"]}}}]}}`,
			current: appRepo + ":0.10.4", images: []string{appRepo + ":0.10.3"}, prevID: 0},
		{name: "helm parameters", repo: appRepo, cfg: func(c *argocd.Config) { c.HelmImageTag = "app.tag" },
			patch: `{"spec":{"source":{"kustomize":null,"chart":"oil","helm":{"parameters":[{"name":"image.repository","value":"registry.example.com/oil/app"},{"name":"app.tag","value":"2.0"}]}}},"status":{"sourceType":"Helm","history":[
			  {"id":7,"revision":"1.0.0","source":{"chart":"oil","helm":{"parameters":[{"name":"image.repository","value":"registry.example.com/oil/app"},{"name":"app.tag","value":"1.9"}]}}}]}}`,
			current: appRepo + ":2.0", images: []string{appRepo + ":1.9"}, prevID: 7},
		{name: "multi-source", repo: appRepo, patch: `{"spec":{"source":null,"sources":[{"repoURL":"x"}]}}`,
			wantErr: "read the history of application \"oil-refinery-application\": it has several sources"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeArgo(t)
			f.set(tt.patch)
			var mods []func(*argocd.Config)
			if tt.cfg != nil {
				mods = append(mods, tt.cfg)
			}
			c := f.client(t, mods...)
			current, history, err := c.History(t.Context(), tt.repo)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("History error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var images []string
			for _, d := range history {
				images = append(images, d.Image)
			}
			if current != tt.current || !cmp.Equal(tt.images, images) {
				t.Errorf("History = %q, %q; want %q, %q", current, images, tt.current, tt.images)
			}
			_, prev, ok, err := c.PreviousImage(t.Context(), tt.repo)
			if err != nil || ok != (tt.prevID >= 0) || ok && prev.ID != tt.prevID {
				t.Errorf("PreviousImage = %+v, %v, %v; want id %d", prev, ok, err, tt.prevID)
			}
		})
	}
}
