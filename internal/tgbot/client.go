// Package tgbot is the thin gotgbot adapter of the ChatOps bot: it long-polls
// the Bot API, hands each message to a Handler as plain input, and sends the
// answers back. Every Telegram detail of the bot lives here.
package tgbot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"

	"gitlab.com/derrick-kit/derrick/internal/redact"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// Observer is told of every failed Bot API call, for metrics.
type Observer interface {
	APIError(method string, code int)
}

// retryingClient is a gotgbot.BotClient that waits out 429s and retries 5xx
// and network faults within the request's context, and masks the token in
// every error. getUpdates is not retried here: the poll loop decides.
type retryingClient struct {
	base   *gotgbot.BaseBotClient
	retry  telegram.Retry
	redact redact.Redactor
	obs    Observer
}

var _ gotgbot.BotClient = (*retryingClient)(nil)

// NewClient returns the BotClient the bot uses: apiURL is the Bot API base.
func NewClient(apiURL, token string, retry telegram.Retry, obs Observer) gotgbot.BotClient {
	return &retryingClient{
		base: &gotgbot.BaseBotClient{
			Client:             http.Client{},
			DefaultRequestOpts: &gotgbot.RequestOpts{APIURL: apiURL, Timeout: 15 * time.Second},
		},
		retry:  retry,
		redact: redact.New(token),
		obs:    obs,
	}
}

func (c *retryingClient) RequestWithContext(ctx context.Context, token, method string, params map[string]any, opts *gotgbot.RequestOpts) (json.RawMessage, error) {
	var out json.RawMessage
	call := func(ctx context.Context) error {
		var err error
		out, err = c.base.RequestWithContext(ctx, token, method, params, opts)
		if err != nil {
			err = c.translate(method, err)
			if c.obs != nil {
				c.obs.APIError(method, errorCode(err))
			}
		}
		return err
	}
	if method == "getUpdates" || ctx.Value(noRetryKey{}) != nil {
		return out, call(ctx)
	}
	return out, c.retry.Do(ctx, call)
}

func (c *retryingClient) GetAPIURL(opts *gotgbot.RequestOpts) string { return c.base.GetAPIURL(opts) }

func (c *retryingClient) FileURL(token, path string, opts *gotgbot.RequestOpts) string {
	return c.base.FileURL(token, path, opts)
}

// translate turns gotgbot's errors into telegram.APIError (so the retry
// policy and callers can read the code) with the token masked.
func (c *retryingClient) translate(method string, err error) error {
	var tgErr *gotgbot.TelegramError
	if errors.As(err, &tgErr) {
		apiErr := &telegram.APIError{Method: method, Code: tgErr.Code, Description: c.redact.String(tgErr.Description)}
		if tgErr.ResponseParams != nil {
			apiErr.RetryAfter = time.Duration(tgErr.ResponseParams.RetryAfter) * time.Second
		}
		return apiErr
	}
	return c.redact.Error(err)
}

// errorCode is the API error code of err, or 0 for a network fault.
func errorCode(err error) int {
	var apiErr *telegram.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return 0
}

type noRetryKey struct{}

// withoutRetry marks ctx so that calls made with it are tried once: no
// waiting out a 429, no retry of a 5xx (answers to strangers and refusals).
func withoutRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetryKey{}, true)
}
