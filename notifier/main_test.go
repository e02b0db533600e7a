package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// These tests run the built binary, as a pipeline job would, against the
// in-process Telegram Bot API emulator.

const (
	token  = "7000000001:AAFakeTokenForDerrickTests_x-y"
	chatID = -1001234567890
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "notifier-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "notifier")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		panic("build notifier: " + err.Error() + "\n" + string(out))
	}
	// The watch tests keep their state on the package's shared cluster.
	code := clustertest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

func emulator(t testing.TB) *telegramtest.Server {
	t.Helper()
	srv, err := telegramtest.New(telegramtest.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// runNotifier runs the binary with a pipeline's environment and asserts
// that nothing it prints contains the token.
func runNotifier(t testing.TB, apiURL string, extraEnv []string, args ...string) (code int, output string, elapsed time.Duration) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{
		"TELEGRAM_BOT_TOKEN=" + token,
		"TELEGRAM_CHAT_ID=-1001234567890",
		"TELEGRAM_API_URL=" + apiURL,
		"CI_PIPELINE_ID=4242",
		"CI_PIPELINE_CREATED_AT=2026-11-26T04:00:36Z",
		"CI_COMMIT_REF_NAME=0.10.5",
	}, extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	elapsed = time.Since(start)
	if err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		} else {
			t.Fatal(err)
		}
	}
	secret := token[strings.IndexByte(token, ':')+1:]
	if strings.Contains(out.String(), secret) || strings.Contains(out.String(), "7000000001:") {
		t.Fatalf("the token appears in the output:\n%s", out.String())
	}
	return code, out.String(), elapsed
}

func texts(msgs []telegramtest.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return out
}

func TestBinaryDeliversEachStatus(t *testing.T) {
	srv := emulator(t)
	want := []string{
		"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 создан",
		"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 завершен успешно",
		"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 завершен неуспешно",
	}
	for _, status := range []string{"created", "success", "failed"} {
		if code, out, _ := runNotifier(t, srv.URL(), nil, status); code != 0 {
			t.Fatalf("%s: exit %d\n%s", status, code, out)
		}
	}
	got := srv.Messages(chatID)
	if strings.Join(texts(got), "\n") != strings.Join(want, "\n") {
		t.Errorf("chat %d received %q, want %q", chatID, texts(got), want)
	}
	for _, m := range got {
		if m.ParseMode != "" {
			t.Errorf("message %d sent with parse mode %q, want plain text", m.ID, m.ParseMode)
		}
	}
	if others := srv.Chats(); len(others) != 1 {
		t.Errorf("messages went to %d chats, want only %d: %+v", len(others), chatID, others)
	}
}

func TestBinaryWaitsOutFloodControlAndDeliversOnce(t *testing.T) {
	srv := emulator(t)
	if err := srv.InjectFault(telegramtest.Fault{Method: "sendMessage", Times: 1, Status: 429, RetryAfter: 2}); err != nil {
		t.Fatal(err)
	}
	code, out, elapsed := runNotifier(t, srv.URL(), nil, "created")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if elapsed < 2*time.Second {
		t.Errorf("delivered after %v: retry_after 2s was not honoured", elapsed)
	}
	if n := len(srv.Messages(chatID)); n != 1 || srv.Calls("sendMessage") != 2 {
		t.Errorf("%d messages after %d calls; want 1 message after 2 calls", n, srv.Calls("sendMessage"))
	}
}

func TestBinaryRetriesServerErrorsAndDrops(t *testing.T) {
	tests := []struct {
		name  string
		fault telegramtest.Fault
	}{
		{"502", telegramtest.Fault{Method: "sendMessage", Times: 2, Status: 502, Description: "Bad Gateway"}},
		{"500", telegramtest.Fault{Method: "sendMessage", Times: 1, Status: 500, Description: "Internal Server Error"}},
		{"dropped connection", telegramtest.Fault{Method: "sendMessage", Times: 2, Drop: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := emulator(t)
			if err := srv.InjectFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			code, out, _ := runNotifier(t, srv.URL(), nil, "success")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			if n := len(srv.Messages(chatID)); n != 1 {
				t.Errorf("%d messages delivered, want exactly 1", n)
			}
			if !strings.Contains(out, "retrying") {
				t.Errorf("the retries were not logged:\n%s", out)
			}
		})
	}
}

func TestBinaryGivesUpWithinTimeoutWhenTelegramIsDown(t *testing.T) {
	srv := emulator(t)
	url := srv.URL()
	srv.Close() // connection refused from now on
	code, out, elapsed := runNotifier(t, url, []string{"NOTIFY_TIMEOUT=3s"}, "failed")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	// NOTIFY_TIMEOUT bounds the attempts; the process start may add a little on a loaded machine.
	if elapsed > 5*time.Second {
		t.Errorf("took %v, want to stop within NOTIFY_TIMEOUT=3s", elapsed)
	}
	if !strings.Contains(out, "connection refused") || !strings.Contains(out, "/bot<redacted>/sendMessage") {
		t.Errorf("the reason is missing or unredacted:\n%s", out)
	}
}

func TestBinaryRejectsBadInputWithExit2(t *testing.T) {
	srv := emulator(t)
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"bad chat", []string{"TELEGRAM_CHAT_ID=oil"}, []string{"created"}, "TELEGRAM_CHAT_ID must be an integer chat id or @channel"},
		{"unknown status", nil, []string{"started"}, "must be one of created, success, failed"},
		{"bad created-at", []string{"CI_PIPELINE_CREATED_AT=now"}, []string{"created"}, "CI_PIPELINE_CREATED_AT must be an ISO 8601 time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, _ := runNotifier(t, srv.URL(), tt.env, tt.args...)
			if code != 2 || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, output %q; want 2 and %q", code, out, tt.want)
			}
		})
	}
	if n := srv.Calls("sendMessage"); n != 0 {
		t.Errorf("bad input still reached Telegram %d times", n)
	}
}

func TestBinaryPermanentErrorExitsAtOnce(t *testing.T) {
	srv := emulator(t)
	code, out, _ := runNotifier(t, srv.URL(), []string{"TELEGRAM_CHAT_ID=@no_such_channel"}, "created")
	if code != 1 || !strings.Contains(out, "chat not found") || srv.Calls("sendMessage") != 1 {
		t.Errorf("exit %d after %d calls: %s", code, srv.Calls("sendMessage"), out)
	}
}

// The benchmarks compare a whole notifier process with curl posting the same
// message to the same emulator (see docs/PERFORMANCE.md).

func BenchmarkNotifierProcess(b *testing.B) {
	srv := emulator(b)
	for b.Loop() {
		if code, out, _ := runNotifier(b, srv.URL(), nil, "created"); code != 0 {
			b.Fatal(out)
		}
	}
}

func BenchmarkCurlProcess(b *testing.B) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		b.Skip("curl not installed (hack/install-deps.sh installs it)")
	}
	srv := emulator(b)
	body := `{"chat_id":-1001234567890,"text":"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 создан"}`
	for b.Loop() {
		cmd := exec.CommandContext(context.Background(), curl, "-sf", "-H", "Content-Type: application/json",
			"-d", body, srv.URL()+"/bot"+token+"/sendMessage")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatal(err, string(out))
		}
	}
}
