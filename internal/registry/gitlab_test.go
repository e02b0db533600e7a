package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const gitlabToken = "glpat-TOPSECRET-0123"

type glRepo struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Path     string `json:"path"`
	Location string `json:"location"`
}

type glTag struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	Location  string `json:"location"`
	Digest    string `json:"digest,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
}

// fakeGitLab serves the container registry API the way GitLab does:
// repositories with offset pagination (X-Next-Page and Link), tags with
// keyset-style Link pagination only, tag details with created_at.
type fakeGitLab struct {
	project  string             // escaped as the client sends it, e.g. oil%2Frefinery
	repos    []glRepo           // served two per page
	tags     map[int64][]string // repository id -> tag names, served two per page
	created  map[string]string  // tag -> created_at of its details; absent: 404
	status   int                // non-zero: every request gets it
	inList   bool               // the list carries digest and created_at
	body     string             // with status
	inflight atomic.Int32
	peak     atomic.Int32
	details  atomic.Int32
}

func (f *fakeGitLab) start(t *testing.T) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if f.status != 0 {
			w.WriteHeader(f.status)
			fmt.Fprint(w, f.body)
			return
		}
		if r.Header.Get("PRIVATE-TOKEN") != gitlabToken {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"401 Unauthorized"}`)
			return
		}
		prefix := "/api/v4/projects/" + f.project + "/registry/repositories"
		path := r.URL.EscapedPath()
		if !strings.HasPrefix(path, prefix) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"404 Project Not Found"}`)
			return
		}
		if path == prefix {
			page, _ := strconv.Atoi(r.URL.Query().Get("page"))
			page = max(page, 1)
			lo, hi := min((page-1)*2, len(f.repos)), min(page*2, len(f.repos))
			link := func(p int) string {
				u := *r.URL
				q := u.Query()
				q.Set("page", strconv.Itoa(p))
				u.RawQuery = q.Encode()
				return "http://" + r.Host + u.String()
			}
			links := []string{fmt.Sprintf(`<%s>; rel="first"`, link(1))}
			if hi < len(f.repos) {
				w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
				links = append([]string{fmt.Sprintf(`<%s>; rel="next"`, link(page+1))}, links...)
			} else {
				w.Header().Set("X-Next-Page", "")
			}
			w.Header().Set("X-Page", strconv.Itoa(page))
			w.Header().Set("Link", strings.Join(links, ", "))
			json.NewEncoder(w).Encode(f.repos[lo:hi])
			return
		}
		rest := strings.Split(strings.TrimPrefix(path, prefix+"/"), "/")
		id, _ := strconv.ParseInt(rest[0], 10, 64)
		var repo *glRepo
		for i := range f.repos {
			if f.repos[i].ID == id {
				repo = &f.repos[i]
			}
		}
		if repo == nil || len(rest) < 2 || rest[1] != "tags" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"404 Repository Not Found"}`)
			return
		}
		mk := func(name string) glTag {
			return glTag{Name: name, Path: repo.Path + ":" + name, Location: repo.Location + ":" + name}
		}
		if len(rest) == 2 { // list, keyset pagination by the last name seen
			names := f.tags[id]
			lo := 0
			if last := r.URL.Query().Get("last"); last != "" {
				for i, n := range names {
					if n == last {
						lo = i + 1
					}
				}
			}
			hi := min(lo+2, len(names))
			if hi < len(names) {
				u := *r.URL
				q := u.Query()
				q.Set("last", names[hi-1])
				u.RawQuery = q.Encode()
				w.Header().Set("Link", fmt.Sprintf(`<http://%s%s>; rel="next"`, r.Host, u.String()))
			}
			out := []glTag{}
			for _, n := range names[lo:hi] {
				tag := mk(n)
				if f.inList {
					tag.Digest, tag.CreatedAt = "sha256:"+n, f.created[n]
				}
				out = append(out, tag)
			}
			json.NewEncoder(w).Encode(out)
			return
		}
		// details
		f.details.Add(1)
		n := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		mu.Lock()
		f.peak.Store(max(f.peak.Load(), n))
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		name, _ := url.PathUnescape(rest[2])
		created, ok := f.created[name]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"404 Tag Not Found"}`)
			return
		}
		tag := mk(name)
		tag.Digest = "sha256:" + name
		tag.CreatedAt = created
		json.NewEncoder(w).Encode(tag)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func refineryRepos() []glRepo {
	return []glRepo{
		{ID: 3, Name: "worker", Path: "oil/refinery/worker", Location: "registry.example.com/oil/refinery/worker"},
		{ID: 5, Name: "cache", Path: "oil/refinery/cache", Location: "registry.example.com/oil/refinery/cache"},
		{ID: 7, Name: "", Path: "oil/refinery", Location: "registry.example.com/oil/refinery"},
	}
}

func TestGitLabTags(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UTC()
	}
	created := map[string]string{
		"0.9.0":   "2026-11-20T10:00:00.000+03:00",
		"0.10.10": "2026-11-21T10:00:00.123+00:00",
		"0.10.5":  "2026-11-25T09:00:00.000+00:00",
		"latest":  "2026-11-25T12:00:00.000+03:00", // same instant as 0.10.5
		"1.0.0":   "2026-11-26T04:00:36.000+00:00",
	}
	tests := []struct {
		name       string
		project    string // GITLAB_PROJECT
		fakeKey    string // the project as the fake expects it
		repository string
		repos      []glRepo
		tags       map[int64][]string
		created    map[string]string
		status     int
		body       string
		token      string
		want       []Tag
		wantErr    []string // substrings
	}{
		{
			name:    "root repository, every page, newest first",
			project: "oil/refinery", fakeKey: "oil%2Frefinery",
			repos: refineryRepos(),
			tags:  map[int64][]string{7: {"0.10.5", "0.9.0", "0.10.10", "latest", "gone"}, 3: {"1.0.0"}},
			want: []Tag{
				{Name: "0.10.5", Created: utc("2026-11-25T09:00:00Z"), Digest: "sha256:0.10.5"},
				{Name: "latest", Created: utc("2026-11-25T09:00:00Z"), Digest: "sha256:latest"},
				{Name: "0.10.10", Created: utc("2026-11-21T10:00:00.123Z"), Digest: "sha256:0.10.10"},
				{Name: "0.9.0", Created: utc("2026-11-20T07:00:00Z"), Digest: "sha256:0.9.0"},
			},
		},
		{
			name:    "repository by path, numeric project",
			project: "42", fakeKey: "42", repository: "oil/refinery/worker",
			repos: refineryRepos(),
			tags:  map[int64][]string{7: {"0.10.5"}, 3: {"1.0.0"}},
			want:  []Tag{{Name: "1.0.0", Created: utc("2026-11-26T04:00:36Z"), Digest: "sha256:1.0.0"}},
		},
		{
			name:    "repository by REGISTRY_IMAGE location",
			project: "oil/refinery", fakeKey: "oil%2Frefinery", repository: "registry.example.com/oil/refinery/worker",
			repos: refineryRepos(),
			tags:  map[int64][]string{3: {"1.0.0"}},
			want:  []Tag{{Name: "1.0.0", Created: utc("2026-11-26T04:00:36Z"), Digest: "sha256:1.0.0"}},
		},
		{
			name:    "empty repository",
			project: "oil/refinery", fakeKey: "oil%2Frefinery",
			repos: refineryRepos(),
			want:  []Tag{},
		},
		{
			name:    "bad token",
			project: "oil/refinery", fakeKey: "oil%2Frefinery", token: "glpat-wrong-token",
			wantErr: []string{`list registry repositories of GitLab project "oil/refinery"`, "GITLAB_TOKEN was refused", "read_api", "401"},
		},
		{
			name:    "token without the scope",
			project: "oil/refinery", fakeKey: "oil%2Frefinery",
			status: http.StatusForbidden, body: `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api read_api"}`,
			wantErr: []string{`GitLab project "oil/refinery"`, "GITLAB_TOKEN may not read the container registry", "read_api", "read_registry alone", "403"},
		},
		{
			name:    "project not found",
			project: "oil/missing", fakeKey: "oil%2Frefinery",
			repos:   refineryRepos(),
			wantErr: []string{`GitLab project "oil/missing"`, "not found", "check GITLAB_PROJECT"},
		},
		{
			name:    "no repositories",
			project: "oil/refinery", fakeKey: "oil%2Frefinery",
			wantErr: []string{`GitLab project "oil/refinery"`, "project has no container registry repositories yet: push an image first"},
		},
		{
			name:    "no such repository",
			project: "oil/refinery", fakeKey: "oil%2Frefinery", repository: "oil/refinery/nope",
			repos:   refineryRepos(),
			wantErr: []string{`no repository "oil/refinery/nope" among registry.example.com/oil/refinery, registry.example.com/oil/refinery/cache, registry.example.com/oil/refinery/worker: set REGISTRY_IMAGE to one of them`},
		},
		{
			name:    "no root repository",
			project: "oil/refinery", fakeKey: "oil%2Frefinery",
			repos:   refineryRepos()[:2],
			wantErr: []string{"no root repository (path = project path) among", "set REGISTRY_IMAGE"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeGitLab{project: tc.fakeKey, repos: tc.repos, tags: tc.tags, created: created, status: tc.status, body: tc.body}
			srv := fake.start(t)
			token := tc.token
			if token == "" {
				token = gitlabToken
			}
			g, err := NewGitLab(GitLabConfig{URL: srv.URL, Token: token, Project: tc.project, Repository: tc.repository})
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Tags(t.Context())
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("Tags succeeded with %v, want an error", got)
				}
				t.Logf("error: %v", err)
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q\ndoes not contain %q", err, s)
					}
				}
				if strings.Contains(err.Error(), token) {
					t.Errorf("error reveals the token: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Tags: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Tags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGitLabTagsBoundedConcurrency(t *testing.T) {
	var names []string
	created := map[string]string{}
	for i := range 40 {
		n := fmt.Sprintf("0.%d.0", i)
		names = append(names, n)
		created[n] = time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339)
	}
	fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), tags: map[int64][]string{7: names}, created: created}
	srv := fake.start(t)
	g, err := NewGitLab(GitLabConfig{URL: srv.URL + "/api/v4", Token: gitlabToken, Project: "oil/refinery"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Tags(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 || got[0].Name != "0.39.0" || got[39].Name != "0.0.0" {
		t.Errorf("got %d tags from %q to %q, want 40 from 0.39.0 to 0.0.0", len(got), got[0].Name, got[len(got)-1].Name)
	}
	if fake.details.Load() != 40 {
		t.Errorf("%d detail requests, want 40", fake.details.Load())
	}
	if p := fake.peak.Load(); p > concurrency || p < 2 {
		t.Errorf("peak of %d detail requests at once, want 2..%d", p, concurrency)
	}
}

// TestGitLabTagsUsesListedDetails checks that no detail request is made when
// the tag list already carries digest and created_at.
func TestGitLabTagsUsesListedDetails(t *testing.T) {
	fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), inList: true,
		tags:    map[int64][]string{7: {"0.10.5", "0.10.10", "0.9.0"}},
		created: map[string]string{"0.10.5": "2026-11-01T00:00:00Z", "0.10.10": "2026-11-03T00:00:00Z", "0.9.0": "2026-11-02T00:00:00Z"}}
	srv := fake.start(t)
	g, err := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Tags(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"0.10.10", "0.9.0", "0.10.5"}, names(got)); diff != "" {
		t.Errorf("Tags order (-want +got):\n%s", diff)
	}
	if n := fake.details.Load(); n != 0 {
		t.Errorf("%d detail requests, want 0", n)
	}
}
