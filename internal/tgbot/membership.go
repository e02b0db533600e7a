package tgbot

import (
	"context"
	"errors"
	"fmt"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/access"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// Membership answers access's questions with getChatMember. Give it a bot
// whose client does not retry: a user waits for the answer, and the access
// policy fails closed and tells them to try again.
type Membership struct{ Bot *gotgbot.Bot }

var _ access.Membership = Membership{}

// ChatMember returns userID's status in chatID.
func (m Membership) ChatMember(ctx context.Context, chatID, userID int64) (access.Member, error) {
	cm, err := m.Bot.GetChatMemberWithContext(ctx, chatID, userID, nil)
	if err != nil {
		return access.Member{}, err
	}
	merged := cm.MergeChatMember()
	return access.Member{Status: merged.Status, IsMember: merged.IsMember}, nil
}

// CheckGroup makes sure the bot can use group chatID for access: getChat
// and getChatMember for the bot itself must succeed and show it in the
// group. A Telegram refusal (4xx) or a bot outside the group is an
// *access.GroupError; a fault (5xx, network) is returned as it is. admin
// says whether the bot administers the group, which Telegram requires to
// answer getChatMember about other users reliably.
func CheckGroup(ctx context.Context, bot *gotgbot.Bot, chatID int64) (title string, admin bool, err error) {
	refused := func(what string, err error) error {
		var apiErr *telegram.APIError
		if errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.Code != 429 {
			return &access.GroupError{GroupID: chatID, Reason: what + " (is it the group's numeric id, such as -1001234567890, and is the bot in it?)", Err: err}
		}
		return fmt.Errorf("check CHATOPS_GROUP_ID %d: %w", chatID, err)
	}
	chat, err := bot.GetChatWithContext(ctx, chatID, nil)
	if err != nil {
		return "", false, refused("Telegram does not show this group to the bot", err)
	}
	if chat.Type == "private" || chat.Type == "channel" {
		return "", false, &access.GroupError{GroupID: chatID, Reason: fmt.Sprintf("this is a %s chat, not a group", chat.Type)}
	}
	cm, err := bot.GetChatMemberWithContext(ctx, chatID, bot.Id, nil)
	if err != nil {
		return "", false, refused("Telegram does not tell the bot's own membership", err)
	}
	me := cm.MergeChatMember()
	m := access.Member{Status: me.Status, IsMember: me.IsMember}
	if !m.InGroup() {
		return "", false, &access.GroupError{GroupID: chatID, Reason: fmt.Sprintf("the bot is not a member of %q (status %s): add it to the group as an administrator", chat.Title, me.Status)}
	}
	return chat.Title, m.Admin(), nil
}
