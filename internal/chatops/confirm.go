package chatops

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/access"
)

// A command in Config.Confirm (BOT_CONFIRM) asks first: it answers with
// its Change's Summary and two inline buttons, Confirm and Cancel, and
// keeps a request until one of them is pressed or Config.ConfirmTTL
// passes. Only the requester's press counts, and only once; at Confirm
// the role is checked again and the command planned again, and it is
// applied only when it would still do what was shown.

// ConfirmCommands lists the commands BOT_CONFIRM may name.
func ConfirmCommands() []string {
	return []string{"deploy", "rollback", "set_replicas", "cordon", "uncordon"}
}

// Defaults and bounds of confirmations.
const (
	DefaultConfirmTTL = time.Minute
	// maxRequestsPerUser and maxRequests bound the open requests; only
	// operators open them.
	maxRequestsPerUser = 3
	maxRequests        = 64
)

// Press is a user's press of one of the bot's inline buttons.
type Press struct {
	QueryID   string // the callback query, which the adapter always answers
	MessageID int64  // the message with the button
	Data      string // the button's callback data
}

// Button is an inline keyboard button; Data is at most 64 bytes.
type Button struct{ Text, Data string }

// Answer is what answerCallbackQuery shows the user who pressed.
type Answer struct {
	QueryID string
	Text    string // "": nothing shown, only the spinner stops
	Alert   bool   // a dialog rather than a notice at the top
}

// Callback data: a prefix saying which button, then the request's id.
const (
	confirmPrefix = "c:"
	cancelPrefix  = "x:"
)

// request is a command waiting for its confirmation.
type request struct {
	id      string
	name    string
	cc      cmdCtx // as asked: user, chat, message, arguments
	summary string
	done    chan struct{} // closed when the request leaves the store
}

// requests holds the open requests, bounded. Taking one out is atomic:
// of two presses, an expiry and a press, only one gets it.
type requests struct {
	mu      sync.Mutex
	byID    map[string]*request
	perUser map[int64]int
}

func newRequests() *requests {
	return &requests{byID: map[string]*request{}, perUser: map[int64]int{}}
}

// add stores r and reports false when the store or r's user is full.
func (s *requests) add(r *request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	user := r.cc.in.UserID
	if len(s.byID) >= maxRequests || s.perUser[user] >= maxRequestsPerUser {
		return false
	}
	s.byID[r.id] = r
	s.perUser[user]++
	return true
}

// peek returns the open request id.
func (s *requests) peek(id string) (*request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	return r, ok
}

// take removes the request id when user asked it; nil when there is no
// such request (expired, used, never made) or it is another user's.
func (s *requests) take(id string, user int64) *request {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	if !ok || r.cc.in.UserID != user {
		return nil
	}
	s.removeLocked(r)
	return r
}

// drop removes r if it is still open and reports whether it was.
func (s *requests) drop(r *request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[r.id] != r {
		return false
	}
	s.removeLocked(r)
	return true
}

func (s *requests) removeLocked(r *request) {
	delete(s.byID, r.id)
	user := r.cc.in.UserID
	if s.perUser[user]--; s.perUser[user] <= 0 {
		delete(s.perUser, user)
	}
	close(r.done)
}

// newRequestID is 128 random bits, unguessable, in 22 URL-safe characters:
// the callback data stays well under Telegram's 64 bytes.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parsePress splits callback data into the button (confirm or not) and the
// request id; ok is false for data the bot never sends.
func parsePress(data string) (confirm bool, id string, ok bool) {
	if id, ok := strings.CutPrefix(data, confirmPrefix); ok && id != "" {
		return true, id, true
	}
	if id, ok := strings.CutPrefix(data, cancelPrefix); ok && id != "" {
		return false, id, true
	}
	return false, "", false
}

// pressKind names the button for the audit log: confirm, cancel, or
// unknown (never the stranger's data).
func pressKind(data string) string {
	confirm, _, ok := parsePress(data)
	switch {
	case !ok:
		return "unknown"
	case confirm:
		return "confirm"
	}
	return "cancel"
}

// asks reports whether command name asks for a confirmation.
func (c *Core) asks(name string) bool { return slices.Contains(c.cfg.Confirm, name) }

// ask opens a request for the change summary of command name and returns
// the question with its buttons; format is the question's (Ask, Changed).
func (c *Core) ask(cc cmdCtx, name, summary, format string) Result {
	r := &request{id: newRequestID(), name: name, cc: cc, summary: summary, done: make(chan struct{})}
	if !c.requests.add(r) {
		return say(OutcomeRefused, c.ct.TooMany)
	}
	res := say(OutcomeAsked, fmt.Sprintf(format, summary, c.ttlText()))
	res.Reply.Buttons = [][]Button{{{Text: c.ct.Confirm, Data: confirmPrefix + r.id}, {Text: c.ct.Cancel, Data: cancelPrefix + r.id}}}
	res.confirm = r.id
	res.Expire = func(ctx context.Context, msg Message) { c.expire(ctx, r, msg) }
	return res
}

