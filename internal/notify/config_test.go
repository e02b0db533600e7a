package notify

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func validEnv() map[string]string {
	return map[string]string{
		"TELEGRAM_BOT_TOKEN": "123456:secret",
		"TELEGRAM_CHAT_ID":   "-1001234567890",
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(envOf(validEnv()), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.APIURL != "https://api.telegram.org" || c.Timeout != 30*time.Second ||
		c.Location.String() != "Europe/Moscow" || c.TimeFormat != "2006-01-02 15:04:05 MST" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoadConfigAccepts(t *testing.T) {
	tests := map[string]map[string]string{
		"channel name":   {"TELEGRAM_CHAT_ID": "@oil_pipelines"},
		"positive id":    {"TELEGRAM_CHAT_ID": "42"},
		"http api":       {"TELEGRAM_API_URL": "http://127.0.0.1:8081"},
		"timeout":        {"NOTIFY_TIMEOUT": "2m"},
		"utc":            {"NOTIFY_TZ": "UTC"},
		"layout":         {"NOTIFY_TIME_FORMAT": "02.01.2006 15:04"},
		"spaces trimmed": {"TELEGRAM_CHAT_ID": " -1 "},
		"long token":     {"TELEGRAM_BOT_TOKEN": "7000000000:AAE-x_y"},
	}
	for name, over := range tests {
		t.Run(name, func(t *testing.T) {
			m := validEnv()
			for k, v := range over {
				m[k] = v
			}
			if _, err := LoadConfig(envOf(m), true); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestLoadConfigRejects(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"no token", "TELEGRAM_BOT_TOKEN", "", "TELEGRAM_BOT_TOKEN is not set"},
		{"token with space", "TELEGRAM_BOT_TOKEN", "123 456", "TELEGRAM_BOT_TOKEN is malformed"},
		{"no chat", "TELEGRAM_CHAT_ID", "", "TELEGRAM_CHAT_ID is not set: it must be an integer chat id or @channel"},
		{"chat is a word", "TELEGRAM_CHAT_ID", "oil", `TELEGRAM_CHAT_ID must be an integer chat id or @channel, got "oil"`},
		{"chat is a float", "TELEGRAM_CHAT_ID", "1.5", "TELEGRAM_CHAT_ID must be an integer chat id or @channel"},
		{"bad api url", "TELEGRAM_API_URL", "api.telegram.org", "TELEGRAM_API_URL must be an http:// or https:// URL"},
		{"ftp api url", "TELEGRAM_API_URL", "ftp://x", "TELEGRAM_API_URL must be an http:// or https:// URL"},
		{"bad timeout", "NOTIFY_TIMEOUT", "30", `NOTIFY_TIMEOUT must be a positive Go duration such as 30s or 2m, got "30"`},
		{"zero timeout", "NOTIFY_TIMEOUT", "0s", "NOTIFY_TIMEOUT must be a positive Go duration"},
		{"strftime layout", "NOTIFY_TIME_FORMAT", "%Y-%m-%d %H:%M", `NOTIFY_TIME_FORMAT must be a Go time layout such as "2006-01-02 15:04:05 MST"`},
		{"bad zone", "NOTIFY_TZ", "Moscow", `NOTIFY_TZ must be an IANA time zone such as Europe/Moscow or UTC, got "Moscow"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validEnv()
			m[tt.key] = tt.value
			_, err := LoadConfig(envOf(m), true)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestLoadConfigDryRunNeedsNoTelegram(t *testing.T) {
	if _, err := LoadConfig(envOf(map[string]string{}), false); err != nil {
		t.Errorf("dry run: %v", err)
	}
	if _, err := LoadConfig(envOf(map[string]string{"NOTIFY_TZ": "Nowhere/Land"}), false); err == nil {
		t.Errorf("dry run accepted a bad NOTIFY_TZ")
	}
}
