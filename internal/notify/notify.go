package notify

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/redact"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// Exit codes of the notifier.
const (
	ExitDelivered = 0
	ExitFailed    = 1 // delivery failed after retries
	ExitConfig    = 2 // bad argument or variable
)

const usage = `Usage: notifier [--dry-run] created|success|failed|deployed|deploy-failed
       notifier watch   (long-running pipeline watcher: notifier watch --help)

Posts "Пайплайн {id} {start time} {branch} {status}" to a Telegram chat.

Status words:
  created   создан
  success   завершен успешно
  failed    завершен неуспешно
  deployed        развернут (the manual promotion made the Application Synced and Healthy)
  deploy-failed   развертывание завершено неуспешно (the promotion failed)

Flags:
  --dry-run   print the message, send nothing (Telegram variables not needed)
  --help      show this help

Environment:
  TELEGRAM_BOT_TOKEN      bot token (required unless --dry-run)
  TELEGRAM_CHAT_ID        integer chat id or @channel (required unless --dry-run)
  TELEGRAM_API_URL        Bot API base URL (default https://api.telegram.org)
  NOTIFY_TIMEOUT          bound on all attempts together, Go duration (default 30s)
  NOTIFY_TZ               time zone of the start time (default Europe/Moscow)
  NOTIFY_TIME_FORMAT      Go time layout (default "2006-01-02 15:04:05 MST")
  NOTIFY_LANG             ru (default) or en: "Pipeline {id} {start time} {branch} created|succeeded|failed|deployed|deployment failed"
  CI_PIPELINE_ID, CI_PIPELINE_CREATED_AT, CI_COMMIT_REF_NAME   set by GitLab CI

Exit status: 0 delivered, 1 delivery failed after retries, 2 bad argument or variable.
`

// Main runs the notifier with the command-line arguments (without the
// program name) and returns the process exit code. Logs are JSON lines on
// stderr with the token masked; a dry run prints the message on stdout.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	token := strings.TrimSpace(getenv("TELEGRAM_BOT_TOKEN"))
	redact := redact.New(token)
	log := slog.New(redact.Handler(slog.NewJSONHandler(stderr, nil)))

	fs := flag.NewFlagSet("notifier", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dryRun := fs.Bool("dry-run", false, "")
	help := fs.Bool("help", false, "")
	words, err := parseInterspersed(fs, args)
	if *help || errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return ExitDelivered
	}
	if err == nil && len(words) != 1 {
		err = fmt.Errorf("want exactly one status word (created, success, failed, deployed or deploy-failed), got %d arguments", len(words))
	}
	var status Status
	if err == nil {
		status, err = ParseStatus(words[0])
	}
	if err != nil {
		log.Error("bad arguments: "+err.Error(), "usage", "notifier [--dry-run] created|success|failed|deployed|deploy-failed")
		return ExitConfig
	}

	cfg, err := LoadConfig(getenv, !*dryRun)
	if err == nil {
		var ev Event
		ev, err = EventFromEnv(getenv, status)
		if err == nil {
			return deliver(ctx, log, cfg, MessageIn(cfg.Lang, ev, cfg.Location, cfg.TimeFormat), *dryRun, stdout)
		}
	}
	log.Error("configuration error: " + err.Error())
	return ExitConfig
}

func deliver(ctx context.Context, log *slog.Logger, cfg Config, text string, dryRun bool, stdout io.Writer) int {
	if dryRun {
		fmt.Fprintln(stdout, text)
		return ExitDelivered
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	retry := telegram.DefaultRetry
	retry.OnRetry = func(attempt int, wait time.Duration, err error) {
		log.Warn("telegram send failed, retrying", "attempt", attempt, "wait", wait.String(), "error", err)
	}
	client := telegram.NewClient(cfg.APIURL, cfg.Token, retry)
	start := time.Now()
	id, err := client.SendMessage(ctx, cfg.ChatID, text)
	if err != nil {
		log.Error("notification not delivered", "chat", cfg.ChatID, "error", err, "elapsed", time.Since(start).Round(time.Millisecond).String())
		return ExitFailed
	}
	log.Info("notification delivered", "chat", cfg.ChatID, "message_id", id, "text", text)
	return ExitDelivered
}

// parseInterspersed parses flags wherever they stand among the arguments, so
// both "notifier --dry-run created" and "notifier created --dry-run" work.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return words, nil
		}
		if args[0] == "--" {
			return append(words, args[1:]...), nil
		}
		words = append(words, args[0])
		args = args[1:]
	}
}
