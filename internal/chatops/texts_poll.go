package chatops

// pollTexts are the answers about delivery rather than a command: forwards,
// groups, full queues and hung dependencies. Kept apart from texts so each
// concern's sentences stay together.
type pollTexts struct {
	Forwarded string
	GroupLogs string
	QueueFull string
	// Timeout: command, dependency, BOT_COMMAND_TIMEOUT.
	Timeout string
	// Slow: command, dependency (its own request timeout ran out).
	Slow string
	// Deps names each dependency in replies.
	Deps map[string]string
}

var ruPoll = pollTexts{
	Forwarded: "Пересланные сообщения не выполняются: команда должна прийти от того, кто её отдаёт. Отправьте её сами.",
	GroupLogs: "В группе /get_logs не выполняется: лог увидели бы все участники. Запросите его в личном чате с ботом.",
	QueueFull: "Слишком много команд в очереди этого чата: новые не принимаются, пока не выполнятся предыдущие. Отправьте команду позже.",
	Timeout:   "⏱ /%s: %s не ответил за %s, команда прервана. Попробуйте позже.",
	Slow:      "⏱ /%s: %s не ответил вовремя, команда прервана. Попробуйте позже.",
	Deps: map[string]string{
		DepKubernetes: "Kubernetes API", DepRegistry: "реестр образов", DepArgoCD: "Argo CD", "?": "зависимость",
	},
}

var enPoll = pollTexts{
	Forwarded: "Forwarded messages are not run: a command must come from whoever gives it. Send it yourself.",
	GroupLogs: "/get_logs is not run in a group: every member would see the log. Ask for it in a private chat with the bot.",
	QueueFull: "Too many commands queued in this chat: new ones are not accepted until the earlier ones have run. Send the command again later.",
	Timeout:   "⏱ /%s: %s did not answer within %s; the command was stopped. Try again later.",
	Slow:      "⏱ /%s: %s did not answer in time; the command was stopped. Try again later.",
	Deps: map[string]string{
		DepKubernetes: "the Kubernetes API", DepRegistry: "the image registry", DepArgoCD: "Argo CD", "?": "a dependency",
	},
}

var pollLanguages = map[string]*pollTexts{"ru": &ruPoll, "en": &enPoll}
