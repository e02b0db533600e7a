package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// TestRun drives the whole demo through the page's API: the production bot
// answers each role as configured.
func TestRun(t *testing.T) {
	var out proctest.SyncBuffer
	url, cl, tg := startDemo(t, Options{Lang: "en", Out: &out, Timing: fast})

	banner := out.String()
	pod := regexp.MustCompile(`/get_logs (\S+)`).FindStringSubmatch(banner)
	if !strings.Contains(banner, "Open "+url) || pod == nil {
		t.Fatalf("the banner does not say where to go and which pod to try:\n%s", banner)
	}
	if _, err := cl.Clientset().CoreV1().Pods(Namespace).Get(t.Context(), pod[1], metav1.GetOptions{}); err != nil {
		t.Errorf("the banner suggests pod %s: %v", pod[1], err)
	}

	say := func(who Person, text string) string {
		t.Helper()
		chat := strconv.FormatInt(who.ID, 10)
		before := len(tg.Messages(who.ID))
		if resp, body := request(t, "POST", url+"/api/chats/"+chat+"/messages", "application/json", `{"text":"`+text+`"}`); resp.StatusCode != 201 {
			t.Fatalf("send %s: %s %s", text, resp.Status, body)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		msgs, err := tg.WaitFor(ctx, who.ID, func(m []telegramtest.Message) bool { return len(m) > before })
		if err != nil {
			t.Fatalf("%s: no answer to %s: %v", who.Name, text, err)
		}
		_, body := request(t, "GET", url+"/api/chats/"+chat+"/messages", "", "")
		var s snapshot
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if last := s.Messages[len(s.Messages)-1]; last.ID != msgs[len(msgs)-1].ID || !last.FromBot {
			t.Errorf("the page's last message %+v is not the bot's answer %+v", last, msgs[len(msgs)-1])
		}
		return msgs[len(msgs)-1].Plain
	}
	operator, viewer, stranger, member := People[0], People[1], People[2], People[3]
	for _, tc := range []struct {
		who        Person
		text, want string
	}{
		{operator, "/help", "Your role: operator"},
		{viewer, "/help", "Your role: viewer"},
		{stranger, "/help", strconv.FormatInt(stranger.ID, 10)},
		{viewer, "/get_pods", pod[1]},
		{viewer, "/set_replicas 5", "for operators only"},
		{stranger, "/get_nodes", "Access denied"},
		{stranger, "/start", "Join the team's group “" + auditTitle + "”"},
		{member, "/help", "Your role: viewer"},
		{member, "/get_pods", pod[1]},
		{member, "/cordon worker-1", "for operators only"},
		{operator, "/showcontainers", "0.10.4  "},
		{operator, "/set_replicas 4", "3 → 4"},
	} {
		if got := say(tc.who, tc.text); !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: %q, want it to contain %q", tc.who.Name, tc.text, got, tc.want)
		}
	}
	// The audit group heard about the change.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := tg.WaitFor(ctx, AuditChatID, func(m []telegramtest.Message) bool {
		return len(m) > 0 && strings.Contains(m[len(m)-1].Plain, "/set_replicas 4")
	}); err != nil {
		t.Errorf("the audit group was not told of /set_replicas 4: %v", err)
	}
	// And the simulated cluster followed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := cl.Clientset().AppsV1().Deployments(Namespace).Get(t.Context(), Deployment, metav1.GetOptions{})
		if err == nil && d.Status.AvailableReplicas == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("4 replicas never became available: %+v, %v", d.Status, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunRefuses(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"every interface", Options{Addr: "0.0.0.0:8080"}, "listens on loopback only"},
		{"no host", Options{Addr: ":8080"}, "listens on loopback only"},
		{"a public name", Options{Addr: "example.com:8080"}, "listens on loopback only"},
		{"no port", Options{Addr: "127.0.0.1"}, "listens on loopback only"},
		{"port in use", Options{Addr: busy.Addr().String()}, "choose another port with -addr"},
		{"unknown language", Options{Addr: "127.0.0.1:0", Lang: "de"}, `BOT_LANG must be one of ru, en, got "de"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := Run(ctx, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tc.want)
			}
			var oe *OptionError
			if isOption := tc.name != "port in use"; errors.As(err, &oe) != isOption {
				t.Errorf("errors.As(%v, *OptionError) = %t, want %t", err, !isOption, isOption)
			}
		})
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Addr: "127.0.0.1:0", Ready: func(u string) { ready <- u }}) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	// A page left open keeps an event stream; it must not hold the demo up.
	resp, err := http.Get(url + "/api/chats/" + strconv.FormatInt(People[0].ID, 10) + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Run took %s to stop, want a moment", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of the cancel")
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("the event stream did not end cleanly: %v", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second); err == nil {
		c.Close()
		t.Errorf("the page still listens on %s after Run returned", url)
	}
}
