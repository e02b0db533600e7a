package botconfig

import (
	"cmp"
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
func (c *Config) loadConfirm(v *vars) {
	s := cmp.Or(v.get("BOT_CONFIRM"), DefaultConfirm)
	accepted := chatops.ConfirmCommands()
	c.Core.Confirm = nil
	if strings.TrimSpace(s) != "none" {
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(f)), "/")
			v.check(slices.Contains(accepted, f), "BOT_CONFIRM must be none or comma-separated commands from %s, got %q in %q", strings.Join(accepted, ", "), f, s)
			if !slices.Contains(c.Core.Confirm, f) {
				c.Core.Confirm = append(c.Core.Confirm, f)
			}
		}
	}
	c.Core.ConfirmTTL = v.duration("BOT_CONFIRM_TTL", chatops.DefaultConfirmTTL)
	v.check(c.Core.ConfirmTTL >= MinConfirmTTL && c.Core.ConfirmTTL <= MaxConfirmTTL,
		"BOT_CONFIRM_TTL must be from %s to %s, got %q", MinConfirmTTL, MaxConfirmTTL, v.get("BOT_CONFIRM_TTL"))
}
