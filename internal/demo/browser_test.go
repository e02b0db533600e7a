package demo

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

var updateScreenshot = flag.Bool("update", false, "write the browser test's screenshot to docs/demo.png")

const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium (Debian's package) with a fresh profile
// and no background traffic, and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed (%v): run hack/install-deps.sh", err)
		} else {
			t.Skipf("chromium is not installed (%v): apt-get install chromium, or run hack/install-deps.sh", err)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 880),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// startDemo runs the demo on a free port until the test ends.
func startDemo(t *testing.T, opts Options) (url string, c *Cluster, tg *telegramtest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	opts.Addr = "127.0.0.1:0"
	opts.Ready = func(u string) { ready <- u }
	opts.started = func(cl *Cluster, s *telegramtest.Server) { c, tg = cl, s }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return within 15s of the cancel")
		}
	})
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the demo did not start within 20s")
	}
	return url, c, tg
}

// botTexts is what the page shows of the bot's messages, in order.
const botTexts = `[...document.querySelectorAll('#log .row.in .text')].map(e => e.innerText)`

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	url, cl, _ := startDemo(t, Options{Lang: "en"})
	ctx := browser(t)
	// The page must run without errors: no exception, no blocked resource
	// (the content security policy reports there).
	var (
		consoleMu sync.Mutex
		problems  []string
	)
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				consoleMu.Lock()
				problems = append(problems, m.String())
				consoleMu.Unlock()
			}
		}
	}()
	defer func() {
		consoleMu.Lock()
		defer consoleMu.Unlock()
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, expr string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	strs := func(what, expr string) []string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](expr))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	// say types text as the current account and waits until the bot has
	// answered with more messages than before and the last one matches.
	say := func(text string, last *regexp.Regexp) string {
		t.Helper()
		before := len(strs("read messages", botTexts))
		do("type "+text,
			chromedp.WaitVisible(chromedp.ID("input")),
			chromedp.SendKeys(chromedp.ID("input"), text+"\r"))
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`(() => { const t = %s; return t.length > %d && %s.test(t[t.length-1]); })()`,
			botTexts, before, jsRegexp(last)), chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
		texts := strs("read messages", botTexts)
		if err != nil {
			t.Fatalf("after %s: no bot message matching %s; the bot's messages: %q", text, last, texts[before:])
		}
		return texts[len(texts)-1]
	}

	do("open the page as the operator",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(url+"/#operator"),
		chromedp.WaitVisible(chromedp.ID("start-btn")))
	screenshot(t, ctx, "demo-start.png")
	do("start the bot",
		chromedp.Click(chromedp.ID("start-btn")),
		chromedp.WaitVisible(chromedp.CSS("#log .row.in")))

	do("open the command menu",
		chromedp.Click(chromedp.ID("menu-btn")),
		chromedp.WaitVisible(chromedp.CSS("#menu .cmd-item")))
	menu := strs("read the menu", `[...document.querySelectorAll('#menu .cmd-name')].map(e => e.textContent)`)
	screenshot(t, ctx, "demo-menu.png")
	do("close the command menu", chromedp.Click(chromedp.ID("menu-btn")))
	if !strings.Contains(strings.Join(menu, " "), "/get_nodes") || len(menu) < 9 {
		t.Errorf("command menu = %q, want the bot's nine commands", menu)
	}

	// The list of accounts says how each person's role is decided.
	vias := strings.Join(strs("read the accounts", `[...document.querySelectorAll('#people li .via')].map(e => e.textContent)`), "; ")
	for _, want := range []string{"in CHATOPS_OPERATORS", "in CHATOPS_VIEWERS", "in no list: via the team's group", "in no list, not in the group"} {
		if !strings.Contains(vias, want) {
			t.Errorf("the accounts list %q lacks %q", vias, want)
		}
	}

	nodes := say("/get_nodes", regexp.MustCompile(`ADDRESS`))
	for _, want := range []string{
		`worker-1\s+203\.0\.113\.11\s+yes`,
		`worker-2\s+203\.0\.113\.12\s+no \(cordoned\)`,
		`worker-3\s+203\.0\.113\.13\s+no \(taint dedicated:NoSchedule\)`,
	} {
		if !regexp.MustCompile(want).MatchString(nodes) {
			t.Errorf("node table does not match %s:\n%s", want, nodes)
		}
	}
	if pre := eval("count tables", `document.querySelectorAll('#log .row.in pre').length`); pre != 1.0 {
		t.Errorf("the node table is rendered in %d <pre> blocks, want 1", pre)
	}

	say("/cordon worker-3", regexp.MustCompile(`worker-3`))
	if n, err := cl.Clientset().CoreV1().Nodes().Get(ctx, "worker-3", metav1.GetOptions{}); err != nil || !n.Spec.Unschedulable {
		t.Errorf("after /cordon worker-3 the node is not cordoned (err %v)", err)
	}

	pods := say("/get_pods", regexp.MustCompile(`oil-refinery-application-`))
	pod := regexp.MustCompile(`oil-refinery-application-[a-z0-9]+-[a-z0-9]{5}`).FindString(pods)
	say("/get_logs "+pod, regexp.MustCompile(pod))
	logLines := strs("read the log", `[...document.querySelectorAll('#log .row.in pre')].pop().innerText.split('\n')`)
	if len(logLines) != 30 {
		t.Errorf("the log shows %d lines, want 30:\n%s", len(logLines), strings.Join(logLines, "\n"))
	}
	logLine := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) +[a-z.]+: `)
	for _, l := range logLines {
		if !logLine.MatchString(l) {
			t.Errorf("log line %q does not look like the application's log", l)
			break
		}
	}

	// /deploy asks first; Confirm turns the question into the rollout
	// message, edited in place until it says done.
	question := say("/deploy 0.10.5", regexp.MustCompile(`0\.10\.5`))
	if !strings.HasPrefix(question, "Confirm: ") {
		t.Errorf("/deploy answered %q, want its question", question)
	}
	id := eval("find the question", `[...document.querySelectorAll('#log .row.in')].pop().dataset.id`)
	do("press Confirm", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#log .row[data-id="%s"] .kb-btn`, id))))
	seen := map[string]bool{question: true}
	deadline := time.Now().Add(40 * time.Second)
	var final string
	for time.Now().Before(deadline) {
		text, _ := eval("read the progress", fmt.Sprintf(`document.querySelector('#log .row[data-id="%s"] .text').innerText`, id)).(string)
		seen[text] = true
		if strings.HasPrefix(text, "✅") {
			final = text
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(final, "0.10.5") || !strings.Contains(final, "3/3") {
		t.Fatalf("the rollout message never said done; it showed %q", keys(seen))
	}
	if len(seen) < 3 {
		t.Errorf("the rollout message showed %d states, want the start, progress and done: %q", len(seen), keys(seen))
	}
	if !strings.Contains(final, "edited") {
		t.Errorf("the edited message is not marked edited: %q", final)
	}
	if count := eval("count messages", fmt.Sprintf(`document.querySelectorAll('#log .row[data-id="%s"]').length`, id)); count != 1.0 {
		t.Errorf("the progress message is shown %d times, want once (edited in place)", count)
	}

	say("/get_nodes", regexp.MustCompile(`worker-3\s+203\.0\.113\.13\s+no \(cordoned, taint dedicated:NoSchedule\)`))
	screenshot(t, ctx, "demo-operator.png")

	// A stranger gets only a refusal, with their ID for the administrator.
	stranger := People[2]
	do("switch to the stranger",
		chromedp.Click(chromedp.CSS(`#people li[data-role="stranger"]`)),
		chromedp.WaitVisible(chromedp.ID("start-btn")),
		chromedp.Click(chromedp.ID("start-btn")),
		chromedp.WaitVisible(chromedp.CSS("#log .row.in")))
	refusal := say("/cordon worker-1", regexp.MustCompile(fmt.Sprint(stranger.ID)))
	if !strings.Contains(refusal, "denied") {
		t.Errorf("the stranger's /cordon got %q, want a refusal", refusal)
	}
	if code := eval("check the ID is code", `[...document.querySelectorAll('#log .row.in')].pop().querySelectorAll('code').length`); code != 1.0 {
		t.Errorf("the refusal shows the ID in %d <code> elements, want 1", code)
	}
	if n, err := cl.Clientset().CoreV1().Nodes().Get(ctx, "worker-1", metav1.GetOptions{}); err != nil || n.Spec.Unschedulable {
		t.Errorf("a stranger's /cordon worker-1 changed the node (err %v)", err)
	}
	screenshot(t, ctx, "demo-stranger.png")

	// The audit group shows the operator's changes.
	do("open the audit group", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#chats li[data-chat="%d"]`, AuditChatID))))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](botTexts+`.some(t => t.includes('/deploy 0.10.5'))`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the audit group does not show the deploy: %v", err)
	}
	audit := strs("read the audit group", botTexts)
	screenshot(t, ctx, "demo-audit.png")
	if !strings.Contains(strings.Join(audit, "\n"), "/cordon worker-3") {
		t.Errorf("the audit group = %q, want the cordon announced", audit)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// jsRegexp writes re as a JavaScript regular expression literal.
func jsRegexp(re *regexp.Regexp) string {
	return "/" + strings.ReplaceAll(re.String(), "/", `\/`) + "/"
}

// screenshot saves the viewport as a test artifact: into $DERRICK_ARTIFACTS
// when set, else the test's temporary directory; with -update the
// operator's view also becomes docs/demo.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let the last message scroll in
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	dir := os.Getenv("DERRICK_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
	if *updateScreenshot && name == "demo-operator.png" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "demo.png"), png, 0o644); err != nil {
			t.Errorf("update docs/demo.png: %v", err)
		}
	}
}
