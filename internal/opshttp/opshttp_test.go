package opshttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func TestProbes(t *testing.T) {
	var live, ready error
	h := Handler(NewMetrics(), Checks{
		Live:  func() error { return live },
		Ready: func(context.Context) error { return ready },
	})
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	live = errors.New("no poll for 2m0s")
	if code, body := get(t, h, "/healthz"); code != 503 || !strings.Contains(body, "no poll for 2m0s") {
		t.Errorf("/healthz = %d %q, want 503 with the reason", code, body)
	}
	if code, _ := get(t, h, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}
	ready = errors.New("kubernetes: connection refused")
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "kubernetes") {
		t.Errorf("/readyz = %d %q, want 503 with the reason", code, body)
	}
}

func TestMetrics(t *testing.T) {
	m := NewMetrics()
	m.Command("get_nodes", "ok", 30*time.Millisecond)
	m.Command("deploy", "refused", time.Millisecond)
	m.APIError("sendMessage", 429)
	m.APIError("getUpdates", 0)
	_, body := get(t, Handler(m, Checks{}), "/metrics")
	for _, want := range []string{
		`derrick_bot_commands_total{command="get_nodes",outcome="ok"} 1`,
		`derrick_bot_commands_total{command="deploy",outcome="refused"} 1`,
		`derrick_bot_command_duration_seconds_bucket{command="get_nodes",le="0.05"} 1`,
		`derrick_bot_telegram_api_errors_total{code="429",method="sendMessage"} 1`,
		`derrick_bot_telegram_api_errors_total{code="network",method="getUpdates"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestStrangerCommandsDoNotBecomeLabels(t *testing.T) {
	m := NewMetrics("get_nodes", "help")
	for i := range 1000 {
		m.Command("x"+strings.Repeat("y", i%50)+string(rune('a'+i%26)), "refused", time.Millisecond)
	}
	m.Command("get_nodes", "ok", time.Millisecond)
	_, body := get(t, Handler(m, Checks{}), "/metrics")
	if !strings.Contains(body, `derrick_bot_commands_total{command="unknown",outcome="refused"} 1000`) {
		t.Errorf("strangers' commands not counted as unknown:\n%s", body)
	}
	if strings.Contains(body, `command="xa"`) || !strings.Contains(body, `command="get_nodes"`) {
		t.Errorf("labels wrong")
	}
}

func TestCheckAllNamesEachFailingDependency(t *testing.T) {
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	start := time.Now()
	err := CheckAll(context.Background(),
		Probe{"telegram", func(context.Context) error { return nil }},
		Probe{"kubernetes", hang},
		Probe{"registry", func(context.Context) error { return errors.New("last call failed") }},
	)
	if err == nil || !strings.Contains(err.Error(), "kubernetes: context deadline exceeded") ||
		!strings.Contains(err.Error(), "registry: last call failed") || strings.Contains(err.Error(), "telegram") {
		t.Errorf("CheckAll = %v", err)
	}
	if d := time.Since(start); d > probeTimeout+time.Second {
		t.Errorf("CheckAll took %s: a hung probe was not cut at %s", d, probeTimeout)
	}
}
