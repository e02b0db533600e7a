package tgbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// Handler runs one message; chatops.Core is the production one.
type Handler interface {
	Handle(ctx context.Context, in chatops.Input, out chatops.Responder, botUsername string) chatops.Result
}

var _ Handler = (*chatops.Core)(nil)

// Options tune the poll loop; zero values take the defaults.
type Options struct {
	PollTimeout  time.Duration // long-poll timeout, default 30s
	MaxBackoff   time.Duration // cap of the back-off after faults, default 30s
	Conflict     time.Duration // wait after a 409, default 10s
	MaxInFlight  int           // commands handled at once, default 16
	ShutdownWait time.Duration // how long in-flight commands may finish, default 8s
	OnResult     func(chatops.Result, time.Duration)
}

// Poller long-polls getUpdates and dispatches messages to a Handler.
type Poller struct {
	bot     *gotgbot.Bot
	handler Handler
	log     *slog.Logger
	opts    Options
	lastOK  atomic.Int64 // unix nanos of the last successful poll
}

// NewPoller returns a poller for bot (its BotClient should be NewClient's).
func NewPoller(bot *gotgbot.Bot, h Handler, log *slog.Logger, opts Options) *Poller {
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = 30 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Conflict <= 0 {
		opts.Conflict = 10 * time.Second
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 16
	}
	if opts.ShutdownWait <= 0 {
		opts.ShutdownWait = 8 * time.Second
	}
	p := &Poller{bot: bot, handler: h, log: log, opts: opts}
	p.lastOK.Store(time.Now().UnixNano())
	return p
}

// LastProgress is when the poll loop last completed a getUpdates call.
func (p *Poller) LastProgress() time.Time { return time.Unix(0, p.lastOK.Load()) }

// Run polls until ctx ends, then lets in-flight commands finish (up to
// ShutdownWait), confirms the offset of everything handled so it is not
// delivered again, and returns nil. It returns an error only when the token
// is rejected (401/404), which no waiting can fix.
func (p *Poller) Run(ctx context.Context) error {
	var (
		offset   int64
		inFlight sync.WaitGroup
		slots    = make(chan struct{}, p.opts.MaxInFlight)
		faults   int
		queues   = chatQueues{}
	)
	// Commands outlive the poll context by ShutdownWait, so a SIGTERM does
	// not cut a command between its change and its answer.
	cmdCtx, cancelCmds := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCmds()

	for ctx.Err() == nil {
		updates, err := p.bot.GetUpdatesWithContext(ctx, &gotgbot.GetUpdatesOpts{
			Offset:         offset,
			Timeout:        int64(p.opts.PollTimeout / time.Second),
			AllowedUpdates: []string{"message"},
			RequestOpts:    &gotgbot.RequestOpts{Timeout: p.opts.PollTimeout + 10*time.Second},
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			faults++
			wait, fatal := p.backoff(err, faults)
			if fatal {
				return fmt.Errorf("poll telegram: %w", err)
			}
			sleep(ctx, wait)
			continue
		}
		faults = 0
		p.lastOK.Store(time.Now().UnixNano())
		for _, u := range updates {
			offset = u.UpdateId + 1
			in, ok := inputOf(u)
			if !ok {
				continue
			}
			if !queues.push(in) {
				continue
			}
			inFlight.Add(1)
			go func() {
				defer inFlight.Done()
				queues.drain(in.ChatID, func(in chatops.Input) {
					slots <- struct{}{}
					defer func() { <-slots }()
					start := time.Now()
					res := p.handler.Handle(cmdCtx, in, &responder{bot: p.bot, chatID: in.ChatID}, p.bot.Username)
					if p.opts.OnResult != nil {
						p.opts.OnResult(res, time.Since(start))
					}
					if res.Follow != nil {
						inFlight.Add(1)
						go func() { defer inFlight.Done(); res.Follow(cmdCtx) }()
					}
				})
			}()
		}
	}

	done := make(chan struct{})
	go func() { inFlight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(p.opts.ShutdownWait):
		p.log.Warn("shutdown: commands still running were cut short", "wait", p.opts.ShutdownWait.String())
		cancelCmds()
		<-done
	}
	p.confirm(offset)
	return nil
}

// confirm tells Telegram that every update below offset was handled.
func (p *Poller) confirm(offset int64) {
	if offset == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := p.bot.GetUpdatesWithContext(ctx, &gotgbot.GetUpdatesOpts{
		Offset: offset, Limit: 1, Timeout: 0,
		RequestOpts: &gotgbot.RequestOpts{Timeout: 2 * time.Second},
	})
	if err != nil {
		p.log.Warn("shutdown: could not confirm handled updates; they may be delivered again", "offset", offset, "error", err)
		return
	}
	p.log.Info("shutdown: handled updates confirmed", "offset", offset)
}

// backoff says how long to wait after a failed poll, logging why once.
func (p *Poller) backoff(err error, faults int) (wait time.Duration, fatal bool) {
	var apiErr *telegram.APIError
	errors.As(err, &apiErr)
	switch {
	case apiErr != nil && (apiErr.Code == 401 || apiErr.Code == 404):
		p.log.Error("telegram rejected the bot token: check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL", "error", err)
		return 0, true
	case apiErr != nil && apiErr.Code == 409:
		p.log.Error("another instance is polling with this token (or a webhook is set); backing off",
			"wait", p.opts.Conflict.String(), "error", err)
		return p.opts.Conflict, false
	case apiErr != nil && apiErr.Code == 429 && apiErr.RetryAfter > 0:
		p.log.Warn("telegram flood control; waiting", "retry_after", apiErr.RetryAfter.String())
		return apiErr.RetryAfter, false
	}
	d := min(time.Second<<min(faults-1, 10), p.opts.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	p.log.Warn("poll failed; backing off", "attempt", faults, "wait", d.String(), "error", err)
	return d, false
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// inputOf extracts a text message; other updates are skipped.
func inputOf(u gotgbot.Update) (chatops.Input, bool) {
	m := u.Message
	if m == nil || m.From == nil || m.Text == "" {
		return chatops.Input{}, false
	}
	return chatops.Input{
		UserID:   m.From.Id,
		Username: m.From.Username,
		ChatID:   m.Chat.Id,
		Private:  m.Chat.Type == "private",
		Text:     m.Text,
		Sent:     time.Unix(m.Date, 0),
	}, true
}

// chatQueues runs the commands of one chat one after another, in the order
// they were sent (a /cordon then /uncordon must not swap), while different
// chats proceed in parallel.
type chatQueues struct {
	mu      sync.Mutex
	pending map[int64][]chatops.Input
}

// push queues in and reports whether its chat needs a new drainer.
func (q *chatQueues) push(in chatops.Input) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending == nil {
		q.pending = map[int64][]chatops.Input{}
	}
	_, running := q.pending[in.ChatID]
	q.pending[in.ChatID] = append(q.pending[in.ChatID], in)
	return !running
}

// drain runs the chat's queued inputs until none is left.
func (q *chatQueues) drain(chatID int64, run func(chatops.Input)) {
	for {
		q.mu.Lock()
		items := q.pending[chatID]
		if len(items) == 0 {
			delete(q.pending, chatID)
			q.mu.Unlock()
			return
		}
		q.pending[chatID] = items[1:]
		q.mu.Unlock()
		run(items[0])
	}
}
