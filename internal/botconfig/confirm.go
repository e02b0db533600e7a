package botconfig

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/chatops"
)

// Default and bounds of the confirmation settings.
const (
	DefaultConfirm = "deploy,rollback"
	MinConfirmTTL  = 5 * time.Second
	MaxConfirmTTL  = time.Hour
)

// loadConfirm reads BOT_CONFIRM, the commands that ask first (or none),
// and BOT_CONFIRM_TTL, how long the question is open.
func (c *Config) loadConfirm(env func(string) string) error {
	v := env("BOT_CONFIRM")
	if v == "" {
		v = DefaultConfirm
	}
	accepted := chatops.ConfirmCommands()
	c.Core.Confirm = nil
	if strings.TrimSpace(v) != "none" {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(f)), "/")
			if !slices.Contains(accepted, f) {
				return fmt.Errorf("BOT_CONFIRM must be none or comma-separated commands from %s, got %q in %q", strings.Join(accepted, ", "), f, v)
			}
			if !slices.Contains(c.Core.Confirm, f) {
				c.Core.Confirm = append(c.Core.Confirm, f)
			}
		}
	}
	ttl := env("BOT_CONFIRM_TTL")
	var err error
	if c.Core.ConfirmTTL, err = duration("BOT_CONFIRM_TTL", ttl, chatops.DefaultConfirmTTL); err != nil {
		return err
	}
	if c.Core.ConfirmTTL < MinConfirmTTL || c.Core.ConfirmTTL > MaxConfirmTTL {
		return fmt.Errorf("BOT_CONFIRM_TTL must be from %s to %s, got %q", MinConfirmTTL, MaxConfirmTTL, ttl)
	}
	return nil
}
