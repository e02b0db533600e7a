package registry

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
	"gitlab.com/derrick-kit/derrick/internal/registrytest"
)

const gitlabToken = "glpat-TOPSECRET-0123"

func refineryRepos() []registrytest.GitLabRepo {
	return []registrytest.GitLabRepo{
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
		repos      []registrytest.GitLabRepo
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
				// Its details failed: listed all the same, last.
				{Name: "gone", Digest: "sha256:gone"},
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
			fake := &registrytest.GitLab{Token: gitlabToken, Project: tc.fakeKey, Repos: tc.repos, Tags: tc.tags, Created: created, Status: tc.status, Body: tc.body}
			srv := fake.Start(t)
			token := tc.token
			if token == "" {
				token = gitlabToken
			}
			g, err := NewGitLab(GitLabConfig{URL: srv.URL, Token: token, Project: tc.project, Repository: tc.repository})
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Tags(t.Context())
			checkTags(t, got, err, tc.want, tc.wantErr, token)
		})
	}
}

// manyTags returns n tag names and their createdAt, one minute apart.
func manyTags(n int) ([]string, map[string]string) {
	names := make([]string, n)
	created := make(map[string]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("1.%d.0", i)
		created[names[i]] = time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339)
	}
	return names, created
}

// TestGitLabTagsPages checks that every page is read, 20 tags a request
// (asking GitLab for more would skip tags), and that the repository is
// looked up once, not on every listing.
func TestGitLabTagsPages(t *testing.T) {
	names, created := manyTags(45)
	fake := &registrytest.GitLab{Token: gitlabToken, Project: "oil%2Frefinery", Repos: refineryRepos(), Tags: map[int64][]string{7: names}, Created: created}
	srv := fake.Start(t)
	g, err := NewGitLab(GitLabConfig{URL: srv.URL + "/api/v4", Token: gitlabToken, Project: "oil/refinery"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := g.Tags(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 45 || got[0].Name != "1.44.0" || got[44].Name != "1.0.0" || got[0].Digest != "sha256:1.44.0" {
			t.Fatalf("listing %d: %d tags from %+v to %+v, want 45 from 1.44.0 to 1.0.0", i+1, len(got), got[0], got[len(got)-1])
		}
	}
	if n := fake.GraphQL.Load(); n != 6 {
		t.Errorf("%d GraphQL requests for two listings of 45 tags, want 6 (3 pages of 20 each)", n)
	}
	if n := fake.REST.Load(); n != 2 {
		t.Errorf("%d REST requests, want 2 (the repository list, two per page, once)", n)
	}
	if n := fake.MaxFirst.Load(); n > registrytest.GitLabTagsPage {
		t.Errorf("asked for first: %d tags, more than GitLab's page of %d", n, registrytest.GitLabTagsPage)
	}
}

func TestGitLabTagsFailures(t *testing.T) {
	names, created := manyTags(3)
	t.Run("registry behind GitLab unreachable", func(t *testing.T) {
		fake := &registrytest.GitLab{Token: gitlabToken, Project: "oil%2Frefinery", Repos: refineryRepos(), Tags: map[int64][]string{7: names}, Created: created, Down: true}
		srv := fake.Start(t)
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery"})
		_, err := g.Tags(t.Context())
		wantErr(t, err, `list tags of registry repository "oil/refinery" of GitLab project "oil/refinery": GitLab answered: Can't connect to the Container Registry.`)
	})
	t.Run("token revoked after the repository was found", func(t *testing.T) {
		fake := &registrytest.GitLab{Token: gitlabToken, Project: "oil%2Frefinery", Repos: refineryRepos(), Tags: map[int64][]string{7: names}, Created: created}
		srv := fake.Start(t)
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery"})
		if _, err := g.Tags(t.Context()); err != nil {
			t.Fatal(err)
		}
		fake.Token = "glpat-another-one"
		_, err := g.Tags(t.Context())
		wantErr(t, err, "GITLAB_TOKEN was refused", "401", "Invalid token")
	})
	t.Run("repository deleted, then pushed again", func(t *testing.T) {
		fake := &registrytest.GitLab{Token: gitlabToken, Project: "oil%2Frefinery", Repos: refineryRepos(), Tags: map[int64][]string{7: names, 9: names[:1]}, Created: created}
		srv := fake.Start(t)
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery"})
		if _, err := g.Tags(t.Context()); err != nil {
			t.Fatal(err)
		}
		fake.Repos = refineryRepos()[:2]
		_, err := g.Tags(t.Context())
		wantErr(t, err, "GitLab no longer knows the repository (deleted?)")
		fake.Repos = append(refineryRepos()[:2], registrytest.GitLabRepo{ID: 9, Path: "oil/refinery", Location: "registry.example.com/oil/refinery"})
		got, err := g.Tags(t.Context())
		if err != nil || len(got) != 1 {
			t.Fatalf("after the push: %v, %v; want the one tag of the new repository", got, err)
		}
	})
	t.Run("details of some tags fail", func(t *testing.T) {
		fake := &registrytest.GitLab{Token: gitlabToken, Project: "oil%2Frefinery", Repos: refineryRepos(), Tags: map[int64][]string{7: {"0.2.0", "broken", "0.1.0"}},
			Created: map[string]string{"0.1.0": "2026-11-01T00:00:00Z", "0.2.0": "2026-11-02T00:00:00+03:00"}}
		srv := fake.Start(t)
		var logs proctest.SyncBuffer
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery",
			Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		for range 2 {
			got, err := g.Tags(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"0.2.0", "0.1.0", "broken"}, tagNames(got)); diff != "" {
				t.Errorf("Tags (-want +got):\n%s", diff)
			}
		}
		if n := strings.Count(logs.String(), "tags listed without build time"); n != 1 {
			t.Errorf("logged %d times, want once for the same failing tag:\n%s", n, logs.String())
		}
		if !strings.Contains(logs.String(), `"examples":"broken"`) || strings.Contains(logs.String(), gitlabToken) {
			t.Errorf("log does not name the tag, or reveals the token:\n%s", logs.String())
		}
	})
}

// TestGitLabTagsHungGitLab checks that a GitLab that accepts the request and
// never answers gives an error naming it once the request timeout is over.
func TestGitLabTagsHungGitLab(t *testing.T) {
	names, created := manyTags(3)
	fake := &registrytest.GitLab{Token: gitlabToken, Project: "oil%2Frefinery", Repos: refineryRepos(), Tags: map[int64][]string{7: names}, Created: created, Hang: make(chan struct{})}
	srv := fake.Start(t)
	g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery", Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := g.Tags(t.Context())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Tags took %s against a hung GitLab with a 300ms request timeout", took)
	}
	wantErr(t, err, "GitLab at "+srv.URL+" did not answer within 300ms")
}

