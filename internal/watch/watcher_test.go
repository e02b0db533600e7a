package watch

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/gitlabtest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

const (
	wCreated = "создан"
	wSuccess = "завершен успешно"
	wFailed  = "завершен неуспешно"
)

// TestEndings: which pipeline endings the watcher announces, one look after
// the pipeline reached its state and two more looks for doubles.
func TestEndings(t *testing.T) {
	created := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Second)
	tests := []struct {
		name   string
		status string
		jobs   []gitlabtest.Job
		want   []string // words, in order
	}{
		{"canceled: on_failure never runs", "canceled", notifyJobs("success", "canceled", "canceled"), []string{wFailed}},
		{"notify-success succeeded: nothing", "success", notifyJobs("success", "success", "skipped"), nil},
		{"notify-failed succeeded: nothing", "failed", notifyJobs("success", "skipped", "success"), nil},
		{"notify-success could not pull its image", "success",
			[]gitlabtest.Job{{Name: "notify-created", Status: "success"}, {Name: "notify-success", Status: "failed", FailureReason: "image_pull_failure"}},
			[]string{wSuccess}},
		{"notify-failed failed (Telegram down then)", "failed", notifyJobs("success", "skipped", "failed"), []string{wFailed}},
		{"runner system failure, nothing ran", "failed", notifyJobs("failed", "skipped", "skipped"), []string{wCreated, wFailed}},
		{"skipped pipeline", "skipped", notifyJobs("skipped", "skipped", "skipped"), []string{wCreated, wFailed}},
		{"no notify jobs at all", "failed", []gitlabtest.Job{{Name: "build", Status: "failed"}}, []string{wCreated, wFailed}},
		{"an earlier try announced it", "failed",
			[]gitlabtest.Job{{Name: "notify-created", Status: "success"}, {Name: "notify-failed", Status: "success", Retried: true}, {Name: "notify-failed", Status: "failed"}},
			nil},
		{"still running: nothing yet", "running", notifyJobs("success", "created", "created"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 901, Status: tt.status, Ref: "main", CreatedAt: created})
			w.gl.SetJobs(project, 901, tt.jobs...)
			wt, m := w.watcher(t)
			for range 3 {
				look(t, wt)
			}
			var want []string
			for _, word := range tt.want {
				want = append(want, line(t, 901, created, "main", word))
			}
			if diff := cmp.Diff(want, w.texts()); diff != "" {
				t.Errorf("group received (-want +got):\n%s", diff)
			}
			if got := m.announced.WithLabelValues("created").value() + m.announced.WithLabelValues("success").value() +
				m.announced.WithLabelValues("failed").value(); int(got) != len(want) {
				t.Errorf("derrick_watch_announced_total = %v, want %d", got, len(want))
			}
			// Each look lists once; the jobs are read once: at the end, or
			// (running) once the created grace is over.
			if got := w.gl.Count("pipelines"); got != 3 {
				t.Errorf("%d pipeline list requests in 3 looks, want 3", got)
			}
			if got := w.gl.Count("jobs"); got != 1 {
				t.Errorf("%d jobs requests, want 1", got)
			}
		})
	}
}

func TestJobPrefix(t *testing.T) {
	w := newWorld(t)
	w.cfg.JobPrefix = "oil-"
	created := time.Now().Add(-time.Minute)
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 7, Status: "failed", Ref: "main", CreatedAt: created})
	w.gl.SetJobs(project, 7, gitlabtest.Job{Name: "oil-notify-created", Status: "success"},
		gitlabtest.Job{Name: "oil-notify-failed", Status: "success"},
		gitlabtest.Job{Name: "notify-failed", Status: "failed"}) // another include's job, not ours
	wt, _ := w.watcher(t)
	look(t, wt)
	if got := w.texts(); len(got) != 0 {
		t.Errorf("prefixed notify jobs announced it, yet the watcher posted %q", got)
	}
}

