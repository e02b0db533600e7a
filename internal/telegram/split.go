package telegram

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxMessageLength is Telegram's limit on a message text, counted in UTF-16
// code units of the text after entity parsing.
const MaxMessageLength = 4096

// token is an indivisible piece of text: a rune, an entity or a tag.
type token struct {
	s       string
	units   int    // visible length in UTF-16 code units
	tagName string // set for tags
	closing bool
}

// SplitHTML cuts a message in Telegram's HTML dialect into chunks whose
// visible text is at most limit UTF-16 code units each, preferring to cut
// after a newline. It never cuts a tag, an entity or a UTF-8 sequence. Tags
// open at a cut are closed at the end of the chunk and opened again, with
// their attributes, at the start of the next one, so each chunk is valid on
// its own (a <pre> table stays a table in every message). Text without tags
// or entities is cut so that the chunks concatenated are exactly text; empty
// text gives no chunks.
func SplitHTML(text string, limit int) []string {
	if limit < 2 {
		limit = 2 // an astral rune takes two units and must fit somewhere
	}
	var (
		chunks []string
		open   []token // tags open at the current position, outermost first
		b      strings.Builder
		units  int
		// The last newline in the current chunk: where to cut, and the
		// tags open there.
		cutAt    = -1
		cutOpen  []token
		chunkPre string // tags reopened at the start of this chunk
	)
	flush := func(until int, openAt []token) {
		s := b.String()
		rest := s[until:]
		chunks = append(chunks, s[:until]+closeTags(openAt))
		b.Reset()
		chunkPre = openTags(openAt)
		b.WriteString(chunkPre)
		b.WriteString(rest)
		units = visibleUnits(rest)
		cutAt, cutOpen = -1, nil
	}
	for i := 0; i < len(text); {
		t := nextToken(text[i:])
		i += len(t.s)
		if units+t.units > limit && units > 0 {
			if cutAt > len(chunkPre) {
				flush(cutAt, cutOpen)
			}
			if units+t.units > limit && units > 0 {
				flush(b.Len(), open)
			}
		}
		b.WriteString(t.s)
		units += t.units
		switch {
		case t.tagName != "" && !t.closing:
			open = append(open, t)
		case t.tagName != "" && t.closing:
			for j := len(open) - 1; j >= 0; j-- {
				if open[j].tagName == t.tagName {
					open = append(open[:j:j], open[j+1:]...)
					break
				}
			}
		case t.s == "\n":
			cutAt, cutOpen = b.Len(), append([]token(nil), open...)
		}
	}
	if b.Len() > len(chunkPre) || (b.Len() > 0 && len(chunks) == 0) {
		chunks = append(chunks, b.String())
	}
	return chunks
}

// Tags and entities as Telegram's HTML parser sees them; a lone "<" or "&"
// that starts neither is text.
var (
	tagRE    = regexp.MustCompile(`^</?[A-Za-z][A-Za-z0-9-]*(?:[\s/][^<>]*)?>`)
	entityRE = regexp.MustCompile(`^&(?:[A-Za-z]{2,8}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});`)
)

// nextToken returns the token at the start of s, which is not empty.
func nextToken(s string) token {
	switch s[0] {
	case '<':
		if tag := tagRE.FindString(s); tag != "" {
			name, closing := tagName(tag)
			return token{s: tag, tagName: name, closing: closing}
		}
	case '&':
		if ent := entityRE.FindString(s); ent != "" {
			return token{s: ent, units: entityUnits(ent[1 : len(ent)-1])}
		}
	}
	r, size := utf8.DecodeRuneInString(s)
	return token{s: s[:size], units: utf16.RuneLen(r)}
}

func tagName(tag string) (name string, closing bool) {
	inner := strings.TrimSuffix(strings.TrimPrefix(tag, "<"), ">")
	if strings.HasPrefix(inner, "/") {
		closing = true
		inner = inner[1:]
	}
	if i := strings.IndexAny(inner, " \t\n/"); i >= 0 {
		inner = inner[:i]
	}
	return strings.ToLower(inner), closing
}

// entityUnits is the visible length of an entity body such as "amp" or "#128512".
func entityUnits(body string) int {
	if strings.HasPrefix(body, "#") {
		num, base := body[1:], 10
		if strings.HasPrefix(num, "x") || strings.HasPrefix(num, "X") {
			num, base = num[1:], 16
		}
		if n, err := strconv.ParseInt(num, base, 32); err == nil && n > 0xFFFF {
			return 2
		}
	}
	return 1
}

func visibleUnits(s string) int {
	n := 0
	for i := 0; i < len(s); {
		t := nextToken(s[i:])
		i += len(t.s)
		n += t.units
	}
	return n
}

func closeTags(open []token) string {
	var b strings.Builder
	for i := len(open) - 1; i >= 0; i-- {
		b.WriteString("</" + open[i].tagName + ">")
	}
	return b.String()
}

func openTags(open []token) string {
	var b strings.Builder
	for _, t := range open {
		b.WriteString(t.s)
	}
	return b.String()
}
