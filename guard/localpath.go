package guard

import (
	"net/url"
	"strings"
)

// MaxLocalPathLen is the longest string LocalPath accepts.
const MaxLocalPathLen = 2048

// LocalPath reports whether s is safe to redirect to as a path on this
// site, such as the next parameter of a login form, and returns it
// unchanged if so. It guards against open redirects: a "local" path that a
// browser would resolve to another host.
//
// s is accepted only if all of these hold:
//
//   - it starts with exactly one "/" (so no "//evil.example", no
//     "https://evil.example", no "javascript:...", no relative paths);
//   - it holds no backslash and no control character anywhere, raw (some
//     browsers read "/\evil" as "//evil" and drop tabs and newlines) or
//     percent-encoded in its path ("/%2F%2Fevil", "/%5Cevil", "/%09/evil");
//     the path is decoded repeatedly, so double encoding ("/%252F%252F")
//     is refused too;
//   - its path percent-decodes cleanly and it parses as a URL with no
//     scheme, host or user;
//   - it is at most MaxLocalPathLen bytes long.
//
// A query and a fragment may follow the path ("/search?q=tea#results").
func LocalPath(s string) (string, bool) {
	if s == "" || len(s) > MaxLocalPathLen || !safePath(s) {
		return "", false
	}
	path, _, _ := strings.Cut(s, "#")
	path, _, _ = strings.Cut(path, "?")
	// Check the path decoded once, and again while decoding changes it, in
	// case something between here and the browser decodes once more. Only
	// the first decoding must succeed: a later failure means nothing will
	// decode it into anything else.
	for i := 0; i < 4; i++ {
		decoded, err := url.PathUnescape(path)
		if err != nil {
			if i == 0 {
				return "", false
			}
			break
		}
		if !safePath(decoded) {
			return "", false
		}
		if decoded == path {
			break
		}
		path = decoded
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return s, true
}

// safePath reports whether p starts with a single slash and holds no
// backslash or control character.
func safePath(p string) bool {
	if p == "" || p[0] != '/' || len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}