// TestStuckPending: no runner, the notify-created job pending: "создан"
// once the grace has passed, once; the ending later, when it comes.
func TestStuckPending(t *testing.T) {
	w := newWorld(t)
	created := time.Now().UTC()
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 11, Status: "pending", Ref: "release/1.2", CreatedAt: created})
	w.gl.SetJobs(project, 11, notifyJobs("pending", "created", "created")...)
	wt, _ := w.watcher(t)
	look(t, wt)
	if got := w.texts(); len(got) != 0 || w.gl.Count("jobs") != 0 {
		t.Fatalf("before the grace: posted %q after %d jobs requests, want nothing and none", got, w.gl.Count("jobs"))
	}
	w.advance(w.cfg.CreatedGrace)
	look(t, wt)
	look(t, wt)
	want := []string{line(t, 11, created, "release/1.2", wCreated)}
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("after the grace (-want +got):\n%s", diff)
	}
	// Someone cancels it: the ending follows, still nothing twice.
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 11, Status: "canceled", Ref: "release/1.2"})
	w.gl.SetJobs(project, 11, notifyJobs("canceled", "canceled", "canceled")...)
	look(t, wt)
	look(t, wt)
	want = append(want, line(t, 11, created, "release/1.2", wFailed))
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Errorf("after cancel (-want +got):\n%s", diff)
	}
}

func TestCreatedJobSucceededWithinGrace(t *testing.T) {
	w := newWorld(t)
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 12, Status: "running", Ref: "main", CreatedAt: time.Now().Add(-3 * time.Minute)})
	w.gl.SetJobs(project, 12, notifyJobs("success", "created", "created")...)
	wt, _ := w.watcher(t)
	look(t, wt)
	look(t, wt)
	if got := w.texts(); len(got) != 0 {
		t.Errorf("posted %q, want nothing: notify-created succeeded", got)
	}
	if got := w.gl.Count("jobs"); got != 1 {
		t.Errorf("%d jobs requests, want 1 (settled after the first)", got)
	}
}

// TestRestart: a second watcher, started from the ConfigMap the first one
// wrote, repeats nothing and carries on.
func TestRestart(t *testing.T) {
	w := newWorld(t)
	created := time.Now().Add(-5 * time.Minute).UTC()
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 21, Status: "canceled", Ref: "main", CreatedAt: created})
	w.gl.SetJobs(project, 21, notifyJobs("success", "canceled", "canceled")...)
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 22, Status: "pending", Ref: "main", CreatedAt: created})
	w.gl.SetJobs(project, 22, notifyJobs("pending", "created", "created")...)
	first, _ := w.watcher(t)
	look(t, first)
	want := []string{line(t, 21, created, "main", wFailed), line(t, 22, created, "main", wCreated)}
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("first watcher (-want +got):\n%s", diff)
	}

	second, _ := w.watcher(t) // from the ConfigMap, as after a restart
	look(t, second)
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("restarted watcher repeated something (-want +got):\n%s", diff)
	}
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 22, Status: "canceled", Ref: "main"})
	w.gl.SetJobs(project, 22, notifyJobs("pending", "canceled", "canceled")...)
	look(t, second)
	look(t, second)
	want = append(want, line(t, 22, created, "main", wFailed))
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Errorf("restarted watcher (-want +got):\n%s", diff)
	}
}

// TestGitLabFaults: 5xx, a 429 and a request that times out are retried
// within the look; every line arrives once.
func TestGitLabFaults(t *testing.T) {
	w := newWorld(t)
	created := time.Now().Add(-5 * time.Minute).UTC()
	for _, id := range []int64{31, 32} {
		w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: id, Status: "canceled", Ref: "main", CreatedAt: created})
		w.gl.SetJobs(project, id, notifyJobs("success", "canceled", "canceled")...)
	}
	w.gl.InjectFault(gitlabtest.Fault{Endpoint: "pipelines", Times: 2, Status: 502})
	w.gl.InjectFault(gitlabtest.Fault{Endpoint: "pipelines", Times: 1, Status: 429, RetryAfter: 1})
	w.gl.InjectFault(gitlabtest.Fault{Endpoint: "jobs", Times: 1, Delay: 5 * time.Second}) // past WATCH_REQUEST_TIMEOUT
	w.gl.InjectFault(gitlabtest.Fault{Endpoint: "jobs", Times: 1, Status: 500})
	wt, m := w.watcher(t)
	start := time.Now()
	look(t, wt)
	if took := time.Since(start); took < time.Second {
		t.Errorf("the look took %v: Retry-After 1 was not waited out", took)
	}
	want := []string{line(t, 31, created, "main", wFailed), line(t, 32, created, "main", wFailed)}
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Errorf("after faults, one look (-want +got):\n%s", diff)
	}
	look(t, wt)
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Errorf("second look doubled (-want +got):\n%s", diff)
	}
	for kind, n := range map[string]float64{"5xx": 3, "429": 1, "timeout": 1} {
		if got := m.gitlabErrors.WithLabelValues(kind).value(); got != n {
			t.Errorf("derrick_watch_gitlab_errors_total{kind=%q} = %v, want %v", kind, got, n)
		}
	}
}

