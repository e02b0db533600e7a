package telegramtest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseHTML(t *testing.T) {
	tests := []struct {
		name, src, plain, problem string
	}{
		{"nested tags", "<b>bold <i>both</i></b> <U>u</U>", "bold both u", ""},
		{"all tags", `<strong>1</strong><em>2</em><ins>3</ins><s>4</s><strike>5</strike><del>6</del>` +
			`<span class="tg-spoiler">7</span><tg-spoiler>8</tg-spoiler><a href="https://x.test/?a=1&amp;b=2">9</a>` +
			`<code>0</code><pre><code class="language-go">a</code></pre><blockquote expandable>b</blockquote>` +
			`<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>`, "1234567890ab👍", ""},
		{"entities", "&lt;pod&gt; &amp; &quot;x&quot; &#1046; &#x416;", `<pod> & "x" Ж Ж`, ""},
		{"bare >", "a > b", "a > b", ""},
		{"unquoted attribute", "<span class=tg-spoiler>s</span>", "s", ""},
		{"end tag without name", "<b>x</>", "x", ""},
		{"unclosed tag", "<b>bold", "", `Can't find end tag corresponding to start tag "b"`},
		{"unknown tag", "see <pod>", "", `Unsupported start tag "pod" at byte offset 4`},
		{"bare <", "1 < 2", "", `Unsupported start tag "" at byte offset 2`},
		{"< at end", "x <", "", "Unclosed start tag at byte offset 2"},
		{"bare &", "a & b", "", `Unescaped "&" at byte offset 2 (write &amp;)`},
		{"unknown entity", "&nbsp;", "", `Unescaped "&" at byte offset 0 (write &amp;)`},
		{"crossed tags", "<b><i>x</b></i>", "", `Unmatched end tag at byte offset 7, expected "</i>", found "</b>"`},
		{"end tag alone", "x</b>", "", "Unexpected end tag at byte offset 1"},
		{"unclosed end tag", "<b>x</b", "", "Unclosed end tag at byte offset 4"},
		{"span without class", "<span>x</span>", "", `Tag "span" must have class "tg-spoiler" at byte offset 0`},
		{"attribute without quote end", `<a href="x>y</a>`, "", "Unclosed start tag at byte offset 0"},
		{"empty attribute name", `<a ="x">y</a>`, "", `Empty attribute name in the tag "a" at byte offset 0`},
		{"bad emoji id", `<tg-emoji emoji-id="x">y</tg-emoji>`, "", "Invalid custom emoji identifier specified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plain, problem := parseHTML(tc.src)
			if diff := cmp.Diff([2]string{tc.plain, tc.problem}, [2]string{plain, problem}); diff != "" {
				t.Errorf("parseHTML(%q) [plain, problem] (-want +got):\n%s", tc.src, diff)
			}
		})
	}
}

func TestTextLengthInUTF16(t *testing.T) {
	const tooLong = "Bad Request: message is too long"
	tests := []struct {
		name, text, parseMode, want string
	}{
		{"4096 Cyrillic", strings.Repeat("я", 4096), "", ""},
		{"4097 Cyrillic", strings.Repeat("я", 4097), "", tooLong},
		{"2048 emoji are 4096 units", strings.Repeat("🚀", 2048), "", ""},
		{"2049 emoji are 4098 units", strings.Repeat("🚀", 2049), "", tooLong},
		{"tags do not count", "<b>" + strings.Repeat("я", 4096) + "</b>", "HTML", ""},
		{"an entity counts once", strings.Repeat("&lt;", 4096), "HTML", ""},
		{"entities count after decoding", strings.Repeat("&lt;", 4097), "HTML", tooLong},
		{"surrounding spaces do not count", "  " + strings.Repeat("я", 4096) + "\n", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if _, e := checkText(tc.text, tc.parseMode, false); e != nil {
				got = e.desc
			}
			if got != tc.want {
				t.Errorf("checkText error = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzParseHTML(f *testing.F) {
	for _, s := range []string{"<b>x</b>", "a &lt; b", `<a href="u">l</a>`, "<pre><code class=\"language-go\">x</code></pre>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		plain, problem := parseHTML(src)
		if problem == "" && strings.Count(plain, "<") > strings.Count(src, "&lt;")+strings.Count(src, "&#") {
			t.Errorf("parseHTML(%q) kept a tag in %q", src, plain)
		}
	})
}
