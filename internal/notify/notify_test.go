package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata"
)

const token = "123456:secret-token"

func ciEnv(extra map[string]string) func(string) string {
	m := map[string]string{
		"TELEGRAM_BOT_TOKEN":     token,
		"TELEGRAM_CHAT_ID":       "-100500",
		"CI_PIPELINE_ID":         "4242",
		"CI_PIPELINE_CREATED_AT": "2026-11-26T04:00:36Z",
		"CI_COMMIT_REF_NAME":     "0.10.5",
	}
	for k, v := range extra {
		m[k] = v
	}
	return envOf(m)
}

func run(t *testing.T, env func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, env, &out, &errb)
	if strings.Contains(out.String()+errb.String(), "secret-token") {
		t.Fatalf("token in output:\n%s\n%s", out.String(), errb.String())
	}
	return code, out.String(), errb.String()
}

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"dry run prints the message", []string{"--dry-run", "created"}, nil, 0,
			"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 создан\n", ""},
		{"flag after the word", []string{"failed", "--dry-run"}, nil, 0,
			"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 завершен неуспешно\n", ""},
		{"dry run without telegram variables", []string{"--dry-run", "success"},
			map[string]string{"TELEGRAM_BOT_TOKEN": "", "TELEGRAM_CHAT_ID": ""}, 0,
			"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 завершен успешно\n", ""},
		{"deployed", []string{"--dry-run", "deployed"}, nil, 0,
			"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 развернут\n", ""},
		{"deploy failed", []string{"deploy-failed", "--dry-run"}, nil, 0,
			"Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 развертывание завершено неуспешно\n", ""},
		{"deployed in English", []string{"--dry-run", "deployed"}, map[string]string{"NOTIFY_LANG": "en"}, 0,
			"Pipeline 4242 2026-11-26 07:00:36 MSK 0.10.5 deployed\n", ""},
		{"deploy failed in English", []string{"--dry-run", "deploy-failed"}, map[string]string{"NOTIFY_LANG": "en"}, 0,
			"Pipeline 4242 2026-11-26 07:00:36 MSK 0.10.5 deployment failed\n", ""},
		{"success in English", []string{"--dry-run", "success"}, map[string]string{"NOTIFY_LANG": "en"}, 0,
			"Pipeline 4242 2026-11-26 07:00:36 MSK 0.10.5 succeeded\n", ""},
		{"bad language", []string{"--dry-run", "created"}, map[string]string{"NOTIFY_LANG": "de"}, 2, "",
			`NOTIFY_LANG must be ru (the default) or en, got \"de\"`},
		{"help", []string{"--help"}, nil, 0, "", ""},
		{"unknown word", []string{"done"}, nil, 2, "", `unknown status \"done\": must be one of created, success, failed`},
		{"no word", nil, nil, 2, "", "want exactly one status word"},
		{"two words", []string{"created", "success"}, nil, 2, "", "got 2 arguments"},
		{"unknown flag", []string{"--loud", "created"}, nil, 2, "", "flag provided but not defined: -loud"},
		{"bad chat id", []string{"created"}, map[string]string{"TELEGRAM_CHAT_ID": "oil"}, 2, "", "TELEGRAM_CHAT_ID must be an integer chat id or @channel"},
		{"bad created-at", []string{"created"}, map[string]string{"CI_PIPELINE_CREATED_AT": "yesterday"}, 2, "", "CI_PIPELINE_CREATED_AT must be an ISO 8601 time"},
		{"missing token", []string{"created"}, map[string]string{"TELEGRAM_BOT_TOKEN": ""}, 2, "", "TELEGRAM_BOT_TOKEN is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, ciEnv(tt.env), tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr)
			}
			if tt.wantStdout != "" && stdout != tt.wantStdout {
				t.Errorf("stdout %q, want %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tt.wantStderr)
			}
			if code == ExitConfig && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("a configuration error should be one line, got:\n%s", stderr)
			}
		})
	}
}

func TestMainHelpListsEverything(t *testing.T) {
	_, stdout, _ := run(t, ciEnv(nil), "--help")
	for _, want := range []string{"created", "success", "failed", "--dry-run", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_API_URL", "NOTIFY_TIMEOUT", "NOTIFY_TZ", "NOTIFY_TIME_FORMAT", "Exit status"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestMainDelivers(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ChatID    int64  `json:"chat_id"`
			Text      string `json:"text"`
			ParseMode string `json:"parse_mode"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		got.Store(body)
		io.WriteString(w, `{"ok":true,"result":{"message_id":1}}`)
	}))
	defer srv.Close()
	code, _, stderr := run(t, ciEnv(map[string]string{"TELEGRAM_API_URL": srv.URL}), "success")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	body := got.Load().(struct {
		ChatID    int64  `json:"chat_id"`
		Text      string `json:"text"`
		ParseMode string `json:"parse_mode"`
	})
	if body.ChatID != -100500 || body.Text != "Пайплайн 4242 2026-11-26 07:00:36 MSK 0.10.5 завершен успешно" || body.ParseMode != "" {
		t.Errorf("sent %+v; want plain text to chat -100500", body)
	}
}

func TestMainGivesUpWithinTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	start := time.Now()
	code, _, stderr := run(t, ciEnv(map[string]string{"TELEGRAM_API_URL": srv.URL, "NOTIFY_TIMEOUT": "1500ms"}), "failed")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	// NOTIFY_TIMEOUT bounds the attempts; allow a second for a loaded machine.
	if elapsed := time.Since(start); elapsed > 2500*time.Millisecond {
		t.Errorf("took %v, want within NOTIFY_TIMEOUT 1.5s", elapsed)
	}
	if !strings.Contains(stderr, "502 Bad Gateway") || !strings.Contains(stderr, "notification not delivered") {
		t.Errorf("stderr lacks the reason: %s", stderr)
	}
}

func TestMainPermanentErrorIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`)
	}))
	defer srv.Close()
	code, _, stderr := run(t, ciEnv(map[string]string{"TELEGRAM_API_URL": srv.URL}), "created")
	if code != ExitFailed || calls.Load() != 1 || !strings.Contains(stderr, "chat not found") {
		t.Errorf("exit %d after %d calls: %s", code, calls.Load(), stderr)
	}
}
