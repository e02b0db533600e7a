package tgbot

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
)

// Handler decides about each message and runs the commands; chatops.Core is
// the production one. Triage runs in the poll loop: it must be quick, and
// its ctx is bounded by triageTimeout. The poller delivers what Run and
// QueueFull return.
type Handler interface {
	Triage(ctx context.Context, in chatops.Input, botUsername string) chatops.Verdict
	Run(ctx context.Context, v chatops.Verdict) chatops.Result
	QueueFull(v chatops.Verdict) chatops.Result
}

var _ Handler = (*chatops.Core)(nil)

// Options tune the poll loop; zero values take the defaults.
type Options struct {
	PollTimeout  time.Duration // long-poll timeout, default 30s
	MaxBackoff   time.Duration // cap of the back-off after faults, default 30s
	Conflict     time.Duration // wait after a 409, default 10s
	MaxInFlight  int           // commands run at once, default 16
	ShutdownWait time.Duration // how long running commands may finish, default 8s
	// ConfirmTimeout bounds the last getUpdates that confirms what was
	// handled when Run ends (default 2s). With leader election, Run must
	// end within a bound (leader.Config.StopBound).
	ConfirmTimeout time.Duration
	// ChatQueue is how many commands of one chat may wait (BOT_CHAT_QUEUE,
	// default 20); the next is answered "too many commands queued" once.
	ChatQueue int
	// StrangerReplyEvery is how often one stranger is answered at most
	// (BOT_STRANGER_REPLY_EVERY, default 10m); StrangerMemory bounds how
	// many strangers are remembered for it (default 10,000; beyond, new
	// strangers get no answer).
	StrangerReplyEvery time.Duration
	StrangerMemory     int
	// BusyPoll is the longest pause between getUpdates calls while every
	// update Telegram returns is still being handled (default 1s). The
	// pause starts at busyPollMin after any activity and doubles while
	// nothing happens, so a user answered a moment ago is heard at once.
	BusyPoll time.Duration
	// MaxMessages is how many messages a listing may take; a longer one
	// goes out as a text document (default DefaultMaxMessages).
	MaxMessages int
	// OnResult is told of every message handled, with the time since it
	// was received.
	OnResult func(chatops.Result, time.Duration)
}

// Defaults of the options the bot's configuration sets.
const (
	DefaultChatQueue          = 20
	DefaultStrangerReplyEvery = 10 * time.Minute
	DefaultStrangerMemory     = 10_000
)

// quickBuffer bounds the answers waiting for the quick senders; more are
// dropped. quickTimeout bounds one such answer, which is never retried.
const (
	busyPollMin   = 20 * time.Millisecond
	triageTimeout = 5 * time.Second
	// triageParallel bounds the role lookups of one batch run at once.
	triageParallel = 8
	quickBuffer    = 256
	quickSenders   = 2
	quickTimeout   = 5 * time.Second
	// lastWordTimeout bounds the announcement of a follow-up's end.
	lastWordTimeout = 5 * time.Second
)

// allowedUpdates are the updates the bot asks for: messages, and presses
// of its inline buttons (confirmations).
var allowedUpdates = []string{"message", "callback_query"}

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
	opts.PollTimeout = cmp.Or(opts.PollTimeout, 30*time.Second)
	opts.MaxBackoff = cmp.Or(opts.MaxBackoff, 30*time.Second)
	opts.Conflict = cmp.Or(opts.Conflict, 10*time.Second)
	opts.MaxInFlight = cmp.Or(opts.MaxInFlight, 16)
	opts.ShutdownWait = cmp.Or(opts.ShutdownWait, 8*time.Second)
	opts.ConfirmTimeout = cmp.Or(opts.ConfirmTimeout, 2*time.Second)
	opts.ChatQueue = cmp.Or(opts.ChatQueue, DefaultChatQueue)
	opts.StrangerReplyEvery = cmp.Or(opts.StrangerReplyEvery, DefaultStrangerReplyEvery)
	opts.StrangerMemory = cmp.Or(opts.StrangerMemory, DefaultStrangerMemory)
	opts.BusyPoll = cmp.Or(opts.BusyPoll, time.Second)
	opts.MaxMessages = cmp.Or(opts.MaxMessages, DefaultMaxMessages)
	p := &Poller{bot: bot, handler: h, log: log, opts: opts}
	p.lastOK.Store(time.Now().UnixNano())
	return p
}