// BenchmarkGitLabListing measures the GitLab requests of a /showcontainers
// with 3,000 tags: cold (a new bot) and warm (within REGISTRY_CACHE_TTL).
// Rerun: go test -run '^$' -bench GitLabListing -benchtime 5x ./internal/registry/
func BenchmarkGitLabListing(b *testing.B) {
	names, created := manyTags(3000)
	fake := &registrytest.GitLab{Token: gitlabToken, Project: "oil%2Frefinery", Repos: refineryRepos(), Tags: map[int64][]string{7: names}, Created: created}
	srv := fake.Start(b)
	cfg := GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery", CacheTTL: time.Minute}
	b.Run("cold", func(b *testing.B) {
		before := fake.REST.Load() + fake.GraphQL.Load()
		for b.Loop() {
			g, _ := NewGitLab(cfg)
			if tags, err := g.Tags(b.Context()); err != nil || len(tags) != 3000 {
				b.Fatalf("%d tags, %v", len(tags), err)
			}
		}
		b.ReportMetric(float64(fake.REST.Load()+fake.GraphQL.Load()-before)/float64(b.N), "requests/listing")
	})
	b.Run("warm", func(b *testing.B) {
		g, _ := NewGitLab(cfg)
		if _, err := g.Tags(b.Context()); err != nil {
			b.Fatal(err)
		}
		before := fake.REST.Load() + fake.GraphQL.Load()
		for b.Loop() {
			if tags, err := g.Tags(b.Context()); err != nil || len(tags) != 3000 {
				b.Fatalf("%d tags, %v", len(tags), err)
			}
		}
		b.ReportMetric(float64(fake.REST.Load()+fake.GraphQL.Load()-before)/float64(b.N), "requests/listing")
	})
}

// TestGitLabRelativeURLRoot checks that GraphQL is asked next to /api/v4 of
// a GitLab installed under a path (https://example.com/gitlab).
func TestGitLabRelativeURLRoot(t *testing.T) {
	names, created := manyTags(3)
	fake := &registrytest.GitLab{Token: gitlabToken, Project: "oil%2Frefinery", Repos: refineryRepos(), Tags: map[int64][]string{7: names}, Created: created}
	srv := fake.Start(t)
	root := httptest.NewServer(http.StripPrefix("/gitlab", srv.Config.Handler))
	t.Cleanup(root.Close)
	g, err := NewGitLab(GitLabConfig{URL: root.URL + "/gitlab", Token: gitlabToken, Project: "oil/refinery"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := g.Tags(t.Context()); err != nil || len(got) != 3 || fake.GraphQL.Load() != 1 {
		t.Fatalf("Tags = %v, %v after %d GraphQL requests; want 3 tags from 1", got, err, fake.GraphQL.Load())
	}
}
