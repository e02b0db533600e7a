package gitlabtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func get(t *testing.T, url, token string) (*http.Response, []map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	return resp, out
}

func TestPipelinesPaginationAndFilters(t *testing.T) {
	s, err := Start("tok")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AddProject(42, "oil/refinery")
	base := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for i := int64(1); i <= 5; i++ {
		s.SetPipeline("42", Pipeline{ID: i, Status: "success", Ref: "main", UpdatedAt: base.Add(time.Duration(i) * time.Minute)})
	}
	// Path form, strictly after updated_after, newest update first, page 2 of 2 by 2.
	resp, list := get(t, s.URL()+"/api/v4/projects/oil%2Frefinery/pipelines?updated_after=2026-12-02T06:01:00Z&order_by=updated_at&sort=desc&per_page=2&page=2", "tok")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var ids []float64
	for _, p := range list {
		ids = append(ids, p["id"].(float64))
	}
	if diff := cmp.Diff([]float64{3, 2}, ids); diff != "" {
		t.Errorf("page 2 ids (-want +got):\n%s", diff)
	}
	h := resp.Header
	got := map[string]string{"X-Page": h.Get("X-Page"), "X-Per-Page": h.Get("X-Per-Page"), "X-Total": h.Get("X-Total"),
		"X-Total-Pages": h.Get("X-Total-Pages"), "X-Next-Page": h.Get("X-Next-Page"), "X-Prev-Page": h.Get("X-Prev-Page")}
	want := map[string]string{"X-Page": "2", "X-Per-Page": "2", "X-Total": "4", "X-Total-Pages": "2", "X-Next-Page": "", "X-Prev-Page": "1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pagination headers (-want +got):\n%s", diff)
	}
	if link := h.Get("Link"); !strings.Contains(link, `rel="prev"`) || strings.Contains(link, `rel="next"`) || !strings.Contains(link, "updated_after=") {
		t.Errorf("Link %q", link)
	}
	if list[0]["updated_at"] != "2026-12-02T06:03:00.000Z" {
		t.Errorf("updated_at %v, want GitLab's millisecond form", list[0]["updated_at"])
	}

	if resp, _ := get(t, s.URL()+"/api/v4/projects/42/pipelines", ""); resp.StatusCode != 401 {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(t, s.URL()+"/api/v4/projects/42/pipelines?order_by=name", "tok"); resp.StatusCode != 400 {
		t.Errorf("bad order_by: %d, want 400", resp.StatusCode)
	}
	if resp, _ := get(t, s.URL()+"/api/v4/projects/7/pipelines", "tok"); resp.StatusCode != 404 {
		t.Errorf("unknown project: %d, want 404", resp.StatusCode)
	}
}

func TestJobsIncludeRetriedAndFaults(t *testing.T) {
	s, err := Start("tok")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AddProject(42, "oil/refinery")
	s.SetPipeline("42", Pipeline{ID: 9, Status: "failed", Ref: "main"})
	s.SetJobs("42", 9, Job{Name: "notify-failed", Status: "success", Retried: true}, Job{Name: "notify-failed", Status: "failed"})
	url := s.URL() + "/api/v4/projects/42/pipelines/9/jobs"
	if _, list := get(t, url, "tok"); len(list) != 1 || list[0]["status"] != "failed" {
		t.Errorf("without include_retried: %v", list)
	}
	if _, list := get(t, url+"?include_retried=true", "tok"); len(list) != 2 {
		t.Errorf("with include_retried: %d jobs, want 2", len(list))
	}
	s.InjectFault(Fault{Endpoint: "jobs", Times: 1, Status: 429, RetryAfter: 3})
	resp, _ := get(t, url, "tok")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("fault: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := get(t, url, "tok"); resp.StatusCode != 200 || s.Count("jobs") != 4 {
		t.Errorf("after the fault: %d, %d requests counted", resp.StatusCode, s.Count("jobs"))
	}
}
