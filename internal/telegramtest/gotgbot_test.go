package telegramtest

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"
	"github.com/PaulSonOfLars/gotgbot/v2/ext"
	"github.com/PaulSonOfLars/gotgbot/v2/ext/handlers"
	"github.com/google/go-cmp/cmp"
)

// TestGotgbotClient drives the emulator with the real client, which sends multipart forms.
func TestGotgbotClient(t *testing.T) {
	s := newServer(t)
	bot, err := gotgbot.NewBot(token, &gotgbot.BotOpts{BotClient: &gotgbot.BaseBotClient{
		Client:             http.Client{},
		DefaultRequestOpts: &gotgbot.RequestOpts{APIURL: s.URL(), Timeout: 5 * time.Second},
	}})
	if err != nil {
		t.Fatalf("NewBot (getMe): %v", err)
	}
	if bot.Id != 123456 || bot.Username != "derrick_bot" || !bot.IsBot {
		t.Errorf("bot user = %+v", bot.User)
	}

	s.Inject(Incoming{From: User{ID: 77, Username: "ann", FirstName: "Ann"}, Chat: Chat{ID: -42, Type: "supergroup"}, Text: "/get_pods@derrick_bot now"})
	ups, err := bot.GetUpdates(&gotgbot.GetUpdatesOpts{Timeout: 1, AllowedUpdates: []string{"message"}})
	if err != nil || len(ups) != 1 {
		t.Fatalf("GetUpdates = %+v, %v", ups, err)
	}
	if e := ups[0].Message.Entities; len(e) != 1 || e[0] != (gotgbot.MessageEntity{Type: "bot_command", Length: 21}) {
		t.Errorf("entities = %+v, want one bot_command of 21 units at 0", e)
	}
	if !handlers.NewCommand("get_pods", nil).CheckUpdate(bot, ext.NewContext(bot, &ups[0], nil)) {
		t.Errorf("gotgbot's command handler does not match %+v", ups[0].Message)
	}
	if _, err := bot.GetUpdates(&gotgbot.GetUpdatesOpts{Offset: ups[0].UpdateId + 1}); err != nil || s.Pending() != 0 {
		t.Errorf("confirming: %v, %d pending", err, s.Pending())
	}

	m, err := bot.SendMessage(-42, "<b>pods</b>: 3", &gotgbot.SendMessageOpts{ParseMode: "HTML"})
	if err != nil || m.Text != "pods: 3" || m.MessageId != 2 || m.Chat.Type != "supergroup" || !m.From.IsBot {
		t.Fatalf("SendMessage = %+v, %v", m, err)
	}
	if _, _, err := bot.EditMessageText(&gotgbot.EditMessageTextOpts{ChatId: -42, MessageId: m.MessageId, Text: "<b>pods</b>: 4", ParseMode: "HTML"}); err != nil {
		t.Fatalf("EditMessageText: %v", err)
	}
	d, err := bot.SendDocument(-42, gotgbot.InputFileByReader("logs.txt", strings.NewReader("a\nb\n")), &gotgbot.SendDocumentOpts{Caption: "logs"})
	if err != nil {
		t.Fatalf("SendDocument by reader: %v", err)
	}
	if _, err := bot.SendDocument(-42, gotgbot.InputFileByID(d.Document.FileId), nil); err != nil {
		t.Fatalf("SendDocument by file_id: %v", err)
	}
	if _, err := bot.SetMyCommands([]gotgbot.BotCommand{{Command: "get_pods", Description: "поды"}},
		&gotgbot.SetMyCommandsOpts{Scope: gotgbot.BotCommandScopeChat{ChatId: -42}, LanguageCode: "ru"}); err != nil {
		t.Fatalf("SetMyCommands: %v", err)
	}
	if got := s.Commands(CommandScope{Type: "chat", ChatID: -42}, "ru"); len(got) != 1 {
		t.Errorf("commands = %+v", got)
	}

	doc := &Document{FileID: "document-1", Name: "logs.txt", Content: []byte("a\nb\n")}
	want := []Message{
		{ID: 2, ChatID: -42, From: s.Bot(), Text: "<b>pods</b>: 4", ParseMode: "HTML", Plain: "pods: 4", History: []string{"<b>pods</b>: 3"}, Edits: 1},
		{ID: 3, ChatID: -42, From: s.Bot(), Plain: "logs", Document: &Document{FileID: doc.FileID, Name: doc.Name, Content: doc.Content, Caption: "logs"}},
		{ID: 4, ChatID: -42, From: s.Bot(), Document: doc},
	}
	if diff := cmp.Diff(want, s.Messages(-42), ignoreDate); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}

	var tgErr *gotgbot.TelegramError
	if _, err := bot.SendMessage(-42, "<pod>", &gotgbot.SendMessageOpts{ParseMode: "HTML"}); !errors.As(err, &tgErr) ||
		tgErr.Code != 400 || !strings.HasPrefix(tgErr.Description, "Bad Request: can't parse entities") {
		t.Errorf("bad HTML: %v", err)
	}
	if err := s.InjectFault(Fault{Method: "sendMessage", Times: 1, Status: 429, RetryAfter: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := bot.SendMessage(-42, "x", nil); !errors.As(err, &tgErr) || tgErr.Code != 429 ||
		tgErr.ResponseParams == nil || tgErr.ResponseParams.RetryAfter != 7 {
		t.Errorf("flood: %v", err)
	}
}
