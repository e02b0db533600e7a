// Package demo runs the ChatOps bot exactly as production runs it (botapp),
// but against an in-process Telegram Bot API emulator and a simulated
// cluster, and serves a web page that plays the Telegram client: a person
// evaluating Derrick sees every command work, with no token and no cluster.
//
// The simulated cluster is client-go's fake clientset seeded with three
// nodes and the application's Deployment, plus a small controller that
// makes /set_replicas and /deploy change pods over a few seconds; pod logs
// are generated per pod. The page talks to the emulator through a JSON API
// and server-sent events under /api/.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gitlab.com/derrick-kit/derrick/internal/access"
	"gitlab.com/derrick-kit/derrick/internal/botapp"
	"gitlab.com/derrick-kit/derrick/internal/botconfig"
	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/telegramtest"
)

// DefaultAddr is where the page listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8080"

// Options configure Run; the zero value is the demo as documented.
type Options struct {
	// Addr is the page's address, DefaultAddr when empty. It must be a
	// loopback address: the page has no login. Port 0 picks a free port.
	Addr string
	// Lang is the bot's language (BOT_LANG): "en" (the demo's default, for
	// the README's readers) or "ru" (the bot's default in production).
	Lang string
	// Log receives the bot's log; nil discards it.
	Log *slog.Logger
	// Out receives the page's address and what to try; nil discards it.
	Out io.Writer
	// Timing sets the pace of the simulated cluster.
	Timing Timing
	// Ready, when set, is called with the page's URL once the bot and the
	// page serve.
	Ready func(url string)

	// started, set by tests, sees the parts once they run.
	started func(*Cluster, *telegramtest.Server)
}

// OptionError is Run's error about an option it does not accept (an
// address or a language), as opposed to a failure to start.
type OptionError struct{ msg string }

func (e *OptionError) Error() string { return e.msg }

// Run serves the demo until ctx ends, then stops the bot, the page, the
// simulated cluster and the emulator, and returns nil. It returns an error
// when something cannot start: a bad option or a port in use.
func Run(ctx context.Context, opts Options) error {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Lang == "" {
		opts.Lang = "en"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if !slices.Contains(chatops.Languages(), opts.Lang) {
		return &OptionError{fmt.Sprintf("BOT_LANG must be one of %s, got %q", strings.Join(chatops.Languages(), ", "), opts.Lang)}
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil || !isLoopbackName(host) {
		return &OptionError{fmt.Sprintf("-addr %q: the demo page has no login, so it listens on loopback only: give 127.0.0.1:PORT or localhost:PORT", opts.Addr)}
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("demo page: %w (is another demo running? choose another port with -addr)", err)
	}
	tg, err := telegramtest.New(telegramtest.Config{
		Token: botToken,
		Bot:   telegramtest.User{FirstName: botName, Username: botUsername},
	})
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("telegram emulator: %w", err)
	}

	if err := seedGroup(tg); err != nil {
		_ = ln.Close()
		tg.Close()
		return fmt.Errorf("telegram emulator: %w", err)
	}

	cluster, err := NewCluster(opts.Timing, opts.Log)
	if err != nil {
		_ = ln.Close()
		tg.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { _ = cluster.Run(ctx) })
	srv := &http.Server{
		Handler:           (&page{tg: tg, lang: opts.Lang}).handler(),
		ReadHeaderTimeout: 5 * time.Second,
		// The event streams end with the demo.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		bg.Wait()
		tg.Close()
	}()

	listening := make(chan string, 1)
	stopped := make(chan error, 1)
	go func() {
		stopped <- botapp.Run(ctx, botConfig(tg.URL(), opts.Lang), opts.Log, botapp.Deps{
			Kube:      cluster.Clientset(),
			Registry:  NewRegistry(time.Now()),
			Listening: func(addr string) { listening <- addr },
		})
	}()

	url := "http://" + ln.Addr().String()
	select {
	case ops := <-listening:
		banner(ctx, opts.Out, url, ops, opts.Lang, cluster)
		if opts.started != nil {
			opts.started(cluster, tg)
		}
		if opts.Ready != nil {
			opts.Ready(url)
		}
	case err := <-stopped:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bot: %w", err)
	case err := <-served:
		cancel()
		<-stopped
		return fmt.Errorf("demo page: %w", err)
	}

	select {
	case err := <-stopped:
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("bot: %w", err)
		}
		return nil
	case err := <-served:
		cancel()
		<-stopped
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("demo page: %w", err)
	}
}

