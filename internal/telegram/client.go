package telegram

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"gitlab.com/derrick-kit/derrick/internal/redact"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
)

// DefaultAPIURL is the public Bot API.
const DefaultAPIURL = "https://api.telegram.org"

// Client sends messages through the Bot API. Every error it returns has the
// token masked. It retries with its Retry policy, bounded by the context.
type Client struct {
	http   *resty.Client
	token  string
	redact redact.Redactor
	retry  Retry
}

// NewClient returns a client for the Bot API at apiURL (DefaultAPIURL when
// empty) that authenticates with token. Attempts are retried per retry.
func NewClient(apiURL, token string, retry Retry) *Client {
	apiURL = cmp.Or(apiURL, DefaultAPIURL)
	hc := resty.New().
		SetBaseURL(strings.TrimRight(apiURL, "/")).
		SetLogger(discardLogger{}). // resty would print the URL, token included
		SetHeader("User-Agent", "derrick")
	return &Client{http: hc, token: token, redact: redact.New(token), retry: retry}
}

// SendMessage posts plain text to chatID (a numeric id or @channelusername) and
// returns the new message's id. A 429 is waited out, 5xx and network errors
// are retried, all within ctx.
func (c *Client) SendMessage(ctx context.Context, chatID, text string) (int64, error) {
	body := map[string]any{"chat_id": chatIDValue(chatID), "text": text}
	var msg struct {
		MessageID int64 `json:"message_id"`
	}
	err := c.retry.Do(ctx, func(ctx context.Context) error {
		return c.call(ctx, "sendMessage", body, &msg)
	})
	return msg.MessageID, err
}

// call makes one Bot API request and decodes its result into out.
func (c *Client) call(ctx context.Context, method string, body, out any) error {
	resp, err := c.http.R().
		SetContext(ctx).
		SetHeader("Content-Type", "application/json").
		SetBody(body).
		Post("/bot" + c.token + "/" + method)
	if err != nil {
		return c.redact.Error(fmt.Errorf("telegram %s: %w", method, err))
	}
	var answer struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(resp.Body(), &answer); err != nil || (!answer.OK && answer.ErrorCode == 0) {
		// Not the Bot API talking: a proxy's error page, say.
		return &APIError{Method: method, Code: resp.StatusCode(), Description: c.redact.String(cmp.Or(http.StatusText(resp.StatusCode()), "unexpected answer"))}
	}
	if !answer.OK {
		return &APIError{
			Method:      method,
			Code:        answer.ErrorCode,
			Description: c.redact.String(answer.Description),
			RetryAfter:  time.Duration(answer.Parameters.RetryAfter) * time.Second,
		}
	}
	if out != nil {
		if err := json.Unmarshal(answer.Result, out); err != nil {
			return fmt.Errorf("telegram %s: decode result: %w", method, err)
		}
	}
	return nil
}

// chatIDValue sends numeric ids as numbers and @usernames as strings.
func chatIDValue(chatID string) any {
	if n, err := strconv.ParseInt(chatID, 10, 64); err == nil {
		return n
	}
	return chatID
}

// IsAPIError reports whether err carries an APIError with the given code.
func IsAPIError(err error, code int) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Code == code
}

type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}
