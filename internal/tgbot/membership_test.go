package tgbot

import (
	"errors"
	"strings"
	"testing"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/access"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

const group = -1001234567890

func memberBot(t *testing.T) (*telegramtest.Server, *gotgbot.Bot) {
	t.Helper()
	srv, err := telegramtest.New(telegramtest.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	bot, err := gotgbot.NewBot(token, &gotgbot.BotOpts{BotClient: NewClient(srv.URL(), token, telegram.Retry{Attempts: 1}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return srv, bot
}

func TestCheckGroup(t *testing.T) {
	for _, tt := range []struct {
		name      string
		botStatus string // "": no such group
		wantAdmin bool
		wantErr   string // "" : no error
		groupErr  bool
	}{
		{"administrator", telegramtest.StatusAdministrator, true, "", false},
		{"creator", telegramtest.StatusCreator, true, "", false},
		{"plain member", telegramtest.StatusMember, false, "", false},
		{"no such group", "", false, "CHATOPS_GROUP_ID -1001234567890: Telegram does not show this group to the bot", true},
		{"left", telegramtest.StatusLeft, false, "Bad Request: chat not found", true},
		{"kicked", telegramtest.StatusKicked, false, "Forbidden: bot was kicked from the supergroup chat", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, bot := memberBot(t)
			if tt.botStatus != "" {
				if err := srv.SetGroup(telegramtest.Chat{ID: group, Title: "Oil team"}); err != nil {
					t.Fatal(err)
				}
				if err := srv.SetMember(group, srv.Bot(), telegramtest.ChatMember{Status: tt.botStatus}); err != nil {
					t.Fatal(err)
				}
			}
			title, admin, err := CheckGroup(t.Context(), bot, group)
			var ge *access.GroupError
			switch {
			case tt.wantErr == "" && (err != nil || title != "Oil team" || admin != tt.wantAdmin):
				t.Errorf("CheckGroup = %q, %v, %v; want Oil team, %v", title, admin, err, tt.wantAdmin)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CheckGroup error %v, want %q", err, tt.wantErr)
			case tt.wantErr != "" && errors.As(err, &ge) != tt.groupErr:
				t.Errorf("CheckGroup error %T, want an *access.GroupError: %v", err, tt.groupErr)
			}
		})
	}
}

func TestCheckGroupTelegramDown(t *testing.T) {
	srv, bot := memberBot(t)
	if err := srv.InjectFault(telegramtest.Fault{Method: "getChat", Times: 1, Status: 502}); err != nil {
		t.Fatal(err)
	}
	_, _, err := CheckGroup(t.Context(), bot, group)
	var ge *access.GroupError
	if err == nil || errors.As(err, &ge) {
		t.Errorf("a 502 gives %v; want an error that is no configuration error", err)
	}
}

func TestMembership(t *testing.T) {
	srv, bot := memberBot(t)
	m := Membership{Bot: bot}
	if err := srv.SetMember(group, telegramtest.User{ID: 7}, telegramtest.ChatMember{Status: telegramtest.StatusRestricted, IsMember: true}); err != nil {
		t.Fatal(err)
	}
	got, err := m.ChatMember(t.Context(), group, 7)
	if err != nil || got != (access.Member{Status: "restricted", IsMember: true}) {
		t.Errorf("ChatMember = %+v, %v", got, err)
	}
	if _, err := m.ChatMember(t.Context(), group, 8); err == nil || !strings.Contains(err.Error(), "user not found") {
		t.Errorf("unknown user: %v", err)
	}
	if err := srv.InjectFault(telegramtest.Fault{Method: "getChatMember", Times: 1, Status: 500}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ChatMember(t.Context(), group, 7); err == nil {
		t.Errorf("no error on a 500")
	}
	if n := srv.Calls("getChatMember"); n != 3 {
		t.Errorf("%d getChatMember calls, want 3 (no retry)", n)
	}
}
