package chart

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"gitlab.com/derrick-kit/derrick/internal/bottest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// The bot process and the chat with it (internal/bottest, shared with
// bot/main_test.go).

const (
	token    = "7000000002:AAFakeBotTokenForDerrickChart_abc"
	operator = 1001
	viewer   = 2002
	stranger = 3003
	auditID  = -1001234567890
)

// botBinary builds the bot once per test binary, static like the image's.
var botBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "derrick-chart-test-")
	if err != nil {
		return "", err
	}
	binDir = dir
	return bottest.Build(filepath.Join(root, "bot"), dir)
})

// binDir is removed by TestMain.
var binDir string

// startBot runs the bot with exactly env (plus PATH) and waits for its
// "bot started" line. It is stopped (SIGKILL) in t.Cleanup, and its log must
// never contain the token.
func startBot(t testing.TB, env map[string]string) *bottest.Bot {
	t.Helper()
	bin, err := botBinary()
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	return bottest.Start(t, bin, token, list)
}

// chat is the emulator seen from one test.
type chat struct {
	tg  *telegramtest.Server
	bot *bottest.Bot
}

// say sends text as user in a DM and waits up to 90s until the bot has
// answered and the last answer satisfies done (nil: any answer).
func (c *chat) say(t testing.TB, user int64, text string, done func(last telegramtest.Message) bool) []telegramtest.Message {
	t.Helper()
	return c.bot.Say(t, c.tg, user, text, done)
}
