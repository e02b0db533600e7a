package bottest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// fakeBot writes a script that logs like the bot, with its environment, and
// then waits for a signal; SIGTERM ends it with status 0.
func fakeBot(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bot")
	script := `#!/bin/sh
trap 'echo "{\"msg\":\"bot stopped\"}" >&2; exit 0' TERM
echo '{"level":"INFO","msg":"config loaded","greeting":"'"$GREETING"'"}' >&2
echo '{"level":"INFO","msg":"bot started","http":"127.0.0.1:4242"}' >&2
while :; do sleep 0.05; done
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStartSignalStop(t *testing.T) {
	b := Start(t, fakeBot(t), "1:secret", []string{"GREETING=hello"})
	if got := b.HTTPAddr(); got != "127.0.0.1:4242" {
		t.Errorf("HTTPAddr() = %q, want the address of the bot started line", got)
	}
	if logs := b.Logs(); !strings.Contains(logs, `"greeting":"hello"`) {
		t.Errorf("the bot did not get its environment, or its log was not kept:\n%s", logs)
	}
	b.Running(t)
	if b.PID() <= 0 || b.Err() != nil {
		t.Errorf("PID() = %d, Err() = %v while running", b.PID(), b.Err())
	}
	if err := b.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the bot did not stop within 10s of SIGTERM")
	}
	if err := b.Err(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if logs := b.Logs(); !strings.Contains(logs, "bot stopped") {
		t.Errorf("the log after exit lacks the last line:\n%s", logs)
	}
}

func TestPlain(t *testing.T) {
	got := Plain([]telegramtest.Message{{Plain: "one"}, {Plain: "two"}})
	if got != "one\ntwo" {
		t.Errorf("Plain = %q, want one line each", got)
	}
}

// errRecorder records Errorf instead of failing the test.
type errRecorder struct {
	testing.TB
	got []string
}

func (e *errRecorder) Errorf(format string, args ...any) {
	e.got = append(e.got, fmt.Sprintf(format, args...))
}

func TestTokenInLogFails(t *testing.T) {
	e := &errRecorder{TB: t}
	// Cleanups run last first: this one after Start's.
	t.Cleanup(func() {
		if len(e.got) != 1 || !strings.Contains(e.got[0], "token appears in the bot's log") {
			t.Errorf("errors at cleanup %q, want the token named", e.got)
		}
	})
	Start(e, fakeBot(t), "7000000002:hello", []string{"GREETING=hello"})
}
