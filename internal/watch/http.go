package watch

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the watcher's Prometheus metrics. Every label value comes
// from a fixed set.
type Metrics struct {
	reg            *prometheus.Registry
	seen           prometheus.Counter
	announced      *prometheus.CounterVec
	gitlabRequests prometheus.Counter
	gitlabErrors   *prometheus.CounterVec
	telegramErrors *prometheus.CounterVec
	followed       prometheus.Gauge
	lastLook       prometheus.Gauge
}

// NewMetrics registers the watcher's metrics and the Go runtime's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		seen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "derrick_watch_pipelines_seen_total",
			Help: "Pipeline states the watcher saw for the first time (a new pipeline or a new status).",
		}),
		announced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "derrick_watch_announced_total",
			Help: "Lines the watcher posted because the pipeline's own notify job did not, by line (created, success, failed).",
		}, []string{"line"}),
		gitlabRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "derrick_watch_gitlab_requests_total",
			Help: "GitLab API requests made, retries included.",
		}),
		gitlabErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "derrick_watch_gitlab_errors_total",
			Help: "Failed GitLab API requests, by kind (429, 5xx, 4xx, timeout, network, canceled).",
		}, []string{"kind"}),
		telegramErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "derrick_watch_telegram_errors_total",
			Help: "Failed Telegram sendMessage attempts, by error code (network for transport faults).",
		}, []string{"code"}),
		followed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "derrick_watch_state_pipelines",
			Help: "Pipelines kept in the state ConfigMap.",
		}),
		lastLook: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "derrick_watch_last_look_timestamp_seconds",
			Help: "When the last look at GitLab finished (Unix time).",
		}),
	}
	for _, l := range []string{"created", "success", "failed"} {
		m.announced.WithLabelValues(l)
	}
	m.reg.MustRegister(m.seen, m.announced, m.gitlabRequests, m.gitlabErrors, m.telegramErrors, m.followed, m.lastLook,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}
