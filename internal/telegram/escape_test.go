package telegram

import (
	"html"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscapeHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pod <none> & \"x\"", "pod &lt;none&gt; &amp; &quot;x&quot;"},
		{"уже &amp;", "уже &amp;amp;"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := EscapeHTML(tt.in); got != tt.want {
			t.Errorf("EscapeHTML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzEscapeHTML(f *testing.F) {
	for _, s := range []string{"", "<b>", "&amp;", "a\"b'c", "лог <err>", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		e := EscapeHTML(s)
		if strings.ContainsAny(e, "<>\"") {
			t.Fatalf("EscapeHTML(%q) = %q still has markup characters", s, e)
		}
		if got := html.UnescapeString(e); got != s {
			t.Fatalf("unescape(EscapeHTML(%q)) = %q", s, got)
		}
		// Escaped text is all text: it splits like plain text of the same length.
		if visibleUnits(e) != units(s) {
			t.Fatalf("visible length of %q is %d, want %d", e, visibleUnits(e), units(s))
		}
	})
}
