package telegramtest

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"
)

func memberBot(t *testing.T, s *Server) *gotgbot.Bot {
	t.Helper()
	bot, err := gotgbot.NewBot(token, &gotgbot.BotOpts{BotClient: &gotgbot.BaseBotClient{
		Client:             http.Client{},
		DefaultRequestOpts: &gotgbot.RequestOpts{APIURL: s.URL(), Timeout: 5 * time.Second},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

func apiCode(err error) (int, string) {
	var tgErr *gotgbot.TelegramError
	if errors.As(err, &tgErr) {
		return tgErr.Code, tgErr.Description
	}
	return 0, ""
}

func TestGetChatMember(t *testing.T) {
	const group = -1001234567890
	s := newServer(t)
	bot := memberBot(t, s)
	if err := s.SetGroup(Chat{ID: group, Title: "Oil team"}); err != nil {
		t.Fatal(err)
	}
	users := map[string]ChatMember{
		StatusCreator: {Status: StatusCreator}, StatusAdministrator: {Status: StatusAdministrator},
		StatusMember: {Status: StatusMember}, "restricted member": {Status: StatusRestricted, IsMember: true},
		"restricted, out": {Status: StatusRestricted}, StatusLeft: {Status: StatusLeft}, StatusKicked: {Status: StatusKicked},
	}
	ids := map[string]int64{}
	next := int64(100)
	for name, m := range users {
		next++
		ids[name] = next
		if err := s.SetMember(group, User{ID: next, FirstName: name}, m); err != nil {
			t.Fatal(err)
		}
	}
	chat, err := bot.GetChat(group, nil)
	if err != nil || chat.Title != "Oil team" || chat.Type != "supergroup" {
		t.Fatalf("GetChat = %+v, %v", chat, err)
	}
	for name, want := range users {
		cm, err := bot.GetChatMember(group, ids[name], nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := cm.MergeChatMember()
		if got.Status != want.Status || got.IsMember != want.IsMember || got.User.Id != ids[name] {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
	// The bot is a member by default; a user who wrote in the group is one too.
	if cm, err := bot.GetChatMember(group, bot.Id, nil); err != nil || cm.GetStatus() != StatusMember {
		t.Errorf("the bot itself: %v, %v", cm, err)
	}
	s.Inject(Incoming{From: User{ID: 300}, Chat: Chat{ID: group}, Text: "hi"})
	s.Inject(Incoming{From: User{ID: 301}, Text: "/start"})
	if cm, err := bot.GetChatMember(group, 300, nil); err != nil || cm.GetStatus() != StatusMember {
		t.Errorf("a user who wrote in the group: %v, %v", cm, err)
	}
	if cm, err := bot.GetChatMember(group, 301, nil); err != nil || cm.GetStatus() != StatusLeft {
		t.Errorf("a known user outside the group: %v, %v", cm, err)
	}

	for _, tt := range []struct {
		name     string
		chat     int64
		user     int64
		code     int
		desc     string
		setupBot string
	}{
		{"unknown user", group, 999, 400, "Bad Request: user not found", ""},
		{"unknown chat", -555, 101, 400, "Bad Request: chat not found", ""},
		{"bot left", group, 101, 400, "Bad Request: chat not found", StatusLeft},
		{"bot kicked", group, 101, 403, "Forbidden: bot was kicked from the supergroup chat", StatusKicked},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setupBot != "" {
				if err := s.SetMember(group, s.Bot(), ChatMember{Status: tt.setupBot}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := bot.GetChatMember(tt.chat, tt.user, nil)
			if code, desc := apiCode(err); code != tt.code || desc != tt.desc {
				t.Errorf("getChatMember: %v, want %d %q", err, tt.code, tt.desc)
			}
			if tt.chat == group && tt.setupBot != "" {
				_, err := bot.GetChat(tt.chat, nil)
				if code, desc := apiCode(err); code != tt.code || desc != tt.desc {
					t.Errorf("getChat: %v, want %d %q", err, tt.code, tt.desc)
				}
			}
		})
	}
	if err := s.SetMember(group, User{ID: 1}, ChatMember{Status: "owner"}); err == nil {
		t.Errorf("SetMember accepted status owner")
	}
	if err := s.SetGroup(Chat{ID: 5}); err == nil {
		t.Errorf("SetGroup accepted a positive id")
	}
}

func TestGetChatMemberFault(t *testing.T) {
	s := newServer(t)
	bot := memberBot(t, s)
	if err := s.SetMember(-42, User{ID: 7}, ChatMember{Status: StatusMember}); err != nil {
		t.Fatal(err)
	}
	if err := s.InjectFault(Fault{Method: "getChatMember", Times: 1, Status: 502}); err != nil {
		t.Fatal(err)
	}
	if _, err := bot.GetChatMember(-42, 7, nil); err == nil {
		t.Errorf("no error with a 502 fault")
	}
	if cm, err := bot.GetChatMember(-42, 7, nil); err != nil || cm.GetStatus() != StatusMember {
		t.Errorf("after the fault: %v, %v", cm, err)
	}
	if n := s.Calls("getChatMember"); n != 2 {
		t.Errorf("Calls = %d, want 2", n)
	}
}
