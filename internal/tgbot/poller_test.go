package tgbot

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

const token = "123456:poller-test-token"

// echo answers every message with its text, slowly for "/slow"; "/hold"
// waits until release is closed. "/refuse" is answered at once as to a
// stranger.
type echo struct {
	mu      sync.Mutex
	order   []string
	release chan struct{}
}

func (e *echo) Triage(_ context.Context, in chatops.Input, bot string) chatops.Verdict {
	if strings.HasPrefix(in.Text, "/refuse") {
		return chatops.Verdict{In: in, Command: "unknown", Reply: "refused " + telegram.EscapeHTML(in.Text), Outcome: chatops.OutcomeRefused, Stranger: true}
	}
	return chatops.Verdict{In: in, Command: strings.TrimPrefix(in.Text, "/"), Run: true}
}

func (e *echo) QueueFull(v chatops.Verdict) chatops.Result {
	return chatops.Result{Command: v.Command, Outcome: chatops.OutcomeRefused, Reply: chatops.Reply{HTML: "queue full"}}
}

func (e *echo) Run(ctx context.Context, v chatops.Verdict) chatops.Result {
	if !v.Run {
		return chatops.Result{Command: v.Command, Outcome: v.Outcome, Reply: chatops.Reply{HTML: v.Reply}}
	}
	in := v.In
	if strings.HasPrefix(in.Text, "/slow") {
		time.Sleep(300 * time.Millisecond)
	}
	if strings.HasPrefix(in.Text, "/hold") {
		select {
		case <-e.release:
		case <-ctx.Done():
		}
	}
	e.mu.Lock()
	e.order = append(e.order, in.Text)
	e.mu.Unlock()
	return chatops.Result{Command: v.Command, Outcome: chatops.OutcomeOK, Reply: chatops.Reply{HTML: "echo " + telegram.EscapeHTML(in.Text)}}
}

