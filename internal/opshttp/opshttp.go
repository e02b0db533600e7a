// Package opshttp serves the bot's operational endpoints: /healthz (the poll
// loop is alive), /readyz (Telegram and Kubernetes answer) and /metrics
// (Prometheus).
package opshttp

import (
	"context"
	"net/http"
	"strconv"
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
}

// NewMetrics registers the bot's metrics and the Go runtime's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "derrick_bot_commands_total",
			Help: "Chat commands handled, by command and outcome (ok, noop, refused, invalid, stale, error).",
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
	}
	m.reg.MustRegister(m.commands, m.duration, m.apiErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Command records one handled command. Texts that were no command for this
// bot are not counted.
func (m *Metrics) Command(command, outcome string, d time.Duration) {
	if command == "" {
		command = "none"
	}
	m.commands.WithLabelValues(command, outcome).Inc()
	m.duration.WithLabelValues(command).Observe(d.Seconds())
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
	// Ready fails when a dependency (Telegram, the Kubernetes API) does not answer.
	Ready func(ctx context.Context) error
}

// Handler serves /healthz, /readyz and /metrics.
func Handler(m *Metrics, c Checks) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		probe(w, c.Live())
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		probe(w, c.Ready(ctx))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

func probe(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