// TestGitLabDownForALook: a look that gets no answer at all loses nothing.
func TestGitLabDownForALook(t *testing.T) {
	w := newWorld(t)
	w.cfg.Interval = 300 * time.Millisecond
	w.cfg.RequestTimeout = 100 * time.Millisecond
	created := time.Now().Add(-5 * time.Minute).UTC()
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 41, Status: "failed", Ref: "main", CreatedAt: created})
	w.gl.SetJobs(project, 41, notifyJobs("success", "skipped", "failed")...)
	w.gl.InjectFault(gitlabtest.Fault{Times: 1000, Status: 503})
	wt, _ := w.watcher(t)
	look(t, wt)
	if got := w.texts(); len(got) != 0 {
		t.Fatalf("GitLab down, yet posted %q", got)
	}
	w.gl.ClearFaults()
	look(t, wt)
	look(t, wt)
	want := []string{line(t, 41, created, "main", wFailed)}
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Errorf("GitLab back (-want +got):\n%s", diff)
	}
}

// TestTelegramFaults: a 5xx is retried within the look; Telegram down for
// a whole look keeps the lines, in order, for the next one.
func TestTelegramFaults(t *testing.T) {
	w := newWorld(t)
	created := time.Now().Add(-5 * time.Minute).UTC()
	for _, id := range []int64{51, 52} {
		w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: id, Status: "canceled", Ref: "main", CreatedAt: created})
		w.gl.SetJobs(project, id, notifyJobs("success", "canceled", "canceled")...)
	}
	if err := w.tg.InjectFault(telegramtest.Fault{Method: "sendMessage", Times: 1, Status: 502}); err != nil {
		t.Fatal(err)
	}
	if err := w.tg.InjectFault(telegramtest.Fault{Method: "sendMessage", Times: 1, Drop: true}); err != nil {
		t.Fatal(err)
	}
	wt, m := w.watcher(t)
	look(t, wt)
	want := []string{line(t, 51, created, "main", wFailed), line(t, 52, created, "main", wFailed)}
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("after a 502 and a dropped connection (-want +got):\n%s", diff)
	}
	if got := m.telegramErrors.WithLabelValues("502").value(); got != 1 {
		t.Errorf("derrick_watch_telegram_errors_total{code=\"502\"} = %v, want 1", got)
	}

	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 53, Status: "failed", Ref: "main", CreatedAt: created})
	w.gl.SetJobs(project, 53, notifyJobs("failed", "skipped", "failed")...)
	if err := w.tg.InjectFault(telegramtest.Fault{Method: "sendMessage", Times: 1, Status: 403, Description: "Forbidden: bot was kicked from the group chat"}); err != nil {
		t.Fatal(err)
	}
	look(t, wt)
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Fatalf("Telegram refused, yet (-want +got):\n%s", diff)
	}
	look(t, wt)
	look(t, wt)
	want = append(want, line(t, 53, created, "main", wCreated), line(t, 53, created, "main", wFailed))
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Errorf("Telegram back (-want +got):\n%s", diff)
	}
}

// TestThreePages: 250 pipelines updated since the last look come in three
// pages of 100; the three the jobs did not announce are posted, once.
func TestThreePages(t *testing.T) {
	w := newWorld(t)
	created := time.Now().Add(-30 * time.Minute).UTC()
	canceled := map[int64]bool{1005: true, 1150: true, 1249: true}
	for id := int64(1000); id < 1250; id++ {
		status, jobs := "success", notifyJobs("success", "success", "skipped")
		if canceled[id] {
			status, jobs = "canceled", notifyJobs("success", "canceled", "canceled")
		}
		w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: id, Status: status, Ref: "main", CreatedAt: created})
		w.gl.SetJobs(project, id, jobs...)
	}
	wt, _ := w.watcher(t)
	look(t, wt)
	want := []string{line(t, 1005, created, "main", wFailed), line(t, 1150, created, "main", wFailed), line(t, 1249, created, "main", wFailed)}
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Errorf("group received (-want +got):\n%s", diff)
	}
	var pages []string
	for _, r := range w.gl.Requests() {
		if r.Endpoint == "pipelines" {
			pages = append(pages, r.Query.Get("page")+"/"+r.Query.Get("per_page")+"/"+r.Query.Get("order_by")+"/"+r.Query.Get("sort"))
		}
	}
	if diff := cmp.Diff([]string{"/100/updated_at/desc", "2/100/updated_at/desc", "3/100/updated_at/desc"}, pages); diff != "" {
		t.Errorf("pipeline list requests page/per_page/order_by/sort (-want +got):\n%s", diff)
	}
	for _, r := range w.gl.Requests() {
		if r.Endpoint == "jobs" && r.Query.Get("include_retried") != "true" {
			t.Fatalf("jobs requested without include_retried=true: %v", r.Query)
		}
	}
	look(t, wt)
	if got := len(w.texts()); got != 3 {
		t.Errorf("%d lines after a second look, want still 3", got)
	}
}

