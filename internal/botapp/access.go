package botapp

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/access"
	"gitlab.com/derrick-kit/derrick/internal/botconfig"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
	"gitlab.com/derrick-kit/derrick/internal/tgbot"
)

// newAccess returns the access policy and, when access goes through the
// team's group, the group's title. With CHATOPS_GROUP_ID set it first makes
// sure the bot is in that group (an *access.GroupError when not) and warns
// when it is no administrator there.
func newAccess(ctx context.Context, cfg botconfig.Config, bot *gotgbot.Bot, obs tgbot.Observer, log *slog.Logger) (*access.Checker, string, error) {
	policy := cfg.Access
	policy.Operators, policy.Viewers = cfg.Core.Operators, cfg.Core.Viewers
	if policy.GroupID == 0 {
		return access.New(policy, nil, log), "", nil
	}
	title, admin, err := tgbot.CheckGroup(ctx, bot, cfg.Access.GroupID)
	if err != nil {
		return nil, "", err
	}
	if !admin {
		log.Warn("the bot is not an administrator of the CHATOPS_GROUP_ID group: Telegram may refuse to tell whether other users are members; make it an administrator",
			"group_id", cfg.Access.GroupID, "group", title)
	}
	// Membership questions are not retried: the user waits for the
	// answer, and a failed one is refused with "try again".
	client := tgbot.NewClient(cfg.APIURL, cfg.Token, telegram.Retry{Attempts: 1}, obs)
	mbot, err := gotgbot.NewBot(cfg.Token, &gotgbot.BotOpts{BotClient: client, DisableTokenCheck: true})
	if err != nil {
		return nil, "", fmt.Errorf("telegram bot: %w", err)
	}
	mbot.User = bot.User
	return access.New(policy, tgbot.Membership{Bot: mbot}, log), title, nil
}
