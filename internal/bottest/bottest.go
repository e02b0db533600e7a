// Package bottest runs the built bot binary for end-to-end tests against
// the Telegram emulator (internal/telegramtest), as bot/ and test/chart do:
//
//	bin, err := bottest.Build(pkgDir, outDir) // once, in TestMain or a sync.Once
//	tg := bottest.Telegram(t, token)
//	bot := bottest.Start(t, bin, token, env) // env with TELEGRAM_API_URL=tg.URL()
//	got := bottest.Plain(bot.Say(t, tg, userID, "/get_nodes", nil))
package bottest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// Build builds the bot's main package in pkgDir as outDir/bot, static
// (CGO_ENABLED=0) like the image's, and returns its path. Every caller uses
// the same flags, so the build cache serves them all.
func Build(pkgDir, outDir string) (string, error) {
	bin := filepath.Join(outDir, "bot")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = pkgDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the bot: %w\n%s", err, out)
	}
	return bin, nil
}

// Telegram starts the emulator for the bot with token, as @oil_bot with id
// 7000000002, and closes it in t.Cleanup.
func Telegram(t testing.TB, token string) *telegramtest.Server {
	t.Helper()
	tg, err := telegramtest.New(telegramtest.Config{Token: token, Bot: telegramtest.User{ID: 7000000002, Username: "oil_bot"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	return tg
}

// Bot is a running bot binary whose JSON log (its stderr) is kept for
// assertions.
type Bot struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	log     strings.Builder
	http    string
	done    chan struct{}
	waitErr error
}

// Start runs binary with exactly env plus PATH and waits up to 30s for its
// "bot started" line. In t.Cleanup the bot is killed (SIGKILL) if it still
// runs, t fails if the secret part of token appears in its log, and the log
// is printed when t failed.
func Start(t testing.TB, binary, token string, env []string) *Bot {
	t.Helper()
	b := &Bot{cmd: exec.Command(binary), done: make(chan struct{})}
	b.cmd.Env = append(append([]string(nil), env...), "PATH="+os.Getenv("PATH"))
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.log.WriteString(line + "\n")
			b.mu.Unlock()
			var e struct {
				Msg  string `json:"msg"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "bot started" {
				select {
				case started <- e.HTTP:
				default:
				}
			}
		}
		b.waitErr = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = b.cmd.Process.Kill()
			<-b.done
		}
		logs := b.Logs()
		// The part after the colon is the secret; it is in the whole token too.
		if strings.Contains(logs, token[strings.IndexByte(token, ':')+1:]) {
			t.Errorf("the bot token appears in the bot's log")
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", logs)
		}
	})
	select {
	case b.http = <-started:
	case <-b.done:
		t.Fatalf("bot exited at start-up: %v\n%s", b.waitErr, b.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("bot did not start within 30s:\n%s", b.Logs())
	}
	return b
}

// Logs returns the bot's log so far.
func (b *Bot) Logs() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// HTTPAddr is the address of the bot's HTTP server, from its "bot started" line.
func (b *Bot) HTTPAddr() string { return b.http }

// PID is the bot's process id.
func (b *Bot) PID() int { return b.cmd.Process.Pid }

// Signal sends sig to the bot.
func (b *Bot) Signal(sig os.Signal) error { return b.cmd.Process.Signal(sig) }

// Done is closed when the bot has exited; Err then returns how.
func (b *Bot) Done() <-chan struct{} { return b.done }

// Err returns the bot's exit error (nil for exit status 0) once Done is
// closed, and nil before.
func (b *Bot) Err() error {
	select {
	case <-b.done:
		return b.waitErr
	default:
		return nil
	}
}

// Running fails t when the bot has exited.
func (b *Bot) Running(t testing.TB) {
	t.Helper()
	select {
	case <-b.done:
		t.Fatalf("the bot exited: %v", b.waitErr)
	default:
	}
}

// Say sends text as user in a DM through tg and waits up to 90s until the
// bot has answered and the last answer satisfies done (nil: any answer). It
// returns the answers; it fails t, with the chat and the bot's log, when
// none comes.
func (b *Bot) Say(t testing.TB, tg *telegramtest.Server, user int64, text string, done func(last telegramtest.Message) bool) []telegramtest.Message {
	t.Helper()
	before := len(tg.Messages(user))
	tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: user, Username: fmt.Sprintf("user%d", user)}, Text: text})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	msgs, err := tg.WaitFor(ctx, user, func(m []telegramtest.Message) bool {
		return len(m) > before && (done == nil || done(m[len(m)-1]))
	})
	if err != nil {
		t.Fatalf("%s from %d: no answer (%v); chat so far: %+v\nbot log:\n%s", text, user, err, tg.Messages(user), b.Logs())
	}
	return msgs[before:]
}

// Plain joins the plain texts of msgs, one a line.
func Plain(msgs []telegramtest.Message) string {
	var parts []string
	for _, m := range msgs {
		parts = append(parts, m.Plain)
	}
	return strings.Join(parts, "\n")
}

// seededNodes are the rows a Russian /get_nodes reply shows for clustertest's
// standard nodes (clustertest.StandardNodes): name, ExternalIP, whether pods can
// be placed and why not.
var seededNodes = []*regexp.Regexp{
	regexp.MustCompile(`node-ready\s+203\.0\.113\.10\s+да`),
	regexp.MustCompile(`node-cordoned\s+203\.0\.113\.11\s+нет \(cordon\)`),
	regexp.MustCompile(`node-tainted\s+203\.0\.113\.12\s+нет \(taint dedicated:NoSchedule\)`),
	regexp.MustCompile(`node-notready\s+203\.0\.113\.13\s+нет \(NotReady\)`),
}

// CheckSeededNodes fails t unless got, the plain text of a /get_nodes reply
// in Russian, shows every one of clustertest's standard nodes as it is.
func CheckSeededNodes(t testing.TB, got string) {
	t.Helper()
	for _, want := range seededNodes {
		if !want.MatchString(got) {
			t.Errorf("/get_nodes lacks %s:\n%s", want, got)
		}
	}
}

// Ask sends text as user in a DM and waits up to 90s for the bot's
// question: a message with the Confirm and Cancel buttons (BOT_CONFIRM).
func (b *Bot) Ask(t testing.TB, tg *telegramtest.Server, user int64, text string) telegramtest.Message {
	t.Helper()
	msgs := b.Say(t, tg, user, text, func(last telegramtest.Message) bool { return len(last.Keyboard) > 0 })
	return msgs[len(msgs)-1]
}

// Press plays from pressing button (0 Confirm, 1 Cancel) of question q in
// chat, and waits up to 90s until the bot answered the press; it returns
// the press with that answer.
func (b *Bot) Press(t testing.TB, tg *telegramtest.Server, from int64, chat int64, q telegramtest.Message, button int) telegramtest.Press {
	t.Helper()
	if len(q.Keyboard) == 0 || len(q.Keyboard[0]) <= button {
		t.Fatalf("message %d has no button %d: %+v", q.ID, button, q)
	}
	id, err := tg.PressButton(telegramtest.User{ID: from, Username: fmt.Sprintf("user%d", from)}, chat, q.ID, q.Keyboard[0][button].CallbackData)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, err := tg.WaitAnswer(ctx, id)
	if err != nil {
		t.Fatalf("press of %q on message %d: %v\nbot log:\n%s", q.Keyboard[0][button].Text, q.ID, err, b.Logs())
	}
	return p
}

// WaitMessage waits up to 90s until message id of chat satisfies done and
// returns it.
func (b *Bot) WaitMessage(t testing.TB, tg *telegramtest.Server, chat, id int64, done func(telegramtest.Message) bool) telegramtest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	msgs, err := tg.WaitFor(ctx, chat, func(m []telegramtest.Message) bool {
		i := slices.IndexFunc(m, func(m telegramtest.Message) bool { return m.ID == id })
		return i >= 0 && done(m[i])
	})
	i := slices.IndexFunc(msgs, func(m telegramtest.Message) bool { return m.ID == id })
	if err != nil || i < 0 {
		t.Fatalf("message %d in chat %d: %v; chat so far: %+v\nbot log:\n%s", id, chat, err, msgs, b.Logs())
	}
	return msgs[i]
}

// SayConfirmed sends text as user in a DM, presses Confirm on the bot's
// question and waits up to 90s until the question, edited into the
// command's answer, satisfies done (nil: no buttons left). It returns that
// message.
func (b *Bot) SayConfirmed(t testing.TB, tg *telegramtest.Server, user int64, text string, done func(telegramtest.Message) bool) telegramtest.Message {
	t.Helper()
	q := b.Ask(t, tg, user, text)
	b.Press(t, tg, user, user, q, 0)
	if done == nil {
		done = func(m telegramtest.Message) bool { return len(m.Keyboard) == 0 }
	}
	return b.WaitMessage(t, tg, user, q.ID, done)
}
