package chatops

import "context"

// Change is what a command that changes something would do, decided
// before anything is done: Summary says it ("oil-refinery-application:
// 0.10.4 → 0.10.5"), Apply does it. The split is where a confirmation
// (BOT_CONFIRM) goes: the command is planned again when the user confirms,
// and applied only when it would still do what was shown.
type Change struct {
	// Summary is the change in HTML, one line.
	Summary string
	// Apply makes the change and returns the answer, with the audit
	// chat's line and the follow-up of a rollout.
	Apply func(ctx context.Context) Result
}

// runCommand runs command name: a reader's run, or a change planned and
// applied, or, for a command in BOT_CONFIRM, planned and asked about (see
// confirm.go).
func (c *Core) runCommand(ctx context.Context, name string, cc cmdCtx) Result {
	cmd := commands[name]
	if cmd.plan == nil {
		return cmd.run(c, ctx, cc)
	}
	res, ch := cmd.plan(c, ctx, cc)
	if ch == nil {
		return res
	}
	if c.asks(name) {
		return c.ask(cc, name, ch.Summary, c.ct.Ask)
	}
	return ch.Apply(ctx)
}
