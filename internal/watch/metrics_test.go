package watch

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads the exposition with Prometheus's own text parser.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus cannot parse /metrics: %v\n%s", err, text)
	}
	return fams
}

// value is the one sample of name whose label (if any) has value label.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name, label string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
	for _, m := range f.GetMetric() {
		if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
			continue
		}
		if label == "" && len(m.GetLabel()) != 0 {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no sample %s{%s}", name, label)
	return 0
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(handler(m, &health{stale: time.Minute}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("/metrics Content-Type %q is not Prometheus text", ct)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMetricsExposition(t *testing.T) {
	m := NewMetrics()
	fams := parse(t, scrape(t, m))
	// A fresh watcher: counters at zero, the three lines present, no error
	// family until an error is counted.
	for _, l := range []string{"created", "success", "failed"} {
		if got := value(t, fams, "derrick_watch_announced_total", l); got != 0 {
			t.Errorf("announced{line=%s} = %v at start", l, got)
		}
	}
	for _, name := range []string{"derrick_watch_gitlab_errors_total", "derrick_watch_telegram_errors_total"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s served before any error", name)
		}
	}

	m.seen.Inc()
	m.seen.Inc()
	m.announced.WithLabelValues("failed").Inc()
	m.gitlabRequests.Inc()
	m.gitlabErrors.WithLabelValues("429").Inc()
	m.gitlabErrors.WithLabelValues("timeout").Inc()
	m.gitlabErrors.WithLabelValues("timeout").Inc()
	m.telegramError(502)
	m.telegramError(0)
	m.followed.Set(17)
	m.lastLook.Set(1764650000)
	fams = parse(t, scrape(t, m))

	want := []struct {
		name, label string
		typ         dto.MetricType
		v           float64
	}{
		{"derrick_watch_pipelines_seen_total", "", dto.MetricType_COUNTER, 2},
		{"derrick_watch_announced_total", "failed", dto.MetricType_COUNTER, 1},
		{"derrick_watch_announced_total", "created", dto.MetricType_COUNTER, 0},
		{"derrick_watch_gitlab_requests_total", "", dto.MetricType_COUNTER, 1},
		{"derrick_watch_gitlab_errors_total", "429", dto.MetricType_COUNTER, 1},
		{"derrick_watch_gitlab_errors_total", "timeout", dto.MetricType_COUNTER, 2},
		{"derrick_watch_telegram_errors_total", "502", dto.MetricType_COUNTER, 1},
		{"derrick_watch_telegram_errors_total", "network", dto.MetricType_COUNTER, 1},
		{"derrick_watch_state_pipelines", "", dto.MetricType_GAUGE, 17},
		{"derrick_watch_last_look_timestamp_seconds", "", dto.MetricType_GAUGE, 1764650000},
	}
	for _, w := range want {
		if got := fams[w.name].GetType(); got != w.typ {
			t.Errorf("%s has type %v, want %v", w.name, got, w.typ)
		}
		if fams[w.name].GetHelp() == "" {
			t.Errorf("%s has no HELP", w.name)
		}
		if got := value(t, fams, w.name, w.label); got != w.v {
			t.Errorf("%s{%s} = %v, want %v", w.name, w.label, got, w.v)
		}
	}
	labels := map[string]string{"derrick_watch_announced_total": "line", "derrick_watch_gitlab_errors_total": "kind",
		"derrick_watch_telegram_errors_total": "code"}
	for name, label := range labels {
		for _, s := range fams[name].GetMetric() {
			if got := s.GetLabel()[0].GetName(); got != label {
				t.Errorf("%s has label %q, want %q", name, got, label)
			}
		}
	}

	// The standard runtime and process metrics are served too.
	if v := value(t, fams, "go_goroutines", ""); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		if v := value(t, fams, "process_resident_memory_bytes", ""); v < 1<<20 {
			t.Errorf("process_resident_memory_bytes = %v, want at least 1 MiB", v)
		}
		start := value(t, fams, "process_start_time_seconds", "")
		if now := float64(time.Now().Unix()); start > now+1 || start < now-3600 {
			t.Errorf("process_start_time_seconds = %v, not within the last hour of %v", start, now)
		}
		if v := value(t, fams, "process_open_fds", ""); v < 3 {
			t.Errorf("process_open_fds = %v", v)
		}
		if _, ok := fams["process_cpu_seconds_total"]; !ok {
			t.Error("no process_cpu_seconds_total")
		}
	}
}

// TestWriteTextGolden pins the format: families sorted by name, empty ones
// left out, samples sorted by label value, HELP and label values escaped,
// special floats spelt as Prometheus spells them.
func TestWriteTextGolden(t *testing.T) {
	v := newCounterVec("code")
	v.WithLabelValues("b\"q\\\nz").Inc()
	v.WithLabelValues("a").Inc()
	var g gauge
	g.Set(math.Inf(1))
	fams := []family{
		{"z_total", "Last.", "counter", v.samples},
		{"empty_total", "Nothing yet.", "counter", newCounterVec("x").samples},
		{"a_gauge", "Help with \\ and\nnewline.", "gauge", one(g.value)},
		{"n_gauge", "Not a number.", "gauge", one(func() float64 { return math.NaN() })},
		{"f_gauge", "Fraction.", "gauge", one(func() float64 { return 0.25 })},
	}
	var buf bytes.Buffer
	if err := writeText(&buf, fams); err != nil {
		t.Fatal(err)
	}
	want := `# HELP a_gauge Help with \\ and\nnewline.
# TYPE a_gauge gauge
a_gauge +Inf
# HELP f_gauge Fraction.
# TYPE f_gauge gauge
f_gauge 0.25
# HELP n_gauge Not a number.
# TYPE n_gauge gauge
n_gauge NaN
# HELP z_total Last.
# TYPE z_total counter
z_total{code="a"} 1
z_total{code="b\"q\\\nz"} 1
`
	if got := buf.String(); got != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", got, want)
	}
	parsed := parse(t, buf.String())
	if got := parsed["a_gauge"].GetHelp(); got != "Help with \\ and\nnewline." {
		t.Errorf("HELP round trip: %q", got)
	}
	if got := value(t, parsed, "z_total", "b\"q\\\nz"); got != 1 {
		t.Errorf("escaped label value round trip: %v", got)
	}
}

