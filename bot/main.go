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
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"gitlab.com/derrick-kit/derrick/internal/access"
	"gitlab.com/derrick-kit/derrick/internal/botapp"
	"gitlab.com/derrick-kit/derrick/internal/botconfig"
	"gitlab.com/derrick-kit/derrick/internal/demo"
	"gitlab.com/derrick-kit/derrick/internal/redact"
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

	log := newLogger(os.Stderr, envSecrets(os.Getenv)...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	exit := func(code int, prefix string, err error) {
		log.Error(prefix + err.Error())
		stop()
		os.Exit(code)
	}
	if *demoMode {
		err := demo.Run(ctx, demo.Options{Addr: *addr, Lang: os.Getenv("BOT_LANG"), Log: log, Out: os.Stdout})
		var bad *demo.OptionError
		switch {
		case errors.As(err, &bad):
			exit(2, "configuration error: ", err)
		case err != nil:
			exit(1, "demo: ", err)
		}
		return
	}

	cfg, log, err := setup(os.Getenv, os.Stderr)
	if err != nil {
		exit(2, "configuration error: ", err)
	}
	err = botapp.Run(ctx, cfg, log, botapp.Deps{})
	var group *access.GroupError
	switch {
	case errors.As(err, &group): // CHATOPS_GROUP_ID names a group the bot cannot use
		exit(2, "configuration error: ", err)
	case err != nil:
		exit(1, "", err)
	}
}

// envSecrets are the values of the secret variables before the
// configuration is read: trimmed, as the configuration will use them.
func envSecrets(getenv func(string) string) []string {
	var out []string
	for _, k := range []string{"TELEGRAM_BOT_TOKEN", "GITLAB_TOKEN", "REGISTRY_PASSWORD", "ARGOCD_AUTH_TOKEN"} {
		out = append(out, strings.TrimSpace(getenv(k)))
	}
	return out
}

// newLogger is the bot's JSON log on w, every secret masked.
func newLogger(w io.Writer, secrets ...string) *slog.Logger {
	return slog.New(redact.New(secrets...).Handler(slog.NewJSONHandler(w, nil)))
}

// setup reads the configuration and returns the log that masks exactly
// the secret values it uses. On error the log masks the trimmed
// environment values.
func setup(getenv func(string) string, w io.Writer) (botconfig.Config, *slog.Logger, error) {
	cfg, err := botconfig.Load(getenv)
	if err != nil {
		return cfg, newLogger(w, envSecrets(getenv)...), err
	}
	return cfg, newLogger(w, cfg.Secrets()...), nil
}
