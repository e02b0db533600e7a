package telegramtest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"
	"github.com/google/go-cmp/cmp"
)

// TestInlineKeyboards drives keyboards and callback queries with the real
// client: a message with buttons, a press, the answer, edits of the
// keyboard, and allowed_updates.
func TestInlineKeyboards(t *testing.T) {
	s := newServer(t)
	bot, err := gotgbot.NewBot(token, &gotgbot.BotOpts{BotClient: &gotgbot.BaseBotClient{
		Client:             http.Client{},
		DefaultRequestOpts: &gotgbot.RequestOpts{APIURL: s.URL(), Timeout: 5 * time.Second},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ann := User{ID: 77, Username: "ann", FirstName: "Ann"}
	bob := User{ID: 78, Username: "bob", FirstName: "Bob"}
	s.Inject(Incoming{From: ann, Text: "/deploy 0.10.5"})
	if _, err := bot.GetUpdates(&gotgbot.GetUpdatesOpts{AllowedUpdates: []string{"message"}}); err != nil {
		t.Fatal(err)
	}

	confirm := gotgbot.InlineKeyboardMarkup{InlineKeyboard: [][]gotgbot.InlineKeyboardButton{{
		{Text: "Подтвердить", CallbackData: "confirm:1"}, {Text: "Отмена", CallbackData: "cancel:1"},
	}}}
	m, err := bot.SendMessage(ann.ID, "0.10.4 → 0.10.5", &gotgbot.SendMessageOpts{ReplyMarkup: confirm})
	if err != nil {
		t.Fatal(err)
	}
	if m.ReplyMarkup == nil || !cmp.Equal(confirm, *m.ReplyMarkup) {
		diff := cmp.Diff(confirm, m.ReplyMarkup)
		t.Errorf("sendMessage answered reply_markup %+v (-want +got):\n%s", m.ReplyMarkup, diff)
	}
	want := [][]Button{{{Text: "Подтвердить", CallbackData: "confirm:1"}, {Text: "Отмена", CallbackData: "cancel:1"}}}
	if got := s.Messages(ann.ID)[0].Keyboard; !cmp.Equal(want, got) {
		t.Errorf("stored keyboard %v, want %v", got, want)
	}

	if _, err := s.PressButton(bob, ann.ID, m.MessageId, "nothing"); err == nil {
		t.Error("a press of a button the message does not have was queued")
	}
	id, err := s.PressButton(bob, ann.ID, m.MessageId, "confirm:1")
	if err != nil {
		t.Fatal(err)
	}
	// Not allowed yet: the last getUpdates asked for messages only.
	if ups, err := bot.GetUpdates(&gotgbot.GetUpdatesOpts{Offset: 2}); err != nil || len(ups) != 0 {
		t.Fatalf("with allowed_updates [message]: %+v, %v; want no callback query", ups, err)
	}
	ups, err := bot.GetUpdates(&gotgbot.GetUpdatesOpts{Offset: 2, AllowedUpdates: []string{"message", "callback_query"}})
	if err != nil || len(ups) != 1 || ups[0].CallbackQuery == nil {
		t.Fatalf("GetUpdates = %+v, %v; want the callback query", ups, err)
	}
	q := ups[0].CallbackQuery
	if q.Id != id || q.From.Id != bob.ID || q.From.Username != "bob" || q.Data != "confirm:1" || q.ChatInstance == "" {
		t.Errorf("callback query %+v", q)
	}
	msg, ok := q.Message.(gotgbot.Message)
	if !ok || msg.MessageId != m.MessageId || msg.Chat.Id != ann.ID || msg.Text != "0.10.4 → 0.10.5" || msg.ReplyMarkup == nil {
		t.Errorf("callback query message %#v", q.Message)
	}

	if _, err := bot.AnswerCallbackQuery(id, &gotgbot.AnswerCallbackQueryOpts{Text: "Only the requester may confirm", ShowAlert: true}); err != nil {
		t.Fatal(err)
	}
	p, _ := s.CallbackQuery(id)
	if !p.Answered || p.Answer != (CallbackAnswer{Text: "Only the requester may confirm", ShowAlert: true}) || p.From != bob {
		t.Errorf("press %+v", p)
	}
	const tooOld = "Bad Request: query is too old and response timeout expired or query ID is invalid"
	for _, qid := range []string{id, "12345"} {
		if _, err := bot.AnswerCallbackQuery(qid, nil); err == nil || !strings.Contains(err.Error(), tooOld) {
			t.Errorf("answerCallbackQuery(%s) again or unknown: %v, want 400 %q", qid, err, tooOld)
		}
	}

	// The keyboard goes: editMessageReplyMarkup without markup, then an
	// edit of the text without reply_markup drops a new one too.
	if _, _, err := bot.EditMessageReplyMarkup(&gotgbot.EditMessageReplyMarkupOpts{ChatId: ann.ID, MessageId: m.MessageId}); err != nil {
		t.Fatal(err)
	}
	if got := s.Messages(ann.ID)[0]; got.Keyboard != nil || got.Edits != 1 {
		t.Errorf("after editMessageReplyMarkup: keyboard %v, %d edits", got.Keyboard, got.Edits)
	}
	if _, _, err := bot.EditMessageReplyMarkup(&gotgbot.EditMessageReplyMarkupOpts{ChatId: ann.ID, MessageId: m.MessageId}); err == nil ||
		!strings.Contains(err.Error(), "message is not modified") {
		t.Errorf("the same markup again: %v, want message is not modified", err)
	}
	if _, err := s.PressButton(ann, ann.ID, m.MessageId, "confirm:1"); err == nil {
		t.Error("a button that is gone could be pressed")
	}
	if _, _, err := bot.EditMessageText(&gotgbot.EditMessageTextOpts{Text: "expires soon", ChatId: ann.ID, MessageId: m.MessageId, ReplyMarkup: confirm}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bot.EditMessageText(&gotgbot.EditMessageTextOpts{Text: "expired", ChatId: ann.ID, MessageId: m.MessageId}); err != nil {
		t.Fatal(err)
	}
	if got := s.Messages(ann.ID)[0]; got.Keyboard != nil || got.Text != "expired" || !cmp.Equal(got.History, []string{"0.10.4 → 0.10.5", "expires soon"}) {
		t.Errorf("after the edits: %+v", got)
	}

	bad := gotgbot.InlineKeyboardMarkup{InlineKeyboard: [][]gotgbot.InlineKeyboardButton{{{Text: "x", CallbackData: strings.Repeat("d", 65)}}}}
	if _, err := bot.SendMessage(ann.ID, "x", &gotgbot.SendMessageOpts{ReplyMarkup: bad}); err == nil || !strings.Contains(err.Error(), "BUTTON_DATA_INVALID") {
		t.Errorf("callback_data of 65 bytes: %v, want BUTTON_DATA_INVALID", err)
	}
}
