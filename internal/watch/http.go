package watch

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Metrics are the watcher's Prometheus metrics. Every label value comes
// from a fixed set.
type Metrics struct {
	seen           counter
	announced      *counterVec
	gitlabRequests counter
	gitlabErrors   *counterVec
	telegramErrors *counterVec
	followed       gauge
	lastLook       gauge
	leading        gauge
	families       []family
}

// NewMetrics makes the watcher's metrics, served with the Go runtime's and
// the process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		announced:      newCounterVec("line"),
		gitlabErrors:   newCounterVec("kind"),
		telegramErrors: newCounterVec("code"),
	}
	for _, l := range []string{"created", "success", "failed"} {
		m.announced.WithLabelValues(l)
	}
	m.families = append([]family{
		{"derrick_watch_pipelines_seen_total", "Pipeline states the watcher saw for the first time (a new pipeline or a new status).", "counter",
			one(m.seen.value)},
		{"derrick_watch_announced_total", "Lines the watcher posted because the pipeline's own notify job did not, by line (created, success, failed).", "counter",
			m.announced.samples},
		{"derrick_watch_gitlab_requests_total", "GitLab API requests made, retries included.", "counter",
			one(m.gitlabRequests.value)},
		{"derrick_watch_gitlab_errors_total", "Failed GitLab API requests, by kind (429, 5xx, 4xx, timeout, network, canceled).", "counter",
			m.gitlabErrors.samples},
		{"derrick_watch_telegram_errors_total", "Failed Telegram sendMessage attempts, by error code (network for transport faults).", "counter",
			m.telegramErrors.samples},
		{"derrick_watch_state_pipelines", "Pipelines kept in the state ConfigMap.", "gauge",
			one(m.followed.value)},
		{"derrick_watch_last_look_timestamp_seconds", "When the last look at GitLab finished (Unix time).", "gauge",
			one(m.lastLook.value)},
		{"derrick_watch_leading", "1 while this watcher looks and posts: always without WATCH_LEASE, else while its replica holds the bot's lease.", "gauge",
			one(m.leading.value)},
	}, runtimeFamilies()...)
	return m
}

func (m *Metrics) telegramError(code int) {
	label := "network"
	if code != 0 {
		label = strconv.Itoa(code)
	}
	m.telegramErrors.WithLabelValues(label).Inc()
}

// health says whether the poll loop is alive: a look finished within stale.
type health struct {
	last  atomic.Int64 // UnixNano of the last finished look, or of the start
	stale time.Duration
}

func (h *health) beat(t time.Time) { h.last.Store(t.UnixNano()) }

func (h *health) check(now time.Time) error {
	if age := now.Sub(time.Unix(0, h.last.Load())); age > h.stale {
		return fmt.Errorf("no look at GitLab finished for %s (limit %s)", age.Round(time.Second), h.stale)
	}
	return nil
}

// handler serves /healthz and /metrics.
func handler(m *Metrics, h *health) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := h.check(time.Now()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", metricsHandler(m.families))
	return mux
}
