// Package notify is the pipeline notifier: it reads its configuration and
// GitLab CI's variables from the environment, renders the status line and
// delivers it to the team's Telegram chat within a bounded time.
package notify

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// Config is the notifier's configuration, read once from the environment.
type Config struct {
	Token      string         // TELEGRAM_BOT_TOKEN
	ChatID     string         // TELEGRAM_CHAT_ID: numeric id or @channel
	APIURL     string         // TELEGRAM_API_URL
	Timeout    time.Duration  // NOTIFY_TIMEOUT: bound on all attempts together
	Location   *time.Location // NOTIFY_TZ
	TimeFormat string         // NOTIFY_TIME_FORMAT (Go layout)
	Lang       Lang           // NOTIFY_LANG: ru (default) or en
}

// Defaults of the optional variables.
const (
	DefaultTimeout    = 30 * time.Second
	DefaultTZ         = "Europe/Moscow"
	DefaultTimeFormat = "2006-01-02 15:04:05 MST"
)

var channelName = regexp.MustCompile(`^@[A-Za-z][A-Za-z0-9_]{3,}$`)

// LoadConfig reads and validates the configuration. With delivery false (a
// dry run) the Telegram variables are neither needed nor checked. Each error
// names the variable and what it accepts.
func LoadConfig(getenv func(string) string, delivery bool) (Config, error) {
	c := Config{
		Token:      strings.TrimSpace(getenv("TELEGRAM_BOT_TOKEN")),
		ChatID:     strings.TrimSpace(getenv("TELEGRAM_CHAT_ID")),
		APIURL:     strings.TrimSpace(getenv("TELEGRAM_API_URL")),
		Timeout:    DefaultTimeout,
		TimeFormat: cmp.Or(getenv("NOTIFY_TIME_FORMAT"), DefaultTimeFormat),
	}
	// A layout with no Go reference fields (say strftime's %Y-%m-%d) would
	// print itself instead of the time.
	if sample := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC); sample.Format(c.TimeFormat) == c.TimeFormat {
		return c, fmt.Errorf("NOTIFY_TIME_FORMAT must be a Go time layout such as %q (the reference time Mon Jan 2 15:04:05 MST 2006), got %q", DefaultTimeFormat, c.TimeFormat)
	}
	tz := cmp.Or(strings.TrimSpace(getenv("NOTIFY_TZ")), DefaultTZ)
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return c, fmt.Errorf("NOTIFY_TZ must be an IANA time zone such as Europe/Moscow or UTC, got %q", tz)
	}
	c.Location = loc
	lang := strings.TrimSpace(getenv("NOTIFY_LANG"))
	if c.Lang, err = ParseLang(lang); err != nil {
		return c, fmt.Errorf("NOTIFY_LANG must be ru (the default) or en, got %q", lang)
	}
	if v := strings.TrimSpace(getenv("NOTIFY_TIMEOUT")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("NOTIFY_TIMEOUT must be a positive Go duration such as 30s or 2m, got %q", v)
		}
		c.Timeout = d
	}
	if !delivery {
		return c, nil
	}
	if err := telegram.CheckConfig(c.Token, c.APIURL); err != nil {
		return c, err
	}
	if c.ChatID == "" {
		return c, fmt.Errorf("TELEGRAM_CHAT_ID is not set: it must be an integer chat id or @channel")
	}
	if _, err := strconv.ParseInt(c.ChatID, 10, 64); err != nil && !channelName.MatchString(c.ChatID) {
		return c, fmt.Errorf("TELEGRAM_CHAT_ID must be an integer chat id or @channel, got %q", c.ChatID)
	}
	c.APIURL = cmp.Or(c.APIURL, telegram.DefaultAPIURL)
	return c, nil
}
