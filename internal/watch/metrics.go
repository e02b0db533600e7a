package watch

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The watcher serves its few metrics in the Prometheus text exposition
// format (version 0.0.4) itself: client_golang and the protobuf runtime it
// pulls in cost the notifier binary about 5 MB, half its size budget.

// counter is a monotonically increasing value.
type counter struct{ n atomic.Uint64 }

func (c *counter) Inc()           { c.n.Add(1) }
func (c *counter) value() float64 { return float64(c.n.Load()) }

// gauge is a value that is set.
type gauge struct{ bits atomic.Uint64 }

func (g *gauge) Set(v float64)  { g.bits.Store(math.Float64bits(v)) }
func (g *gauge) value() float64 { return math.Float64frombits(g.bits.Load()) }

// counterVec is a counter per value of one label. The callers pass values
// from a fixed set (line names, error kinds, Telegram error codes).
type counterVec struct {
	label string
	mu    sync.Mutex
	by    map[string]*counter
}

func newCounterVec(label string) *counterVec {
	return &counterVec{label: label, by: map[string]*counter{}}
}

// WithLabelValues returns the counter of value v, creating it at zero.
func (v *counterVec) WithLabelValues(value string) *counter {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.by[value]
	if !ok {
		c = &counter{}
		v.by[value] = c
	}
	return c
}

// sample is one line of a metric family.
type sample struct {
	label, value string // label is empty for a metric without labels
	v            float64
}

func (v *counterVec) samples() []sample {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]sample, 0, len(v.by))
	for value, c := range v.by {
		out = append(out, sample{label: v.label, value: value, v: c.value()})
	}
	slices.SortFunc(out, func(a, b sample) int { return strings.Compare(a.value, b.value) })
	return out
}

// family is one metric family as served.
type family struct {
	name, help, typ string
	samples         func() []sample
}

func one(f func() float64) func() []sample { return func() []sample { return []sample{{v: f()}} } }

// writeText writes families sorted by name in the text exposition format;
// a family without samples (a vector nothing was counted in yet) is left out.
func writeText(w io.Writer, fams []family) error {
	fams = slices.Clone(fams)
	slices.SortFunc(fams, func(a, b family) int { return strings.Compare(a.name, b.name) })
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		ss := f.samples()
		if len(ss) == 0 {
			continue
		}
		bw.WriteString("# HELP " + f.name + " " + helpEscaper.Replace(f.help) + "\n# TYPE " + f.name + " " + f.typ + "\n")
		for _, s := range ss {
			bw.WriteString(f.name)
			if s.label != "" {
				bw.WriteString("{" + s.label + `="` + labelEscaper.Replace(s.value) + `"}`)
			}
			bw.WriteString(" " + formatFloat(s.v) + "\n")
		}
	}
	return bw.Flush()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// metricsHandler serves the families.
func metricsHandler(fams []family) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = writeText(w, fams)
	})
}

// runtimeFamilies are the standard Go and process metrics the watcher's
// container is watched by: the names and meanings of client_golang's Go and
// process collectors (on Linux; the process ones are left out elsewhere).
func runtimeFamilies() []family {
	fams := []family{
		{"go_goroutines", "Number of goroutines that currently exist.", "gauge",
			one(func() float64 { return float64(runtime.NumGoroutine()) })},
		{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, equals to /memory/classes/heap/objects:bytes.", "gauge",
			one(func() float64 {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return float64(ms.HeapAlloc)
			})},
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return fams
	}
	stat := func(i int) func() []sample {
		return func() []sample {
			st, ok := procStat()
			if !ok {
				return nil
			}
			return []sample{{v: st[i]}}
		}
	}
	return append(fams,
		family{"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", stat(0)},
		family{"process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", stat(1)},
		family{"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge", stat(2)},
		family{"process_open_fds", "Number of open file descriptors.", "gauge", func() []sample {
			ds, err := os.ReadDir("/proc/self/fd")
			if err != nil {
				return nil
			}
			return []sample{{v: float64(len(ds))}}
		}},
	)
}

// userHZ is the kernel's clock tick for /proc times (USER_HZ, 100 on every
// Linux architecture Go supports).
const userHZ = 100

// procStat reads CPU seconds, resident bytes and start time from /proc.
func procStat() (st [3]float64, ok bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return st, false
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return st, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime 14, stime 15, starttime 22, rss 24.
	if len(f) < 22 {
		return st, false
	}
	num := func(field int) float64 { v, _ := strconv.ParseFloat(f[field-3], 64); return v }
	bt, ok := bootTime()
	if !ok {
		return st, false
	}
	st[0] = (num(14) + num(15)) / userHZ
	st[1] = num(24) * float64(os.Getpagesize())
	st[2] = bt + num(22)/userHZ
	return st, true
}

// bootTime reads btime from /proc/stat.
func bootTime() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