// LastProgress is when the poll loop last completed a getUpdates call.
func (p *Poller) LastProgress() time.Time { return time.Unix(0, p.lastOK.Load()) }

// run is the state of one Run.
type run struct {
	p        *Poller
	ledger   *ledger
	queues   *chatQueues
	limiter  *strangerLimiter
	slots    chan struct{}
	quick    chan quickItem
	inFlight sync.WaitGroup // chat drainers and follow-ups
	stop     context.Context
	cmdCtx   context.Context
}

type quickItem struct {
	id       int64
	v        chatops.Verdict
	full     bool // the chat's queue is full: say so instead of v.Reply
	received time.Time
}

// Run polls until ctx ends. Delivery is at least once: the offset sent to
// Telegram is the lowest update still being handled, so an update is
// confirmed only once its command has been run or answered. When ctx ends,
// Run stops polling and starts no further command (queued ones stay
// unconfirmed, for the next instance), lets running ones finish for up to
// ShutdownWait, confirms what was handled and returns nil. It returns an
// error only when the token is rejected (401/404), which no waiting can fix.
func (p *Poller) Run(ctx context.Context) error {
	// Commands outlive the poll context by ShutdownWait, so a SIGTERM does
	// not cut a command between its change and its answer.
	cmdCtx, cancelCmds := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCmds()
	stop, stopAll := context.WithCancel(ctx)
	defer stopAll()
	r := &run{
		p:       p,
		ledger:  newLedger(),
		queues:  &chatQueues{limit: p.opts.ChatQueue, chats: map[int64]*chatQueue{}},
		limiter: newStrangerLimiter(p.opts.StrangerReplyEvery, p.opts.StrangerMemory),
		slots:   make(chan struct{}, p.opts.MaxInFlight),
		quick:   make(chan quickItem, quickBuffer),
		stop:    stop,
		cmdCtx:  cmdCtx,
	}
	var senders sync.WaitGroup
	for range quickSenders {
		senders.Add(1)
		go func() { defer senders.Done(); r.sendQuick() }()
	}
	err := r.poll(stop)
	stopAll()

	done := make(chan struct{})
	go func() { r.inFlight.Wait(); senders.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(p.opts.ShutdownWait):
		p.log.Warn("shutdown: commands still running were cut short", "wait", p.opts.ShutdownWait.String())
		cancelCmds()
		<-done
	}
	if err != nil {
		return err
	}
	p.confirm(r.ledger.watermark())
	return nil
}

