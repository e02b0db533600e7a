package argocd_test

import (
	stdcmp "cmp"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
)

func TestSetImage(t *testing.T) {
	tests := []struct {
		name    string
		patch   string // merge patch on testdata/app.json before
		image   string
		want    string // spec.source afterwards, as JSON (only the keys that matter)
		wantErr string
	}{
		{
			name:  "replaces the app's override, keeps the sidecar's",
			image: "registry.example.com/oil/app:0.10.5",
			want:  `{"images":["registry.example.com/oil/app:0.10.5","registry.example.com/oil/sidecar:1.2"]}`,
		},
		{
			name:  "adds the first override",
			patch: `{"spec":{"source":{"kustomize":null}}}`,
			image: "registry.example.com/oil/app:0.10.5",
			want:  `{"images":["registry.example.com/oil/app:0.10.5"]}`,
		},
		{
			name:  "keeps the old name of a renaming override",
			patch: `{"spec":{"source":{"kustomize":{"images":["oil-app=registry.example.com/oil/app:0.10.4"]}}}}`,
			image: "registry.example.com/oil/app:0.10.5",
			want:  `{"images":["oil-app=registry.example.com/oil/app:0.10.5"]}`,
		},
		{
			name:  "registry with a port and a digest",
			patch: `{"spec":{"source":{"kustomize":{"images":["localhost:5000/oil/app:0.10.4"]}}}}`,
			image: "localhost:5000/oil/app:0.10.5@sha256:0123456789abcdef",
			want:  `{"images":["localhost:5000/oil/app:0.10.5@sha256:0123456789abcdef"]}`,
		},
		{
			name:    "no tag",
			image:   "registry.example.com/oil/app",
			wantErr: `set image of application "oil-refinery-application": image "registry.example.com/oil/app" has no tag`,
		},
		{
			name:    "directory source",
			patch:   `{"status":{"sourceType":"Directory"}}`,
			image:   "registry.example.com/oil/app:0.10.5",
			wantErr: "its source type is Directory; only Kustomize (images override) and Helm (parameters image.repository, image.tag)",
		},
		{
			name:    "multi-source",
			patch:   `{"spec":{"source":null,"sources":[{"repoURL":"x"}]}}`,
			image:   "registry.example.com/oil/app:0.10.5",
			wantErr: "several sources",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeArgo(t)
			if tt.patch != "" {
				f.set(tt.patch)
			}
			err := f.client(t).SetImage(t.Context(), tt.image)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SetImage() = %v, want an error with %q", err, tt.wantErr)
				}
				for _, r := range f.calls() {
					if r.Method != "GET" {
						t.Errorf("SetImage() failed but sent %s %s", r.Method, r.Path)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := kustomizeOf(t, f.source(), "images")
			if diff := cmp.Diff(mustJSON(t, tt.want), got); diff != "" {
				t.Errorf("kustomize after SetImage (-want +got):\n%s", diff)
			}
		})
	}
}

// kustomizeOf returns the named keys of spec.source.kustomize.
func kustomizeOf(t *testing.T, src map[string]any, keys ...string) any {
	t.Helper()
	k, _ := src["kustomize"].(map[string]any)
	out := map[string]any{}
	for _, key := range keys {
		if v, ok := k[key]; ok {
			out[key] = v
		}
	}
	return out
}

func TestSetImageSendsMergePatch(t *testing.T) {
	f := newFakeArgo(t)
	if err := f.client(t).SetImage(t.Context(), "registry.example.com/oil/app:0.10.5"); err != nil {
		t.Fatal(err)
	}
	calls := f.calls()
	patch := calls[len(calls)-1]
	want := map[string]any{
		"name":      testApp,
		"patchType": "merge",
		"patch":     `{"spec":{"source":{"kustomize":{"images":["registry.example.com/oil/app:0.10.5","registry.example.com/oil/sidecar:1.2"]}}}}`,
	}
	if diff := cmp.Diff(want, patch.Body); diff != "" {
		t.Errorf("PATCH body (-want +got):\n%s", diff)
	}
}

