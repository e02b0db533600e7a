package chatops

import (
	"context"
	"strings"
)

// Outcome is how a message ended, for the audit log and metrics.
type Outcome string

// Outcomes recorded in the audit log and metrics.
const (
	OutcomeOK      Outcome = "ok"
	OutcomeNoop    Outcome = "noop"    // valid, nothing needed doing
	OutcomeRefused Outcome = "refused" // not allowed for this user, or no room in its chat's queue
	OutcomeInvalid Outcome = "invalid" // bad arguments, unknown command or object
	OutcomeStale   Outcome = "stale"   // older than BOT_MAX_COMMAND_AGE
	OutcomeError   Outcome = "error"   // the cluster or registry failed
	OutcomeIgnored Outcome = "ignored" // not for this bot: no audit line, no metric
	// A confirmation (BOT_CONFIRM): asked, then cancelled or expired, or
	// confirmed (the command's own outcome). A press of no open request
	// is stale.
	OutcomeAsked     Outcome = "asked"
	OutcomeCancelled Outcome = "cancelled"
	OutcomeExpired   Outcome = "expired"
)

// Result is everything one message leads to: the adapter delivers Reply
// and Announce, runs Follow, and counts Command and Outcome. A new kind of
// answer (buttons, a confirmation) is a new field here.
type Result struct {
	Command string // metric label (see Verdict.Command)
	Outcome Outcome
	// Reply is the answer in the message's chat; zero: none.
	Reply Reply
	// Announce is the line for the audit chat; zero: none.
	Announce Announcement
	// Follow, when set, is work the command left to go on in the background
	// (a /deploy watching its rollout): it edits the message the adapter
	// sent as Reply through msg, and returns what to announce when it ends.
	// The adapter runs it outside the chat's queue, so the operator can
	// keep issuing commands meanwhile, and waits for it at shutdown.
	Follow func(ctx context.Context, msg Message) Announcement
	// Answer, for a button press (Input.Press), is what answerCallbackQuery
	// shows; the adapter answers every press, also when Answer says
	// nothing.
	Answer *Answer
	// Edit, for a press, is the message whose button was pressed: the
	// adapter edits it into Reply (buttons included) instead of sending a
	// new message, and Follow and Expire edit it further. 0: Reply is a
	// new message.
	Edit int64
	// Expire, set when Reply asks for a confirmation, waits until the
	// request is answered or expires and then says so through msg. The
	// adapter runs it outside the chat's queue; ctx ends when the bot
	// stops, which expires the request.
	Expire func(ctx context.Context, msg Message)

	confirm string // the confirmation's id, for the audit line
}

// Reply is an answer in Telegram HTML. The adapter splits it into as many
// messages as it needs; a long listing (Lines) that would take more than
// the adapter's limit of messages goes out as a text document instead.
type Reply struct {
	// HTML is the answer; with Lines, the header above them and the
	// document's caption.
	HTML string
	// Lines is a listing in plain text, escaped when sent as messages and
	// sent as they are in a document; nil for a plain answer.
	Lines []string
	Pre   bool   // the lines go in a <pre> block
	File  string // the document's name
	// Buttons is an inline keyboard under the (last) message, rows of
	// buttons; nil: none.
	Buttons [][]Button
}

// Empty reports whether there is nothing to send.
func (r Reply) Empty() bool { return r.HTML == "" && r.Lines == nil }

// Text is the reply as one HTML text, before splitting.
func (r Reply) Text() string {
	if r.Lines == nil {
		return r.HTML
	}
	var b strings.Builder
	b.WriteString(r.HTML)
	b.WriteByte('\n')
	if r.Pre {
		b.WriteString("<pre>")
	}
	for i, l := range r.Lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(esc(l))
	}
	if r.Pre {
		b.WriteString("</pre>")
	}
	return b.String()
}

// Document is the content of the reply sent as a text document: the lines
// as they are, the header (HTML) being its caption.
func (r Reply) Document() []byte { return []byte(strings.Join(r.Lines, "\n") + "\n") }

// Announcement is an HTML line for another chat (the audit chat).
type Announcement struct {
	ChatID int64 // 0: nothing to announce
	HTML   string
}

// Message is the message the adapter sent as a command's reply.
type Message interface {
	// Edit replaces its text and removes its buttons; when the reply
	// could not be sent, it sends html as a new message, which later
	// edits then replace.
	Edit(ctx context.Context, html string) error
}

func say(outcome Outcome, html string) Result {
	return Result{Outcome: outcome, Reply: Reply{HTML: html}}
}
