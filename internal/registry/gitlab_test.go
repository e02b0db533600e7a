package registry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

const gitlabToken = "glpat-TOPSECRET-0123"

type glRepo struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Path     string `json:"path"`
	Location string `json:"location"`
}

// fakeGitLab serves what the GitLab source calls, in GitLab's documented
// shapes: the REST list of a project's registry repositories (offset
// pagination with X-Next-Page and Link), and GraphQL's
// containerRepository(id:) { tags(first:, after:) } with GitLab's quirks:
// at most 20 nodes a page (max_page_size of ContainerRepositoryDetails.tags)
// yet a cursor past all the tags asked for with first, as GitLab.com does;
// field errors in the errors array with the tag's path; null for a
// repository it does not know; 401 {"errors":[{"message":"Invalid token"}]}.
type fakeGitLab struct {
	project  string             // escaped as the client sends it, e.g. oil%2Frefinery
	repos    []glRepo           // served two per page
	tags     map[int64][]string // repository id -> tag names in the registry's order
	created  map[string]string  // tag -> createdAt; absent: null with a field error
	status   int                // non-zero: every request gets it
	body     string             // with status
	token    string             // accepted token; "" = gitlabToken
	down     bool               // GraphQL: the registry behind GitLab is unreachable
	hang     chan struct{}      // non-nil: GraphQL requests wait until it is closed
	rest     atomic.Int32       // REST requests served
	graphql  atomic.Int32       // GraphQL requests served
	maxFirst atomic.Int32       // largest first asked for
}

const gitlabMaxTagsPage = 20

func (f *fakeGitLab) start(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if f.status != 0 {
			w.WriteHeader(f.status)
			fmt.Fprint(w, f.body)
			return
		}
		token := f.token
		if token == "" {
			token = gitlabToken
		}
		if r.URL.Path == "/api/graphql" {
			f.graphql.Add(1)
			if r.Header.Get("PRIVATE-TOKEN") != token {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"message":"Invalid token"}]}`)
				return
			}
			if f.hang != nil {
				select {
				case <-f.hang:
				case <-r.Context().Done():
					return
				}
			}
			f.serveGraphQL(w, r)
			return
		}
		f.rest.Add(1)
		if r.Header.Get("PRIVATE-TOKEN") != token {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"401 Unauthorized"}`)
			return
		}
		prefix := "/api/v4/projects/" + f.project + "/registry/repositories"
		if r.URL.EscapedPath() != prefix {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"404 Project Not Found"}`)
			return
		}
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
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if f.hang != nil {
			select {
			case <-f.hang:
			default:
				close(f.hang)
			}
		}
	})
	return srv
}

var gidRE = regexp.MustCompile(`^gid://gitlab/ContainerRepository/([0-9]+)$`)

