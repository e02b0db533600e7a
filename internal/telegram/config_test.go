package telegram

import (
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		name, token, apiURL, want string // want "" means valid
	}{
		{"valid", testToken, "http://127.0.0.1:8081", ""},
		{"default url", testToken, "", ""},
		{"no token", "", "", "TELEGRAM_BOT_TOKEN is not set"},
		{"token with space", "123 456", "", "TELEGRAM_BOT_TOKEN is malformed"},
		{"token with slash", "12/34", "", "TELEGRAM_BOT_TOKEN is malformed"},
		{"no scheme", testToken, "api.telegram.org", `TELEGRAM_API_URL must be an http:// or https:// URL such as https://api.telegram.org, got "api.telegram.org"`},
		{"ftp", testToken, "ftp://x", `got "ftp://x"`},
		{"no host", testToken, "https://", `got "https://"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckConfig(tt.token, tt.apiURL)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckConfig: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("CheckConfig = %v, want an error containing %q", err, tt.want)
			case err != nil && tt.token != "" && strings.Contains(err.Error(), tt.token):
				t.Fatalf("CheckConfig error %q echoes the token", err)
			}
		})
	}
}