// poll is the loop of getUpdates calls.
func (r *run) poll(ctx context.Context) error {
	p := r.p
	pause, lastDones := busyPollMin, int64(-1)
	for ctx.Err() == nil {
		offset, busy, handled, dones := r.ledger.state()
		timeout := p.opts.PollTimeout
		if busy {
			// Telegram would return the updates in flight at once: no
			// long poll while the offset is held back.
			timeout = 0
		}
		var updates []gotgbot.Update
		err := p.retryPolicy().Do(ctx, Classify(p.opts.Conflict), func(ctx context.Context) error {
			var err error
			updates, err = p.bot.GetUpdatesWithContext(ctx, &gotgbot.GetUpdatesOpts{
				Offset:         offset,
				Timeout:        int64(timeout / time.Second),
				AllowedUpdates: allowedUpdates,
				RequestOpts:    &gotgbot.RequestOpts{Timeout: timeout + 10*time.Second},
			})
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.log.Error("telegram rejected the bot token: check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL", "error", err)
			return fmt.Errorf("poll telegram: %w", err)
		}
		p.lastOK.Store(time.Now().UnixNano())
		var fresh []gotgbot.Update
		for _, u := range updates {
			if !r.ledger.add(u.UpdateId) {
				continue // still in flight, or handled but not yet confirmed
			}
			fresh = append(fresh, u)
		}
		for i, t := range r.triage(fresh) {
			r.dispatch(fresh[i], t)
		}
		if len(fresh) > 0 || !busy || dones != lastDones {
			pause = busyPollMin // activity: answered users may write again
		}
		lastDones = dones
		if len(fresh) == 0 && busy {
			// Everything returned is still being handled: wait until one
			// is (the offset may move, its user may write again) or a
			// while, not in a busy loop.
			t := time.NewTimer(pause)
			select {
			case <-handled:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			pause = min(2*pause, p.opts.BusyPoll)
		}
	}
	return nil
}

// triaged is one update with what Triage decided about it.
type triaged struct {
	in       chatops.Input
	ok       bool // a text message; other updates are only confirmed
	v        chatops.Verdict
	received time.Time
}

// triage decides about a batch of updates. A role lookup may cost a
// getChatMember call (a user not in the cache): a flood of distinct
// strangers must not queue those calls one after another in front of an
// operator's command, so up to triageParallel run at once. The verdicts
// come back in update order, and dispatch keeps that order per chat.
func (r *run) triage(updates []gotgbot.Update) []triaged {
	out := make([]triaged, len(updates))
	sem := make(chan struct{}, triageParallel)
	var wg sync.WaitGroup
	for i, u := range updates {
		in, ok := inputOf(u)
		out[i] = triaged{in: in, ok: ok, received: time.Now()}
		if !ok {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			tctx, cancel := context.WithTimeout(r.cmdCtx, triageTimeout)
			defer cancel()
			out[i].v = r.p.handler.Triage(tctx, in, r.p.bot.Username)
		}()
	}
	wg.Wait()
	return out
}

// dispatch acts on one triaged update: answered at once by a quick
// sender, queued for a command slot, or dropped.
func (r *run) dispatch(u gotgbot.Update, t triaged) {
	if !t.ok {
		r.ledger.done(u.UpdateId)
		return
	}
	in, v, now := t.in, t.v, t.received
	switch {
	case v.Silent():
		r.finish(u.UpdateId, r.p.handler.Run(r.cmdCtx, v), now) // nothing to send
	case !v.Run && v.Stranger && !r.limiter.allow(in.UserID, now):
		r.finish(u.UpdateId, chatops.Result{Command: v.Command, Outcome: v.Outcome}, now)
	case !v.Run:
		r.enqueueQuick(quickItem{id: u.UpdateId, v: v, received: now})
	default:
		start, full, warn := r.queues.push(queued{id: u.UpdateId, v: v, received: now})
		switch {
		case full && warn:
			r.enqueueQuick(quickItem{id: u.UpdateId, v: v, full: true, received: now})
		case full:
			r.finish(u.UpdateId, chatops.Result{Command: v.Command, Outcome: chatops.OutcomeRefused}, now)
		case start:
			r.inFlight.Add(1)
			go func() { defer r.inFlight.Done(); r.drain(in.ChatID) }()
		}
	}
}

func (r *run) finish(id int64, res chatops.Result, received time.Time) {
	r.ledger.done(id)
	if r.p.opts.OnResult != nil {
		r.p.opts.OnResult(res, time.Since(received))
	}
}

// enqueueQuick hands an answer to the quick senders, or drops it (and
// confirms the update) when they are that far behind.
func (r *run) enqueueQuick(it quickItem) {
	select {
	case r.quick <- it:
	default:
		r.finish(it.id, chatops.Result{Command: it.v.Command, Outcome: it.v.Outcome}, it.received)
	}
}

// sendQuick answers refusals and the like: never in a command slot, never
// waiting out a 429 or retrying, each bounded by quickTimeout.
func (r *run) sendQuick() {
	for {
		select {
		case <-r.stop.Done():
			return // what is left stays unconfirmed
		case it := <-r.quick:
			ctx, cancel := context.WithTimeout(withoutRetry(r.cmdCtx), quickTimeout)
			var res chatops.Result
			if it.full {
				res = r.p.handler.QueueFull(it.v)
			} else {
				res = r.p.handler.Run(ctx, it.v)
			}
			r.p.responder(it.v.In.ChatID).deliver(ctx, res)
			cancel()
			r.finish(it.id, res, it.received)
		}
	}
}

// drain runs the queued commands of one chat, one after another, each in a
// command slot. Once the poll context ends it starts none.
func (r *run) drain(chatID int64) {
	out := r.p.responder(chatID)
	for {
		item, ok := r.queues.next(chatID, r.stop)
		if !ok {
			return
		}
		select {
		case r.slots <- struct{}{}:
		case <-r.stop.Done():
			r.queues.abandon(chatID)
			return
		}
		res := r.p.handler.Run(r.cmdCtx, item.v)
		var msg *message
		if r.cmdCtx.Err() == nil {
			msg = out.deliver(r.cmdCtx, res)
		}
		<-r.slots
		if r.cmdCtx.Err() != nil {
			// Cut short at shutdown: left unconfirmed, the next instance
			// runs it again (or finds it done and says so).
			return
		}
		r.finish(item.id, res, item.received)
		if res.Follow != nil {
			r.inFlight.Add(1)
			go func() { defer r.inFlight.Done(); r.follow(out, res, msg) }()
		}
		if res.Expire != nil {
			// A question waiting for its confirmation ends with the poll:
			// the request dies with this instance, and says so.
			r.inFlight.Add(1)
			go func() { defer r.inFlight.Done(); res.Expire(r.stop, msg) }()
		}
	}
}

// follow runs a command's follow-up and announces how it ended: that last
// word is sent even when the bot is stopping and cmdCtx was cancelled.
func (r *run) follow(out *responder, res chatops.Result, msg *message) {
	a := res.Follow(r.cmdCtx, msg)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.cmdCtx), lastWordTimeout)
	defer cancel()
	out.announce(ctx, a)
}