func (f *fakeGitLab) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"errors":[{"message":"Invalid request"}]}`)
		return
	}
	// The argument is a ContainerRepositoryID (GlobalIDType[ContainerRepository]), not an ID.
	for _, want := range []string{"$id: ContainerRepositoryID!", "containerRepository(id: $id)", "tags(first: $first, after: $after)",
		"nodes { name digest createdAt }", "pageInfo { endCursor hasNextPage }"} {
		if !strings.Contains(req.Query, want) {
			fmt.Fprintf(w, `{"errors":[{"message":"the stand-in does not know this query: it lacks %s"}]}`, want)
			return
		}
	}
	id, _ := req.Variables["id"].(string)
	m := gidRE.FindStringSubmatch(id)
	if m == nil {
		fmt.Fprintf(w, `{"errors":[{"message":"%q does not represent an instance of ContainerRepository","locations":[{"line":1,"column":7}]}]}`, id)
		return
	}
	repoID, _ := strconv.ParseInt(m[1], 10, 64)
	if !slices.ContainsFunc(f.repos, func(r glRepo) bool { return r.ID == repoID }) {
		fmt.Fprint(w, `{"data":{"containerRepository":null}}`)
		return
	}
	if f.down {
		fmt.Fprint(w, `{"data":{"containerRepository":{"tags":null}},"errors":[{"message":"Can't connect to the Container Registry. If this error persists, please review the troubleshooting documentation.","locations":[{"line":3,"column":5}],"path":["containerRepository","tags"]}]}`)
		return
	}
	first := gitlabMaxTagsPage
	if v, ok := req.Variables["first"].(float64); ok {
		first = int(v)
	}
	for {
		old := f.maxFirst.Load()
		if int32(first) <= old || f.maxFirst.CompareAndSwap(old, int32(first)) {
			break
		}
	}
	names := f.tags[repoID]
	lo := 0
	if after, _ := req.Variables["after"].(string); after != "" {
		last, _ := base64.StdEncoding.DecodeString(after)
		lo = slices.Index(names, string(last)) + 1
	}
	// The registry serves first tags; GraphQL shows at most 20 of them.
	hi := min(lo+first, len(names))
	shown := names[lo:min(hi, lo+gitlabMaxTagsPage)]
	type node struct {
		Name      string  `json:"name"`
		Digest    string  `json:"digest"`
		CreatedAt *string `json:"createdAt"`
	}
	nodes := []node{}
	var errs []map[string]any
	for i, n := range shown {
		nd := node{Name: n, Digest: "sha256:" + n}
		if c, ok := f.created[n]; ok {
			nd.CreatedAt = &c
		} else {
			errs = append(errs, map[string]any{"message": "Internal server error", "locations": []any{map[string]int{"line": 4, "column": 29}},
				"path": []any{"containerRepository", "tags", "nodes", i, "createdAt"}})
		}
		nodes = append(nodes, nd)
	}
	var end *string
	if hi < len(names) {
		c := base64.StdEncoding.EncodeToString([]byte(names[hi-1]))
		end = &c
	}
	out := map[string]any{"data": map[string]any{"containerRepository": map[string]any{"tags": map[string]any{
		"nodes": nodes, "pageInfo": map[string]any{"endCursor": end, "hasNextPage": hi < len(names)},
	}}}}
	if errs != nil {
		out["errors"] = errs
	}
	json.NewEncoder(w).Encode(out)
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
	fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), tags: map[int64][]string{7: names}, created: created}
	srv := fake.start(t)
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
	if n := fake.graphql.Load(); n != 6 {
		t.Errorf("%d GraphQL requests for two listings of 45 tags, want 6 (3 pages of 20 each)", n)
	}
	if n := fake.rest.Load(); n != 2 {
		t.Errorf("%d REST requests, want 2 (the repository list, two per page, once)", n)
	}
	if n := fake.maxFirst.Load(); n > gitlabMaxTagsPage {
		t.Errorf("asked for first: %d tags, more than GitLab's page of %d", n, gitlabMaxTagsPage)
	}
}

func TestGitLabTagsFailures(t *testing.T) {
	names, created := manyTags(3)
	t.Run("registry behind GitLab unreachable", func(t *testing.T) {
		fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), tags: map[int64][]string{7: names}, created: created, down: true}
		srv := fake.start(t)
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery"})
		_, err := g.Tags(t.Context())
		wantErr(t, err, `list tags of registry repository "oil/refinery" of GitLab project "oil/refinery": GitLab answered: Can't connect to the Container Registry.`)
	})
	t.Run("token revoked after the repository was found", func(t *testing.T) {
		fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), tags: map[int64][]string{7: names}, created: created}
		srv := fake.start(t)
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery"})
		if _, err := g.Tags(t.Context()); err != nil {
			t.Fatal(err)
		}
		fake.token = "glpat-another-one"
		_, err := g.Tags(t.Context())
		wantErr(t, err, "GITLAB_TOKEN was refused", "401", "Invalid token")
	})
	t.Run("repository deleted, then pushed again", func(t *testing.T) {
		fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), tags: map[int64][]string{7: names, 9: names[:1]}, created: created}
		srv := fake.start(t)
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery"})
		if _, err := g.Tags(t.Context()); err != nil {
			t.Fatal(err)
		}
		fake.repos = refineryRepos()[:2]
		_, err := g.Tags(t.Context())
		wantErr(t, err, "GitLab no longer knows the repository (deleted?)")
		fake.repos = append(refineryRepos()[:2], glRepo{ID: 9, Path: "oil/refinery", Location: "registry.example.com/oil/refinery"})
		got, err := g.Tags(t.Context())
		if err != nil || len(got) != 1 {
			t.Fatalf("after the push: %v, %v; want the one tag of the new repository", got, err)
		}
	})
	t.Run("details of some tags fail", func(t *testing.T) {
		fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), tags: map[int64][]string{7: {"0.2.0", "broken", "0.1.0"}},
			created: map[string]string{"0.1.0": "2026-11-01T00:00:00Z", "0.2.0": "2026-11-02T00:00:00+03:00"}}
		srv := fake.start(t)
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
		if n := g.DetailFailures(); n != 2 {
			t.Errorf("DetailFailures = %d, want 2 (one tag, two listings)", n)
		}
	})
}

