// Package gitlabtest is an in-process stand-in for the part of GitLab's REST
// API that the pipeline watcher reads, serving the documented JSON:
//
//	GET /api/v4/projects/:id/pipelines                    (updated_after, updated_before,
//	    status, order_by, sort, page, per_page)
//	GET /api/v4/projects/:id/pipelines/:pipeline_id/jobs  (include_retried, page, per_page)
//	GET /api/v4/projects/:id/merge_requests/:merge_request_iid
//
// with GitLab's offset pagination headers (X-Page, X-Per-Page, X-Next-Page,
// X-Prev-Page, X-Total, X-Total-Pages and Link). :id is a numeric id or the
// URL-encoded path (group%2Fproject). Requests need the token in
// PRIVATE-TOKEN (or Authorization: Bearer). Tests set pipelines and jobs,
// inject faults (5xx, 429 with Retry-After, slow answers) and count requests.
//
// References: https://docs.gitlab.com/api/pipelines/#list-project-pipelines,
// https://docs.gitlab.com/api/jobs/#list-pipeline-jobs,
// https://docs.gitlab.com/api/merge_requests/#get-single-mr,
// https://docs.gitlab.com/api/rest/#pagination.
package gitlabtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Pipeline is a pipeline as GET /projects/:id/pipelines lists it.
type Pipeline struct {
	ID        int64
	Status    string // created, waiting_for_resource, preparing, pending, running, success, failed, canceled, skipped, manual, scheduled
	Ref       string
	Source    string // push when empty
	CreatedAt time.Time
	UpdatedAt time.Time // set by the server when zero
}

// Job is a job of a pipeline.
type Job struct {
	ID      int64 // assigned when zero
	Name    string
	Stage   string
	Status  string // created, pending, running, success, failed, canceled, skipped, manual
	Retried bool   // an older try of a retried job: listed only with include_retried=true
	// FailureReason as GitLab reports it, e.g. image_pull_failure.
	FailureReason string
}

// Fault makes the server answer matching requests with a failure.
type Fault struct {
	// Endpoint limits the fault: "pipelines" (the list), "jobs" or
	// "merge_requests"; empty matches every one.
	Endpoint string
	// Times is how many matching requests the fault answers; at least 1.
	Times int
	// Status is the HTTP status to answer (429, 500, 502, 503...); 0 with Delay set
	// answers normally after the delay.
	Status int
	// RetryAfter is sent as the Retry-After header (seconds) when set.
	RetryAfter int
	// Delay holds the answer back (a slow or hung server); the request's
	// context ending stops the wait.
	Delay time.Duration
}

// Request is one request the server received.
type Request struct {
	Endpoint string // pipelines, jobs or merge_requests
	Project  string
	Query    url.Values
}

type project struct {
	id        int64
	path      string
	pipelines map[int64]*Pipeline
	jobs      map[int64][]Job
	branches  map[int64]string // merge request iid → source branch
}

// Server is the stand-in. It is safe for concurrent use.
type Server struct {
	srv *http.Server
	ln  net.Listener
	url string

	mu       sync.Mutex
	token    string
	projects []*project
	faults   []*Fault
	requests []Request
	clock    time.Time // last updated_at handed out, so updates strictly increase
	nextJob  int64
}

// Start starts a server on a free 127.0.0.1 port that accepts token.
func Start(token string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{token: token, ln: ln, url: "http://" + ln.Addr().String(), nextJob: 1000}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// SetToken changes the token the server accepts (revokes the old one).
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// URL is the instance's base URL (GITLAB_URL); the API is under /api/v4.
func (s *Server) URL() string { return s.url }

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Close() }

// AddProject registers a project under its numeric id and path.
func (s *Server) AddProject(id int64, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects = append(s.projects, &project{id: id, path: path, pipelines: map[int64]*Pipeline{}, jobs: map[int64][]Job{}, branches: map[int64]string{}})
}

// SetMergeRequest creates merge request iid of project (id or path), from
// sourceBranch; its pipelines have the ref refs/merge-requests/<iid>/head.
func (s *Server) SetMergeRequest(projectRef string, iid int64, sourceBranch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.projectLocked(projectRef)
	if pr == nil {
		panic("gitlabtest: no project " + projectRef)
	}
	pr.branches[iid] = sourceBranch
}

// SetPipeline creates or changes a pipeline of project (id or path). A zero
// UpdatedAt becomes the server's now (strictly after every earlier one), a
// zero CreatedAt the UpdatedAt. It returns the pipeline as stored.
func (s *Server) SetPipeline(projectRef string, p Pipeline) Pipeline {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.projectLocked(projectRef)
	if pr == nil {
		panic("gitlabtest: no project " + projectRef)
	}
	if p.UpdatedAt.IsZero() {
		now := time.Now().UTC().Truncate(time.Millisecond)
		if !now.After(s.clock) {
			now = s.clock.Add(time.Millisecond)
		}
		s.clock = now
		p.UpdatedAt = now
	}
	if p.CreatedAt.IsZero() {
		if old, ok := pr.pipelines[p.ID]; ok {
			p.CreatedAt = old.CreatedAt
		} else {
			p.CreatedAt = p.UpdatedAt
		}
	}
	if p.Source == "" {
		p.Source = "push"
	}
	cp := p
	pr.pipelines[p.ID] = &cp
	return cp
}