// responder answers in chatID.
func (p *Poller) responder(chatID int64) *responder {
	return &responder{bot: p.bot, chatID: chatID, maxMessages: p.opts.MaxMessages, log: p.log}
}

// confirm tells Telegram that every update below offset was handled.
func (p *Poller) confirm(offset int64) {
	if offset == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(withoutRetry(context.Background()), p.opts.ConfirmTimeout)
	defer cancel()
	_, err := p.bot.GetUpdatesWithContext(ctx, &gotgbot.GetUpdatesOpts{
		Offset: offset, Limit: 1, Timeout: 0,
		RequestOpts: &gotgbot.RequestOpts{Timeout: p.opts.ConfirmTimeout},
	})
	if err != nil {
		p.log.Warn("shutdown: could not confirm handled updates; they may be delivered again", "offset", offset, "error", err)
		return
	}
	p.log.Info("shutdown: handled updates confirmed", "offset", offset)
}

// inputOf extracts a text message or a press of the bot's button; other
// updates are skipped.
func inputOf(u gotgbot.Update) (chatops.Input, bool) {
	if q := u.CallbackQuery; q != nil {
		if q.Message == nil {
			return chatops.Input{}, false // an inline-mode message: the bot has none
		}
		chat := q.Message.GetChat()
		return chatops.Input{
			UserID:   q.From.Id,
			Username: q.From.Username,
			ChatID:   chat.Id,
			Private:  chat.Type == "private",
			Press:    &chatops.Press{QueryID: q.Id, MessageID: q.Message.GetMessageId(), Data: q.Data},
		}, true
	}
	m := u.Message
	if m == nil || m.From == nil || m.Text == "" {
		return chatops.Input{}, false
	}
	return chatops.Input{
		UserID:    m.From.Id,
		Username:  m.From.Username,
		ChatID:    m.Chat.Id,
		Private:   m.Chat.Type == "private",
		Text:      m.Text,
		Sent:      time.Unix(m.Date, 0),
		Forwarded: m.ForwardOrigin != nil,
	}, true
}