// TestGitLabTagsHungGitLab checks that a GitLab that accepts the request and
// never answers gives an error naming it once the request timeout is over.
func TestGitLabTagsHungGitLab(t *testing.T) {
	names, created := manyTags(3)
	fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), tags: map[int64][]string{7: names}, created: created, hang: make(chan struct{})}
	srv := fake.start(t)
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
	fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), tags: map[int64][]string{7: names}, created: created}
	srv := fake.start(b)
	cfg := GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery", CacheTTL: time.Minute}
	b.Run("cold", func(b *testing.B) {
		before := fake.rest.Load() + fake.graphql.Load()
		for b.Loop() {
			g, _ := NewGitLab(cfg)
			if tags, err := g.Tags(b.Context()); err != nil || len(tags) != 3000 {
				b.Fatalf("%d tags, %v", len(tags), err)
			}
		}
		b.ReportMetric(float64(fake.rest.Load()+fake.graphql.Load()-before)/float64(b.N), "requests/listing")
	})
	b.Run("warm", func(b *testing.B) {
		g, _ := NewGitLab(cfg)
		if _, err := g.Tags(b.Context()); err != nil {
			b.Fatal(err)
		}
		before := fake.rest.Load() + fake.graphql.Load()
		for b.Loop() {
			if tags, err := g.Tags(b.Context()); err != nil || len(tags) != 3000 {
				b.Fatalf("%d tags, %v", len(tags), err)
			}
		}
		b.ReportMetric(float64(fake.rest.Load()+fake.graphql.Load()-before)/float64(b.N), "requests/listing")
	})
}

// TestGitLabRelativeURLRoot checks that GraphQL is asked next to /api/v4 of
// a GitLab installed under a path (https://example.com/gitlab).
func TestGitLabRelativeURLRoot(t *testing.T) {
	names, created := manyTags(3)
	fake := &fakeGitLab{project: "oil%2Frefinery", repos: refineryRepos(), tags: map[int64][]string{7: names}, created: created}
	srv := fake.start(t)
	root := httptest.NewServer(http.StripPrefix("/gitlab", srv.Config.Handler))
	t.Cleanup(root.Close)
	g, err := NewGitLab(GitLabConfig{URL: root.URL + "/gitlab", Token: gitlabToken, Project: "oil/refinery"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := g.Tags(t.Context()); err != nil || len(got) != 3 || fake.graphql.Load() != 1 {
		t.Fatalf("Tags = %v, %v after %d GraphQL requests; want 3 tags from 1", got, err, fake.graphql.Load())
	}
}
