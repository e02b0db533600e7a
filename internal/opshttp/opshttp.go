// Package opshttp serves the bot's operational endpoints: /healthz (the poll
// loop is alive), /readyz (Telegram and Kubernetes answer) and /metrics
// (Prometheus).
package opshttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the bot's Prometheus metrics.
type Metrics struct {
	reg       *prometheus.Registry
	commands  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	apiErrors *prometheus.CounterVec
	leader    prometheus.Gauge
	changes   *prometheus.CounterVec
	known     []string // command labels allowed; none: any
}

// NewMetrics registers the bot's metrics and the Go runtime's. commands,
// when given, are the only command labels: any other is "unknown", so that
// what a stranger types never becomes a series.
func NewMetrics(commands ...string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "derrick_bot_commands_total",
			Help: "Chat commands handled, by command and outcome (ok, noop, refused, invalid, stale, error; asked, cancelled, expired for confirmations).",
		}, []string{"command", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "derrick_bot_command_duration_seconds",
			Help:    "Time from receiving a command to its last answer.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15, 60, 300},
		}, []string{"command"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "derrick_bot_telegram_api_errors_total",
			Help: "Failed Telegram Bot API calls, by method and error code (network for transport faults).",
		}, []string{"method", "code"}),
		known: slices.Clone(commands),
	}
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "derrick_bot_leader",
		Help: "Whether this replica holds the leader Lease and polls Telegram (1) or stands by (0); BOT_LEADER_ELECTION=true only.",
	})
	m.changes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "derrick_bot_leadership_changes_total",
		Help: "Times this replica became (acquired) or stopped being (lost) the leader.",
	}, []string{"change"})
	m.reg.MustRegister(m.commands, m.duration, m.apiErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Command records one handled command. Texts that were no command for this
// bot are not counted.
func (m *Metrics) Command(command, outcome string, d time.Duration) {
	switch {
	case command == "":
		command = "none"
	case len(m.known) > 0 && !slices.Contains(m.known, command):
		command = "unknown"
	}
	m.commands.WithLabelValues(command, outcome).Inc()
	m.duration.WithLabelValues(command).Observe(d.Seconds())
}

// EnableLeader adds the leadership metrics (leader election is on), as a
// standby's: derrick_bot_leader 0.
func (m *Metrics) EnableLeader() {
	m.reg.MustRegister(m.leader, m.changes)
	m.changes.WithLabelValues("acquired")
	m.changes.WithLabelValues("lost")
}

// Leader records that this replica became (true) or stopped being the
// leader.
func (m *Metrics) Leader(leading bool) {
	change, v := "lost", 0.0
	if leading {
		change, v = "acquired", 1
	}
	m.leader.Set(v)
	m.changes.WithLabelValues(change).Inc()
}

// APIError records a failed Bot API call; code 0 is a network fault.
func (m *Metrics) APIError(method string, code int) {
	label := "network"
	if code != 0 {
		label = strconv.Itoa(code)
	}
	m.apiErrors.WithLabelValues(method, label).Inc()
}

// Checks are the probes behind /healthz and /readyz.
type Checks struct {
	// Live fails when the poll loop has made no progress for too long.
	Live func() error
	// Ready fails when a dependency (Telegram, the Kubernetes API, the
	// registry, Argo CD) fails, naming each that does.
	Ready func(ctx context.Context) error
	// Role, when set, is a line /readyz adds about leadership ("leader …"
	// or "standby …"). A standby is ready: it takes over when the leader
	// goes, and a rolling update waits for it.
	Role func() string
}

// Handler serves /healthz, /readyz and /metrics.
func Handler(m *Metrics, c Checks) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		probe(w, c.Live(), "")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), probeTimeout+time.Second)
		defer cancel()
		err, role := c.Ready(ctx), ""
		if c.Role != nil {
			role = c.Role() + "\n"
		}
		probe(w, err, role)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// probe answers "ok" or 503 with err's text, then the lines of extra.
func probe(w http.ResponseWriter, err error, extra string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(err.Error() + "\n" + extra))
		return
	}
	_, _ = w.Write([]byte("ok\n" + extra))
}

// Probe is one dependency check of /readyz.
type Probe struct {
	Name  string // as /readyz names it: telegram, kubernetes, registry, argocd
	Check func(ctx context.Context) error
}

// probeTimeout bounds each dependency check of /readyz.
const probeTimeout = 3 * time.Second

// CheckAll runs the probes at once, each bounded by probeTimeout, and
// returns one line per failing dependency ("registry: …"), or nil.
func CheckAll(ctx context.Context, probes ...Probe) error {
	errs := make([]error, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			if err := p.Check(pctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", p.Name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