func BenchmarkMetrics(b *testing.B) {
	m := NewMetrics()
	for range b.N {
		_ = writeText(io.Discard, m.families)
	}
}

// TestSameAsClientGolang checks the watcher's families byte for byte against
// what client_golang (the library /metrics used before) serves for the same
// metrics after the same events.
func TestSameAsClientGolang(t *testing.T) {
	reg := prometheus.NewRegistry()
	fams := NewMetrics().families[:7]
	ref := map[string]*prometheus.CounterVec{}
	refPlain := map[string]prometheus.Counter{}
	refGauge := map[string]prometheus.Gauge{}
	for _, f := range fams {
		switch {
		case f.typ == "gauge":
			refGauge[f.name] = prometheus.NewGauge(prometheus.GaugeOpts{Name: f.name, Help: f.help})
			reg.MustRegister(refGauge[f.name])
		case len(f.samples()) == 1 && f.samples()[0].label == "":
			refPlain[f.name] = prometheus.NewCounter(prometheus.CounterOpts{Name: f.name, Help: f.help})
			reg.MustRegister(refPlain[f.name])
		}
	}
	vec := func(name, label string) *prometheus.CounterVec {
		for _, f := range fams {
			if f.name == name {
				ref[name] = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: f.help}, []string{label})
				reg.MustRegister(ref[name])
				return ref[name]
			}
		}
		t.Fatalf("no family %s", name)
		return nil
	}
	announced, gitlabErrors, telegramErrors := vec("derrick_watch_announced_total", "line"),
		vec("derrick_watch_gitlab_errors_total", "kind"), vec("derrick_watch_telegram_errors_total", "code")
	for _, l := range []string{"created", "success", "failed"} {
		announced.WithLabelValues(l)
	}

	m := NewMetrics()
	events := func() {
		m.seen.Inc()
		refPlain["derrick_watch_pipelines_seen_total"].Inc()
		m.announced.WithLabelValues("success").Inc()
		announced.WithLabelValues("success").Inc()
		for range 3 {
			m.gitlabRequests.Inc()
			refPlain["derrick_watch_gitlab_requests_total"].Inc()
		}
		m.gitlabErrors.WithLabelValues("5xx").Inc()
		gitlabErrors.WithLabelValues("5xx").Inc()
		m.telegramError(429)
		telegramErrors.WithLabelValues("429").Inc()
		m.followed.Set(3000)
		refGauge["derrick_watch_state_pipelines"].Set(3000)
		m.lastLook.Set(1764650123)
		refGauge["derrick_watch_last_look_timestamp_seconds"].Set(1764650123)
	}
	for round := range 2 {
		if round == 1 {
			events()
		}
		var want bytes.Buffer
		got, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range got {
			if _, err := expfmt.MetricFamilyToText(&want, mf); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if err := writeText(&buf, m.families[:7]); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want.String() {
			t.Errorf("round %d: the watcher serves\n%s\nclient_golang serves\n%s", round, buf.String(), want.String())
		}
	}
}
