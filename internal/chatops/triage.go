package chatops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/access"
)

// Verdict is what Triage decided about one message, before any slot is
// taken: either answer at once (Reply, possibly empty: no answer at all) or
// Run the command in a command slot.
type Verdict struct {
	In Input
	// Command is the metric label: a known command name, "unknown" for any
	// other command, "" when the text was no command for this bot. Never a
	// stranger's free text.
	Command string
	// Run says the command must run (Core.Run) in a command slot.
	Run bool
	// Reply is the HTML answer to send at once when Run is false; "" sends
	// nothing (not for this bot, or a stale message from a stranger).
	Reply string
	// Outcome is the outcome when Run is false.
	Outcome Outcome
	// Stranger is set when the sender has no role: such answers are
	// rate-limited by the adapter (BOT_STRANGER_REPLY_EVERY).
	Stranger bool

	name string
	args []string
	who  access.Decision
	// answer is the notice of a press answered at once.
	answer string
}

// Silent reports whether there is nothing to send for v: no command to
// run, no answer. A button press is always answered.
func (v Verdict) Silent() bool { return !v.Run && v.Reply == "" && v.In.Press == nil }

// Label maps a command name to a metric label: the name when it is one of
// the bot's commands, "unknown" otherwise, "" for no command.
func Label(name string) string {
	if name == "" {
		return ""
	}
	if _, ok := commands[name]; ok {
		return name
	}
	return "unknown"
}

// CommandNames lists every command the bot knows, for metric labels.
func CommandNames() []string {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Triage decides what to do with a message. It runs in the poll loop, so
// it must be quick: no I/O beyond a bounded, cached role lookup (ctx bounds
// it). The order is
// the contract: what is not for this bot is ignored; then the age check, so
// an old flood is never replayed; then forwards, strangers, unknown
// commands, roles, group rules and arguments. Only a command that passes all
// of them is to Run.
func (c *Core) Triage(ctx context.Context, in Input, botUsername string) Verdict {
	if in.Press != nil {
		return c.triagePress(in)
	}
	name, args, ok := parseCommand(in.Text, botUsername)
	v := Verdict{In: in, name: name, args: args}
	switch {
	case !ok && (!in.Private || name != ""):
		// Another bot's command, or chatter in a group.
		v.Outcome = OutcomeIgnored
		return v
	case !in.Private && !addressed(in.Text):
		// In a group a bare /cmd may be meant for another bot: only
		// /cmd@<this bot> runs.
		v.Outcome = OutcomeIgnored
		return v
	}
	v.Command = Label(name)
	// Only now the role: with a team's group it may cost a (cached)
	// getChatMember, which group chatter must not.
	v.who = c.RoleOf(ctx, in.UserID)
	role := v.who.Role
	v.Stranger = role == Stranger
	if age := c.now().Sub(in.Sent); !in.Sent.IsZero() && age > c.cfg.MaxCommandAge {
		v.Outcome = OutcomeStale
		if role != Stranger && name != "" {
			v.Reply = fmt.Sprintf(c.t.Stale, esc(name), age.Round(time.Second), c.cfg.MaxCommandAge)
		}
		return v
	}
	cmd, known := commands[name]
	reply := func(outcome Outcome, html string) Verdict {
		v.Outcome, v.Reply = outcome, html
		return v
	}
	switch {
	case in.Forwarded:
		return reply(OutcomeRefused, c.pt.Forwarded)
	case name == "":
		return reply(OutcomeInvalid, c.t.NotCommand)
	case role == Stranger && v.who.Unchecked:
		return reply(OutcomeRefused, c.t.Unchecked)
	case role == Stranger:
		return reply(OutcomeRefused, c.refusal(in.UserID, name == "start" || name == "help"))
	case !known:
		return reply(OutcomeInvalid, fmt.Sprintf(c.t.Unknown, esc(name)))
	case cmd.mutates() && role < Operator:
		return reply(OutcomeRefused, fmt.Sprintf(c.t.ViewerRefused, name))
	case name == "get_logs" && !in.Private && !c.cfg.GroupLogs:
		return reply(OutcomeRefused, c.pt.GroupLogs)
	case len(args) < cmd.minArgs || len(args) > cmd.maxArgs:
		return reply(OutcomeInvalid, c.usage(name))
	}
	v.Run = true
	return v
}

// QueueFull is the answer to a command that found its chat's queue full.
func (c *Core) QueueFull(v Verdict) Result {
	res := say(OutcomeRefused, c.pt.QueueFull)
	if v.In.Press != nil {
		res = Result{Outcome: OutcomeRefused, Answer: &Answer{QueryID: v.In.Press.QueryID, Text: c.pt.QueueFull, Alert: true}}
	}
	res.Command = v.Command
	return res
}

// Run runs a command Triage let through, under BOT_COMMAND_TIMEOUT, or
// takes Triage's answer. It logs the audit line and returns the result for
// the adapter to deliver (the delivery is not bound by that timeout: a hung
// dependency must still get its reply).
func (c *Core) Run(ctx context.Context, v Verdict) Result {
	res := say(v.Outcome, v.Reply)
	switch {
	case v.Run && v.In.Press != nil:
		wctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
		defer cancel()
		res = c.press(wctx, &v)
	case v.Run:
		wctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
		defer cancel()
		res = c.runCommand(wctx, v.name, cmdCtx{in: v.In, args: v.args, role: v.who.Role})
	case v.In.Press != nil:
		res = v.answered()
	}
	res.Command = v.Command
	if v.In.Press != nil {
		c.audit(ctx, v, res.Outcome, "press", pressKind(v.In.Press.Data), "confirm", res.confirm)
	} else if res.confirm != "" {
		c.audit(ctx, v, res.Outcome, "confirm", res.confirm)
	} else {
		c.audit(ctx, v, res.Outcome)
	}
	return res
}

// fail answers a command whose dependency failed, naming the dependency
// when it did not answer within BOT_COMMAND_TIMEOUT (ctx is the command's)
// or within its own request timeout.
func (c *Core) fail(ctx context.Context, cc cmdCtx, name string, err error) Result {
	var timeout interface{ Timeout() bool } // net.Error
	ours := errors.Is(ctx.Err(), context.DeadlineExceeded)
	if !ours && !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &timeout) && timeout.Timeout()) {
		c.log.Warn("command failed", "command", name, "user_id", cc.in.UserID, "error", err)
		return say(OutcomeError, fmt.Sprintf(c.t.Failed, name, esc(err.Error())))
	}
	dep := "?"
	var de *DependencyError
	if errors.As(err, &de) {
		dep = de.Dependency
	}
	label := c.pt.Deps[dep]
	if label == "" {
		label = dep
	}
	c.log.Warn("command timed out", "command", name, "user_id", cc.in.UserID, "dependency", dep,
		"timeout", c.cfg.CommandTimeout.String(), "error", err)
	if ours {
		return say(OutcomeError, fmt.Sprintf(c.pt.Timeout, name, esc(label), c.cfg.CommandTimeout))
	}
	return say(OutcomeError, fmt.Sprintf(c.pt.Slow, name, esc(label)))
}

// addressed reports whether a command names its bot, as /cmd@bot.
func addressed(text string) bool {
	first, _, _ := strings.Cut(strings.TrimSpace(text), " ")
	return strings.Contains(first, "@")
}
