package demo

import (
	"html"
	"net/url"
	"regexp"
	"strings"

	xhtml "golang.org/x/net/html"
)

// telegramTags maps the tags of Telegram's HTML parse mode to what the page
// shows for them; "" keeps only the content (custom emoji).
var telegramTags = map[string]string{
	"b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u",
	"s": "s", "strike": "s", "del": "s", "tg-spoiler": "span", "span": "span",
	"a": "a", "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "",
}

var languageClass = regexp.MustCompile(`^language-[A-Za-z0-9_+#.-]{1,32}$`)

// Sanitize turns a message in Telegram's HTML parse mode into HTML that is
// safe to put into the page: the tags Telegram knows (b, strong, i, em, u,
// ins, s, strike, del, a with an http, https, tg or mailto href, code with a
// language class, pre, blockquote, span class="tg-spoiler" and tg-spoiler)
// come out with only those attributes; anything else, including a tag that
// closes out of order, comes out as escaped text. Elements left open are
// closed.
func Sanitize(src string) string {
	var b strings.Builder
	type open struct{ name, out string }
	var stack []open
	z := xhtml.NewTokenizer(strings.NewReader(src))
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		raw := string(z.Raw())
		tok := z.Token()
		switch tt {
		case xhtml.TextToken:
			b.WriteString(html.EscapeString(tok.Data))
			continue
		case xhtml.StartTagToken:
			out, ok := telegramTags[tok.Data]
			if !ok {
				break
			}
			start, ok := startTag(tok, out)
			if !ok {
				break
			}
			b.WriteString(start)
			stack = append(stack, open{tok.Data, out})
			continue
		case xhtml.EndTagToken:
			if n := len(stack); n > 0 && stack[n-1].name == tok.Data {
				if out := stack[n-1].out; out != "" {
					b.WriteString("</" + out + ">")
				}
				stack = stack[:n-1]
				continue
			}
		}
		b.WriteString(html.EscapeString(raw))
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if out := stack[i].out; out != "" {
			b.WriteString("</" + out + ">")
		}
	}
	return b.String()
}

// startTag renders the start tag of an allowed element, or reports false
// when Telegram would not accept it (a span that is no spoiler).
func startTag(tok xhtml.Token, out string) (string, bool) {
	attr := func(key string) (string, bool) {
		for _, a := range tok.Attr {
			if a.Key == key {
				return a.Val, true
			}
		}
		return "", false
	}
	switch tok.Data {
	case "tg-emoji":
		return "", true
	case "tg-spoiler":
		return `<span class="tg-spoiler">`, true
	case "span":
		if class, _ := attr("class"); class != "tg-spoiler" {
			return "", false
		}
		return `<span class="tg-spoiler">`, true
	case "a":
		href, _ := attr("href")
		if u, err := url.Parse(strings.TrimSpace(href)); err == nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "tg" || u.Scheme == "mailto") {
			return `<a href="` + html.EscapeString(u.String()) + `" target="_blank" rel="noopener noreferrer">`, true
		}
		return "<a>", true
	case "code":
		if class, _ := attr("class"); languageClass.MatchString(class) {
			return `<code class="` + class + `">`, true
		}
	case "blockquote":
		if _, ok := attr("expandable"); ok {
			return `<blockquote class="expandable">`, true
		}
	}
	return "<" + out + ">", true
}