func start(t *testing.T, h Handler, opts Options) (*telegramtest.Server, *strings.Builder, context.CancelFunc, chan error) {
	t.Helper()
	srv, err := telegramtest.New(telegramtest.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	logs, cancel, done := runPoller(t, srv, h, opts)
	return srv, logs, cancel, done
}

// runPoller runs a poller on srv until the test ends or cancel is called.
func runPoller(t *testing.T, srv *telegramtest.Server, h Handler, opts Options) (*strings.Builder, context.CancelFunc, chan error) {
	t.Helper()
	bot, err := gotgbot.NewBot(token, &gotgbot.BotOpts{BotClient: NewClient(srv.URL(), token, telegram.Retry{Base: 10 * time.Millisecond}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	if opts.PollTimeout == 0 {
		opts.PollTimeout = time.Second
	}
	p := NewPoller(bot, h, log, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		err := <-done
		done <- err
	})
	return logs, cancel, done
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ io.Writer = writerFunc(nil)

func waitN(t *testing.T, srv *telegramtest.Server, chat int64, n int) []telegramtest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	msgs, err := srv.WaitFor(ctx, chat, func(m []telegramtest.Message) bool { return len(m) >= n })
	if err != nil {
		t.Fatalf("want %d answers in chat %d, got %d: %v", n, chat, len(msgs), err)
	}
	return msgs
}

func TestCommandsOfOneChatRunInOrder(t *testing.T) {
	h := &echo{release: make(chan struct{})}
	srv, _, _, _ := start(t, h, Options{})
	for _, text := range []string{"/slow 1", "/fast 2", "/slow 3", "/fast 4"} {
		srv.Inject(telegramtest.Incoming{From: telegramtest.User{ID: 7}, Text: text})
	}
	waitN(t, srv, 7, 4)
	if got := strings.Join(h.order, ","); got != "/slow 1,/fast 2,/slow 3,/fast 4" {
		t.Errorf("handled in order %s", got)
	}
}

func TestOtherChatsAreNotBlocked(t *testing.T) {
	srv, _, _, _ := start(t, &echo{release: make(chan struct{})}, Options{})
	srv.Inject(telegramtest.Incoming{From: telegramtest.User{ID: 1}, Text: "/slow"})
	srv.Inject(telegramtest.Incoming{From: telegramtest.User{ID: 2}, Text: "/fast"})
	waitN(t, srv, 2, 1)
	if n := len(srv.Messages(1)); n != 0 {
		t.Errorf("chat 2 waited for chat 1's slow command")
	}
	waitN(t, srv, 1, 1)
}

func TestConflictIsLoggedAndBackedOff(t *testing.T) {
	srv, logs, _, _ := start(t, &echo{release: make(chan struct{})}, Options{Conflict: 200 * time.Millisecond})
	if err := srv.InjectFault(telegramtest.Fault{Method: "getUpdates", Times: 2, Status: 409, Description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}); err != nil {
		t.Fatal(err)
	}
	srv.Inject(telegramtest.Incoming{From: telegramtest.User{ID: 3}, Text: "/after"})
	waitN(t, srv, 3, 1)
	if !strings.Contains(logs.String(), "another instance is polling with this token") {
		t.Errorf("409 not logged clearly:\n%s", logs.String())
	}
}

func TestRejectedTokenStopsTheLoop(t *testing.T) {
	srv, logs, _, done := start(t, &echo{release: make(chan struct{})}, Options{})
	if err := srv.InjectFault(telegramtest.Fault{Method: "getUpdates", Times: 1, Status: 401, Description: "Unauthorized"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("Run = %v, want the 401", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on after a 401")
	}
	if !strings.Contains(logs.String(), "telegram rejected the bot token") || strings.Contains(logs.String(), "poller-test-token") {
		t.Errorf("log:\n%s", logs.String())
	}
}

func TestShutdownConfirmsHandledUpdates(t *testing.T) {
	srv, _, cancel, done := start(t, &echo{release: make(chan struct{})}, Options{})
	srv.Inject(telegramtest.Incoming{From: telegramtest.User{ID: 4}, Text: "/slow"})
	deadline := time.Now().Add(5 * time.Second)
	for srv.Calls("getUpdates") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	err := <-done
	done <- err
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages(4)); n != 1 {
		t.Errorf("the in-flight command was answered %d times, want 1", n)
	}
	if n := srv.Pending(); n != 0 {
		t.Errorf("%d updates unconfirmed after shutdown", n)
	}
}

// slowRoles looks up each stranger's role slowly (an uncached
// getChatMember): Triage of "/stranger" waits until barrier lookups are in
// progress at once, or 5 s.
type slowRoles struct {
	echo
	barrier      int
	mu           sync.Mutex
	now, maxSeen int
	reached      chan struct{}
	once         sync.Once
}

func (s *slowRoles) Triage(ctx context.Context, in chatops.Input, bot string) chatops.Verdict {
	if !strings.HasPrefix(in.Text, "/stranger") {
		return s.echo.Triage(ctx, in, bot)
	}
	s.mu.Lock()
	s.now++
	s.maxSeen = max(s.maxSeen, s.now)
	if s.now >= s.barrier {
		s.once.Do(func() { close(s.reached) })
	}
	s.mu.Unlock()
	select {
	case <-s.reached:
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return chatops.Verdict{In: in, Command: "unknown", Reply: "refused", Outcome: chatops.OutcomeRefused, Stranger: true}
}

func TestStrangersRoleLookupsRunInParallel(t *testing.T) {
	srv, err := telegramtest.New(telegramtest.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	// One batch: 20 distinct strangers, then an operator.
	for i := range 20 {
		srv.Inject(telegramtest.Incoming{From: telegramtest.User{ID: int64(100 + i)}, Text: "/stranger"})
	}
	srv.Inject(telegramtest.Incoming{From: telegramtest.User{ID: 9}, Text: "/status"})
	h := &slowRoles{echo: echo{release: make(chan struct{})}, barrier: 4, reached: make(chan struct{})}
	runPoller(t, srv, h, Options{})
	waitN(t, srv, 9, 1)
	select {
	case <-h.reached:
	default:
		t.Fatal("the role lookups of one batch ran one after another")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.maxSeen > triageParallel {
		t.Errorf("%d role lookups at once, want at most %d", h.maxSeen, triageParallel)
	}
}
