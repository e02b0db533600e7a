package telegram

import (
	"context"
	"encoding/json"
	"gitlab.com/derrick-kit/derrick/internal/redact"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testToken = "123456:AAH-secret_Token"

func TestClientSendMessage(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.URL.Path != "/bot"+testToken+"/sendMessage" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		if n == 1 {
			w.WriteHeader(429)
			io.WriteString(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		want := map[string]any{"chat_id": float64(-100123), "text": "Пайплайн 1"}
		if diff := cmp.Diff(want, body); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
		io.WriteString(w, `{"ok":true,"result":{"message_id":77,"chat":{"id":-100123}}}`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL, testToken, Retry{Base: time.Millisecond})
	start := time.Now()
	id, err := c.SendMessage(context.Background(), "-100123", "Пайплайн 1")
	if err != nil || id != 77 {
		t.Fatalf("SendMessage = %d, %v", id, err)
	}
	if calls.Load() != 2 || time.Since(start) < time.Second {
		t.Errorf("%d calls in %v; want the 429 waited out (1s) and one more call", calls.Load(), time.Since(start))
	}
}

func TestClientErrorsNeverShowToken(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"api error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`)
		}, "telegram sendMessage: 400 Bad Request: chat not found"},
		{"proxy page", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			io.WriteString(w, `<html>forbidden</html>`)
		}, "telegram sendMessage: 403 Forbidden"},
		{"dropped connection", func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, "/bot" + redact.Mask + "/sendMessage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := NewClient(srv.URL, testToken, Retry{Attempts: 1})
			_, err := c.SendMessage(context.Background(), "1", "x")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("token leaked: %v", err)
			}
		})
	}
}

func TestChatIDValue(t *testing.T) {
	if diff := cmp.Diff([]any{int64(-100123), "@oil_team"}, []any{chatIDValue("-100123"), chatIDValue("@oil_team")}); diff != "" {
		t.Error(diff)
	}
}
