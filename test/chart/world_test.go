package chart

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// The bot process and the chat with it, after bot/main_test.go (package
// main there, so copied, and kept small).

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
	bin := filepath.Join(dir, "bot")
	// The flags of bot/main_test.go's build, so the build cache is shared.
	build := exec.Command("go", "build", "-o", bin, "./bot")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the bot: %w\n%s", err, out)
	}
	return bin, nil
})

// binDir is removed by TestMain.
var binDir string

// botProcess is a running bot binary whose log is kept for assertions.
type botProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    strings.Builder
	http   string
	exited chan error
}

// startBot runs the bot with exactly env (plus PATH) and waits for its
// "bot started" line. It is stopped (SIGKILL) in t.Cleanup, and its log must
// never contain the token.
func startBot(t testing.TB, env map[string]string) *botProcess {
	t.Helper()
	bin, err := botBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &botProcess{cmd: exec.Command(bin), exited: make(chan error, 1)}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			var e struct {
				Msg  string `json:"msg"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "bot started" {
				started <- e.HTTP
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		logs := p.logs()
		if strings.Contains(logs, token[strings.IndexByte(token, ':')+1:]) {
			t.Errorf("the bot token appears in the bot's log")
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", logs)
		}
	})
	select {
	case p.http = <-started:
	case err := <-p.exited:
		t.Fatalf("bot exited at start-up: %v\n%s", err, p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("bot did not start within 30s:\n%s", p.logs())
	}
	return p
}

func (p *botProcess) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// running fails t when the bot has exited.
func (p *botProcess) running(t testing.TB) {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("the bot exited: %v", err)
	default:
	}
}

// rss returns the bot's resident and peak resident memory in MiB.
func (p *botProcess) rss() (now, peak float64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			now = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return now, peak, nil
}

// chat is the emulator seen from one test.
type chat struct {
	tg  *telegramtest.Server
	bot *botProcess
}

// say sends text as user in a DM and waits up to timeout until the bot has
// answered and the last answer satisfies done (nil: any answer).
func (c *chat) say(t testing.TB, user int64, text string, done func(last telegramtest.Message) bool) []telegramtest.Message {
	t.Helper()
	before := len(c.tg.Messages(user))
	c.tg.Inject(telegramtest.Incoming{From: telegramtest.User{ID: user, Username: fmt.Sprintf("user%d", user)}, Text: text})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	msgs, err := c.tg.WaitFor(ctx, user, func(m []telegramtest.Message) bool {
		return len(m) > before && (done == nil || done(m[len(m)-1]))
	})
	if err != nil {
		t.Fatalf("%s from %d: no answer (%v); chat so far: %+v", text, user, err, c.tg.Messages(user))
	}
	return msgs[before:]
}

func plain(msgs []telegramtest.Message) string {
	var parts []string
	for _, m := range msgs {
		parts = append(parts, m.Plain)
	}
	return strings.Join(parts, "\n")
}
