package notify

// This file turns GitLab CI's predefined variables into a pipeline event and
// the status line Derrick posts to the team's chat.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Status is the pipeline state a notification reports.
type Status string

// The states, as the notifier's argument names them: the pipeline's three,
// and the two of a promotion (the manual argo-promote job) that ran.
const (
	Created      Status = "created"
	Success      Status = "success"
	Failed       Status = "failed"
	Deployed     Status = "deployed"
	DeployFailed Status = "deploy-failed"
)

// Statuses lists the accepted status words in the order they happen.
var Statuses = []Status{Created, Success, Failed, Deployed, DeployFailed}

// ParseStatus accepts exactly one of the status words.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if s == string(st) {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown status %q: must be one of %s", s, strings.Join(statusWords(), ", "))
}

func statusWords() []string {
	words := make([]string, len(Statuses))
	for i, st := range Statuses {
		words[i] = string(st)
	}
	return words
}

// Russian is the text of each status in the message.
var Russian = map[Status]string{
	Created: "создан",
	Success: "завершен успешно",
	Failed:  "завершен неуспешно",
	// The promotion: Synced and Healthy on the new image, or not.
	Deployed:     "развернут",
	DeployFailed: "развертывание завершено неуспешно",
}

// English is the text of each status with NOTIFY_LANG=en.
var English = map[Status]string{
	Created:      "created",
	Success:      "succeeded",
	Failed:       "failed",
	Deployed:     "deployed",
	DeployFailed: "deployment failed",
}

// Lang is the language of the message: NOTIFY_LANG.
type Lang string

// The languages; Russian is the default.
const (
	LangRU Lang = "ru"
	LangEN Lang = "en"
)

// ParseLang accepts "ru" and "en"; empty is Russian.
func ParseLang(s string) (Lang, error) {
	switch Lang(s) {
	case "", LangRU:
		return LangRU, nil
	case LangEN:
		return LangEN, nil
	}
	return "", fmt.Errorf("unknown language %q: must be ru or en", s)
}

// Event is one pipeline state change.
type Event struct {
	PipelineID int64     // CI_PIPELINE_ID
	CreatedAt  time.Time // CI_PIPELINE_CREATED_AT
	Ref        string    // CI_COMMIT_REF_NAME: the branch (or tag) name, unchanged
	Status     Status
}

// The GitLab CI variables an Event is read from.
const (
	VarPipelineID = "CI_PIPELINE_ID"
	VarCreatedAt  = "CI_PIPELINE_CREATED_AT"
	VarRef        = "CI_COMMIT_REF_NAME"
)

// EventFromEnv reads the event from GitLab CI's variables through getenv. Each
// error names the variable and what it accepts.
func EventFromEnv(getenv func(string) string, status Status) (Event, error) {
	ev := Event{Status: status}
	id := strings.TrimSpace(getenv(VarPipelineID))
	if id == "" {
		return ev, fmt.Errorf("%s is not set: run inside a GitLab CI job or set it to the pipeline's numeric id", VarPipelineID)
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return ev, fmt.Errorf("%s must be a positive integer, got %q", VarPipelineID, id)
	}
	ev.PipelineID = n
	created := strings.TrimSpace(getenv(VarCreatedAt))
	if created == "" {
		return ev, fmt.Errorf("%s is not set: run inside a GitLab CI job or set it to an ISO 8601 time such as 2026-11-26T04:00:36Z", VarCreatedAt)
	}
	if ev.CreatedAt, err = time.Parse(time.RFC3339, created); err != nil {
		return ev, fmt.Errorf("%s must be an ISO 8601 time such as 2026-11-26T04:00:36Z or 2026-11-26T07:00:36+03:00, got %q", VarCreatedAt, created)
	}
	ev.Ref = getenv(VarRef)
	if strings.TrimSpace(ev.Ref) == "" {
		return ev, fmt.Errorf("%s is not set: run inside a GitLab CI job or set it to the branch name", VarRef)
	}
	return ev, nil
}

// MessageIn renders the event in lang as
//
//	Пайплайн {id} {start time} {branch} {status}
//	Pipeline {id} {start time} {branch} {status}
//
// with the start time shown in loc with the Go time layout.
func MessageIn(lang Lang, ev Event, loc *time.Location, layout string) string {
	word, texts := "Пайплайн", Russian
	if lang == LangEN {
		word, texts = "Pipeline", English
	}
	return fmt.Sprintf("%s %d %s %s %s",
		word, ev.PipelineID, ev.CreatedAt.In(loc).Format(layout), ev.Ref, texts[ev.Status])
}
