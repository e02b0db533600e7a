package tgbot

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// holder is an echo whose /hold commands say when they start.
type holder struct {
	echo
	once sync.Once
	held chan struct{}
}

func newHolder() *holder {
	return &holder{echo: echo{release: make(chan struct{})}, held: make(chan struct{}, 100)}
}

func (h *holder) Run(ctx context.Context, v chatops.Verdict) chatops.Result {
	if v.Run && strings.HasPrefix(v.In.Text, "/hold") {
		h.held <- struct{}{}
	}
	return h.echo.Run(ctx, v)
}

func (h *holder) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-h.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the /hold command did not start")
	}
}

func (h *holder) unblock() { h.once.Do(func() { close(h.release) }) }

func waitPending(t *testing.T, srv *telegramtest.Server, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		changed := srv.Changed()
		if srv.Pending() == want {
			return
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%d updates unconfirmed, want %d", srv.Pending(), want)
		}
	}
}

func inject(srv *telegramtest.Server, user int64, texts ...string) {
	for _, text := range texts {
		srv.Inject(telegramtest.Incoming{From: telegramtest.User{ID: user}, Text: text})
	}
}

func TestFullQueueIsAnsweredOnce(t *testing.T) {
	h := newHolder()
	srv, _, _, _ := start(t, h, Options{ChatQueue: 5})
	t.Cleanup(h.unblock)
	inject(srv, 8, "/hold")
	h.waitHeld(t)
	for i := range 8 { // 5 fit, 3 do not
		inject(srv, 8, "/q"+string(rune('a'+i)))
	}
	msgs := waitN(t, srv, 8, 1)
	if msgs[0].Text != "queue full" {
		t.Fatalf("first answer %q, want the full queue's", msgs[0].Text)
	}
	h.unblock()
	msgs = waitN(t, srv, 8, 7)
	waitPending(t, srv, 0)
	var got []string
	for _, m := range srv.Messages(8) {
		got = append(got, m.Text)
	}
	want := "queue full,echo /hold,echo /qa,echo /qb,echo /qc,echo /qd,echo /qe"
	if strings.Join(got, ",") != want {
		t.Errorf("answers %s\nwant    %s", strings.Join(got, ","), want)
	}
	_ = msgs
}

func TestStrangerIsAnsweredOncePerPeriodWithoutWaitingOutA429(t *testing.T) {
	h := newHolder()
	srv, _, _, _ := start(t, h, Options{})
	t.Cleanup(h.unblock)
	// The first answer gets a 429 asking for 30 s: a refusal never waits.
	if err := srv.InjectFault(telegramtest.Fault{Method: "sendMessage", Times: 1, Status: 429, RetryAfter: 30}); err != nil {
		t.Fatal(err)
	}
	inject(srv, 9, "/refuse 1")
	start := time.Now()
	waitPending(t, srv, 0)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refusal took %s: it waited out the 429", d)
	}
	// Every slot held by operators: strangers are still answered.
	for chat := int64(100); chat < 116; chat++ {
		inject(srv, chat, "/hold")
	}
	for range 16 {
		h.waitHeld(t)
	}
	inject(srv, 10, "/refuse 1", "/refuse 2", "/refuse 3")
	waitN(t, srv, 10, 1)
	inject(srv, 9, "/refuse 2") // answered (and refused by the 429) before
	h.unblock()
	waitPending(t, srv, 0)
	if n := len(srv.Messages(10)); n != 1 {
		t.Errorf("stranger 10 got %d answers to 3 messages, want 1", n)
	}
	if n := len(srv.Messages(9)); n != 0 {
		t.Errorf("stranger 9 was answered again within the period: %d", n)
	}
}

func TestStrangerLimiterIsBounded(t *testing.T) {
	l := newStrangerLimiter(time.Minute, 3)
	t0 := time.Unix(1_800_000_000, 0)
	for i, tt := range []struct {
		user int64
		at   time.Duration
		want bool
	}{
		{1, 0, true}, {1, 10 * time.Second, false}, {2, 0, true}, {3, 0, true},
		{4, 0, false},                // memory full
		{1, 61 * time.Second, false}, // remembered for a whole period
		{4, 61 * time.Second, false}, // still full: 1,2,3 in the older generation
		{1, 122 * time.Second, true}, // two periods on: forgotten
		{4, 122 * time.Second, true},
	} {
		if got := l.allow(tt.user, t0.Add(tt.at)); got != tt.want {
			t.Errorf("%d: allow(%d, +%s) = %v, want %v", i, tt.user, tt.at, got, tt.want)
		}
	}
}

func TestOffsetIsHeldBackWhileACommandRuns(t *testing.T) {
	h := newHolder()
	srv, _, _, _ := start(t, h, Options{BusyPoll: 200 * time.Millisecond})
	t.Cleanup(h.unblock)
	inject(srv, 1, "/hold")
	h.waitHeld(t)
	inject(srv, 2, "/a", "/b", "/c")
	waitN(t, srv, 2, 3)
	// The three are answered but sit above the held one: confirming them
	// would lose /hold if the bot died now.
	if n := srv.Pending(); n != 4 {
		t.Errorf("%d updates unconfirmed while /hold runs, want 4", n)
	}
	// Telegram returns the held update at once to every poll: the loop
	// must pause between polls, longer while nothing happens, not spin.
	before, t0 := srv.Calls("getUpdates"), time.Now()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Calls("getUpdates") < before+6 && time.Now().Before(deadline) {
		<-srv.Changed()
	}
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Errorf("6 polls in %s while a command runs: a busy loop", d)
	}
	h.unblock()
	waitN(t, srv, 1, 1)
	waitPending(t, srv, 0)
}

func TestShutdownLeavesQueuedCommandsForTheNextInstance(t *testing.T) {
	srv, err := telegramtest.New(telegramtest.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	h := newHolder()
	_, cancel, done := runPoller(t, srv, h, Options{})
	inject(srv, 5, "/hold", "/after")
	h.waitHeld(t)
	cancel() // SIGTERM: /hold is running, /after has not started
	h.unblock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	if got := srv.Messages(5); len(got) != 1 || got[0].Text != "echo /hold" {
		t.Fatalf("answers at shutdown: %+v, want only /hold's", got)
	}
	if n := srv.Pending(); n != 1 {
		t.Fatalf("%d updates unconfirmed after shutdown, want 1 (/after)", n)
	}
	next := newHolder()
	next.unblock()
	runPoller(t, srv, next, Options{})
	msgs := waitN(t, srv, 5, 2)
	if msgs[1].Text != "echo /after" {
		t.Errorf("the next instance answered %q, want /after", msgs[1].Text)
	}
	waitPending(t, srv, 0)
}

func TestCommandCutShortAtShutdownIsLeftForTheNextInstance(t *testing.T) {
	srv, err := telegramtest.New(telegramtest.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	h := newHolder() // never released: /hold outlives ShutdownWait
	_, cancel, done := runPoller(t, srv, h, Options{ShutdownWait: 100 * time.Millisecond})
	inject(srv, 6, "/hold")
	h.waitHeld(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	if n := srv.Pending(); n != 1 {
		t.Errorf("%d updates unconfirmed after a command was cut short, want 1", n)
	}
}
