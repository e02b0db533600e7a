package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
)

const testToken = "123456:AAH-secret_Token"

func TestRedactorString(t *testing.T) {
	r := New(testToken)
	tests := []struct {
		name, in, want string
	}{
		{"plain", "token " + testToken, "token " + Mask},
		{"in a URL", "Post \"https://api.telegram.org/bot" + testToken + "/sendMessage\"", "Post \"https://api.telegram.org/bot" + Mask + "/sendMessage\""},
		{"query-escaped", "token=123456%3AAAH-secret_Token", "token=" + Mask},
		{"twice", testToken + testToken, Mask + Mask},
		{"nothing to hide", "hello", "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactorZeroAndEmptyKeepText(t *testing.T) {
	for _, r := range []Redactor{{}, New(""), New()} {
		if got := r.String("abc"); got != "abc" {
			t.Errorf("String = %q, want unchanged", got)
		}
		if err := r.Error(nil); err != nil {
			t.Errorf("Error(nil) = %v", err)
		}
	}
}

func TestRedactorErrorKeepsChain(t *testing.T) {
	r := New(testToken)
	err := r.Error(fmt.Errorf("open %s: %w", testToken, fs.ErrNotExist))
	if strings.Contains(err.Error(), testToken) {
		t.Fatalf("token leaked: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is lost the wrapped error")
	}
}

func TestRedactorHandler(t *testing.T) {
	var buf bytes.Buffer
	r := New(testToken)
	log := slog.New(r.Handler(slog.NewJSONHandler(&buf, nil)))
	log = log.With("url", "https://x/bot"+testToken+"/getMe").WithGroup("g")
	log.Info("calling "+testToken,
		"err", errors.New("dial bot"+testToken),
		"nested", slog.GroupValue(slog.String("deep", testToken)),
		"stringer", fmt.Stringer(stringer(testToken)),
		"n", 42,
	)
	out := buf.String()
	if strings.Contains(out, testToken) || strings.Contains(out, "AAH-secret") {
		t.Fatalf("token leaked into log: %s", out)
	}
	for _, want := range []string{`"n":42`, `"deep":"` + Mask + `"`, `"msg":"calling ` + Mask + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
}

type stringer string

func (s stringer) String() string { return string(s) }
