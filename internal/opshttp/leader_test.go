package opshttp

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestReadyzSaysTheRoleAndLeaderMetrics(t *testing.T) {
	m := NewMetrics()
	role := "standby (lease derrick-bot held by bot-a)"
	var ready error
	h := Handler(m, Checks{
		Live:  func() error { return nil },
		Ready: func(context.Context) error { return ready },
		Role:  func() string { return role },
	})
	if code, body := get(t, h, "/readyz"); code != 200 || body != "ok\n"+role+"\n" {
		t.Errorf("/readyz of a standby = %d %q, want 200 saying standby", code, body)
	}
	ready = errors.New("kubernetes: connection refused")
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "kubernetes") || !strings.Contains(body, "standby") {
		t.Errorf("/readyz = %d %q, want 503 naming the dependency and the role", code, body)
	}
	if _, body := get(t, h, "/metrics"); strings.Contains(body, "derrick_bot_leader") {
		t.Errorf("leader metrics without leader election:\n%s", body)
	}
	m.EnableLeader()
	m.Leader(true)
	m.Leader(false)
	m.Leader(true)
	_, body := get(t, h, "/metrics")
	for _, want := range []string{
		"\nderrick_bot_leader 1\n",
		`derrick_bot_leadership_changes_total{change="acquired"} 2`,
		`derrick_bot_leadership_changes_total{change="lost"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
