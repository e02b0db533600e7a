package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

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
	HTTPClient *http.Client // optional
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
	return nil
}

// GitLab lists tags through GitLab's container registry API.
type GitLab struct {
	client     *gitlab.Client
	base       string // GITLAB_URL, for messages
	project    string
	repository string
}

// NewGitLab validates cfg and returns a GitLab source. It makes no request.
func NewGitLab(cfg GitLabConfig) (*GitLab, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []gitlab.ClientOptionFunc{gitlab.WithBaseURL(cfg.URL)}
	if cfg.HTTPClient != nil {
		opts = append(opts, gitlab.WithHTTPClient(cfg.HTTPClient))
	}
	c, err := gitlab.NewClient(cfg.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("GitLab client for %s: %w", cfg.URL, err)
	}
	return &GitLab{client: c, base: cfg.URL, project: cfg.Project, repository: cfg.Repository}, nil
}

// Tags lists every tag of the chosen repository with its build time and
// digest, newest first.
func (g *GitLab) Tags(ctx context.Context) ([]Tag, error) {
	repo, err := g.findRepository(ctx)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("registry repository %q of GitLab project %q", repo.Path, g.project)
	opt := &gitlab.ListRegistryRepositoryTagsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}
	listed, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.RegistryRepositoryTag, *gitlab.Response, error) {
		return g.client.ContainerRegistry.ListRegistryRepositoryTags(g.project, repo.ID, opt, p, gitlab.WithContext(ctx))
	})
	if err != nil {
		return nil, g.apiError(err, "list tags of "+what,
			"the repository is gone: it may have been deleted")
	}

	tags := make([]Tag, len(listed))
	found := make([]bool, len(listed))
	err = forEach(ctx, len(listed), concurrency, func(ctx context.Context, i int) error {
		t := listed[i]
		if t.CreatedAt == nil || t.Digest == "" { // the list carries them on some versions
			d, _, err := g.client.ContainerRegistry.GetRegistryRepositoryTagDetail(g.project, repo.ID, t.Name, gitlab.WithContext(ctx))
			if errors.Is(err, gitlab.ErrNotFound) {
				return nil // deleted since it was listed
			}
			if err != nil {
				return g.apiError(err, fmt.Sprintf("get tag %q of %s", t.Name, what), "")
			}
			t = d
		}
		tags[i] = Tag{Name: listed[i].Name, Digest: t.Digest}
		if t.CreatedAt != nil {
			tags[i].Created = t.CreatedAt.UTC()
		}
		found[i] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Tag, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		if found[i] && !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	SortNewestFirst(out)
	return out, nil
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
