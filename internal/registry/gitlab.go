package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// GitLabConfig configures the GitLab source.
type GitLabConfig struct {
	URL     string // GITLAB_URL: the instance, such as https://gitlab.com
	Token   string // GITLAB_TOKEN: read_api scope (api for a project or group access token)
	Project string // GITLAB_PROJECT: numeric id or path such as group/project
	// Repository picks the project's registry repository: its path
	// (group/project/worker) or full location
	// (registry.example.com/group/project/worker), as in REGISTRY_IMAGE.
	// Empty: the project's root repository, whose path is the project's.
	Repository string
	// CacheTTL is how long a listing is reused (REGISTRY_CACHE_TTL); 0: not
	// at all, but concurrent calls still share one listing.
	CacheTTL time.Duration
	// Timeout bounds each request; 0: DefaultRequestTimeout.
	Timeout    time.Duration
	HTTPClient *http.Client // optional; its own Timeout then applies
	Logger     *slog.Logger // optional; slog.Default()
}

var (
	projectIDRE   = regexp.MustCompile(`^[1-9][0-9]*$`)
	projectPathRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$`)
)

// Validate checks each setting and names the variable at fault.
func (c GitLabConfig) Validate() error {
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("GITLAB_URL must be the GitLab instance's URL such as https://gitlab.example.com, got %q", c.URL)
	}
	if c.Token == "" {
		return errors.New("GITLAB_TOKEN is required: a token with the read_api scope (api for a project or group access token)")
	}
	if strings.ContainsAny(c.Token, " \t\r\n") {
		return errors.New("GITLAB_TOKEN must be a single token without spaces or newlines")
	}
	if !projectIDRE.MatchString(c.Project) && !projectPathRE.MatchString(c.Project) {
		return fmt.Errorf("GITLAB_PROJECT must be a numeric project id such as 42 or a path such as group/project, got %q", c.Project)
	}
	if r := c.Repository; r != "" {
		last := r[strings.LastIndex(r, "/")+1:]
		if strings.Contains(r, "://") || strings.ContainsAny(r, "@ \t") || strings.Contains(last, ":") ||
			strings.HasPrefix(r, "/") || strings.HasSuffix(r, "/") {
			return fmt.Errorf("REGISTRY_IMAGE must be an image reference without tag such as registry.example.com/group/project, got %q", r)
		}
	}
	return ValidateCacheTTL(c.CacheTTL)
}

// GitLab lists tags through GitLab's API: the registry repository is found
// once with the REST API, then every tag with its digest and build time
// comes from GraphQL, 20 tags a request (the most GitLab serves a page of
// ContainerRepositoryDetails.tags). It is safe for concurrent use.
type GitLab struct {
	client     *gitlab.Client
	graphql    *url.URL
	base       string // GITLAB_URL, for messages
	project    string
	repository string
	timeout    time.Duration
	listing

	repo atomic.Pointer[gitlab.RegistryRepository] // found once; dropped when it vanishes
}

// gitlabTagsPage is GitLab's max_page_size of ContainerRepositoryDetails.tags.
// Asking for more is worse than useless: GitLab answers with 20 nodes but a
// cursor past all the tags asked for, so the others would be skipped.
const gitlabTagsPage = 20

// NewGitLab validates cfg and returns a GitLab source. It makes no request.
func NewGitLab(cfg GitLabConfig) (*GitLab, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	timeout := cmp.Or(cfg.Timeout, DefaultRequestTimeout)
	hc := cmp.Or(cfg.HTTPClient, &http.Client{Timeout: timeout})
	opts := []gitlab.ClientOptionFunc{gitlab.WithBaseURL(cfg.URL), gitlab.WithHTTPClient(hc), gitlab.WithCustomRetryMax(2)}
	c, err := gitlab.NewClient(cfg.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("GitLab client for %s: %w", cfg.URL, err)
	}
	// GraphQL lives next to /api/v4, also under a relative URL root.
	gql := c.BaseURL()
	gql.Path = strings.TrimSuffix(strings.TrimSuffix(gql.Path, "/"), "/api/v4") + gitlab.GraphQLAPIEndpoint
	gql.RawPath = ""
	g := &GitLab{client: c, graphql: gql, base: cfg.URL, project: cfg.Project, repository: cfg.Repository, timeout: timeout}
	g.init("GitLab at "+cfg.URL, cfg.CacheTTL, cfg.Logger, g.list)
	return g, nil
}

func (g *GitLab) list(ctx context.Context) ([]Tag, error) {
	repo, err := g.registryRepo(ctx)
	if err != nil {
		return nil, err
	}
	tags, gone, err := g.listTags(ctx, repo)
	if gone {
		g.repo.Store(nil) // looked up again next time
	}
	return tags, err
}

// registryRepo returns the registry repository, found once and remembered.
func (g *GitLab) registryRepo(ctx context.Context) (*gitlab.RegistryRepository, error) {
	if repo := g.repo.Load(); repo != nil {
		return repo, nil
	}
	repo, err := g.findRepository(ctx)
	if err != nil {
		return nil, err
	}
	g.repo.Store(repo)
	return repo, nil
}

// Resolve asks GitLab for one tag's current digest and build time with the
// REST tag detail (one request once the repository is known; GitLab reads
// the tag's manifest from the registry), never from the listing cache.
// GitLab's 404 does not say whether the tag or the repository is missing
// (the client drops the body), so on a 404 the repository is looked up
// again: still there, the tag is missing; replaced, the tag is asked of the
// new one.
func (g *GitLab) Resolve(ctx context.Context, tag string) (Tag, error) {
	if err := checkTag(tag); err != nil {
		return Tag{}, err
	}
	repo, err := g.registryRepo(ctx)
	if err != nil {
		return Tag{}, err
	}
	for again := false; ; again = true {
		t, err := g.tagDetail(ctx, repo, tag)
		if !errors.Is(err, gitlab.ErrNotFound) || again {
			return t, err
		}
		g.repo.Store(nil)
		now, ferr := g.registryRepo(ctx)
		if ferr != nil {
			return Tag{}, ferr
		}
		if now.ID == repo.ID {
			return Tag{}, fmt.Errorf("%s: %w", tagWhat(g, repo, tag), ErrTagNotFound)
		}
		repo = now
	}
}

func tagWhat(g *GitLab, repo *gitlab.RegistryRepository, tag string) string {
	return fmt.Sprintf("get tag %q of registry repository %q of GitLab project %q", tag, repo.Path, g.project)
}

// tagDetail reads one tag with GET …/registry/repositories/:id/tags/:name; a
// 404 comes back as gitlab.ErrNotFound, wrapped.
func (g *GitLab) tagDetail(ctx context.Context, repo *gitlab.RegistryRepository, tag string) (Tag, error) {
	what := tagWhat(g, repo, tag)
	d, _, err := g.client.ContainerRegistry.GetRegistryRepositoryTagDetail(g.project, repo.ID, tag, gitlab.WithContext(ctx))
	if errors.Is(err, gitlab.ErrNotFound) {
		return Tag{}, fmt.Errorf("%s: %w", what, err)
	}
	if err != nil {
		return Tag{}, g.apiError(err, what, "")
	}
	if d == nil || d.Digest == "" {
		return Tag{}, fmt.Errorf("%s: GitLab gave no digest", what)
	}
	t := Tag{Name: tag, Digest: d.Digest}
	if d.CreatedAt != nil {
		t.Created = d.CreatedAt.UTC()
	}
	return t, nil
}

const tagsQuery = `query($id: ContainerRepositoryID!, $first: Int, $after: String) {
  containerRepository(id: $id) {
    tags(first: $first, after: $after) {
      nodes { name digest createdAt }
      pageInfo { endCursor hasNextPage }
    }
  }
}`

// graphQLError is one entry of a GraphQL response's errors array.
type graphQLError struct {
	Message string `json:"message"`
	Path    []any  `json:"path"`
}

type tagsResponse struct {
	Data struct {
		ContainerRepository *struct {
			Tags *struct {
				Nodes []struct {
					Name      string  `json:"name"`
					Digest    string  `json:"digest"` // null: ""
					CreatedAt *string `json:"createdAt"`
				} `json:"nodes"`
				PageInfo struct {
					EndCursor   *string `json:"endCursor"`
					HasNextPage bool    `json:"hasNextPage"`
				} `json:"pageInfo"`
			} `json:"tags"`
		} `json:"containerRepository"`
	} `json:"data"`
	Errors []graphQLError `json:"errors"`
}

// maxGitLabPages stops a GitLab whose cursors never end (200,000 tags).
const maxGitLabPages = 10000

// listTags pages through the repository's tags. gone reports that GitLab
// no longer knows the repository.
func (g *GitLab) listTags(ctx context.Context, repo *gitlab.RegistryRepository) (tags []Tag, gone bool, err error) {
	what := fmt.Sprintf("list tags of registry repository %q of GitLab project %q", repo.Path, g.project)
	seen := make(map[string]bool)
	failed := make(map[string]error)
	vars := map[string]any{"id": fmt.Sprintf("gid://gitlab/ContainerRepository/%d", repo.ID), "first": gitlabTagsPage}
	for page := 0; ; page++ {
		if page == maxGitLabPages {
			return nil, false, fmt.Errorf("%s: more than %d pages: GitLab's cursors do not end", what, maxGitLabPages)
		}
		var out tagsResponse
		if err := g.graphQL(ctx, tagsQuery, vars, &out); err != nil {
			return nil, false, g.apiError(err, what, "")
		}
		cr := out.Data.ContainerRepository
		if cr == nil {
			if len(out.Errors) > 0 {
				return nil, false, fmt.Errorf("%s: %s", what, messages(out.Errors))
			}
			return nil, true, fmt.Errorf("%s: GitLab no longer knows the repository (deleted?), or the token's user may not read it; it is looked up again on the next listing", what)
		}
		if cr.Tags == nil {
			return nil, false, fmt.Errorf("%s: %s", what, messages(out.Errors))
		}
		nodeErr := nodeErrors(out.Errors)
		for i, n := range cr.Tags.Nodes {
			if n.Name == "" || seen[n.Name] {
				continue
			}
			seen[n.Name] = true
			t := Tag{Name: n.Name, Digest: n.Digest}
			switch {
			case nodeErr[i] != nil:
				failed[n.Name] = nodeErr[i]
			case n.CreatedAt == nil:
				failed[n.Name] = errors.New("GitLab gave no createdAt")
			default:
				c, perr := time.Parse(time.RFC3339, *n.CreatedAt)
				if perr != nil {
					failed[n.Name] = fmt.Errorf("createdAt %q: %w", *n.CreatedAt, perr)
				} else {
					t.Created = c.UTC()
				}
			}
			tags = append(tags, t)
		}
		pi := cr.Tags.PageInfo
		if !pi.HasNextPage || pi.EndCursor == nil || *pi.EndCursor == "" {
			break
		}
		if vars["after"] == *pi.EndCursor {
			return nil, false, fmt.Errorf("%s: GitLab repeated the cursor %q", what, *pi.EndCursor)
		}
		vars["after"] = *pi.EndCursor
	}
	g.failures.report(failed)
	SortNewestFirst(tags)
	if tags == nil {
		tags = []Tag{}
	}
	return tags, false, nil
}

// graphQL posts a query to GitLab's GraphQL endpoint with the client's
// authentication, retries and rate limits, and decodes the answer into out.
func (g *GitLab) graphQL(ctx context.Context, query string, vars map[string]any, out any) error {
	req, err := g.client.NewRequestToURL(http.MethodPost, g.graphql,
		gitlab.GraphQLQuery{Query: query, Variables: vars}, []gitlab.RequestOptionFunc{gitlab.WithContext(ctx)})
	if err != nil {
		return err
	}
	_, err = g.client.Do(req, out)
	return err
}

// nodeErrors maps the index of a tag node to the error reported at a path
// inside it (containerRepository.tags.nodes.<i>...).
func nodeErrors(errs []graphQLError) map[int]error {
	out := make(map[int]error)
	for _, e := range errs {
		if len(e.Path) >= 4 && e.Path[0] == "containerRepository" && e.Path[1] == "tags" && e.Path[2] == "nodes" {
			if i, ok := e.Path[3].(float64); ok {
				out[int(i)] = errors.New(e.Message)
			}
		}
	}
	return out
}

// messages joins the messages of a GraphQL errors array.
func messages(errs []graphQLError) string {
	if len(errs) == 0 {
		return "GitLab answered without data"
	}
	var ms []string
	for _, e := range errs {
		ms = append(ms, e.Message)
	}
	return "GitLab answered: " + strings.Join(ms, "; ")
}

// findRepository lists the project's registry repositories, every page, and
// picks the configured one.
func (g *GitLab) findRepository(ctx context.Context) (*gitlab.RegistryRepository, error) {
	opt := &gitlab.ListProjectRegistryRepositoriesOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}
	repos, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.RegistryRepository, *gitlab.Response, error) {
		return g.client.ContainerRegistry.ListProjectRegistryRepositories(g.project, opt, p, gitlab.WithContext(ctx))
	})
	what := fmt.Sprintf("list registry repositories of GitLab project %q at %s", g.project, g.base)
	if err != nil {
		return nil, g.apiError(err, what,
			"check GITLAB_PROJECT (numeric id or path such as group/project) and that the token's user can see the project")
	}
	if len(repos) == 0 {
		return nil, fmt.Errorf("%s: project has no container registry repositories yet: push an image first", what)
	}
	var paths []string
	for _, r := range repos {
		if r == nil {
			continue
		}
		paths = append(paths, r.Location)
		if g.matches(r) {
			return r, nil
		}
	}
	slices.Sort(paths)
	want := "root repository (path = project path)"
	if g.repository != "" {
		want = fmt.Sprintf("repository %q", g.repository)
	}
	return nil, fmt.Errorf("%s: no %s among %s: set REGISTRY_IMAGE to one of them",
		what, want, strings.Join(paths, ", "))
}

func (g *GitLab) matches(r *gitlab.RegistryRepository) bool {
	if g.repository != "" {
		return strings.EqualFold(r.Path, g.repository) || strings.EqualFold(r.Location, g.repository)
	}
	return r.Name == "" || strings.EqualFold(r.Path, g.project)
}

// apiError wraps err, naming what failed and, for the statuses whose fix is
// known, what to do. notFound is the advice for a 404 ("" for none).
func (g *GitLab) apiError(err error, what, notFound string) error {
	var er *gitlab.ErrorResponse
	switch {
	case isTimeout(err):
		return fmt.Errorf("%s: GitLab at %s did not answer within %s: %w", what, g.base, g.timeout, err)
	case errors.Is(err, gitlab.ErrNotFound):
		if notFound == "" {
			return fmt.Errorf("%s: not found: %w", what, err)
		}
		return fmt.Errorf("%s: not found (%s): %w", what, notFound, err)
	case errors.As(err, &er) && er.HasStatusCode(http.StatusUnauthorized):
		return fmt.Errorf("%s: GITLAB_TOKEN was refused (invalid, expired or revoked): use a token with the read_api scope: %w", what, err)
	case errors.As(err, &er) && er.HasStatusCode(http.StatusForbidden):
		return fmt.Errorf("%s: GITLAB_TOKEN may not read the container registry: give it the read_api scope "+
			"(api for a project or group access token; read_registry alone only allows docker pull) "+
			"and at least the Reporter role: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isTimeout reports whether err is a request that ran out of time.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &t) && t.Timeout())
}
