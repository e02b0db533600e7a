package tgbot

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// DefaultMaxMessages is how many messages a listing may take before it
// goes out as a text document instead.
const DefaultMaxMessages = 4

// replyTimeout bounds one Bot API call of an answer, with its retries.
const replyTimeout = 30 * time.Second

// responder delivers the chatops Results of one chat. Sends are retried by
// the BotClient on 429, 5xx and network faults: a rare duplicate answer is
// preferred to none. Failures are logged, never returned: nobody else
// could act on them.
type responder struct {
	bot         *gotgbot.Bot
	chatID      int64
	maxMessages int
	log         *slog.Logger
}

var noPreview = &gotgbot.LinkPreviewOptions{IsDisabled: true}

// deliver answers a button press, sends res's reply (or edits it into the
// pressed message), then its announcement, and returns the reply's message
// for a follow-up to edit.
func (r *responder) deliver(ctx context.Context, res chatops.Result) *message {
	if res.Answer != nil {
		r.answer(ctx, *res.Answer)
	}
	msg := &message{r: r}
	switch {
	case res.Edit != 0:
		msg.id = res.Edit
		if !res.Reply.Empty() {
			if err := msg.edit(ctx, res.Reply.Text(), res.Reply.Buttons); err != nil {
				r.log.Warn("pressed message not updated", "chat_id", r.chatID, "message_id", res.Edit, "error", err)
			}
		}
	case !res.Reply.Empty():
		msg.id = r.reply(ctx, res.Reply)
	}
	r.announce(ctx, res.Announce)
	return msg
}

// answer answers a callback query: Telegram shows a spinner on the button
// until it is answered. It is never retried: a late answer is refused
// ("query is too old").
func (r *responder) answer(ctx context.Context, a chatops.Answer) {
	ctx, cancel := context.WithTimeout(withoutRetry(ctx), quickTimeout)
	defer cancel()
	_, err := r.bot.AnswerCallbackQueryWithContext(ctx, a.QueryID, &gotgbot.AnswerCallbackQueryOpts{Text: a.Text, ShowAlert: a.Alert})
	if err != nil {
		r.log.Warn("button press not answered", "chat_id", r.chatID, "error", err)
	}
}

// keyboard is rows of buttons as Telegram takes them; empty for none.
func keyboard(rows [][]chatops.Button) gotgbot.InlineKeyboardMarkup {
	var kb gotgbot.InlineKeyboardMarkup
	for _, row := range rows {
		var out []gotgbot.InlineKeyboardButton
		for _, b := range row {
			out = append(out, gotgbot.InlineKeyboardButton{Text: b.Text, CallbackData: b.Data})
		}
		kb.InlineKeyboard = append(kb.InlineKeyboard, out)
	}
	return kb
}

// reply sends rep split to fit Telegram or, for a listing that would take
// more than maxMessages messages, as a text document with the header as
// caption. It returns the id of the last message, 0 when it was not sent.
func (r *responder) reply(ctx context.Context, rep chatops.Reply) int64 {
	if rep.Lines != nil {
		// A message holds at most MaxMessageLength characters of text, so
		// more text than maxMessages of them needs more messages however it
		// is split: send the document without escaping and splitting it
		// first (for 5,000 nodes that was most of the bot's own time).
		text := 0
		for _, l := range rep.Lines {
			text += utf8.RuneCountInString(l) + 1
		}
		if text > r.maxMessages*telegram.MaxMessageLength {
			r.document(ctx, rep)
			return 0
		}
	}
	chunks := telegram.SplitHTML(rep.Text(), telegram.MaxMessageLength)
	if rep.Lines != nil && len(chunks) > r.maxMessages {
		r.document(ctx, rep)
		return 0
	}
	var id int64
	for i, chunk := range chunks {
		var buttons [][]chatops.Button
		if i == len(chunks)-1 {
			buttons = rep.Buttons // under the last message
		}
		var err error
		if id, err = r.sendWith(ctx, r.chatID, chunk, buttons); err != nil {
			r.log.Warn("reply not delivered", "chat_id", r.chatID, "error", err)
			return 0
		}
	}
	return id
}

func (r *responder) document(ctx context.Context, rep chatops.Reply) {
	ctx, cancel := context.WithTimeout(ctx, replyTimeout)
	defer cancel()
	_, err := r.bot.SendDocumentWithContext(ctx, r.chatID, gotgbot.InputFileByReader(rep.File, bytes.NewReader(rep.Document())),
		&gotgbot.SendDocumentOpts{Caption: rep.HTML, ParseMode: gotgbot.ParseModeHTML})
	if err != nil {
		r.log.Warn("document not delivered", "chat_id", r.chatID, "error", err)
	}
}

// announce posts a to its chat (the audit chat), if any.
func (r *responder) announce(ctx context.Context, a chatops.Announcement) {
	if a.ChatID == 0 {
		return
	}
	if _, err := r.send(ctx, a.ChatID, a.HTML); err != nil {
		r.log.Warn("audit chat announcement failed", "chat_id", a.ChatID, "error", err)
	}
}

func (r *responder) send(ctx context.Context, chatID int64, html string) (int64, error) {
	return r.sendWith(ctx, chatID, html, nil)
}

func (r *responder) sendWith(ctx context.Context, chatID int64, html string, buttons [][]chatops.Button) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, replyTimeout)
	defer cancel()
	opts := &gotgbot.SendMessageOpts{ParseMode: gotgbot.ParseModeHTML, LinkPreviewOptions: noPreview}
	if buttons != nil {
		opts.ReplyMarkup = keyboard(buttons)
	}
	m, err := r.bot.SendMessageWithContext(ctx, chatID, html, opts)
	if err != nil {
		return 0, err
	}
	return m.MessageId, nil
}

// message is a reply as a follow-up edits it.
type message struct {
	r  *responder
	id int64 // 0: not sent
}

var _ chatops.Message = (*message)(nil)

// Edit replaces the message's text and removes its buttons: an edit
// without reply_markup takes the inline keyboard off.
func (m *message) Edit(ctx context.Context, html string) error { return m.edit(ctx, html, nil) }

// edit replaces the message's text and its buttons with buttons (nil: none).
func (m *message) edit(ctx context.Context, html string, buttons [][]chatops.Button) error {
	if m.id == 0 {
		id, err := m.r.sendWith(ctx, m.r.chatID, html, buttons)
		if err == nil {
			m.id = id
		}
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, replyTimeout)
	defer cancel()
	_, _, err := m.r.bot.EditMessageTextWithContext(ctx, &gotgbot.EditMessageTextOpts{
		Text: html, ChatId: m.r.chatID, MessageId: m.id, ParseMode: gotgbot.ParseModeHTML, LinkPreviewOptions: noPreview,
		ReplyMarkup: keyboard(buttons),
	})
	if telegram.IsAPIError(err, 400) && strings.Contains(err.Error(), "message is not modified") {
		return nil
	}
	return err
}
