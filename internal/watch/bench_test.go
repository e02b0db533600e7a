package watch

import (
	"context"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/gitlabtest"
)

// GitLab requests per look (one look per WATCH_INTERVAL), against the
// stand-in; figures in docs/PERFORMANCE.md:
//
//	go test -run '^$' -bench Look -benchtime 20x ./internal/watch/

// BenchmarkLookIdle: a project with recent, settled pipelines and nothing
// new. Target: one request per interval.
func BenchmarkLookIdle(b *testing.B) {
	w := benchWorld(b)
	created := time.Now().Add(-10 * time.Minute)
	for id := int64(1); id <= 20; id++ {
		w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: id, Status: "success", Ref: "main", CreatedAt: created})
		w.gl.SetJobs(project, id, notifyJobs("success", "success", "skipped")...)
	}
	wt := w.benchWatcher(b)
	wt.Look(context.Background()) // settles the 20
	before := w.gl.Count("")
	b.ResetTimer()
	for range b.N {
		wt.Look(context.Background())
	}
	b.StopTimer()
	b.ReportMetric(float64(w.gl.Count("")-before)/float64(b.N), "gitlab-requests/interval")
	if len(w.texts()) != 0 {
		b.Fatalf("posted %q", w.texts())
	}
}

// BenchmarkLook100Finished: 100 pipelines finished since the last look,
// their own notify jobs announced them: one list page and one jobs
// request each.
func BenchmarkLook100Finished(b *testing.B) {
	w := benchWorld(b)
	created := time.Now().Add(-10 * time.Minute)
	for id := int64(1); id <= 100; id++ {
		w.gl.SetPipeline(project, gitlabtest.Pipeline{ID: id, Status: "success", Ref: "main", CreatedAt: created})
		w.gl.SetJobs(project, id, notifyJobs("success", "success", "skipped")...)
	}
	var requests int
	for range b.N {
		b.StopTimer()
		wt := w.benchWatcher(b) // fresh state: all 100 are new
		wt.state = &State{Projects: map[string]*ProjectState{}}
		before := w.gl.Count("")
		b.StartTimer()
		wt.Look(context.Background())
		b.StopTimer()
		requests += w.gl.Count("") - before
		if n := len(wt.state.Projects[project].Pipelines); n != 100 {
			b.Fatalf("%d pipelines followed, want 100", n)
		}
	}
	b.ReportMetric(float64(requests)/float64(b.N), "gitlab-requests/interval")
}

func benchWorld(b *testing.B) *world {
	return newWorld(b)
}

func (w *world) benchWatcher(b *testing.B) *Watcher {
	wt, _ := w.watcher(b)
	return wt
}
