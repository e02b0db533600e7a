package demo

import (
	"strings"
	"testing"

	xhtml "golang.org/x/net/html"
)

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Nodes (3):", "Nodes (3):"},
		{"bot reply", "Deploying <b>0.10.5</b>…\n<pre>a &lt; b &amp; c</pre>", "Deploying <b>0.10.5</b>…\n<pre>a &lt; b &amp; c</pre>"},
		{"synonyms", "<strong>s</strong><em>e</em><ins>i</ins><del>d</del><strike>x</strike>", "<b>s</b><i>e</i><u>i</u><s>d</s><s>x</s>"},
		{"code with language", `<pre><code class="language-go">x</code></pre>`, `<pre><code class="language-go">x</code></pre>`},
		{"code with other class", `<code class="evil" onclick="x()">c</code>`, `<code>c</code>`},
		{"spoilers", `<tg-spoiler>a</tg-spoiler><span class="tg-spoiler">b</span>`, `<span class="tg-spoiler">a</span><span class="tg-spoiler">b</span>`},
		{"span without spoiler", `<span style="x">s</span>`, `&lt;span style=&#34;x&#34;&gt;s&lt;/span&gt;`},
		{"link", `<a href="https://example.com/?a=1&amp;b=2">l</a>`, `<a href="https://example.com/?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">l</a>`},
		{"script link", `<a href="javascript:alert(1)">l</a>`, `<a>l</a>`},
		{"script", `<script>alert(1)</script>`, `&lt;script&gt;alert(1)&lt;/script&gt;`},
		{"image", `<img src=x onerror=alert(1)>`, `&lt;img src=x onerror=alert(1)&gt;`},
		{"event attribute", `<b onmouseover="alert(1)">b</b>`, `<b>b</b>`},
		{"comment", `<!-- c -->`, `&lt;!-- c --&gt;`},
		{"misnested", `<b><i>x</b></i>`, `<b><i>x&lt;/b&gt;</i></b>`},
		{"unclosed", `<b>x`, `<b>x</b>`},
		{"stray close", `x</pre>`, `x&lt;/pre&gt;`},
		{"custom emoji", `<tg-emoji emoji-id="1">👍</tg-emoji>`, `👍`},
		{"expandable quote", `<blockquote expandable>q</blockquote>`, `<blockquote class="expandable">q</blockquote>`},
		{"textarea swallows nothing", `<textarea><b>x</b></textarea>`, `&lt;textarea&gt;&lt;b&gt;x&lt;/b&gt;&lt;/textarea&gt;`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sanitize(tc.in); got != tc.want {
				t.Errorf("Sanitize(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// allowedOut are the elements and attributes Sanitize may write.
var allowedOut = map[string]map[string]bool{
	"b": {}, "i": {}, "u": {}, "s": {}, "pre": {},
	"code":       {"class": true},
	"span":       {"class": true},
	"blockquote": {"class": true},
	"a":          {"href": true, "target": true, "rel": true},
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{
		"<b>x</b>", `<a href="tg://user?id=1">u</a>`, "<script>x</script>", "<pre><code>a</code></pre>",
		`<span class="tg-spoiler">s</span>`, "<textarea>", "<plaintext><b>", "&lt;&amp;", `<a href=" javascript:x">`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)
		if Sanitize(out) != out {
			t.Errorf("Sanitize is not stable on its output: %q -> %q -> %q", in, out, Sanitize(out))
		}
		z := xhtml.NewTokenizer(strings.NewReader(out))
		depth := 0
		for {
			tt := z.Next()
			if tt == xhtml.ErrorToken {
				break
			}
			tok := z.Token()
			switch tt {
			case xhtml.StartTagToken:
				attrs, ok := allowedOut[tok.Data]
				if !ok {
					t.Fatalf("Sanitize(%q) = %q: element <%s>", in, out, tok.Data)
				}
				for _, a := range tok.Attr {
					if !attrs[a.Key] {
						t.Fatalf("Sanitize(%q) = %q: attribute %s on <%s>", in, out, a.Key, tok.Data)
					}
					if a.Key == "href" && !(strings.HasPrefix(a.Val, "http:") || strings.HasPrefix(a.Val, "https:") ||
						strings.HasPrefix(a.Val, "tg:") || strings.HasPrefix(a.Val, "mailto:")) {
						t.Fatalf("Sanitize(%q) = %q: href %q", in, out, a.Val)
					}
				}
				depth++
			case xhtml.EndTagToken:
				depth--
			case xhtml.SelfClosingTagToken, xhtml.CommentToken, xhtml.DoctypeToken:
				t.Fatalf("Sanitize(%q) = %q: %v token", in, out, tt)
			}
			if depth < 0 {
				t.Fatalf("Sanitize(%q) = %q closes more than it opens", in, out)
			}
		}
		if depth != 0 {
			t.Fatalf("Sanitize(%q) = %q leaves %d elements open", in, out, depth)
		}
	})
}