// TestFirstStartSince: on the first start nothing older than WATCH_SINCE.
func TestFirstStartSince(t *testing.T) {
	w := newWorld(t)
	old := time.Now().Add(-3 * time.Hour).UTC()
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 61, Status: "canceled", Ref: "main", CreatedAt: old, UpdatedAt: time.Now().Add(-2 * time.Hour)})
	w.gl.SetJobs(project, 61, notifyJobs("failed", "canceled", "canceled")...)
	// Ended just over WATCH_SINCE ago: within the listing's overlap, still too old.
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 60, Status: "canceled", Ref: "main", CreatedAt: old, UpdatedAt: time.Now().Add(-time.Hour - 20*time.Second)})
	w.gl.SetJobs(project, 60, notifyJobs("failed", "canceled", "canceled")...)
	// Created long ago, canceled just now: its ending, not its start.
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 62, Status: "canceled", Ref: "main", CreatedAt: old})
	w.gl.SetJobs(project, 62, notifyJobs("failed", "canceled", "canceled")...)
	wt, _ := w.watcher(t)
	look(t, wt)
	want := []string{line(t, 62, old, "main", wFailed)}
	if diff := cmp.Diff(want, w.texts()); diff != "" {
		t.Errorf("first start (-want +got):\n%s", diff)
	}
	for _, r := range w.gl.Requests() {
		after, err := time.Parse(time.RFC3339, r.Query.Get("updated_after"))
		if r.Endpoint == "pipelines" && (err != nil || time.Since(after) > time.Hour+2*time.Minute) {
			t.Errorf("first look asked updated_after=%q, want about an hour ago", r.Query.Get("updated_after"))
		}
	}
}

func TestLogsNameTheFaultNotTheToken(t *testing.T) {
	w := newWorld(t)
	w.gl.SetToken("another-token") // GITLAB_TOKEN refused
	wt, m := w.watcher(t)
	look(t, wt)
	logs := w.logs.String()
	if !strings.Contains(logs, "GITLAB_TOKEN was refused") || !strings.Contains(logs, project) {
		t.Errorf("log does not name the refused token and the project:\n%s", logs)
	}
	if got := m.gitlabErrors.WithLabelValues("4xx").value(); got != 1 {
		t.Errorf("a 401 was tried %v times, want once (not retried)", got)
	}
}

// TestMergeRequestPipelineShowsItsBranch: GitLab lists a merge request
// pipeline under refs/merge-requests/<iid>/head (or /merge, /train); the
// watcher's line names the source branch, as the pipeline's own notify job
// does with CI_COMMIT_REF_NAME. A merge request GitLab does not find keeps
// the ref, and the line is still posted.
func TestMergeRequestPipelineShowsItsBranch(t *testing.T) {
	w := newWorld(t)
	created := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Second)
	w.gl.SetMergeRequest(project, 12, "0.10.6")
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 31, Status: "canceled", Ref: "refs/merge-requests/12/head", Source: "merge_request_event", CreatedAt: created})
	w.gl.SetJobs(project, 31, notifyJobs("success", "canceled", "canceled")...)
	w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: 32, Status: "failed", Ref: "refs/merge-requests/13/merge", Source: "merge_request_event", CreatedAt: created})
	w.gl.SetJobs(project, 32, notifyJobs("success", "skipped", "failed")...)
	wt, _ := w.watcher(t)
	look(t, wt)
	look(t, wt)
	want := []string{line(t, 31, created, "0.10.6", wFailed), line(t, 32, created, "refs/merge-requests/13/merge", wFailed)}
	got := w.texts()
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("group received (-want +got):\n%s", diff)
	}
	if n := w.gl.Count("merge_requests"); n != 2 {
		t.Errorf("%d merge request requests, want one per merge request pipeline's line (2)", n)
	}
}