func TestSetImageHelm(t *testing.T) {
	tests := []struct {
		name   string
		params string
		cfg    func(*argocd.Config)
		image  string // default registry.example.com/oil/app:0.10.5
		want   string
	}{
		{
			name:   "adds both parameters",
			params: `[{"name":"replicaCount","value":"2"}]`,
			want: `[{"name":"replicaCount","value":"2"},{"name":"image.repository","value":"registry.example.com/oil/app","forceString":true},` +
				`{"name":"image.tag","value":"0.10.5","forceString":true}]`,
		},
		{
			name:   "replaces them in place, custom names",
			params: `[{"name":"app.image.tag","value":"0.10.4"},{"name":"app.image.repo","value":"old"}]`,
			cfg:    func(c *argocd.Config) { c.HelmImageRepository, c.HelmImageTag = "app.image.repo", "app.image.tag" },
			want:   `[{"name":"app.image.tag","value":"0.10.5"},{"name":"app.image.repo","value":"registry.example.com/oil/app"}]`,
		},
		{
			name:   "a pinned image: the tag parameter is tag@digest",
			params: `[{"name":"image.tag","value":"0.10.4"}]`,
			image:  "registry.example.com/oil/app:0.10.5@sha256:" + strings.Repeat("ab", 32),
			want: `[{"name":"image.tag","value":"0.10.5@sha256:` + strings.Repeat("ab", 32) + `"},` +
				`{"name":"image.repository","value":"registry.example.com/oil/app","forceString":true}]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeArgo(t)
			f.set(`{"spec":{"source":{"kustomize":null,"chart":"oil","helm":{"parameters":` + tt.params + `}}},"status":{"sourceType":"Helm"}}`)
			var mods []func(*argocd.Config)
			if tt.cfg != nil {
				mods = append(mods, tt.cfg)
			}
			image := stdcmp.Or(tt.image, "registry.example.com/oil/app:0.10.5")
			if err := f.client(t, mods...).SetImage(t.Context(), image); err != nil {
				t.Fatal(err)
			}
			got := f.source()["helm"].(map[string]any)["parameters"]
			if diff := cmp.Diff(mustJSON(t, tt.want), got); diff != "" {
				t.Errorf("helm parameters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetReplicas(t *testing.T) {
	tests := []struct {
		name     string
		patch    string
		workload string
		n        int32
		want     string
		wantErr  string
	}{
		{
			name: "changes one, keeps the other", workload: testApp, n: 3,
			want: `{"replicas":[{"name":"oil-refinery-application","count":3},{"name":"worker","count":4}]}`,
		},
		{
			name: "adds one", patch: `{"spec":{"source":{"kustomize":{"replicas":null}}}}`, workload: testApp, n: 0,
			want: `{"replicas":[{"name":"oil-refinery-application","count":0}]}`,
		},
		{name: "negative", workload: testApp, n: -1, wantErr: "count >= 0"},
		{name: "helm", patch: `{"status":{"sourceType":"Helm"}}`, workload: testApp, n: 3, wantErr: "only on a Kustomize source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeArgo(t)
			if tt.patch != "" {
				f.set(tt.patch)
			}
			err := f.client(t).SetReplicas(t.Context(), tt.workload, tt.n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SetReplicas() = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(mustJSON(t, tt.want), kustomizeOf(t, f.source(), "replicas")); diff != "" {
				t.Errorf("kustomize after SetReplicas (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSync(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{name: "started", status: 0},
		{
			name: "auto-sync was quicker", status: 400,
			body: `{"error":"another operation is already in progress","code":9,"message":"another operation is already in progress"}`,
		},
		{
			name: "sync window", status: 403,
			body:    `{"error":"cannot sync: blocked by sync window","code":7,"message":"cannot sync: blocked by sync window"}`,
			wantErr: `sync application "oil-refinery-application": Argo CD denied it (403: cannot sync: blocked by sync window)`,
		},
		{
			name: "bad request", status: 400,
			body:    `{"error":"application spec is invalid","code":3,"message":"application spec is invalid"}`,
			wantErr: `sync application "oil-refinery-application": Argo CD answered 400: application spec is invalid`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeArgo(t)
			f.answer = func(r request) (int, string) {
				if r.Method == "POST" {
					return tt.status, tt.body
				}
				return 0, ""
			}
			err := f.client(t).Sync(t.Context())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Sync() = %v, want nil", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Sync() = %v, want an error with %q", err, tt.wantErr)
			}
			calls := f.calls()
			if len(calls) != 1 {
				t.Fatalf("Sync() made %d calls, want 1", len(calls))
			}
			body, _ := json.Marshal(calls[0].Body)
			if string(body) != `{"name":"oil-refinery-application"}` {
				t.Errorf("sync body = %s", body)
			}
		})
	}
}

func TestUnknownApp(t *testing.T) {
	f := newFakeArgo(t)
	err := f.client(t, func(c *argocd.Config) { c.App = "no-such-app" }).SetImage(t.Context(), "registry.example.com/oil/app:1.0")
	if !errors.Is(err, argocd.ErrForbidden) || !strings.Contains(err.Error(), `application "no-such-app"`) {
		t.Fatalf("SetImage() = %v, want ErrForbidden naming the app", err)
	}
}
