// Command bot is Derrick's ChatOps Telegram bot: operators manage the
// oil-refinery-application Deployment and the cluster's nodes from DMs.
// Configuration is read from the environment (see README.md); a bad value
// exits with status 2 and one line naming it.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"gitlab.com/derrick-kit/derrick/internal/botapp"
	"gitlab.com/derrick-kit/derrick/internal/botconfig"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

func main() {
	redact := telegram.NewRedactor(os.Getenv("TELEGRAM_BOT_TOKEN"), os.Getenv("GITLAB_TOKEN"), os.Getenv("REGISTRY_PASSWORD"))
	log := slog.New(redact.Handler(slog.NewJSONHandler(os.Stderr, nil)))

	cfg, err := botconfig.Load(os.Getenv)
	if err != nil {
		log.Error("configuration error: " + err.Error())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := botapp.Run(ctx, cfg, log, botapp.Deps{}); err != nil {
		log.Error(err.Error())
		stop()
		os.Exit(1)
	}
}
