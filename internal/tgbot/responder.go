package tgbot

import (
	"bytes"
	"context"
	"strings"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// responder answers in one chat. Sends are retried by the BotClient on 429,
// 5xx and network faults: a rare duplicate answer is preferred to none.
type responder struct {
	bot    *gotgbot.Bot
	chatID int64
}

var _ chatops.Responder = (*responder)(nil)

var noPreview = &gotgbot.LinkPreviewOptions{IsDisabled: true}

func (r *responder) Send(ctx context.Context, html string) (int64, error) {
	return send(ctx, r.bot, r.chatID, html)
}

func (r *responder) Announce(ctx context.Context, chatID int64, html string) error {
	_, err := send(ctx, r.bot, chatID, html)
	return err
}

func send(ctx context.Context, bot *gotgbot.Bot, chatID int64, html string) (int64, error) {
	m, err := bot.SendMessageWithContext(ctx, chatID, html, &gotgbot.SendMessageOpts{
		ParseMode: gotgbot.ParseModeHTML, LinkPreviewOptions: noPreview,
	})
	if err != nil {
		return 0, err
	}
	return m.MessageId, nil
}

func (r *responder) Edit(ctx context.Context, messageID int64, html string) error {
	_, _, err := r.bot.EditMessageTextWithContext(ctx, &gotgbot.EditMessageTextOpts{
		Text: html, ChatId: r.chatID, MessageId: messageID, ParseMode: gotgbot.ParseModeHTML, LinkPreviewOptions: noPreview,
	})
	if telegram.IsAPIError(err, 400) && strings.Contains(err.Error(), "message is not modified") {
		return nil
	}
	return err
}

func (r *responder) SendDocument(ctx context.Context, name string, content []byte, caption string) error {
	_, err := r.bot.SendDocumentWithContext(ctx, r.chatID, gotgbot.InputFileByReader(name, bytes.NewReader(content)),
		&gotgbot.SendDocumentOpts{Caption: caption, ParseMode: gotgbot.ParseModeHTML})
	return err
}
