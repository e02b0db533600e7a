package failover

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFailover measures, with the default lease settings (15s/10s/2s),
// how long after the leader's end its standby answers a new command: after
// SIGTERM (the Lease is released) and after kill -9 (the Lease runs out).
// One iteration is one of each; run it 10 times:
//
//	go test -run '^$' -bench Failover -benchtime 10x ./test/failover/
func BenchmarkFailover(b *testing.B) {
	w := newWorld(b)
	seq := 0
	next := func() string { seq++; name := fmt.Sprintf("bot-%d", seq); w.start(b, name); return name }
	names := []string{next(), next()}
	lead := w.leader(b, 30*time.Second, nil, names...)
	w.say(b, "/help", 30*time.Second, isHelp)
	var term, kill []time.Duration
	end := func(sig syscall.Signal) time.Duration {
		old := w.bots[lead]
		var standby string
		for _, n := range names {
			if n != lead {
				standby = n
			}
		}
		start := time.Now()
		if err := old.Signal(sig); err != nil {
			b.Fatal(err)
		}
		<-old.Done()
		w.say(b, "/help", 60*time.Second, isHelp)
		took := time.Since(start)
		lead = standby
		names = []string{lead, next()}
		return took
	}
	b.ResetTimer()
	for range b.N {
		term = append(term, end(syscall.SIGTERM))
		kill = append(kill, end(syscall.SIGKILL))
	}
	b.StopTimer()
	report := func(what string, d []time.Duration) {
		slices.Sort(d)
		med, worst := d[len(d)/2], d[len(d)-1]
		b.ReportMetric(med.Seconds(), what+"-median-s")
		b.ReportMetric(worst.Seconds(), what+"-max-s")
		b.Logf("%s: median %s, max %s over %d runs: %v", what, med.Round(time.Millisecond), worst.Round(time.Millisecond), len(d), d)
	}
	report("sigterm", term)
	report("kill9", kill)
	w.noConflicts(b)
}
