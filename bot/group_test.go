package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// End-to-end tests of access through the team's group (CHATOPS_GROUP_ID):
// the built bot asks the emulator's getChatMember.

const (
	teamGroup  = -1001234567890
	member     = 4004 // in no list, a member of the group
	groupAdmin = 5005 // in no list, an administrator of the group
	newcomer   = 6006 // in no list, a member of the group
	latecomer  = 7007 // in no list, a member of the group
)

// teamWorld is a world whose bot grants access through the team's group,
// where viewer is an administrator, with answers cached for cache.
func teamWorld(t *testing.T, botStatus, cache string, extraEnv ...string) *world {
	t.Helper()
	return newWorldWith(t, func(tg *telegramtest.Server) {
		setMember(t, tg, tg.Bot().ID, botStatus)
		setMember(t, tg, member, telegramtest.StatusMember)
		setMember(t, tg, groupAdmin, telegramtest.StatusAdministrator)
		setMember(t, tg, newcomer, telegramtest.StatusMember)
		setMember(t, tg, latecomer, telegramtest.StatusMember)
		setMember(t, tg, viewer, telegramtest.StatusCreator)
	}, append([]string{fmt.Sprintf("CHATOPS_GROUP_ID=%d", teamGroup), "CHATOPS_GROUP_CACHE=" + cache,
		// Users lose and regain access here, and each refusal is checked:
		// not the once-per-10m stranger rule (TestStrangerFlood...).
		"BOT_STRANGER_REPLY_EVERY=1ns"}, extraEnv...)...)
}

func setMember(t testing.TB, tg *telegramtest.Server, user int64, status string) {
	t.Helper()
	if err := tg.SetGroup(telegramtest.Chat{ID: teamGroup, Title: "Oil team"}); err != nil {
		t.Fatal(err)
	}
	if err := tg.SetMember(teamGroup, telegramtest.User{ID: user, Username: fmt.Sprintf("user%d", user)}, telegramtest.ChatMember{Status: status}); err != nil {
		t.Fatal(err)
	}
}

// eventually sends text as user until the answer contains want, for up to
// 30s, and fails t with the last answer when it never does.
func (w *world) eventually(t *testing.T, user int64, text, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if got = bottest.Plain(w.say(t, user, text, nil)); strings.Contains(got, want) {
			return
		}
	}
	t.Fatalf("%s from %d: never answered %q; last answer %q", text, user, want, got)
}

