package telegram

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// CheckConfig validates the bot token (TELEGRAM_BOT_TOKEN) and the Bot API
// base URL (TELEGRAM_API_URL) the way both programs read them. Each error
// names the variable and what it accepts; the token itself is never echoed,
// since it is a secret. An empty apiURL stands for DefaultAPIURL.
func CheckConfig(token, apiURL string) error {
	if token == "" {
		return errors.New("TELEGRAM_BOT_TOKEN is not set: give the bot token from @BotFather (in GitLab CI, as a masked CI/CD variable)")
	}
	if strings.ContainsAny(token, " /?#\t\n") {
		return errors.New("TELEGRAM_BOT_TOKEN is malformed: a token looks like 123456:ABC-DEF… with no spaces or slashes")
	}
	if apiURL == "" {
		return nil
	}
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("TELEGRAM_API_URL must be an http:// or https:// URL such as %s, got %q", DefaultAPIURL, apiURL)
	}
	return nil
}
