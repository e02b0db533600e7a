// Command notifier posts a GitLab pipeline's state to a Telegram chat:
//
//	Пайплайн {id} {start time} {branch} {создан | завершен успешно | завершен неуспешно}
//
// See internal/notify for the behaviour and `notifier --help` for usage.
// `notifier watch` is the long-running pipeline watcher (internal/watch).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // NOTIFY_TZ must work on scratch, which has no zoneinfo

	"gitlab.com/derrick-kit/derrick/internal/notify"
	"gitlab.com/derrick-kit/derrick/internal/watch"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	if len(os.Args) > 1 && os.Args[1] == "watch" {
		// The long-running mode: see internal/watch.
		code = watch.Main(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
	} else {
		code = notify.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}