func TestGroupGrantsAccess(t *testing.T) {
	w := teamWorld(t, telegramtest.StatusAdministrator, "1s")

	t.Run("member is a viewer", func(t *testing.T) {
		if got := bottest.Plain(w.say(t, member, "/start", nil)); !strings.Contains(got, "Ваша роль: наблюдатель") || strings.Contains(got, "/cordon") {
			t.Errorf("/start of a member: %s", got)
		}
		if got := bottest.Plain(w.say(t, member, "/get_nodes", nil)); !strings.Contains(got, "node-ready") {
			t.Errorf("/get_nodes of a member: %s", got)
		}
		if got := bottest.Plain(w.say(t, member, "/cordon node-ready", nil)); !strings.Contains(got, "только операторам") {
			t.Errorf("/cordon of a member: %s", got)
		}
	})
	t.Run("group admin is an operator", func(t *testing.T) {
		if got := bottest.Plain(w.say(t, groupAdmin, "/help", nil)); !strings.Contains(got, "Ваша роль: оператор") {
			t.Errorf("/help of a group admin: %s", got)
		}
		if got := bottest.Plain(w.say(t, groupAdmin, "/cordon node-tainted", nil)); !strings.Contains(got, "выведена") {
			t.Fatalf("/cordon of a group admin: %s", got)
		}
		if got := bottest.Plain(w.say(t, groupAdmin, "/uncordon node-tainted", nil)); !strings.Contains(got, "снова доступна") {
			t.Errorf("/uncordon of a group admin: %s", got)
		}
	})
	t.Run("explicit viewer who owns the group stays a viewer", func(t *testing.T) {
		if got := bottest.Plain(w.say(t, viewer, "/cordon node-ready", nil)); !strings.Contains(got, "только операторам") {
			t.Errorf("/cordon of the explicit viewer: %s", got)
		}
	})
	t.Run("stranger is told how to get access", func(t *testing.T) {
		got := bottest.Plain(w.say(t, stranger, "/get_pods", nil))
		if !strings.Contains(got, "Доступ запрещён") || !strings.Contains(got, "Вступите в группу команды «Oil team»") || !strings.Contains(got, "3003") {
			t.Errorf("stranger: %s", got)
		}
	})
	t.Run("removed from the group, access ends after the cache time", func(t *testing.T) {
		w.say(t, member, "/get_pods", nil)
		setMember(t, w.tg, member, telegramtest.StatusKicked)
		w.eventually(t, member, "/get_pods", "Доступ запрещён")
		setMember(t, w.tg, member, telegramtest.StatusMember)
		w.eventually(t, member, "/get_pods", "oil-refinery-application")
	})
	t.Run("Telegram failing: fail closed, then access again", func(t *testing.T) {
		if err := w.tg.InjectFault(telegramtest.Fault{Method: "getChatMember", Times: 1, Status: 502, Description: "Bad Gateway"}); err != nil {
			t.Fatal(err)
		}
		if got := bottest.Plain(w.say(t, newcomer, "/get_pods", nil)); !strings.Contains(got, "Не удалось проверить, состоите ли вы в группе команды") {
			t.Errorf("with getChatMember failing: %s", got)
		}
		if got := bottest.Plain(w.say(t, newcomer, "/get_pods", nil)); !strings.Contains(got, "oil-refinery-application") {
			t.Errorf("once Telegram answers: %s", got)
		}
		logs := w.bot.Logs()
		if !strings.Contains(logs, "group membership could not be checked") || !strings.Contains(logs, "502 Bad Gateway") {
			t.Errorf("the cause is not logged")
		}
	})
	t.Run("bot removed from the group: fail closed", func(t *testing.T) {
		setMember(t, w.tg, w.tg.Bot().ID, telegramtest.StatusKicked)
		if got := bottest.Plain(w.say(t, latecomer, "/get_pods", nil)); !strings.Contains(got, "Не удалось проверить, состоите ли вы в группе команды") {
			t.Errorf("with the bot kicked from the group: %s", got)
		}
		setMember(t, w.tg, w.tg.Bot().ID, telegramtest.StatusAdministrator)
		if got := bottest.Plain(w.say(t, latecomer, "/get_pods", nil)); !strings.Contains(got, "oil-refinery-application") {
			t.Errorf("back in the group: %s", got)
		}
	})
	t.Run("audit log says how the role was decided", func(t *testing.T) {
		seen := map[string]bool{}
		for _, line := range strings.Split(w.bot.Logs(), "\n") {
			var e struct {
				Msg     string `json:"msg"`
				UserID  int64  `json:"user_id"`
				Command string `json:"command"`
				Role    string `json:"role"`
				RoleVia string `json:"role_via"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "command" {
				seen[fmt.Sprintf("%d %s %s/%s", e.UserID, e.Command, e.Role, e.RoleVia)] = true
			}
		}
		for _, want := range []string{
			fmt.Sprintf("%d get_nodes viewer/group", member),
			fmt.Sprintf("%d cordon operator/group", groupAdmin),
			fmt.Sprintf("%d cordon viewer/list", viewer),
			fmt.Sprintf("%d get_pods stranger/group", stranger),
		} {
			if !seen[want] {
				t.Errorf("no audit line %q among %v", want, seen)
			}
		}
	})
	if strings.Contains(w.bot.Logs(), "not an administrator") {
		t.Errorf("warned although the bot administers the group")
	}
}

func TestGroupRoleNoneGivesNothing(t *testing.T) {
	w := teamWorld(t, telegramtest.StatusMember, "1m", "CHATOPS_GROUP_ADMIN_ROLE=none", "CHATOPS_GROUP_MEMBER_ROLE=none", "BOT_LANG=en")
	for _, user := range []int64{member, groupAdmin} {
		if got := bottest.Plain(w.say(t, user, "/get_nodes", nil)); !strings.Contains(got, "Access denied") {
			t.Errorf("user %d with role none: %s", user, got)
		}
	}
	if got := bottest.Plain(w.say(t, operator, "/get_nodes", nil)); !strings.Contains(got, "node-ready") {
		t.Errorf("explicit operator: %s", got)
	}
	if !strings.Contains(w.bot.Logs(), "the bot is not an administrator of the CHATOPS_GROUP_ID group") {
		t.Errorf("no warning that the bot is no administrator")
	}
}

func TestStartupRefusesAGroupTheBotIsNotIn(t *testing.T) {
	kubeconfig := clustertest.Shared(t).Kubeconfig
	for _, tt := range []struct {
		name      string
		botStatus string // "" : the group does not exist
		want      string
	}{
		{"no such group", "", "CHATOPS_GROUP_ID -1001234567890: Telegram does not show this group to the bot"},
		{"bot left", telegramtest.StatusLeft, "Bad Request: chat not found"},
		{"bot kicked", telegramtest.StatusKicked, "Forbidden: bot was kicked from the supergroup chat"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tg := bottest.Telegram(t, token)
			if tt.botStatus != "" {
				setMember(t, tg, tg.Bot().ID, tt.botStatus)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary)
			cmd.Env = []string{
				"TELEGRAM_BOT_TOKEN=" + token, "TELEGRAM_API_URL=" + tg.URL(),
				fmt.Sprintf("CHATOPS_GROUP_ID=%d", teamGroup),
				"KUBECONFIG=" + kubeconfig, "APP_NAMESPACE=" + ns,
				"REGISTRY_SOURCE=oci", "REGISTRY_IMAGE=127.0.0.1:1/oil/app", "BOT_HTTP_ADDR=127.0.0.1:0",
			}
			out, err := cmd.CombinedOutput()
			exit, ok := err.(*exec.ExitError)
			if !ok || exit.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; output %s", err, out)
			}
			if lines := strings.Count(strings.TrimSpace(string(out)), "\n"); lines != 0 || !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), "CHATOPS_GROUP_ID") {
				t.Errorf("output %q, want one line naming CHATOPS_GROUP_ID with %q", out, tt.want)
			}
		})
	}
}
