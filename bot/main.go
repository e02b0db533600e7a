// Command bot is Derrick's ChatOps Telegram bot: operators manage the
// oil-refinery-application Deployment and the cluster's nodes from DMs.
// Configuration is read from the environment (see README.md); a bad value
// exits with status 2 and one line naming it.
//
// With -demo it runs the same bot against an in-process Telegram emulator
// and a simulated cluster, with a chat page on -addr (see internal/demo).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"gitlab.com/derrick-kit/derrick/internal/access"
	"gitlab.com/derrick-kit/derrick/internal/botapp"
	"gitlab.com/derrick-kit/derrick/internal/botconfig"
	"gitlab.com/derrick-kit/derrick/internal/demo"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

func main() {
	demoMode := flag.Bool("demo", false, "run the bot on a simulated cluster and an in-process Telegram, with a chat page on -addr; needs no token (BOT_LANG: en by default)")
	addr := flag.String("addr", demo.DefaultAddr, "with -demo: where the chat page listens (loopback only)")
	flag.Parse()
	addrSet := false
	flag.Visit(func(f *flag.Flag) { addrSet = addrSet || f.Name == "addr" })
	switch {
	case flag.NArg() > 0:
		fmt.Fprintf(os.Stderr, "bot: unexpected argument %q: configuration comes from the environment (see README.md); the flags are -demo and -addr\n", flag.Arg(0))
		os.Exit(2)
	case addrSet && !*demoMode:
		fmt.Fprintln(os.Stderr, "bot: -addr applies only with -demo (the bot's own endpoints listen on BOT_HTTP_ADDR)")
		os.Exit(2)
	}

	redact := telegram.NewRedactor(os.Getenv("TELEGRAM_BOT_TOKEN"), os.Getenv("GITLAB_TOKEN"),
		os.Getenv("REGISTRY_PASSWORD"), os.Getenv("ARGOCD_AUTH_TOKEN"))
	log := slog.New(redact.Handler(slog.NewJSONHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *demoMode {
		err := demo.Run(ctx, demo.Options{Addr: *addr, Lang: os.Getenv("BOT_LANG"), Log: log, Out: os.Stdout})
		var bad *demo.OptionError
		switch {
		case errors.As(err, &bad):
			log.Error("configuration error: " + err.Error())
			stop()
			os.Exit(2)
		case err != nil:
			log.Error("demo: " + err.Error())
			stop()
			os.Exit(1)
		}
		return
	}

	cfg, err := botconfig.Load(os.Getenv)
	if err != nil {
		log.Error("configuration error: " + err.Error())
		os.Exit(2)
	}
	if err := botapp.Run(ctx, cfg, log, botapp.Deps{}); err != nil {
		var group *access.GroupError
		if errors.As(err, &group) {
			// CHATOPS_GROUP_ID names a group the bot cannot use.
			log.Error("configuration error: " + err.Error())
			stop()
			os.Exit(2)
		}
		log.Error(err.Error())
		stop()
		os.Exit(1)
	}
}
