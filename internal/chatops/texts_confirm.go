package chatops

// confirmTexts are the sentences of a confirmation (BOT_CONFIRM): the
// question with its buttons and what a press leads to. Kept apart from
// texts so the confirmation's sentences stay together.
type confirmTexts struct {
	// Ask: the change (HTML summary), the time left to answer.
	Ask string
	// Changed: what the command would change now (HTML summary), the
	// time left; the press was refused because it differs from what was
	// shown.
	Changed      string
	ChangedAlert string
	Confirm      string // the Confirm button
	Cancel       string // the Cancel button
	// Cancelled, Expired: the summary.
	Cancelled, Expired string
	CancelledAlert     string
	// RoleLost: the command; the user is no operator any more.
	RoleLost string
	// NotYours: the requester's name, for another user's press.
	NotYours string
	// Gone: a press of a request this bot does not know (expired, used,
	// or asked before a restart).
	Gone string
	// TooMany: the store of open requests is full.
	TooMany string
	// Minutes, Seconds: how long the buttons work (a count).
	Minutes, Seconds string
}

var ruConfirm = confirmTexts{
	Ask:            "Подтвердите: %s\nКнопки действуют %s.",
	Changed:        "⚠️ С момента вопроса изменилось, что будет сделано. Теперь: %s\nПодтвердите заново; кнопки действуют %s.",
	ChangedAlert:   "То, что показывалось, уже неактуально: ничего не сделано. Проверьте новое и подтвердите заново.",
	Confirm:        "✅ Подтвердить",
	Cancel:         "✖️ Отмена",
	Cancelled:      "Отменено: %s",
	Expired:        "⌛ Время подтверждения истекло, ничего не сделано: %s\nОтправьте команду заново.",
	CancelledAlert: "Отменено",
	RoleLost:       "⛔ /%s не выполнена: у вас больше нет роли оператора.",
	NotYours:       "Подтвердить или отменить может только %s, отправивший команду.",
	Gone:           "Запрос истёк или неизвестен (например, бот перезапускался): что сделано, покажет /history. Отправьте команду заново.",
	TooMany:        "Слишком много команд ждут подтверждения: подтвердите или отмените их, затем отправьте команду снова.",
	Minutes:        "%d мин",
	Seconds:        "%d с",
}

var enConfirm = confirmTexts{
	Ask:            "Confirm: %s\nThe buttons work for %s.",
	Changed:        "⚠️ What would be done has changed since you were asked. Now: %s\nConfirm again; the buttons work for %s.",
	ChangedAlert:   "What was shown is out of date: nothing was done. Check the new change and confirm again.",
	Confirm:        "✅ Confirm",
	Cancel:         "✖️ Cancel",
	Cancelled:      "Cancelled: %s",
	Expired:        "⌛ The confirmation expired, nothing was done: %s\nSend the command again.",
	CancelledAlert: "Cancelled",
	RoleLost:       "⛔ /%s was not run: you are no longer an operator.",
	NotYours:       "Only %s, who sent the command, may confirm or cancel it.",
	Gone:           "The request expired or is unknown (the bot may have restarted): /history shows what was done. Send the command again.",
	TooMany:        "Too many commands are waiting for confirmation: confirm or cancel them, then send the command again.",
	Minutes:        "%d min",
	Seconds:        "%d s",
}

var confirmLanguages = map[string]*confirmTexts{"ru": &ruConfirm, "en": &enConfirm}
