package telegramtest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of Telegram, in UTF-16 code units after entity parsing.
const (
	maxTextLen    = 4096
	maxCaptionLen = 1024
)

// htmlTags are the tags Telegram's HTML parse mode accepts.
var htmlTags = map[string]bool{
	"a": true, "b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true,
	"s": true, "strike": true, "del": true, "span": true, "tg-spoiler": true, "tg-emoji": true,
	"code": true, "pre": true, "blockquote": true,
}

// checkText validates a message text, or a caption, like Telegram does and returns what the
// user sees.
func checkText(text, parseMode string, caption bool) (string, *apiError) {
	if !utf8.ValidString(text) {
		return "", badRequest("text must be encoded in UTF-8")
	}
	plain := text
	switch {
	case parseMode == "" || strings.EqualFold(parseMode, "Markdown") || strings.EqualFold(parseMode, "MarkdownV2"):
		// Markdown is not validated.
	case strings.EqualFold(parseMode, "HTML"):
		var problem string
		if plain, problem = parseHTML(text); problem != "" {
			return "", badRequest("can't parse entities: %s", problem)
		}
	default:
		return "", badRequest("unsupported parse_mode")
	}
	plain = strings.TrimSpace(plain)
	switch {
	case caption && utf16Len(plain) > maxCaptionLen:
		return "", badRequest("message caption is too long")
	case caption:
	case plain == "":
		return "", badRequest("message text is empty")
	case utf16Len(plain) > maxTextLen:
		return "", badRequest("message is too long")
	}
	return plain, nil
}

// utf16Len counts s in UTF-16 code units, as Telegram counts lengths and entity offsets.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// parseHTML returns the text of an HTML-formatted message, or why Telegram refuses it in
// Telegram's words. Unlike Telegram, which keeps a bare "&" as it is, it refuses an "&" that
// starts no entity, because the Bot API documentation requires escaping it.
func parseHTML(src string) (plain, problem string) {
	var out strings.Builder
	type open struct{ name, arg string }
	var stack []open
	for i := 0; i < len(src); {
		switch {
		case src[i] == '&':
			r, n := htmlEntity(src[i:])
			if n == 0 {
				return "", fmt.Sprintf(`Unescaped "&" at byte offset %d (write &amp;)`, i)
			}
			out.WriteRune(r)
			i += n
		case strings.HasPrefix(src[i:], "</"):
			j := i + 2
			for j < len(src) && !isSpace(src[j]) && src[j] != '>' {
				j++
			}
			name := strings.ToLower(src[i+2 : j])
			for j < len(src) && isSpace(src[j]) {
				j++
			}
			switch {
			case j >= len(src) || src[j] != '>':
				return "", fmt.Sprintf("Unclosed end tag at byte offset %d", i)
			case len(stack) == 0:
				return "", fmt.Sprintf("Unexpected end tag at byte offset %d", i)
			}
			top := stack[len(stack)-1]
			if name != "" && name != top.name {
				return "", fmt.Sprintf(`Unmatched end tag at byte offset %d, expected "</%s>", found "</%s>"`, i, top.name, name)
			}
			if _, err := strconv.ParseInt(top.arg, 10, 64); top.name == "tg-emoji" && err != nil {
				return "", "Invalid custom emoji identifier specified"
			}
			stack = stack[:len(stack)-1]
			i = j + 1
		case src[i] == '<':
			name, arg, end, problem := startTag(src, i)
			if problem != "" {
				return "", problem
			}
			stack = append(stack, open{name, arg})
			i = end
		default:
			out.WriteByte(src[i])
			i++
		}
	}
	if len(stack) > 0 {
		return "", fmt.Sprintf(`Can't find end tag corresponding to start tag "%s"`, stack[len(stack)-1].name)
	}
	return out.String(), ""
}

// startTag parses the start tag at src[at] == '<' and returns its name, the argument that
// matters for it (href, class or emoji-id) and the offset after its '>'.
func startTag(src string, at int) (name, arg string, end int, problem string) {
	unclosed := fmt.Sprintf("Unclosed start tag at byte offset %d", at)
	j := at + 1
	for j < len(src) && !isSpace(src[j]) && src[j] != '>' {
		j++
	}
	if j >= len(src) {
		return "", "", 0, unclosed
	}
	name = strings.ToLower(src[at+1 : j])
	if !htmlTags[name] {
		return "", "", 0, fmt.Sprintf(`Unsupported start tag "%s" at byte offset %d`, name, at)
	}
	for {
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j >= len(src) {
			return "", "", 0, unclosed
		}
		if src[j] == '>' {
			break
		}
		k := j
		for j < len(src) && !isSpace(src[j]) && !strings.ContainsRune(`=>/"'`, rune(src[j])) {
			j++
		}
		attr := strings.ToLower(src[k:j])
		if attr == "" {
			return "", "", 0, fmt.Sprintf(`Empty attribute name in the tag "%s" at byte offset %d`, name, at)
		}
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j >= len(src) {
			return "", "", 0, unclosed
		}
		if src[j] != '=' {
			continue // an attribute without a value, such as blockquote's expandable
		}
		j++
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j >= len(src) {
			return "", "", 0, unclosed
		}
		var val string
		if q := src[j]; q == '"' || q == '\'' {
			e := strings.IndexByte(src[j+1:], q)
			if e < 0 {
				return "", "", 0, unclosed
			}
			val = src[j+1 : j+1+e]
			j += e + 2
		} else {
			k := j
			for j < len(src) && (isAlnum(src[j]) || src[j] == '.' || src[j] == '-') {
				j++
			}
			val = strings.ToLower(src[k:j])
			if j < len(src) && !isSpace(src[j]) && src[j] != '>' {
				return "", "", 0, fmt.Sprintf("Unexpected end of name token at byte offset %d", j)
			}
		}
		switch name + " " + attr {
		case "a href", "span class", "code class", "tg-emoji emoji-id":
			arg = val
		}
	}
	if name == "span" && arg != "tg-spoiler" {
		return "", "", 0, fmt.Sprintf(`Tag "span" must have class "tg-spoiler" at byte offset %d`, at)
	}
	return name, arg, j + 1, ""
}

// htmlEntity decodes the entity at the start of s (&lt; &gt; &amp; &quot; &#NN; &#xHH;) and
// returns its length, 0 if s starts no entity.
func htmlEntity(s string) (rune, int) {
	end := strings.IndexByte(s, ';')
	if end < 2 || end > 10 {
		return 0, 0
	}
	name := s[1:end]
	named := map[string]rune{"lt": '<', "gt": '>', "amp": '&', "quot": '"'}
	if r, ok := named[name]; ok {
		return r, end + 1
	}
	num, ok := strings.CutPrefix(name, "#")
	if !ok {
		return 0, 0
	}
	base := 10
	if hex, ok := strings.CutPrefix(strings.ToLower(num), "x"); ok {
		num, base = hex, 16
	}
	n, err := strconv.ParseUint(num, base, 21)
	if err != nil || n == 0 || !utf8.ValidRune(rune(n)) {
		return 0, 0
	}
	return rune(n), end + 1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
