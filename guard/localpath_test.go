package guard_test

import (
	"strings"
	"testing"

	"github.com/typedsession/session/guard"
)

func TestLocalPathAccepts(t *testing.T) {
	for _, s := range []string{
		"/",
		"/me",
		"/a/b/c",
		"/search?q=tea&page=2",
		"/search?next=//evil.example", // only the path must be local
		"/docs#section-2",
		"/a%20b",
		"/caf%C3%A9",
		"/café",
		"/%25",     // an encoded percent sign
		"/%2541",   // decodes to "/%41", then "/A": harmless
		"/%25zz",   // decodes once to "/%zz", which does not decode further
		"/./x",     // dot segments stay on this host
		"/../x",    // likewise
		"/a//b",    // a double slash after the first segment is a path
		"/a:b",     // a colon in a path segment
		"/-/x?y=%", // a query is not decoded
	} {
		got, ok := guard.LocalPath(s)
		if !ok || got != s {
			t.Errorf("LocalPath(%q) = %q, %v; want it accepted unchanged", s, got, ok)
		}
	}
}

func TestLocalPathRefusesOpenRedirects(t *testing.T) {
	for _, s := range []string{
		"",
		"me",                    // relative
		"./me",                  // relative
		"//evil.example",        // scheme-relative URL: another host
		"//evil.example/path",   //
		"///evil.example",       // browsers read three slashes as two
		"/\\evil.example",       // browsers read a backslash as a slash
		"\\\\evil.example",      //
		"\\/evil.example",       //
		"/a\\b",                 // backslashes anywhere
		"https://evil.example/", // absolute URLs
		"http:/evil.example",    //
		"HTTP://evil.example",   //
		"javascript:alert(1)",   // script URLs
		"JavaScript:alert(1)",   //
		"data:text/html,hi",     //
		" /me",                  // leading space
		"/\t/evil.example",      // browsers drop tabs and newlines
		"/\n/evil.example",      //
		"/\r\nSet-Cookie: x=1",  // header injection
		"/me\x00",               // NUL
		"/me\x7f",               // DEL
		"/%2F%2Fevil.example",   // decodes to "//evil.example"
		"/%2f%2fevil.example",   // lower-case escapes
		"/%2Fevil.example",      // decodes to "//evil.example"
		"/%5Cevil.example",      // decodes to "/\evil.example"
		"/%5cevil.example",      //
		"/%09/evil.example",     // decodes to a tab
		"/%0d%0aX: y",           // decodes to CR LF
		"/%00",                  // decodes to NUL
		"/%252F%252Fevil",       // double-encoded "//"
		"/%255Cevil",            // double-encoded backslash
		"/%25252F%25252Fevil",   // triple-encoded "//"
		"/%zz",                  // malformed escape
		"/%",                    // truncated escape
		"%2F%2Fevil.example",    // does not start with "/"
		"/" + strings.Repeat("a", guard.MaxLocalPathLen),
	} {
		if got, ok := guard.LocalPath(s); ok || got != "" {
			t.Errorf("LocalPath(%q) = %q, %v; want it refused", s, got, ok)
		}
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/me?x=1", "//evil", "/%2F%2Fevil", "/\\evil", "https://evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := guard.LocalPath(s)
		if !ok {
			return
		}
		if p != s {
			t.Fatalf("LocalPath changed %q into %q", s, p)
		}
		if len(s) < 1 || s[0] != '/' || len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
			t.Fatalf("LocalPath accepted %q", s)
		}
		if strings.ContainsAny(s, "\\\r\n\t\x00") {
			t.Fatalf("LocalPath accepted %q", s)
		}
	})
}
