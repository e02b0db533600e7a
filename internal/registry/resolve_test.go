package registry

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/registrytest"
)

// TestOCIResolveRealRegistry pushes a tag to a real docker-registry, lists
// it, pushes other content under the same tag and checks that Resolve sees
// the new digest with a HEAD while the cached listing still has the old one.
func TestOCIResolveRealRegistry(t *testing.T) {
	reg := registrytest.Start(t)
	base := time.Date(2026, 11, 26, 4, 0, 36, 0, time.UTC)
	first := reg.Push(t, "oil/app", "0.10.5", base)
	var requests []string
	o, err := NewOCI(OCIConfig{Image: reg.Host + "/oil/app", Username: reg.User, Password: reg.Password, Insecure: true,
		CacheTTL: time.Hour, Transport: countingTransport(&requests)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	listed, err := o.Tags(ctx)
	if err != nil || len(listed) != 1 || listed[0].Digest != first {
		t.Fatalf("Tags = %v, %v; want 0.10.5 at %s", listed, err, first)
	}
	got, err := o.Resolve(ctx, "0.10.5")
	if err != nil || got != listed[0] {
		t.Fatalf("Resolve before the push = %v, %v; want %v", got, err, listed[0])
	}

	second := reg.Push(t, "oil/app", "0.10.5", base.Add(time.Hour))
	if second == first {
		t.Fatal("the second push has the first one's digest")
	}
	requests = requests[:0]
	got, err = o.Resolve(ctx, "0.10.5")
	if diff := cmp.Diff(Tag{Name: "0.10.5", Digest: second, Created: base.Add(time.Hour)}, got); err != nil || diff != "" {
		t.Errorf("Resolve after the push: %v (-want +got):\n%s", err, diff)
	}
	if len(requests) == 0 || requests[0] != "HEAD /v2/oil/app/manifests/0.10.5" {
		t.Errorf("requests %q, want a HEAD of the tag's manifest first", requests)
	}
	requests = requests[:0]
	if got, err = o.Resolve(ctx, "0.10.5"); err != nil || got.Digest != second {
		t.Errorf("Resolve again = %v, %v", got, err)
	}
	if diff := cmp.Diff([]string{"HEAD /v2/oil/app/manifests/0.10.5"}, requests); diff != "" {
		t.Errorf("a known digest takes one HEAD (-want +got):\n%s", diff)
	}
	if again, _ := o.Tags(ctx); len(again) != 1 || again[0].Digest != first {
		t.Errorf("the cached listing = %v, want the one of before the push", again)
	}

	_, err = o.Resolve(ctx, "0.10.6")
	wantErr(t, err, "get manifest of "+reg.Host+"/oil/app:0.10.6: no such tag in the registry")
	if !errors.Is(err, ErrTagNotFound) {
		t.Errorf("%v does not wrap ErrTagNotFound", err)
	}
	bad, _ := NewOCI(OCIConfig{Image: reg.Host + "/oil/app", Username: reg.User, Password: "not-the-Password-1", Insecure: true})
	_, err = bad.Resolve(ctx, "0.10.5")
	wantErr(t, err, "401 Unauthorized", `the registry rejected REGISTRY_USERNAME "derrick"`)
	if errors.Is(err, ErrTagNotFound) {
		t.Errorf("a refused password reported as a missing tag: %v", err)
	}
}

// countingTransport records "METHOD path" of the registry requests (not
// the token or auth probes).
func countingTransport(out *[]string) http.RoundTripper {
	var mu sync.Mutex
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.Contains(r.URL.Path, "/manifests/") || strings.Contains(r.URL.Path, "/blobs/") {
			mu.Lock()
			*out = append(*out, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
		return http.DefaultTransport.RoundTrip(r)
	})
}

// TestGitLabResolve checks that Resolve reads the tag afresh with one REST
// request, past a cached listing, and names each failure.
func TestGitLabResolve(t *testing.T) {
	newFake := func() *registrytest.GitLab {
		return &registrytest.GitLab{Token: gitlabToken, Project: "oil%2Frefinery", Repos: refineryRepos(),
			Tags:    map[int64][]string{7: {"0.10.5", "0.10.50", "latest"}},
			Created: map[string]string{"0.10.5": "2026-11-25T12:00:00.000+03:00", "0.10.50": "2026-11-26T00:00:00Z"},
		}
	}
	t.Run("moved tag: the listing is cached, Resolve is not", func(t *testing.T) {
		fake := newFake()
		srv := fake.Start(t)
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery", CacheTTL: time.Hour})
		tags, err := g.Tags(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rest, gql := fake.REST.Load(), fake.GraphQL.Load()
		fake.Digests = map[string]string{"0.10.5": "sha256:pushed-again"}
		got, err := g.Resolve(t.Context(), "0.10.5")
		if err != nil {
			t.Fatal(err)
		}
		want := Tag{Name: "0.10.5", Digest: "sha256:pushed-again", Created: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Resolve (-want +got):\n%s", diff)
		}
		if r, q := fake.REST.Load()-rest, fake.GraphQL.Load()-gql; r != 1 || q != 0 {
			t.Errorf("Resolve made %d REST and %d GraphQL requests, want 1 and 0 (the repository is remembered)", r, q)
		}
		if again, _ := g.Tags(t.Context()); cmp.Diff(tags, again) != "" {
			t.Errorf("the cached listing changed: %v, was %v", again, tags)
		}
	})
	t.Run("cold: finds the repository first; a tag without build time", func(t *testing.T) {
		fake := newFake()
		srv := fake.Start(t)
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery"})
		got, err := g.Resolve(t.Context(), "latest")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Tag{Name: "latest", Digest: "sha256:latest"}, got); diff != "" {
			t.Errorf("Resolve (-want +got):\n%s", diff)
		}
		if r := fake.REST.Load(); r != 3 {
			t.Errorf("%d REST requests, want 3 (2 pages of repositories, 1 tag detail)", r)
		}
	})
	t.Run("failures", func(t *testing.T) {
		fake := newFake()
		srv := fake.Start(t)
		g, _ := NewGitLab(GitLabConfig{URL: srv.URL, Token: gitlabToken, Project: "oil/refinery"})
		// A partial name is not the tag: 0.10 matches 0.10.5 and 0.10.50 as a substring.
		_, err := g.Resolve(t.Context(), "0.10")
		wantErr(t, err, `get tag "0.10" of registry repository "oil/refinery" of GitLab project "oil/refinery": no such tag in the registry`)
		if !errors.Is(err, ErrTagNotFound) {
			t.Errorf("%v does not wrap ErrTagNotFound", err)
		}
		before := fake.REST.Load()
		_, err = g.Resolve(t.Context(), "../../../projects")
		wantErr(t, err, `"../../../projects" is not a tag name`)
		if !errors.Is(err, ErrTagNotFound) || fake.REST.Load() != before {
			t.Errorf("an invalid name: %v, %d requests; want ErrTagNotFound without a request", err, fake.REST.Load()-before)
		}

		fake.Token = "glpat-another-one"
		_, err = g.Resolve(t.Context(), "0.10.5")
		wantErr(t, err, "GITLAB_TOKEN was refused", "401")
		fake.Token = gitlabToken

		fake.Repos = refineryRepos()[:2]
		_, err = g.Resolve(t.Context(), "0.10.5")
		wantErr(t, err, "no root repository (path = project path) among")
		if errors.Is(err, ErrTagNotFound) {
			t.Errorf("a deleted repository reported as a missing tag: %v", err)
		}
		fake.Repos = append(refineryRepos()[:2], registrytest.GitLabRepo{ID: 9, Path: "oil/refinery", Location: "registry.example.com/oil/refinery"})
		fake.Tags[9] = []string{"0.10.5"}
		if got, err := g.Resolve(t.Context(), "0.10.5"); err != nil || got.Digest != "sha256:0.10.5" {
			t.Errorf("after the push to a new repository: %v, %v", got, err)
		}
		// Replaced while remembered: the tag is asked of the new repository.
		fake.Repos[2].ID, fake.Tags[11] = 11, []string{"0.10.5"}
		fake.Digests = map[string]string{"0.10.5": "sha256:in-eleven"}
		if got, err := g.Resolve(t.Context(), "0.10.5"); err != nil || got.Digest != "sha256:in-eleven" {
			t.Errorf("after the repository was replaced: %v, %v", got, err)
		}

		fake.Status, fake.Body = http.StatusInternalServerError, `{"message":"500 Internal Server Error"}`
		_, err = g.Resolve(t.Context(), "0.10.5")
		wantErr(t, err, `get tag "0.10.5"`, "500")
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
