package tgbot

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// newResponder answers in chat on a fresh fake Telegram.
func newResponder(t *testing.T, chat int64) (*responder, *telegramtest.Server) {
	t.Helper()
	srv, err := telegramtest.New(telegramtest.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	bot, err := gotgbot.NewBot(token, &gotgbot.BotOpts{BotClient: NewClient(srv.URL(), token, telegram.Retry{Attempts: 1}, nil), DisableTokenCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	return &responder{bot: bot, chatID: chat, maxMessages: DefaultMaxMessages, log: slog.New(slog.NewJSONHandler(io.Discard, nil))}, srv
}

func repeat(line string, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = line
	}
	return lines
}

func TestLongListingsAreSplitOrSentAsDocument(t *testing.T) {
	ctx := context.Background()
	header := "Последние 30 строк лога <b>pod-1</b>:"
	t.Run("30 KB of log is one document", func(t *testing.T) {
		r, srv := newResponder(t, 7)
		lines := repeat(strings.Repeat("x", 1000), 30)
		r.deliver(ctx, chatops.Result{Reply: chatops.Reply{HTML: header, Lines: lines, Pre: true, File: "pod-1.log"}})
		got := srv.Messages(7)
		if len(got) != 1 || got[0].Document == nil || got[0].Document.Name != "pod-1.log" {
			t.Fatalf("got %d replies (%+v), want one document", len(got), got)
		}
		if d := got[0].Document; d.Caption != header || string(d.Content) != strings.Join(lines, "\n")+"\n" {
			t.Errorf("document caption %q, %d bytes", d.Caption, len(d.Content))
		}
	})
	t.Run("9 KB of log is 3 messages", func(t *testing.T) {
		r, srv := newResponder(t, 7)
		r.deliver(ctx, chatops.Result{Reply: chatops.Reply{HTML: header, Lines: repeat(strings.Repeat("y", 300), 30), Pre: true, File: "pod-1.log"}})
		got := srv.Messages(7)
		if len(got) != 3 {
			t.Fatalf("got %d messages, want 3", len(got))
		}
		for _, m := range got {
			if m.Document != nil || !strings.Contains(m.Text, "<pre>") || !strings.HasSuffix(m.Text, "</pre>") {
				t.Errorf("chunk is not a closed <pre> block: %.80q…", m.Text)
			}
		}
	})
	t.Run("text of few characters but too many messages is a document", func(t *testing.T) {
		// 12,000 characters, which 4 messages could hold, but 24,000
		// UTF-16 code units, Telegram's measure, which they cannot.
		r, srv := newResponder(t, 7)
		r.deliver(ctx, chatops.Result{Reply: chatops.Reply{HTML: header, Lines: repeat(strings.Repeat("😀", 399), 30), Pre: true, File: "pod-1.log"}})
		if got := srv.Messages(7); len(got) != 1 || got[0].Document == nil {
			t.Fatalf("got %d replies, want one document", len(got))
		}
	})
	t.Run("a long plain answer is split, never a document", func(t *testing.T) {
		r, srv := newResponder(t, 7)
		r.deliver(ctx, chatops.Result{Reply: chatops.Reply{HTML: strings.Repeat("z ", 12_000)}})
		got := srv.Messages(7)
		if len(got) != 6 {
			t.Fatalf("got %d messages, want 6", len(got))
		}
		for _, m := range got {
			if m.Document != nil || len([]rune(m.Text)) > telegram.MaxMessageLength {
				t.Errorf("message of %d characters (document %v)", len([]rune(m.Text)), m.Document != nil)
			}
		}
	})
}

func TestReplyAnnouncementAndFollowUp(t *testing.T) {
	ctx := context.Background()
	const audit = -100777
	r, srv := newResponder(t, 7)
	msg := r.deliver(ctx, chatops.Result{Reply: chatops.Reply{HTML: "Разворачиваю <b>0.10.5</b>…"},
		Announce: chatops.Announcement{ChatID: audit, HTML: "@op (7): /cordon node-a → выполнено"}})
	for _, text := range []string{"обновлено 2/3", "обновлено 2/3", "✅ 3/3"} {
		if err := msg.Edit(ctx, text); err != nil {
			t.Fatalf("edit %q: %v", text, err)
		}
	}
	got := srv.Messages(7)
	if len(got) != 1 || got[0].Text != "✅ 3/3" || strings.Join(got[0].History, "|") != "Разворачиваю <b>0.10.5</b>…|обновлено 2/3" {
		t.Errorf("chat: %+v, want the reply edited twice", got)
	}
	if a := srv.Messages(audit); len(a) != 1 || a[0].Text != "@op (7): /cordon node-a → выполнено" {
		t.Errorf("audit chat: %+v", a)
	}

	t.Run("a reply that was not sent is sent by the first edit", func(t *testing.T) {
		r, srv := newResponder(t, 8)
		if err := srv.InjectFault(telegramtest.Fault{Method: "sendMessage", Times: 1, Status: 500}); err != nil {
			t.Fatal(err)
		}
		msg := r.deliver(ctx, chatops.Result{Reply: chatops.Reply{HTML: "start"}})
		if n := len(srv.Messages(8)); n != 0 {
			t.Fatalf("%d messages after a failed send", n)
		}
		for _, text := range []string{"progress", "done"} {
			if err := msg.Edit(ctx, text); err != nil {
				t.Fatal(err)
			}
		}
		if got := srv.Messages(8); len(got) != 1 || got[0].Text != "done" || len(got[0].History) != 1 {
			t.Errorf("chat: %+v, want one message sent by the first edit, then edited", got)
		}
	})
}

func TestFollowUpIsRunAndAnnounced(t *testing.T) {
	const audit = -100777
	h := &follower{echo: echo{release: make(chan struct{})}}
	srv, _, _, _ := start(t, h, Options{})
	inject(srv, 5, "/deploy")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := srv.WaitFor(ctx, audit, func(m []telegramtest.Message) bool { return len(m) == 1 }); err != nil {
		t.Fatalf("no announcement: %v", err)
	}
	if got := srv.Messages(5); len(got) != 1 || got[0].Text != "done /deploy" || len(got[0].History) != 1 {
		t.Errorf("chat: %+v, want the reply edited by the follow-up", got)
	}
}

// follower answers every command and follows it up: one edit, then an
// announcement.
type follower struct{ echo }

func (f *follower) Run(ctx context.Context, v chatops.Verdict) chatops.Result {
	res := f.echo.Run(ctx, v)
	res.Follow = func(ctx context.Context, msg chatops.Message) chatops.Announcement {
		if err := msg.Edit(ctx, "done "+v.In.Text); err != nil {
			return chatops.Announcement{}
		}
		return chatops.Announcement{ChatID: -100777, HTML: "followed " + v.In.Text}
	}
	return res
}

// blockingFollower follows up until the bot stops, then says so with a
// context of its own, as chatops does.
type blockingFollower struct {
	echo
	started chan struct{}
}

func (f *blockingFollower) Run(ctx context.Context, v chatops.Verdict) chatops.Result {
	res := f.echo.Run(ctx, v)
	res.Follow = func(ctx context.Context, msg chatops.Message) chatops.Announcement {
		close(f.started)
		<-ctx.Done()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := msg.Edit(lctx, "no longer followed"); err != nil {
			return chatops.Announcement{}
		}
		return chatops.Announcement{ChatID: -100777, HTML: "unfollowed"}
	}
	return res
}

func TestFollowUpCutShortAtShutdownStillHasTheLastWord(t *testing.T) {
	h := &blockingFollower{echo: echo{release: make(chan struct{})}, started: make(chan struct{})}
	srv, _, cancel, done := start(t, h, Options{ShutdownWait: 100 * time.Millisecond})
	inject(srv, 5, "/deploy")
	select {
	case <-h.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no follow-up")
	}
	cancel()
	err := <-done
	done <- err
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages(5); len(got) != 1 || got[0].Text != "no longer followed" {
		t.Errorf("chat: %+v, want the reply edited at shutdown", got)
	}
	if a := srv.Messages(-100777); len(a) != 1 || a[0].Text != "unfollowed" {
		t.Errorf("audit chat: %+v", a)
	}
}
