package tgbot

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// asker plays the core's confirmation: "/ask" answers with two buttons and
// an Expire that edits the question when the poll stops; a press of "ok"
// is answered and edited into "done", which a follow-up edits further; a
// press of "again" edits in a new question with new buttons; any other
// press by another user than 7 is answered at once without running.
type asker struct {
	mu     sync.Mutex
	order  []string // presses and commands, as run
	expire chan struct{}
}

func (a *asker) Triage(_ context.Context, in chatops.Input, _ string) chatops.Verdict {
	if in.Press != nil && in.UserID != 7 {
		return chatops.Verdict{In: in, Command: "unknown", Outcome: chatops.OutcomeStale}
	}
	return chatops.Verdict{In: in, Command: "deploy", Run: true}
}

func (a *asker) QueueFull(v chatops.Verdict) chatops.Result { return chatops.Result{} }

func (a *asker) Run(_ context.Context, v chatops.Verdict) chatops.Result {
	in := v.In
	if !v.Run {
		return chatops.Result{Outcome: v.Outcome, Answer: &chatops.Answer{QueryID: in.Press.QueryID, Text: "gone", Alert: true}}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	question := func(text string) chatops.Result {
		return chatops.Result{Outcome: chatops.OutcomeAsked,
			Reply: chatops.Reply{HTML: text, Buttons: [][]chatops.Button{{{Text: "Confirm", Data: "ok"}, {Text: "Again", Data: "again"}}}},
			Expire: func(ctx context.Context, msg chatops.Message) {
				<-ctx.Done()
				_ = msg.Edit(context.WithoutCancel(ctx), "expired")
				close(a.expire)
			}}
	}
	if in.Press == nil {
		a.order = append(a.order, in.Text)
		res := question("<b>Confirm</b> 0.10.4 → 0.10.5")
		if len(a.order) == 1 {
			res.Expire = nil // the first is confirmed; only the second waits
		}
		return res
	}
	a.order = append(a.order, "press "+in.Press.Data)
	if in.Press.Data == "again" {
		res := question("changed: 0.10.3 → 0.10.5")
		res.Expire = nil
		res.Edit, res.Answer = in.Press.MessageID, &chatops.Answer{QueryID: in.Press.QueryID, Text: "changed", Alert: true}
		return res
	}
	return chatops.Result{Outcome: chatops.OutcomeOK, Reply: chatops.Reply{HTML: "done"}, Edit: in.Press.MessageID,
		Answer: &chatops.Answer{QueryID: in.Press.QueryID},
		Follow: func(ctx context.Context, msg chatops.Message) chatops.Announcement {
			_ = msg.Edit(ctx, "done and followed")
			return chatops.Announcement{}
		}}
}

func TestButtonsPressesAndExpiry(t *testing.T) {
	a := &asker{expire: make(chan struct{})}
	srv, _, cancel, done := start(t, a, Options{})
	user := telegramtest.User{ID: 7, Username: "op"}
	srv.Inject(telegramtest.Incoming{From: user, Text: "/ask"})
	q := waitN(t, srv, 7, 1)[0]
	want := [][]telegramtest.Button{{{Text: "Confirm", CallbackData: "ok"}, {Text: "Again", CallbackData: "again"}}}
	if !slices.EqualFunc(q.Keyboard, want, slices.Equal) || q.Plain != "Confirm 0.10.4 → 0.10.5" {
		t.Fatalf("question %+v, want its buttons %v", q, want)
	}
	ctx, cancelWait := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelWait()

	// The "again" press edits a new question, with its buttons, in.
	id, err := srv.PressButton(user, 7, q.ID, "again")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := srv.WaitAnswer(ctx, id); err != nil || p.Answer != (telegramtest.CallbackAnswer{Text: "changed", ShowAlert: true}) {
		t.Fatalf("answer to the press: %+v, %v", p, err)
	}
	msgs, err := srv.WaitFor(ctx, 7, func(m []telegramtest.Message) bool { return m[0].Plain == "changed: 0.10.3 → 0.10.5" })
	if err != nil || !slices.EqualFunc(msgs[0].Keyboard, want, slices.Equal) {
		t.Fatalf("after the press the question is %+v (%v), want the new question with buttons", msgs[0], err)
	}

	// Another user's press the handler answers at once: nothing runs.
	id, err = srv.PressButton(telegramtest.User{ID: 8, Username: "eve"}, 7, q.ID, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := srv.WaitAnswer(ctx, id); err != nil || p.Answer.Text != "gone" {
		t.Errorf("another user's press: %+v, %v", p, err)
	}

	// Confirm: answered (the spinner stops), edited, then followed; the
	// buttons are gone.
	id, err = srv.PressButton(user, 7, q.ID, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := srv.WaitAnswer(ctx, id); err != nil || p.Answer != (telegramtest.CallbackAnswer{}) {
		t.Errorf("answer to Confirm: %+v, %v", p, err)
	}
	msgs, err = srv.WaitFor(ctx, 7, func(m []telegramtest.Message) bool { return m[0].Plain == "done and followed" })
	if err != nil || msgs[0].Keyboard != nil || !slices.Contains(msgs[0].History, "done") {
		t.Fatalf("confirmed message %+v (%v), want done, followed, without buttons", msgs[0], err)
	}
	if len(msgs) != 1 {
		t.Errorf("%d messages: a press must edit, not send", len(msgs))
	}

	// A question still open, expired at shutdown.
	srv.Inject(telegramtest.Incoming{From: user, Text: "/ask"})
	waitN(t, srv, 7, 2)

	// Stopping the poll expires the open question.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	select {
	case <-a.expire:
	case <-ctx.Done():
		t.Fatal("the open question was not expired at shutdown")
	}
	if got := srv.Messages(7)[1]; got.Plain != "expired" || got.Keyboard != nil {
		t.Errorf("the open question at shutdown: %+v", got)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if got := strings.Join(a.order, ","); got != "/ask,press again,press ok,/ask" {
		t.Errorf("run in order %s", got)
	}
}
