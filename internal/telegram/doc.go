// Package telegram holds the Telegram Bot API details that both Derrick
// programs need: masking the bot token in every error and log line, HTML
// escaping, splitting text into messages Telegram accepts, a retry policy
// that honours flood control, and a small Bot API client for plain sends.
package telegram
