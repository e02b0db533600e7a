package telegram

import "strings"

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// EscapeHTML escapes s for a message sent with parse mode HTML: the four
// characters Telegram's HTML parser gives meaning to become the named
// entities it supports (&amp; &lt; &gt; &quot;). Everything else, including
// any user-controlled text such as pod names or log lines, passes unchanged.
func EscapeHTML(s string) string {
	return htmlEscaper.Replace(s)
}
