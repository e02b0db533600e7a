package watch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"gitlab.com/derrick-kit/derrick/internal/retry"
)

// Pipeline is what the watcher needs of a listed pipeline.
type Pipeline struct {
	ID        int64
	Status    string
	Ref       string
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Job is what the watcher needs of a pipeline's job.
type Job struct {
	Name   string
	Status string
}

// Source reads pipelines and their jobs; *GitLab implements it.
type Source interface {
	// UpdatedPipelines lists the project's pipelines updated after after, every page.
	UpdatedPipelines(ctx context.Context, project string, after time.Time) ([]Pipeline, error)
	// Jobs lists every job of the pipeline, retried ones included.
	Jobs(ctx context.Context, project string, pipelineID int64) ([]Job, error)
	// MergeRequestBranch is the source branch of the project's merge
	// request iid.
	MergeRequestBranch(ctx context.Context, project string, iid int64) (string, error)
}

var _ Source = (*GitLab)(nil)

// GitLab is the Source over GitLab's REST API (client-go). The library's
// own retries are off: each request is bounded by the request timeout and
// retried here, honouring Retry-After, within the caller's context.
type GitLab struct {
	client  *gitlab.Client
	timeout time.Duration
	backoff retry.Policy
	metrics *Metrics
}

// NewGitLab returns a GitLab source for baseURL with token. It makes no request.
func NewGitLab(baseURL, token string, timeout time.Duration, m *Metrics) (*GitLab, error) {
	c, err := gitlab.NewClient(token,
		gitlab.WithBaseURL(baseURL),
		gitlab.WithoutRetries(),
		gitlab.WithUserAgent("derrick-watch"),
	)
	if err != nil {
		return nil, fmt.Errorf("GitLab client for %s: %w", baseURL, err)
	}
	return &GitLab{client: c, timeout: timeout, backoff: defaultBackoff, metrics: m}, nil
}

// perPage is GitLab's largest page.
const perPage = 100

// UpdatedPipelines asks for pipelines updated after after, newest update
// first (order_by=updated_at, sort=desc): a pipeline updated while the pages
// are read moves to the front, so pages shift towards duplicates, never
// skipping one; the next look catches the moved one.
func (g *GitLab) UpdatedPipelines(ctx context.Context, project string, after time.Time) ([]Pipeline, error) {
	opt := &gitlab.ListProjectPipelinesOptions{
		ListOptions:  gitlab.ListOptions{PerPage: perPage},
		UpdatedAfter: gitlab.Ptr(after.UTC()),
		OrderBy:      gitlab.Ptr("updated_at"),
		Sort:         gitlab.Ptr("desc"),
	}
	var out []Pipeline
	err := g.scan(ctx, func(ctx context.Context, page gitlab.PaginationOptionFunc) (*gitlab.Response, error) {
		list, resp, err := g.client.Pipelines.ListProjectPipelines(project, opt, page, gitlab.WithContext(ctx))
		for _, p := range list {
			if p == nil || p.CreatedAt == nil || p.UpdatedAt == nil {
				continue
			}
			out = append(out, Pipeline{ID: p.ID, Status: p.Status, Ref: p.Ref, Source: p.Source,
				CreatedAt: *p.CreatedAt, UpdatedAt: *p.UpdatedAt})
		}
		return resp, err
	})
	if err != nil {
		return nil, apiError(err, fmt.Sprintf("list pipelines of GitLab project %q", project))
	}
	return out, nil
}

// Jobs lists the pipeline's jobs with include_retried, so an earlier try
// that announced the pipeline counts.
func (g *GitLab) Jobs(ctx context.Context, project string, pipelineID int64) ([]Job, error) {
	opt := &gitlab.ListJobsOptions{ListOptions: gitlab.ListOptions{PerPage: perPage}, IncludeRetried: gitlab.Ptr(true)}
	var out []Job
	err := g.scan(ctx, func(ctx context.Context, page gitlab.PaginationOptionFunc) (*gitlab.Response, error) {
		list, resp, err := g.client.Jobs.ListPipelineJobs(project, pipelineID, opt, page, gitlab.WithContext(ctx))
		for _, j := range list {
			if j != nil {
				out = append(out, Job{Name: j.Name, Status: j.Status})
			}
		}
		return resp, err
	})
	if err != nil {
		return nil, apiError(err, fmt.Sprintf("list jobs of pipeline %d of GitLab project %q", pipelineID, project))
	}
	return out, nil
}

// MergeRequestBranch asks GitLab for the merge request's source branch.
func (g *GitLab) MergeRequestBranch(ctx context.Context, project string, iid int64) (string, error) {
	var mr *gitlab.MergeRequest
	err := g.retry(ctx, func(ctx context.Context) error {
		var err error
		mr, _, err = g.client.MergeRequests.GetMergeRequest(project, iid, nil, gitlab.WithContext(ctx))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("get merge request !%d of GitLab project %q: %w", iid, project, err)
	}
	return mr.SourceBranch, nil
}

// scan requests every page, each with retries.
func (g *GitLab) scan(ctx context.Context, get func(ctx context.Context, page gitlab.PaginationOptionFunc) (*gitlab.Response, error)) error {
	var page gitlab.PaginationOptionFunc
	for {
		var resp *gitlab.Response
		err := g.retry(ctx, func(ctx context.Context) error {
			var err error
			resp, err = get(ctx, page)
			return err
		})
		if err != nil {
			return err
		}
		next, ok := gitlab.WithNext(resp)
		if !ok {
			return nil
		}
		page = next
	}
}

// retry makes one request per attempt, each bounded by the request timeout,
// and retries 429 (after Retry-After), 5xx, timeouts and network errors
// with exponential back-off until ctx ends. Other answers are final.
func (g *GitLab) retry(ctx context.Context, do func(ctx context.Context) error) error {
	return g.backoff.Do(ctx, func(err error) (time.Duration, bool) {
		_, wait, temporary := classify(err)
		return wait, temporary
	}, func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, g.timeout)
		err := do(rctx)
		cancel()
		g.metrics.gitlabRequests.Inc()
		if err != nil {
			kind, _, _ := classify(err)
			g.metrics.gitlabErrors.WithLabelValues(kind).Inc()
		}
		return err
	})
}

