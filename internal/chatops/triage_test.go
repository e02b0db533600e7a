package chatops

import (
	"context"
	"strings"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/registry"
)

func TestTriage(t *testing.T) {
	const group = -100500
	fresh, old := time.Unix(now-1, 0), time.Unix(now-3600, 0)
	tests := []struct {
		name      string
		in        Input
		groupLogs bool
		wantRun   bool
		wantLabel string
		wantOut   Outcome
		wantReply string // part of the reply; "" = no reply
	}{
		{"operator in a DM", Input{UserID: operator, ChatID: operator, Private: true, Text: "/get_nodes", Sent: fresh}, false, true, "get_nodes", "", ""},
		{"bare command in a group is for some bot", Input{UserID: operator, ChatID: group, Text: "/get_nodes", Sent: fresh}, false, false, "", OutcomeIgnored, ""},
		{"addressed command in a group runs", Input{UserID: operator, ChatID: group, Text: "/get_nodes@oil_bot", Sent: fresh}, false, true, "get_nodes", "", ""},
		{"another bot's command", Input{UserID: operator, ChatID: group, Text: "/get_nodes@other_bot", Sent: fresh}, false, false, "", OutcomeIgnored, ""},
		{"chatter in a group", Input{UserID: operator, ChatID: group, Text: "hello all", Sent: fresh}, false, false, "", OutcomeIgnored, ""},
		{"forwarded command is not run", Input{UserID: operator, ChatID: operator, Private: true, Text: "/deploy 0.10.5", Sent: fresh, Forwarded: true}, false, false, "deploy", OutcomeRefused, "Пересланные сообщения не выполняются"},
		{"forwarded in a group", Input{UserID: operator, ChatID: group, Text: "/cordon@oil_bot node-a", Sent: fresh, Forwarded: true}, false, false, "cordon", OutcomeRefused, "Пересланные"},
		{"get_logs in a group", Input{UserID: operator, ChatID: group, Text: "/get_logs@oil_bot pod-1", Sent: fresh}, false, false, "get_logs", OutcomeRefused, "В группе /get_logs не выполняется"},
		{"get_logs in a group with BOT_GROUP_LOGS", Input{UserID: operator, ChatID: group, Text: "/get_logs@oil_bot pod-1", Sent: fresh}, true, true, "get_logs", "", ""},
		{"stale before everything: a stranger's old flood is dropped", Input{UserID: stranger, ChatID: stranger, Private: true, Text: "/help", Sent: old}, false, false, "help", OutcomeStale, ""},
		{"stale operator command is answered", Input{UserID: operator, ChatID: operator, Private: true, Text: "/deploy 0.10.5", Sent: old}, false, false, "deploy", OutcomeStale, "пришла через 1h0m0s"},
		{"stale forward is stale", Input{UserID: operator, ChatID: operator, Private: true, Text: "/deploy 0.10.5", Sent: old, Forwarded: true}, false, false, "deploy", OutcomeStale, "пришла через"},
		{"stranger's own command is no label", Input{UserID: stranger, ChatID: stranger, Private: true, Text: "/x4f9_random", Sent: fresh}, false, false, "unknown", OutcomeRefused, "Доступ запрещён"},
		{"operator's unknown command", Input{UserID: operator, ChatID: operator, Private: true, Text: "/reboot", Sent: fresh}, false, false, "unknown", OutcomeInvalid, "Неизвестная команда /reboot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.GroupLogs = tt.groupLogs })
			v := h.core.Triage(context.Background(), tt.in, "oil_bot")
			if v.Run != tt.wantRun || v.Command != tt.wantLabel || (!tt.wantRun && v.Outcome != tt.wantOut) {
				t.Errorf("run %v label %q outcome %q, want %v %q %q", v.Run, v.Command, v.Outcome, tt.wantRun, tt.wantLabel, tt.wantOut)
			}
			if (tt.wantReply == "") != (v.Reply == "") || !strings.Contains(v.Reply, tt.wantReply) {
				t.Errorf("reply %q, want it to contain %q", v.Reply, tt.wantReply)
			}
			if v.Stranger != (tt.in.UserID == stranger) {
				t.Errorf("stranger = %v", v.Stranger)
			}
		})
	}
}

// hangingRegistry never answers before its context ends.
type hangingRegistry struct{}

func (hangingRegistry) Tags(ctx context.Context) ([]registry.Tag, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (hangingRegistry) Resolve(ctx context.Context, _ string) (registry.Tag, error) {
	<-ctx.Done()
	return registry.Tag{}, ctx.Err()
}

func TestHungDependencyIsNamedWithinTheTimeout(t *testing.T) {
	for _, tt := range []struct {
		lang, want string
	}{
		{"ru", "⏱ /showcontainers: реестр образов не ответил за 200ms, команда прервана."},
		{"en", "⏱ /showcontainers: the image registry did not answer within 200ms; the command was stopped."},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.CommandTimeout = 200 * time.Millisecond; c.Lang = tt.lang })
			h.core.registry = trackedRegistry{hangingRegistry{}, h.core.health}
			rec := &recorder{chatID: operator}
			start := time.Now()
			res := h.handle(t, rec, Input{UserID: operator, ChatID: operator, Private: true, Text: "/showcontainers", Sent: time.Unix(now, 0)})
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
			if res.Outcome != OutcomeError || len(rec.out) != 1 || !strings.HasPrefix(rec.out[0].Text, tt.want) {
				t.Fatalf("outcome %s, replies:\n%s\nwant %q", res.Outcome, rec.texts(), tt.want)
			}
			failing := h.core.Health().Failing(DepRegistry, DepArgoCD, DepKubernetes)
			if len(failing) != 1 || !strings.HasPrefix(failing[0].Error(), "registry: last call") {
				t.Errorf("health: %v", failing)
			}
		})
	}
}

// slowError is a dependency's own request timeout (the registry's).
type slowError struct{}

func (slowError) Error() string { return "registry.example.com did not answer within 15s" }
func (slowError) Timeout() bool { return true }

type slowRegistry struct{}

func (slowRegistry) Tags(context.Context) ([]registry.Tag, error) { return nil, slowError{} }
func (slowRegistry) Resolve(context.Context, string) (registry.Tag, error) {
	return registry.Tag{}, slowError{}
}

func TestRequestTimeoutOfADependencyIsNamed(t *testing.T) {
	h := newHarness(t, nil)
	h.core.registry = trackedRegistry{slowRegistry{}, h.core.health}
	rec := &recorder{chatID: operator}
	h.handle(t, rec, Input{UserID: operator, ChatID: operator, Private: true, Text: "/deploy 0.10.5", Sent: time.Unix(now, 0)})
	if want := "⏱ /deploy: реестр образов не ответил вовремя"; len(rec.out) != 1 || !strings.HasPrefix(rec.out[0].Text, want) {
		t.Errorf("replies:\n%s\nwant %q", rec.texts(), want)
	}
}
