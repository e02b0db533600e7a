package telegram

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// units is the length of plain text as Telegram counts it: UTF-16 code
// units, an invalid UTF-8 byte one unit (U+FFFD).
func units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// TestSplitText checks text without tags or entities.
func TestSplitText(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"empty", "", 10, nil},
		{"fits", "abc\ndef", 10, []string{"abc\ndef"}},
		{"on line boundaries", "aaaa\nbbbb\ncccc\n", 10, []string{"aaaa\nbbbb\n", "cccc\n"}},
		{"long line is cut hard", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"cyrillic counts one unit per letter", "привет\nмир", 7, []string{"привет\n", "мир"}},
		{"astral rune counts two units and is never cut", "😀😀😀", 3, []string{"😀", "😀", "😀"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, SplitHTML(tt.text, tt.limit)); diff != "" {
				t.Errorf("SplitHTML(%q, %d) (-want +got):\n%s", tt.text, tt.limit, diff)
			}
		})
	}
}

func TestSplitHTML(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"tags do not count", "<b>abc</b>", 3, []string{"<b>abc</b>"}},
		{"entity counts one unit and is never cut", "&lt;&lt;&lt;", 2, []string{"&lt;&lt;", "&lt;"}},
		{"astral numeric entity counts two", "&#128512;&#128512;", 3, []string{"&#128512;", "&#128512;"}},
		{"pre is closed and reopened", "<pre>aaaa\nbbbb\ncccc</pre>", 10,
			[]string{"<pre>aaaa\nbbbb\n</pre>", "<pre>cccc</pre>"}},
		{"attributes are kept when reopening", `<a href="https://x/?a=1&amp;b=2">aaa bbb</a>`, 4,
			[]string{`<a href="https://x/?a=1&amp;b=2">aaa </a>`, `<a href="https://x/?a=1&amp;b=2">bbb</a>`}},
		{"nested tags", "<b><i>ab\ncd</i></b>", 3, []string{"<b><i>ab\n</i></b>", "<b><i>cd</i></b>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, SplitHTML(tt.text, tt.limit)); diff != "" {
				t.Errorf("SplitHTML(%q, %d) (-want +got):\n%s", tt.text, tt.limit, diff)
			}
		})
	}
}

func TestSplitTelegramLimit(t *testing.T) {
	line := strings.Repeat("ж", 99) + "\n" // 100 units
	text := strings.Repeat(line, 100)      // 10,000 units
	chunks := SplitHTML(text, MaxMessageLength)
	if len(chunks) != 3 {
		t.Fatalf("got %d chunks, want 3", len(chunks))
	}
	for i, c := range chunks {
		if units(c) > MaxMessageLength || !strings.HasSuffix(c, "\n") {
			t.Errorf("chunk %d: %d units, ends with newline %v", i, units(c), strings.HasSuffix(c, "\n"))
		}
	}
}

// FuzzSplitText checks text without tags or entities: the chunks
// concatenated are the text.
func FuzzSplitText(f *testing.F) {
	f.Add("line one\nline two\nline three", 8)
	f.Add("привет, мир 😀\n\n", 3)
	f.Add("\xff\xfe abc", 2)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		limit = clampLimit(limit)
		text = strings.NewReplacer("<", "", "&", "").Replace(text)
		chunks := SplitHTML(text, limit)
		if got := strings.Join(chunks, ""); got != text {
			t.Fatalf("concatenation differs:\n got %q\nwant %q", got, text)
		}
		for i, c := range chunks {
			if c == "" {
				t.Fatalf("chunk %d is empty", i)
			}
			if units(c) > limit {
				t.Fatalf("chunk %d has %d units, limit %d", i, units(c), limit)
			}
			if utf8.ValidString(text) && !utf8.ValidString(c) {
				t.Fatalf("chunk %d %q cuts a UTF-8 sequence", i, c)
			}
		}
	})
}

func FuzzSplitHTML(f *testing.F) {
	f.Add("<pre>a\nb\nc</pre>", 2)
	f.Add(`<b>x &amp; y</b> <a href="u">l&#128512;nk</a>`+"\n<i>ok</i>", 3)
	f.Add("&lt;&gt;&quot;&amp;", 1)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		limit = clampLimit(limit)
		chunks := SplitHTML(text, limit)
		var visible []string
		for i, c := range chunks {
			if n := visibleUnits(c); n > limit {
				t.Fatalf("chunk %d %q has %d visible units, limit %d", i, c, n, limit)
			}
			if utf8.ValidString(text) && !utf8.ValidString(c) {
				t.Fatalf("chunk %d %q cuts a UTF-8 sequence", i, c)
			}
			for _, tok := range tokens(c) {
				if tok.tagName != "" {
					// Every tag is one of the input's or a synthetic close.
					if !strings.Contains(text, tok.s) && !(tok.closing && tok.s == "</"+tok.tagName+">") {
						t.Fatalf("chunk %d has tag %q that is not in the input", i, tok.s)
					}
					continue
				}
				visible = append(visible, tok.s)
			}
			if balanced(text) && !balanced(c) {
				t.Fatalf("input is balanced but chunk %d %q is not", i, c)
			}
		}
		var want []string
		for _, tok := range tokens(text) {
			if tok.tagName == "" {
				want = append(want, tok.s)
			}
		}
		if diff := cmp.Diff(want, visible); diff != "" {
			t.Fatalf("text and entities changed (a cut inside one?) (-want +got):\n%s", diff)
		}
	})
}

func clampLimit(limit int) int {
	if limit < 0 {
		limit = -limit
	}
	return limit%64 + 2
}

func tokens(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		t := nextToken(s[i:])
		out = append(out, t)
		i += len(t.s)
	}
	return out
}

// balanced reports whether every closing tag closes the innermost open tag
// and nothing stays open.
func balanced(s string) bool {
	var open []string
	for _, t := range tokens(s) {
		switch {
		case t.tagName == "":
		case !t.closing:
			open = append(open, t.tagName)
		case len(open) == 0 || open[len(open)-1] != t.tagName:
			return false
		default:
			open = open[:len(open)-1]
		}
	}
	return len(open) == 0
}