// classify names the kind of a failed request for the metric, the wait a
// 429 asks for, and whether to try again.
func classify(err error) (kind string, wait time.Duration, temporary bool) {
	if errors.Is(err, gitlab.ErrNotFound) { // client-go's error for every 404
		return "4xx", 0, false
	}
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		code := er.Response.StatusCode
		switch {
		case code == http.StatusTooManyRequests:
			if s, err := strconv.Atoi(er.Response.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			return "429", wait, true
		case code >= 500:
			return "5xx", 0, true
		default:
			return "4xx", 0, false
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout", 0, true
	}
	if errors.Is(err, context.Canceled) {
		return "canceled", 0, false
	}
	return "network", 0, true
}

// defaultBackoff is how the watcher retries GitLab and Telegram.
var defaultBackoff = retry.Policy{Base: 200 * time.Millisecond, Max: 5 * time.Second}

// apiError names what failed and, where the fix is known, says it.
func apiError(err error, what string) error {
	var er *gitlab.ErrorResponse
	switch {
	case errors.Is(err, gitlab.ErrNotFound):
		return fmt.Errorf("%s: not found: check WATCH_PROJECTS and that the token's user can see the project: %w", what, err)
	case errors.As(err, &er) && er.HasStatusCode(http.StatusUnauthorized):
		return fmt.Errorf("%s: GITLAB_TOKEN was refused (invalid, expired or revoked): %w", what, err)
	case errors.As(err, &er) && er.HasStatusCode(http.StatusForbidden):
		return fmt.Errorf("%s: GITLAB_TOKEN may not read pipelines: give it the read_api scope and at least the Reporter role: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
