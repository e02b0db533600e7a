package tgbot

import (
	"context"
	"sync"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
)

// ledger tracks which updates are still being handled, so that the offset
// confirmed to Telegram never passes one of them (at-least-once delivery).
type ledger struct {
	mu      sync.Mutex
	next    int64              // the id after the newest update seen; 0: none yet
	open    map[int64]struct{} // seen, not handled yet
	handled chan struct{}      // closed when an update is handled
	dones   int64              // updates handled so far
}

func newLedger() *ledger {
	return &ledger{open: map[int64]struct{}{}, handled: make(chan struct{})}
}

// add records a new update and reports false for one seen before.
func (l *ledger) add(id int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id < l.next {
		return false
	}
	l.next = id + 1
	l.open[id] = struct{}{}
	return true
}

// done records that an update was handled.
func (l *ledger) done(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.open, id)
	l.dones++
	close(l.handled)
	l.handled = make(chan struct{})
}

// watermark is the offset to confirm: the lowest update still open, or the
// one after the newest seen.
func (l *ledger) watermark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.watermarkLocked()
}

func (l *ledger) watermarkLocked() int64 {
	low := l.next
	for id := range l.open {
		low = min(low, id)
	}
	return low
}

// state returns the watermark, whether any update is open, a channel
// closed when the next update is handled, and how many were handled.
func (l *ledger) state() (offset int64, busy bool, done <-chan struct{}, dones int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.watermarkLocked(), len(l.open) > 0, l.handled, l.dones
}

// queued is a command waiting in its chat's queue.
type queued struct {
	id       int64
	v        chatops.Verdict
	received time.Time
}

// chatQueues runs the commands of one chat one after another, in the order
// they were sent (a /cordon then /uncordon must not swap), while different
// chats proceed in parallel. Each chat holds at most limit waiting commands.
type chatQueues struct {
	mu    sync.Mutex
	limit int
	chats map[int64]*chatQueue
}

type chatQueue struct {
	items  []queued
	warned bool // the chat was told its queue is full
}

// push queues q. start says the chat needs a drainer; full that q was not
// queued, and warn that the chat is to be told so (once, until its queue
// has drained).
func (cq *chatQueues) push(q queued) (start, full, warn bool) {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	c := cq.chats[q.v.In.ChatID]
	if c == nil {
		c = &chatQueue{}
		cq.chats[q.v.In.ChatID] = c
		start = true
	}
	if len(c.items) >= cq.limit {
		warn = !c.warned
		c.warned = true
		return false, true, warn
	}
	c.items = append(c.items, q)
	return start, false, false
}

// next takes the chat's next command; false when there is none, or when
// stop has ended (what is left stays unconfirmed, for the next instance).
func (cq *chatQueues) next(chatID int64, stop context.Context) (queued, bool) {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	c := cq.chats[chatID]
	if c == nil || len(c.items) == 0 || stop.Err() != nil {
		delete(cq.chats, chatID)
		return queued{}, false
	}
	q := c.items[0]
	c.items = c.items[1:]
	if len(c.items) == 0 {
		c.warned = false // drained: a new overflow is told again
	}
	return q, true
}

// abandon forgets the chat's waiting commands at shutdown.
func (cq *chatQueues) abandon(chatID int64) {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	delete(cq.chats, chatID)
}

// strangerLimiter answers each stranger at most once per every, in bounded
// memory: two generations of user ids, the older dropped every period, so
// an id is remembered for at least one whole period. When max ids are
// remembered, further strangers get no answer until the next rotation.
type strangerLimiter struct {
	mu        sync.Mutex
	every     time.Duration
	max       int
	rotated   time.Time
	cur, prev map[int64]struct{}
}

func newStrangerLimiter(every time.Duration, max int) *strangerLimiter {
	return &strangerLimiter{every: every, max: max, cur: map[int64]struct{}{}, prev: map[int64]struct{}{}}
}

// allow reports whether user may be answered now, and remembers it.
func (s *strangerLimiter) allow(user int64, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rotated.IsZero() {
		s.rotated = now
	}
	if elapsed := now.Sub(s.rotated); elapsed >= s.every {
		s.prev, s.cur, s.rotated = s.cur, map[int64]struct{}{}, now
		if elapsed >= 2*s.every {
			s.prev = map[int64]struct{}{}
		}
	}
	if _, ok := s.cur[user]; ok {
		return false
	}
	if _, ok := s.prev[user]; ok {
		return false
	}
	if len(s.cur)+len(s.prev) >= s.max {
		return false
	}
	s.cur[user] = struct{}{}
	return true
}
