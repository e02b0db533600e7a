// Package redact masks secrets (bot and API tokens) in strings, errors and
// log records, so that no token reaches a log line, an error or a reply.
package redact

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
)

// Mask replaces every secret in text.
const Mask = "<redacted>"

// Redactor removes secrets (tokens) from strings, errors and log
// records. The zero value redacts nothing. It is safe for concurrent use.
type Redactor struct {
	r *strings.Replacer
}

// New returns a Redactor for the given secrets. Each secret is also
// masked in its URL-escaped form, since Go HTTP errors quote the request URL.
// Empty secrets are ignored.
func New(secrets ...string) Redactor {
	var pairs []string
	seen := map[string]bool{}
	add := func(s string) {
		if s == "" || seen[s] {
			return
		}
		seen[s] = true
		pairs = append(pairs, s, Mask)
	}
	for _, s := range secrets {
		add(s)
		add(url.PathEscape(s))
		add(url.QueryEscape(s))
	}
	if len(pairs) == 0 {
		return Redactor{}
	}
	return Redactor{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret masked.
func (r Redactor) String(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Error returns err with its message redacted. errors.Is and errors.As still
// see the original chain. A nil error stays nil.
func (r Redactor) Error(err error) error {
	if err == nil || r.r == nil {
		return err
	}
	return &redactedError{msg: r.String(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Handler wraps h so that every message and attribute value reaching it is
// redacted, including errors and nested groups.
func (r Redactor) Handler(h slog.Handler) slog.Handler {
	if r.r == nil {
		return h
	}
	return &redactingHandler{next: h, r: r}
}

type redactingHandler struct {
	next slog.Handler
	r    Redactor
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.r.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.r.attr(a)
	}
	return &redactingHandler{next: h.next.WithAttrs(clean), r: h.r}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{next: h.next.WithGroup(name), r: h.r}
}

func (r Redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.String(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = r.attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, r.String(err.Error()))
		}
		return slog.String(a.Key, r.String(v.String()))
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}
