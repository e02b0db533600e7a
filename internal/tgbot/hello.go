package tgbot

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/retry"
)

// Hello starts the bot's session: it checks the token with getMe, retrying
// while Telegram is unreachable (bot.User is then the bot's), clears a
// webhook that would make polling fail with 409, and publishes the command
// menu in every language. Only a rejected token (or ctx) ends it in error.
func Hello(ctx context.Context, bot *gotgbot.Bot, log *slog.Logger) error {
	startup := retry.Policy{Base: 2 * time.Second, Max: 30 * time.Second, OnRetry: func(attempt int, wait time.Duration, err error) {
		log.Warn("telegram not reachable at start-up; retrying", "attempt", attempt, "wait", wait.String(), "error", err)
	}}
	err := startup.Do(ctx, Classify(0), func(ctx context.Context) error {
		me, err := bot.GetMeWithContext(ctx, nil)
		if err == nil {
			bot.User = *me
		}
		return err
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("telegram rejected TELEGRAM_BOT_TOKEN (check it and TELEGRAM_API_URL): %w", err)
	}
	if _, err := bot.DeleteWebhookWithContext(ctx, nil); err != nil {
		log.Warn("could not delete a webhook; polling may get 409", "error", err)
	}
	for _, lang := range chatops.Languages() {
		var cmds []gotgbot.BotCommand
		for _, item := range chatops.Menu(lang) {
			cmds = append(cmds, gotgbot.BotCommand{Command: item.Command, Description: item.Description})
		}
		opts := &gotgbot.SetMyCommandsOpts{}
		if lang != "ru" {
			opts.LanguageCode = lang
		}
		if _, err := bot.SetMyCommandsWithContext(ctx, cmds, opts); err != nil {
			log.Warn("could not publish the command menu", "lang", lang, "error", err)
		}
	}
	return nil
}

// Ping asks Telegram who the bot is (getMe, bounded at 3 s), for /readyz.
func Ping(ctx context.Context, bot *gotgbot.Bot) error {
	_, err := bot.GetMeWithContext(ctx, &gotgbot.GetMeOpts{RequestOpts: &gotgbot.RequestOpts{Timeout: 3 * time.Second}})
	return err
}
