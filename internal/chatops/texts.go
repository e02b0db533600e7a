package chatops

import (
	"fmt"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

// texts is every sentence the bot says, in one language. Values are HTML
// fragments; %s arguments are escaped by the caller.
type texts struct {
	// Command descriptions for /help and the command menu (setMyCommands).
	Desc map[string]string

	Help, HelpViewer, HelpStranger string
	Unknown                        string
	NotCommand                     string
	Refused, ViewerRefused         string
	// How a stranger gets access (the last %s of Refused and HelpStranger).
	AskAdmin, JoinGroup string
	// Unchecked: the group could not be asked about this user.
	Unchecked string
	// Usages are the usage lines of the commands that take arguments.
	Usages map[string]string
	Stale  string
	Usage  string
	Failed string

	NoTags, TagsHeader, UnknownTag  string
	DeployStart, DeployProgress     string
	DeployDone                      string
	DeploySame                      string
	ReplicasRange, ReplicasSame     string
	ReplicasSet                     string
	NodesHeader, NodeYes, NodeNo    string
	NodeInternal                    string // marks an InternalIP shown for want of an ExternalIP
	NodeNotFound                    string
	Cordoned, AlreadyCordoned       string
	Uncordoned, AlreadyUncordoned   string
	NoPods, PodsHeader              string
	PodNotFound, LogsHeader, NoLogs string
	Audit                           string
	ArgoManaged                     string
	DeployArgo, DeployDoneArgo      string
	ChangeFailed, ChangeTimedOut    string
	ChangeUnfollowed                string
	ReplicasProgress                string
	Outcome                         map[Outcome]string
	Reason                          map[cluster.ReasonKind]string // a taint is shown as kubectl does

	// Pods is "n pods" with the plural the number takes.
	Pods func(n int32) string
	// TagMoved: the running tag now points to another digest than the
	// one running (tag, its digest, the running digest).
	TagMoved string

	// /history and /rollback.
	HistoryHeader, HistoryEmpty string
	RollbackStart, RollbackNone string
}

var ru = texts{
	Desc: map[string]string{
		"start":          "что умеет бот",
		"help":           "список команд",
		"showcontainers": "версии образа в реестре",
		"deploy":         "развернуть версию: /deploy 0.10.5",
		"set_replicas":   "число реплик: /set_replicas 3",
		"get_nodes":      "ноды, их адреса, можно ли размещать поды",
		"cordon":         "запретить размещение подов на ноде",
		"uncordon":       "разрешить размещение подов на ноде",
		"get_pods":       "поды приложения",
		"get_logs":       "последние 30 строк лога пода",
		"rollback":       "откатить на предыдущую версию",
		"history":        "последние 10 развёртываний",
	},
	Pods:          ruPods,
	HistoryHeader: "Развёртывания <b>%s</b> (%d, новые сверху):",
	HistoryEmpty:  "У <b>%s</b> нет истории развёртываний.",
	RollbackStart: "Откатываю <b>%s</b>: %s → %s…",
	RollbackNone:  "У <b>%s</b> не к чему откатывать: в истории нет версии, отличной от текущей (%s).",
	Help:          "Я управляю <b>%s</b> в namespace <b>%s</b>. Ваша роль: оператор.\n\n%s",
	HelpViewer:    "Я показываю состояние <b>%s</b> в namespace <b>%s</b>. Ваша роль: наблюдатель (только просмотр).\n\n%s",
	HelpStranger:  "У вас нет доступа к этому боту. Ваш Telegram ID: <code>%d</code>. %s",
	Unknown:       "Неизвестная команда /%s. Список команд: /help",
	NotCommand:    "Я понимаю только команды. Список команд: /help",
	Refused:       "Доступ запрещён. Ваш Telegram ID: <code>%d</code>. %s",
	AskAdmin:      "Передайте его администратору, чтобы он добавил вас в CHATOPS_OPERATORS или CHATOPS_VIEWERS.",
	JoinGroup:     "Вступите в группу команды «%s» (её участники получают доступ сами) или передайте ID администратору, чтобы он добавил вас в CHATOPS_OPERATORS или CHATOPS_VIEWERS.",
	Unchecked:     "Не удалось проверить, состоите ли вы в группе команды: Telegram не ответил. Попробуйте ещё раз через минуту.",
	Usages: map[string]string{
		"deploy":       "/deploy {версия}, например /deploy 0.10.5",
		"set_replicas": "/set_replicas {число}, например /set_replicas 3",
		"cordon":       "/cordon {нода}, например /cordon worker-1",
		"uncordon":     "/uncordon {нода}, например /uncordon worker-1",
		"get_logs":     "/get_logs {под}; имена подов: /get_pods",
	},
	ViewerRefused:     "Команда /%s меняет кластер и доступна только операторам. Вам доступен просмотр: /help",
	Stale:             "Команда /%s пришла через %s после отправки (больше %s) и не выполнена. Если она всё ещё нужна, отправьте её снова.",
	Usage:             "Использование: %s",
	Failed:            "Не удалось выполнить /%s: %s",
	NoTags:            "В реестре нет ни одной версии образа.",
	TagsHeader:        "Версии образа (%d, новые сверху):",
	TagMoved:          "⚠ <b>%s</b> теперь указывает на <code>%s</code>, а запущен <code>%s</code> (ветку опубликовали снова после развёртывания).",
	UnknownTag:        "Версии <b>%s</b> нет в реестре. Последние версии: %s. Все версии: /showcontainers",
	DeployStart:       "Разворачиваю <b>%s</b> на <b>%s</b>…",
	DeployProgress:    "Разворачиваю <b>%s</b>: обновлено %d/%d, готово %d/%d, доступно %d/%d",
	DeployDone:        "✅ <b>%s</b> развёрнута: %d/%d подов доступны.",
	DeploySame:        "<b>%s</b> уже работает на <b>%s</b>: тег указывает на тот же образ, ничего не меняю.",
	ReplicasRange:     "Число реплик должно быть целым от 0 до %d, получено «%s».",
	ReplicasSame:      "У <b>%s</b> уже %d реплик, ничего не меняю.",
	ReplicasSet:       "Реплик у <b>%s</b>: %d → %d.",
	NodesHeader:       "Ноды кластера (%d):",
	NodeYes:           "да",
	NodeNo:            "нет",
	NodeInternal:      "%s (внутренний)",
	NodeNotFound:      "Ноды <b>%s</b> нет в кластере. Список нод: /get_nodes",
	Cordoned:          "Нода <b>%s</b> выведена из размещения подов (cordon).",
	AlreadyCordoned:   "Нода <b>%s</b> уже недоступна для размещения, ничего не меняю.",
	Uncordoned:        "Нода <b>%s</b> снова доступна для размещения подов (uncordon).",
	AlreadyUncordoned: "Нода <b>%s</b> и так доступна для размещения, ничего не меняю.",
	NoPods:            "У <b>%s</b> нет подов.",
	PodsHeader:        "Поды <b>%s</b> (%d):",
	PodNotFound:       "Пода <b>%s</b> нет среди подов <b>%s</b>. Список подов: /get_pods",
	LogsHeader:        "Последние %d строк лога <b>%s</b>:",
	NoLogs:            "Лог пода <b>%s</b> пуст.",
	Audit:             "%s: %s → %s",
	DeployArgo:        "Разворачиваю <b>%s</b> через Argo CD: %s",
	DeployDoneArgo:    "✅ <b>%s</b> развёрнута через Argo CD: приложение Synced и Healthy.",
	ChangeFailed:      "❌ %s не удалось: %s",
	ChangeTimedOut:    "⏱ %s не завершилось за %s. Последнее состояние: %s",
	ChangeUnfollowed:  "⏸ Бот перезапускается и больше не следит за %s. Последнее состояние: %s. Проверьте /get_pods.",
	ReplicasProgress:  "Готово %d/%d, доступно %d/%d.",
	ArgoManaged:       "<b>%s</b> управляется Argo CD (приложение <b>%s</b>, %s): прямое изменение Argo CD откатит. Ничего не меняю. Чтобы менять через Argo CD, запустите бота с DEPLOY_VIA=argocd.",
	Outcome: map[Outcome]string{
		OutcomeOK: "выполнено", OutcomeError: "ошибка", OutcomeNoop: "без изменений",
	},
	Reason: map[cluster.ReasonKind]string{
		cluster.Cordoned: "cordon", cluster.NotReady: "NotReady",
	},
}

var en = texts{
	Desc: map[string]string{
		"start":          "what the bot can do",
		"help":           "list of commands",
		"showcontainers": "image versions in the registry",
		"deploy":         "deploy a version: /deploy 0.10.5",
		"set_replicas":   "number of replicas: /set_replicas 3",
		"get_nodes":      "nodes, their addresses, can pods be placed",
		"cordon":         "stop placing pods on a node",
		"uncordon":       "allow placing pods on a node again",
		"get_pods":       "pods of the application",
		"get_logs":       "last 30 log lines of a pod",
		"rollback":       "roll back to the previous version",
		"history":        "the last 10 rollouts",
	},
	Pods:          enPods,
	HistoryHeader: "Rollouts of <b>%s</b> (%d, newest first):",
	HistoryEmpty:  "<b>%s</b> has no rollout history.",
	RollbackStart: "Rolling <b>%s</b> back: %s → %s…",
	RollbackNone:  "<b>%s</b> has nothing to roll back to: no version in its history differs from the current one (%s).",
	Help:          "I manage <b>%s</b> in namespace <b>%s</b>. Your role: operator.\n\n%s",
	HelpViewer:    "I show the state of <b>%s</b> in namespace <b>%s</b>. Your role: viewer (read-only).\n\n%s",
	HelpStranger:  "You have no access to this bot. Your Telegram ID is <code>%d</code>. %s",
	Unknown:       "Unknown command /%s. Commands: /help",
	NotCommand:    "I only understand commands. Commands: /help",
	Refused:       "Access denied. Your Telegram ID is <code>%d</code>. %s",
	AskAdmin:      "Give it to an administrator to be added to CHATOPS_OPERATORS or CHATOPS_VIEWERS.",
	JoinGroup:     "Join the team's group “%s” (its members get access by themselves), or give the ID to an administrator to be added to CHATOPS_OPERATORS or CHATOPS_VIEWERS.",
	Unchecked:     "Could not check whether you are in the team's group: Telegram did not answer. Try again in a minute.",
	Usages: map[string]string{
		"deploy":       "/deploy {version}, e.g. /deploy 0.10.5",
		"set_replicas": "/set_replicas {number}, e.g. /set_replicas 3",
		"cordon":       "/cordon {node}, e.g. /cordon worker-1",
		"uncordon":     "/uncordon {node}, e.g. /uncordon worker-1",
		"get_logs":     "/get_logs {pod}; pod names: /get_pods",
	},
	ViewerRefused:     "/%s changes the cluster and is for operators only. You may look: /help",
	Stale:             "/%s arrived %s after it was sent (more than %s) and was not run. Send it again if it is still needed.",
	Usage:             "Usage: %s",
	Failed:            "/%s failed: %s",
	NoTags:            "The registry holds no version of the image.",
	TagsHeader:        "Image versions (%d, newest first):",
	TagMoved:          "⚠ <b>%s</b> now points to <code>%s</code>; running <code>%s</code> (pushed again since the deploy).",
	UnknownTag:        "Version <b>%s</b> is not in the registry. Newest versions: %s. All versions: /showcontainers",
	DeployStart:       "Deploying <b>%s</b> to <b>%s</b>…",
	DeployProgress:    "Deploying <b>%s</b>: updated %d/%d, ready %d/%d, available %d/%d",
	DeployDone:        "✅ <b>%s</b> is deployed: %d/%d pods available.",
	DeploySame:        "<b>%s</b> is already running <b>%s</b>: the tag points to the same image; nothing changed.",
	ReplicasRange:     "The number of replicas must be a whole number from 0 to %d, got “%s”.",
	ReplicasSame:      "<b>%s</b> already has %d replicas; nothing changed.",
	ReplicasSet:       "Replicas of <b>%s</b>: %d → %d.",
	NodesHeader:       "Cluster nodes (%d):",
	NodeYes:           "yes",
	NodeNo:            "no",
	NodeInternal:      "%s (internal)",
	NodeNotFound:      "There is no node <b>%s</b>. Nodes: /get_nodes",
	Cordoned:          "Node <b>%s</b> is cordoned: no new pods are placed on it.",
	AlreadyCordoned:   "Node <b>%s</b> is already cordoned; nothing changed.",
	Uncordoned:        "Node <b>%s</b> is uncordoned: pods may be placed on it again.",
	AlreadyUncordoned: "Node <b>%s</b> is already schedulable; nothing changed.",
	NoPods:            "<b>%s</b> has no pods.",
	PodsHeader:        "Pods of <b>%s</b> (%d):",
	PodNotFound:       "<b>%s</b> is not a pod of <b>%s</b>. Pods: /get_pods",
	LogsHeader:        "Last %d log lines of <b>%s</b>:",
	NoLogs:            "The log of <b>%s</b> is empty.",
	Audit:             "%s: %s → %s",
	DeployArgo:        "Deploying <b>%s</b> through Argo CD: %s",
	DeployDoneArgo:    "✅ <b>%s</b> is deployed through Argo CD: the application is Synced and Healthy.",
	ChangeFailed:      "❌ %s failed: %s",
	ChangeTimedOut:    "⏱ %s did not finish within %s. Last state: %s",
	ChangeUnfollowed:  "⏸ The bot is restarting and no longer follows %s. Last state: %s. Check /get_pods.",
	ReplicasProgress:  "Ready %d/%d, available %d/%d.",
	ArgoManaged:       "<b>%s</b> is managed by Argo CD (application <b>%s</b>, %s): Argo CD would revert a direct change. Nothing changed. To change it through Argo CD, run the bot with DEPLOY_VIA=argocd.",
	Outcome: map[Outcome]string{
		OutcomeOK: "done", OutcomeError: "error", OutcomeNoop: "no change",
	},
	Reason: map[cluster.ReasonKind]string{
		cluster.Cordoned: "cordoned", cluster.NotReady: "NotReady",
	},
}

// Languages maps BOT_LANG values to their texts.
var languages = map[string]*texts{"ru": &ru, "en": &en}

// ruPods: 1 под, 2 пода, 5 подов, 11 подов, 21 под.
func ruPods(n int32) string {
	form := "подов"
	switch n10, n100 := n%10, n%100; {
	case n100 >= 11 && n100 <= 14:
	case n10 == 1:
		form = "под"
	case n10 >= 2 && n10 <= 4:
		form = "пода"
	}
	return fmt.Sprintf("%d %s", n, form)
}

func enPods(n int32) string {
	if n == 1 {
		return "1 pod"
	}
	return fmt.Sprintf("%d pods", n)
}

// reason renders why a node takes no new pods.
func (t texts) reason(r cluster.Reason) string {
	if s, ok := t.Reason[r.Kind]; ok {
		return s
	}
	return r.String()
}