// SetJobs replaces the jobs of a pipeline.
func (s *Server) SetJobs(projectRef string, pipelineID int64, jobs ...Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.projectLocked(projectRef)
	if pr == nil {
		panic("gitlabtest: no project " + projectRef)
	}
	out := make([]Job, len(jobs))
	for i, j := range jobs {
		if j.ID == 0 {
			s.nextJob++
			j.ID = s.nextJob
		}
		if j.Stage == "" {
			j.Stage = "test"
		}
		out[i] = j
	}
	pr.jobs[pipelineID] = out
}

// InjectFault queues a fault; a request takes the first matching one.
func (s *Server) InjectFault(f Fault) {
	if f.Times < 1 {
		panic("gitlabtest: fault Times must be at least 1")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults drops every fault still waiting.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many requests of endpoint ("" for all) were received.
func (s *Server) Count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if endpoint == "" || r.Endpoint == endpoint {
			n++
		}
	}
	return n
}

func (s *Server) projectLocked(ref string) *project {
	for _, p := range s.projects {
		if strconv.FormatInt(p.id, 10) == ref || p.path == ref {
			return p
		}
	}
	return nil
}

func (s *Server) takeFaultLocked(endpoint string) (Fault, bool) {
	for i, f := range s.faults {
		if f.Endpoint == "" || f.Endpoint == endpoint {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
			return *f, true
		}
	}
	return Fault{}, false
}

// ServeHTTP routes /api/v4/projects/:id/pipelines[/:pipeline_id/jobs] and
// /api/v4/projects/:id/merge_requests/:iid.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The escaped path keeps group%2Fproject in one segment.
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v4/projects/")
	parts := strings.Split(rest, "/")
	var endpoint string
	switch {
	case ok && len(parts) == 2 && parts[1] == "pipelines":
		endpoint = "pipelines"
	case ok && len(parts) == 4 && parts[1] == "pipelines" && parts[3] == "jobs":
		endpoint = "jobs"
	case ok && len(parts) == 3 && parts[1] == "merge_requests":
		endpoint = "merge_requests"
	default:
		writeError(w, http.StatusNotFound, "404 Not Found")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "405 Method Not Allowed")
		return
	}
	token := r.Header.Get("PRIVATE-TOKEN")
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = b
	}
	s.mu.Lock()
	accepted := s.token
	s.mu.Unlock()
	if token != accepted {
		writeError(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	ref, err := url.PathUnescape(parts[0])
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid project id")
		return
	}
	q := r.URL.Query()

	s.mu.Lock()
	s.requests = append(s.requests, Request{Endpoint: endpoint, Project: ref, Query: q})
	f, faulty := s.takeFaultLocked(endpoint)
	s.mu.Unlock()
	if faulty {
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if f.Status != 0 {
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
			}
			writeError(w, f.Status, strconv.Itoa(f.Status)+" "+http.StatusText(f.Status))
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.projectLocked(ref)
	if pr == nil {
		writeError(w, http.StatusNotFound, "404 Project Not Found")
		return
	}
	switch endpoint {
	case "pipelines":
		s.listPipelinesLocked(w, r, pr, q)
		return
	case "merge_requests":
		s.mergeRequestLocked(w, pr, parts[2])
		return
	}
	id, err := strconv.ParseInt(parts[2], 10, 64)
	if _, found := pr.pipelines[id]; err != nil || !found {
		writeError(w, http.StatusNotFound, "404 Not found")
		return
	}
	s.listJobsLocked(w, r, pr, id, q)
}

// mergeRequestLocked answers GET /projects/:id/merge_requests/:iid with
// the fields of GitLab's single merge request the watcher may read.
func (s *Server) mergeRequestLocked(w http.ResponseWriter, pr *project, iidText string) {
	iid, err := strconv.ParseInt(iidText, 10, 64)
	branch, found := pr.branches[iid]
	if err != nil || !found {
		writeError(w, http.StatusNotFound, "404 Not found")
		return
	}
	writeJSON(w, map[string]any{
		"id": pr.id*100000 + iid, "iid": iid, "project_id": pr.id, "title": "Merge " + branch,
		"state": "opened", "source_branch": branch, "target_branch": "main",
		"source_project_id": pr.id, "target_project_id": pr.id,
		"web_url": fmt.Sprintf("%s/%s/-/merge_requests/%d", s.url, pr.path, iid),
	})
}

func (s *Server) listPipelinesLocked(w http.ResponseWriter, r *http.Request, pr *project, q url.Values) {
	var after, before time.Time
	for name, t := range map[string]*time.Time{"updated_after": &after, "updated_before": &before} {
		if v := q.Get(name); v != "" {
			parsed, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, name+" is invalid")
				return
			}
			*t = parsed
		}
	}
	orderBy := cmp.Or(q.Get("order_by"), "id")
	if !slices.Contains([]string{"id", "status", "ref", "updated_at", "user_id"}, orderBy) {
		writeError(w, http.StatusBadRequest, "order_by does not have a valid value")
		return
	}
	sort := cmp.Or(q.Get("sort"), "desc")
	if sort != "asc" && sort != "desc" {
		writeError(w, http.StatusBadRequest, "sort does not have a valid value")
		return
	}
	var list []*Pipeline
	for _, p := range pr.pipelines {
		if !after.IsZero() && !p.UpdatedAt.After(after) {
			continue
		}
		if !before.IsZero() && !p.UpdatedAt.Before(before) {
			continue
		}
		if st := q.Get("status"); st != "" && p.Status != st {
			continue
		}
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, b *Pipeline) int {
		c := 0
		switch orderBy {
		case "updated_at":
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		case "status":
			c = strings.Compare(a.Status, b.Status)
		case "ref":
			c = strings.Compare(a.Ref, b.Ref)
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if sort == "desc" {
			c = -c
		}
		return c
	})
	page, ok := paginate(w, r, q, len(list))
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, p := range list[page.from:page.to] {
		out = append(out, map[string]any{
			"id": p.ID, "iid": p.ID % 10000, "project_id": pr.id, "status": p.Status, "source": p.Source,
			"ref": p.Ref, "sha": fmt.Sprintf("%040x", p.ID), "name": nil,
			"web_url":    fmt.Sprintf("%s/%s/-/pipelines/%d", s.url, pr.path, p.ID),
			"created_at": p.CreatedAt.Format(timeLayout), "updated_at": p.UpdatedAt.Format(timeLayout),
		})
	}
	writeJSON(w, out)
}

