package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// BenchmarkSoak floods the built bot, through its real poll loop, with
// 10,000 stranger messages (distinct commands, 90 stranger chats) while 10
// operator chats send 1,000 commands, one after another per chat (nine in
// ten /help, one in ten /get_pods on the real API server). It reports the
// operators' reply latency (injected → answered), the bot's peak RSS and
// the size of /metrics afterwards. See docs/PERFORMANCE.md:
//
//	CI=true go test -run '^$' -bench Soak -benchtime 1x ./bot/
func BenchmarkSoak(b *testing.B) {
	const (
		operators       = 10
		strangers       = 90
		strangerMsgs    = 10_000
		commandsPerChat = 100
	)
	var ids []string
	for i := range operators {
		ids = append(ids, fmt.Sprint(11_000+i))
	}
	w := newWorld(b, "CHATOPS_OPERATORS="+strings.Join(ids, ","))
	for b.Loop() {
		var (
			mu        sync.Mutex
			latencies []time.Duration
			samples   []sample
			drained   time.Time
			wg        sync.WaitGroup
		)
		start := time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range strangerMsgs {
				w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: int64(600_000 + i%strangers)}, Text: fmt.Sprintf("/s%d_%d", i, i*7919)})
			}
			// The flood is through once Telegram holds no more than
			// the operators' own commands.
			for {
				changed := w.tg.Changed()
				if w.tg.Pending() <= operators {
					break
				}
				<-changed
			}
			mu.Lock()
			drained = time.Now()
			mu.Unlock()
		}()
		for op := range operators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := int64(11_000 + op)
				for i := range commandsPerChat {
					text := "/help"
					if i%10 == 9 {
						text = "/get_pods"
					}
					sent := w.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: user}, Text: text})
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					msgs, err := w.tg.WaitFor(ctx, user, func(m []telegramtest.Message) bool { return len(m) > i })
					cancel()
					if err != nil {
						b.Errorf("operator %d, command %d: no answer: %v", user, i, err)
						return
					}
					mu.Lock()
					latencies = append(latencies, msgs[i].Date.Sub(sent.Date))
					samples = append(samples, sample{text, sent.Date, msgs[i].Date.Sub(sent.Date)})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		wall := time.Since(start)
		if len(latencies) != operators*commandsPerChat {
			b.Fatalf("%d operator answers, want %d", len(latencies), operators*commandsPerChat)
		}
		slices.Sort(latencies)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
		b.ReportMetric(ms(latencies[len(latencies)*9/10]), "p90-ms")
		b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
		b.ReportMetric(ms(latencies[len(latencies)-1]), "max-ms")
		// Operator commands sent while the flood was still queued at
		// Telegram wait behind it (updates come in order); after it, the
		// steady state.
		var during, after []time.Duration
		for _, s := range samples {
			if s.sent.Before(drained) {
				during = append(during, s.latency)
			} else {
				after = append(after, s.latency)
			}
		}
		slices.Sort(during)
		slices.Sort(after)
		if len(during) > 0 {
			b.ReportMetric(ms(during[len(during)-1]), "flood-max-ms")
		}
		if len(after) > 0 {
			b.ReportMetric(ms(after[len(after)*99/100]), "after-p99-ms")
		}
		b.ReportMetric(drained.Sub(start).Seconds(), "flood-s")
		for _, cmd := range []string{"/help", "/get_pods"} {
			var ls []time.Duration
			for _, s := range samples {
				if s.command == cmd {
					ls = append(ls, s.latency)
				}
			}
			slices.Sort(ls)
			b.ReportMetric(ms(ls[len(ls)*99/100]), cmd[1:]+"-p99-ms")
		}
		b.ReportMetric(wall.Seconds(), "wall-s")
	}
	_, peak, err := proctest.Memory(w.bot.PID())
	if err != nil {
		b.Fatal(err)
	}
	_, body := httpGet(b, "http://"+w.bot.HTTPAddr()+"/metrics")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-rss")
	b.ReportMetric(float64(len(body)), "metrics-bytes")
}

type sample struct {
	command string
	sent    time.Time
	latency time.Duration
}
