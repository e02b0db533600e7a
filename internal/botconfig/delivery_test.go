package botconfig

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDeliveryDefaults(t *testing.T) {
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Core.CommandTimeout, c.Delivery.ChatQueue, c.Delivery.StrangerReplyEvery, c.Core.GroupLogs}
	want := []any{time.Minute, 20, 10 * time.Minute, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	c, err = load(map[string]string{"BOT_COMMAND_TIMEOUT": "5s", "BOT_CHAT_QUEUE": "3", "BOT_STRANGER_REPLY_EVERY": "1h", "BOT_GROUP_LOGS": "true"})
	if err != nil {
		t.Fatal(err)
	}
	got = []any{c.Core.CommandTimeout, c.Delivery.ChatQueue, c.Delivery.StrangerReplyEvery, c.Core.GroupLogs}
	want = []any{5 * time.Second, 3, time.Hour, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
}

func TestDeliveryRejects(t *testing.T) {
	for _, tt := range []struct{ key, value, want string }{
		{"BOT_COMMAND_TIMEOUT", "60", "BOT_COMMAND_TIMEOUT must be a positive Go duration"},
		{"BOT_COMMAND_TIMEOUT", "500ms", `BOT_COMMAND_TIMEOUT must be from 1s to 10m0s, got "500ms"`},
		{"BOT_COMMAND_TIMEOUT", "1h", "BOT_COMMAND_TIMEOUT must be from 1s to 10m0s"},
		{"BOT_CHAT_QUEUE", "0", "BOT_CHAT_QUEUE must be a whole number from 1 to 1000"},
		{"BOT_CHAT_QUEUE", "many", "BOT_CHAT_QUEUE must be a whole number from 1 to 1000"},
		{"BOT_STRANGER_REPLY_EVERY", "-1m", "BOT_STRANGER_REPLY_EVERY must be a positive Go duration"},
		{"BOT_GROUP_LOGS", "sometimes", "BOT_GROUP_LOGS must be true or false"},
	} {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, err := load(map[string]string{tt.key: tt.value})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// The redactor is built from the values the configuration uses: a secret
// read from a Kubernetes Secret often ends in a newline, which the
// configuration trims; the untrimmed value would never match a log line.
func TestSecretsAreTheTrimmedValues(t *testing.T) {
	c, err := load(map[string]string{
		"TELEGRAM_BOT_TOKEN": "123456:bot-secret\n",
		"REGISTRY_PASSWORD":  " s3cret\n",
		"REGISTRY_USERNAME":  "robot",
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"123456:bot-secret", "", "s3cret", ""}, c.Secrets()); diff != "" {
		t.Errorf("secrets (-want +got):\n%s", diff)
	}
}