func (s *Server) listJobsLocked(w http.ResponseWriter, r *http.Request, pr *project, id int64, q url.Values) {
	retried := q.Get("include_retried") == "true"
	p := pr.pipelines[id]
	var list []Job
	for _, j := range pr.jobs[id] {
		if j.Retried && !retried {
			continue
		}
		list = append(list, j)
	}
	// GitLab lists a pipeline's jobs newest first.
	slices.SortFunc(list, func(a, b Job) int { return cmp.Compare(b.ID, a.ID) })
	page, ok := paginate(w, r, q, len(list))
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, j := range list[page.from:page.to] {
		job := map[string]any{
			"id": j.ID, "name": j.Name, "stage": j.Stage, "status": j.Status, "ref": p.Ref,
			"allow_failure": strings.Contains(j.Name, "notify"), "retried": j.Retried,
			"created_at": p.CreatedAt.Format(timeLayout), "started_at": nil, "finished_at": nil,
			"pipeline": map[string]any{"id": p.ID, "project_id": pr.id, "ref": p.Ref, "status": p.Status,
				"sha": fmt.Sprintf("%040x", p.ID)},
			"web_url": fmt.Sprintf("%s/%s/-/jobs/%d", s.url, pr.path, j.ID),
		}
		if j.FailureReason != "" {
			job["failure_reason"] = j.FailureReason
		}
		out = append(out, job)
	}
	writeJSON(w, out)
}

// timeLayout is GitLab's: milliseconds and Z, e.g. 2016-08-11T11:28:34.085Z.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

type window struct{ from, to int }

// paginate writes GitLab's offset pagination headers for total items and
// returns the slice of this page: page (1-based, default 1) and per_page
// (default 20, at most 100).
func paginate(w http.ResponseWriter, r *http.Request, q url.Values, total int) (window, bool) {
	page, perPage := 1, 20
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "page is invalid")
			return window{}, false
		}
		page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "per_page is invalid")
			return window{}, false
		}
		perPage = min(n, 100)
	}
	pages := max(1, (total+perPage-1)/perPage)
	from := min((page-1)*perPage, total)
	to := min(from+perPage, total)
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	link := func(p int, rel string) string {
		u := *r.URL
		v := u.Query()
		v.Set("page", strconv.Itoa(p))
		v.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = v.Encode()
		return fmt.Sprintf(`<http://%s%s>; rel="%s"`, r.Host, u.RequestURI(), rel)
	}
	var links []string
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
		links = append(links, link(page-1, "prev"))
	}
	if page < pages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
		links = append(links, link(page+1, "next"))
	}
	links = append(links, link(1, "first"), link(pages, "last"))
	h.Set("Link", strings.Join(links, ", "))
	return window{from, to}, true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	key := "message"
	if status == http.StatusBadRequest {
		key = "error"
	}
	_ = json.NewEncoder(w).Encode(map[string]string{key: msg})
}