// seedGroup makes the team's group: the bot administers it, and the people
// with InGroup are members.
func seedGroup(tg *telegramtest.Server) error {
	if err := tg.SetGroup(telegramtest.Chat{ID: AuditChatID, Title: auditTitle}); err != nil {
		return err
	}
	if err := tg.SetMember(AuditChatID, tg.Bot(), telegramtest.ChatMember{Status: telegramtest.StatusAdministrator}); err != nil {
		return err
	}
	for _, p := range People {
		status := telegramtest.StatusLeft
		if p.InGroup {
			status = telegramtest.StatusMember
		}
		if err := tg.SetMember(AuditChatID, telegramtest.User{ID: p.ID, Username: p.Username, FirstName: p.Name}, telegramtest.ChatMember{Status: status}); err != nil {
			return err
		}
	}
	return nil
}

// botConfig is the configuration the bot would read from its environment:
// People[0] is an operator, People[1] a viewer, both by the lists; the
// other members of the team's group are viewers through it; every change is
// announced in that group; the rest are production defaults.
func botConfig(apiURL, lang string) botconfig.Config {
	return botconfig.Config{
		Token:      botToken,
		APIURL:     apiURL,
		Namespace:  Namespace,
		Deployment: Deployment,
		Source:     "simulated",
		DeployVia:  "kubernetes",
		// The bot's /healthz and /metrics, on a free port.
		HTTPAddr: "127.0.0.1:0",
		Core: chatops.Config{
			Operators:      []int64{People[0].ID},
			Viewers:        []int64{People[1].ID},
			Lang:           lang,
			AuditChatID:    AuditChatID,
			MaxCommandAge:  chatops.DefaultMaxCommandAge,
			MaxReplicas:    chatops.DefaultMaxReplicas,
			RolloutTimeout: chatops.DefaultRolloutTimeout,
			ProgressEvery:  chatops.DefaultProgressEvery,
			LogLines:       chatops.DefaultLogLines,
			// As BOT_CONFIRM's default: /deploy and /rollback show their
			// Confirm and Cancel buttons.
			Confirm:    strings.Split(botconfig.DefaultConfirm, ","),
			ConfirmTTL: chatops.DefaultConfirmTTL,
		},
		// The demo's stranger is someone trying the page: answer every
		// refusal instead of one per BOT_STRANGER_REPLY_EVERY.
		Delivery: botconfig.Delivery{ChatQueue: botconfig.DefaultChatQueue, StrangerReplyEvery: time.Nanosecond},
		Access: access.Config{
			GroupID: AuditChatID, AdminRole: access.Operator, MemberRole: access.Viewer, CacheTTL: access.DefaultCacheTTL,
		},
	}
}

var languageNames = map[string]string{"en": "English", "ru": "Russian"}

// banner tells the person at the terminal where to go and what to try.
func banner(ctx context.Context, w io.Writer, url, ops, lang string, c *Cluster) {
	pod := "<pod>"
	if list, err := c.Clientset().CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{}); err == nil && len(list.Items) > 0 {
		names := make([]string, 0, len(list.Items))
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		sort.Strings(names)
		pod = names[0]
	}
	fmt.Fprintf(w, `
Derrick demo: the ChatOps bot as it runs in production, talking to an
in-process Telegram and a simulated cluster. No token, no cluster needed.

  Open %s

  You write as %s (operator); switch to %s (viewer), %s (viewer
  through the team's group, in no list) or %s (no access) on the left to
  see what each role may do. Try:

    /help   /get_nodes   /get_pods   /showcontainers
    /get_logs %s
    /deploy 0.10.5   /set_replicas 5   /cordon worker-3   /uncordon worker-2

  The bot speaks %s (BOT_LANG=ru or en). Its metrics: http://%s/metrics
  Ctrl-C stops the demo. The bot's log follows.

`, url, People[0].Name, People[1].Name, People[3].Name, People[2].Name, pod, languageNames[lang], ops)
}