// ttlText is BOT_CONFIRM_TTL as a user reads it: "1 мин", "90 с".
func (c *Core) ttlText() string {
	d := c.cfg.ConfirmTTL
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf(c.ct.Minutes, d/time.Minute)
	}
	return fmt.Sprintf(c.ct.Seconds, int64(d.Round(time.Second)/time.Second))
}

// expire waits until r is answered, or ConfirmTTL passes or ctx ends (the
// bot stops: the request dies with it), and then edits msg, the question,
// to say it expired.
func (c *Core) expire(ctx context.Context, r *request, msg Message) {
	t := time.NewTimer(c.cfg.ConfirmTTL)
	defer t.Stop()
	select {
	case <-r.done:
		return
	case <-t.C:
	case <-ctx.Done():
	}
	if !c.requests.drop(r) {
		return // pressed at the same moment: the press answers
	}
	bound := 5 * time.Second
	if ctx.Err() != nil {
		bound = time.Second // the bot is stopping: its stop is bounded
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
	defer cancel()
	if err := msg.Edit(ectx, fmt.Sprintf(c.ct.Expired, r.summary)); err != nil {
		c.log.Warn("expired confirmation not updated", "error", err)
	}
	c.audit(ectx, r.verdict(), OutcomeExpired, "confirm", r.id)
}

// verdict is the request as the audit log names it.
func (r *request) verdict() Verdict {
	return Verdict{In: r.cc.in, name: r.name, args: r.cc.args, who: access.Decision{Role: r.cc.role}}
}

// triagePress decides about a button press without any I/O: a press of no
// open request, or of another user's, is answered at once; the
// requester's runs in the chat's queue, in order with its commands.
func (c *Core) triagePress(in Input) Verdict {
	v := Verdict{In: in, Command: "unknown"}
	_, id, ok := parsePress(in.Press.Data)
	r, open := c.requests.peek(id)
	switch {
	case !ok || !open:
		// Old buttons: used (a double tap), expired, or from before a
		// crash (at a clean stop every open question is edited to say it
		// expired). Only a notice: the message may show a newer question
		// by now.
		v.Outcome, v.answer, v.Stranger = OutcomeStale, c.ct.Gone, true
	case r.cc.in.UserID != in.UserID:
		v.Command, v.name, v.args = r.name, r.name, r.cc.args
		v.Outcome, v.answer = OutcomeRefused, fmt.Sprintf(c.ct.NotYours, displayName(r.cc.in))
		// Anyone in a group can press: such presses are answered and
		// logged at most once per BOT_STRANGER_REPLY_EVERY and user.
		v.Stranger = true
	default:
		v.Command, v.name, v.args, v.Run = r.name, r.name, r.cc.args, true
	}
	return v
}

// answered is the quick answer of a press Triage decided about.
func (v Verdict) answered() Result {
	return Result{Outcome: v.Outcome, Answer: &Answer{QueryID: v.In.Press.QueryID, Text: v.answer, Alert: true}}
}

// press runs the requester's press: it takes the request (a second press
// finds none), then cancels, or checks the role, plans the command again
// and applies it when it would change what was shown, else asks again.
// Every answer replaces the question (Result.Edit).
func (c *Core) press(ctx context.Context, v *Verdict) Result {
	p := v.In.Press
	confirm, id, _ := parsePress(p.Data)
	r := c.requests.take(id, v.In.UserID)
	if r == nil {
		// Pressed twice, or expired meanwhile: the first answer stands.
		return Result{Outcome: OutcomeStale, Answer: &Answer{QueryID: p.QueryID, Text: c.ct.Gone, Alert: true}}
	}
	res := c.pressed(ctx, v, r, confirm)
	if res.confirm == "" { // asked again: the new request's id
		res.confirm = r.id
	}
	res.Edit = p.MessageID
	if res.Answer == nil {
		res.Answer = &Answer{QueryID: p.QueryID}
	}
	res.Answer.QueryID = p.QueryID
	return res
}

func (c *Core) pressed(ctx context.Context, v *Verdict, r *request, confirm bool) Result {
	if !confirm {
		res := say(OutcomeCancelled, fmt.Sprintf(c.ct.Cancelled, r.summary))
		res.Answer = &Answer{Text: c.ct.CancelledAlert}
		return res
	}
	v.who = c.cfg.Access.DecideFresh(ctx, v.In.UserID)
	if v.who.Role < Operator {
		return say(OutcomeRefused, fmt.Sprintf(c.ct.RoleLost, r.name))
	}
	cc := r.cc
	cc.role = v.who.Role
	res, ch := commands[r.name].plan(c, ctx, cc)
	switch {
	case ch == nil: // nothing to do any more, or it failed: say so
		return res
	case ch.Summary != r.summary:
		res := c.ask(cc, r.name, ch.Summary, c.ct.Changed)
		res.Answer = &Answer{Text: c.ct.ChangedAlert, Alert: true}
		return res
	}
	return ch.Apply(ctx)
}
