package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/notify"
	"gitlab.com/derrick-kit/derrick/internal/redact"
	"gitlab.com/derrick-kit/derrick/internal/retry"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// Exit codes of `notifier watch`.
const (
	ExitStopped = 0 // stopped by a signal
	ExitFailed  = 1 // could not start (the API server or the port)
	ExitConfig  = 2 // bad variable, or the state ConfigMap is missing or forbidden
)

// Usage is the help of `notifier watch`.
const Usage = `Usage: notifier watch

Polls GitLab's pipelines API and posts to TELEGRAM_CHAT_ID the line a
pipeline's own notify job did not (canceled pipeline, notify job that could
not start, no runner): the same "Пайплайн {id} {start time} {branch} {status}"
as the in-pipeline notifier. Each line at most once, across restarts.

Environment:
  GITLAB_URL              GitLab instance, such as https://gitlab.example.com (required)
  GITLAB_TOKEN            token with the read_api scope (required)
  WATCH_PROJECTS          comma-separated project ids or paths (required)
  WATCH_STATE_CONFIGMAP   ConfigMap that keeps the state; must exist (required)
  WATCH_NAMESPACE         its namespace (default: the pod's)
  KUBECONFIG              outside a cluster: the kubeconfig to reach it
  WATCH_INTERVAL          time between looks, Go duration (default 20s)
  WATCH_CREATED_GRACE     post "создан" when notify-created has not succeeded this long after creation (default 2m)
  WATCH_JOB_PREFIX        the notify component's job_prefix (default empty)
  WATCH_SINCE             on the first start, nothing older than this (default 1h)
  WATCH_REQUEST_TIMEOUT   bound on one GitLab request (default 10s)
  WATCH_HTTP_ADDR         /healthz and /metrics (default :8081)
  WATCH_LEASE             the bot's leader Lease: only the replica holding it watches (default: always watch)
  POD_NAME                this replica's name in that Lease (default: the hostname)
  TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID, TELEGRAM_API_URL, NOTIFY_TZ,
  NOTIFY_TIME_FORMAT, NOTIFY_TIMEOUT,
  NOTIFY_LANG                            as for the notifier

Exit status: 0 stopped by SIGTERM, 1 could not start, 2 bad variable or state ConfigMap missing.
`

// Main runs `notifier watch` until ctx ends and returns the exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	redact := redact.New(strings.TrimSpace(getenv("TELEGRAM_BOT_TOKEN")), strings.TrimSpace(getenv("GITLAB_TOKEN")))
	log := slog.New(redact.Handler(slog.NewJSONHandler(stderr, nil)))
	for _, a := range args {
		if a == "--help" || a == "-help" || a == "-h" {
			fmt.Fprint(stdout, Usage)
			return ExitStopped
		}
	}
	if len(args) > 0 {
		log.Error("bad arguments: notifier watch takes no arguments, only environment variables", "got", strings.Join(args, " "))
		return ExitConfig
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		log.Error("configuration error: " + err.Error())
		return ExitConfig
	}
	store, err := OpenConfigMapStore(cfg.Kubeconfig, cfg.Namespace, cfg.ConfigMap)
	if err != nil {
		log.Error("configuration error: " + err.Error())
		return ExitConfig
	}
	cfg.Namespace = store.Namespace()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	state, err := store.Load(lctx)
	cancel()
	if err != nil {
		log.Error("state: " + err.Error())
		if errors.Is(err, ErrStateMissing) || errors.Is(err, ErrStateForbidden) {
			return ExitConfig
		}
		return ExitFailed
	}

	m := NewMetrics()
	gl, err := NewGitLab(cfg.GitLabURL, cfg.GitLabToken, cfg.RequestTimeout, m)
	if err != nil {
		log.Error("configuration error: " + err.Error())
		return ExitConfig
	}
	w := New(cfg, gl, newSender(cfg.Notify, m, defaultBackoff), store, state, m, log)
	if cfg.Lease != "" {
		w.WithGate(store.LeaseGate(cfg.Lease, cfg.Identity))
	} else {
		m.leading.Set(1)
	}

	h := &health{stale: max(3*w.budget(), time.Minute)}
	h.beat(time.Now())
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		log.Error("listen on WATCH_HTTP_ADDR: " + err.Error())
		return ExitFailed
	}
	srv := &http.Server{Handler: handler(m, h), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}()

	log.Info("watcher started", "gitlab", cfg.GitLabURL, "projects", cfg.Projects, "interval", cfg.Interval.String(),
		"state", cfg.Namespace+"/"+cfg.ConfigMap, "http", ln.Addr().String(), "chat", cfg.Notify.ChatID)
	w.Run(ctx, h.beat)
	log.Info("watcher stopped")
	return ExitStopped
}

// newSender is the Telegram client, counting each failed attempt that is
// retried (Watcher.send counts the last one).
func newSender(n notify.Config, m *Metrics, b retry.Policy) Sender {
	b.OnRetry = func(attempt int, wait time.Duration, err error) { m.telegramError(apiCode(err)) }
	return telegram.NewClient(n.APIURL, n.Token, telegram.Retry(b))
}

func apiCode(err error) int {
	var apiErr *telegram.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return 0
}
