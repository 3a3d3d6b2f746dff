package session

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// normalizeCookie fills defaults into c and enforces the rules browsers
// apply to cookie names and attributes.
func normalizeCookie(c *CookieConfig) error {
	if c.Name == "" {
		c.Name = DefaultCookieName
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if c.SameSite == 0 {
		c.SameSite = http.SameSiteLaxMode
	}
	for i := 0; i < len(c.Name); i++ {
		if !isTokenChar(c.Name[i]) {
			return fmt.Errorf("session: cookie name %q: invalid character %q", c.Name, c.Name[i])
		}
	}
	if strings.ContainsAny(c.Path, ";\x00\r\n") || c.Path[0] != '/' {
		return fmt.Errorf("session: cookie path %q must start with / and hold no ';' or control characters", c.Path)
	}
	if strings.ContainsAny(c.Domain, "; \x00\r\n") {
		return fmt.Errorf("session: cookie domain %q holds invalid characters", c.Domain)
	}
	switch {
	case hasPrefixFold(c.Name, "__Host-"):
		if c.Insecure || c.Domain != "" || c.Path != "/" {
			return fmt.Errorf("session: cookie %q: the __Host- prefix requires Secure, Path=/ and no Domain", c.Name)
		}
	case hasPrefixFold(c.Name, "__Secure-"):
		if c.Insecure {
			return fmt.Errorf("session: cookie %q: the __Secure- prefix requires Secure", c.Name)
		}
	}
	if c.SameSite == http.SameSiteNoneMode && c.Insecure {
		return fmt.Errorf("session: cookie %q: SameSite=None requires Secure", c.Name)
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// isTokenChar reports whether b may appear in an RFC 7230 token, which is
// what a cookie name must be.
func isTokenChar(b byte) bool {
	if b <= ' ' || b >= 0x7f {
		return false
	}
	return !strings.ContainsRune(`()<>@,;:\"/[]?={}`, rune(b))
}

// readCookie returns the first value of the cookie called name among the
// request's Cookie headers for which valid reports true, and whether a
// cookie of that name was present at all. It does not allocate, unlike
// http.Request.Cookie, which parses every cookie.
func readCookie(h http.Header, name string, valid func(string) bool) (value string, present bool) {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			present = true
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if valid(v) {
				return v, true
			}
		}
	}
	return "", present
}

// setCookie adds a Set-Cookie header carrying token, persistent until
// deadline if persist, and keeps the response out of caches. (commit has
// added Vary: Cookie already, as it does for every response that used the
// session.)
func (m *Manager[T]) setCookie(h http.Header, token string, persist bool, deadline, now time.Time) {
	c := m.baseCookie()
	c.Value = token
	if persist {
		c.Expires = deadline.UTC()
		c.MaxAge = max(int(deadline.Sub(now)/time.Second), 1)
	}
	writeCookie(h, c)
}

// clearCookie adds a Set-Cookie header that removes the session cookie,
// with the same attributes it was set with so the browser matches it.
func (m *Manager[T]) clearCookie(h http.Header) {
	c := m.baseCookie()
	c.MaxAge = -1
	c.Expires = time.Unix(1, 0).UTC()
	writeCookie(h, c)
}

func (m *Manager[T]) baseCookie() *http.Cookie {
	return &http.Cookie{
		Name:     m.cookie.Name,
		Path:     m.cookie.Path,
		Domain:   m.cookie.Domain,
		Secure:   !m.cookie.Insecure,
		HttpOnly: true,
		SameSite: m.cookie.SameSite,
	}
}

func writeCookie(h http.Header, c *http.Cookie) {
	h.Add("Set-Cookie", c.String())
	h.Set("Cache-Control", `no-store`)
}

// ClearSiteCookies asks the browser to delete every cookie of the site,
// with the response header Clear-Site-Data: "cookies". Call it on logout,
// beside Session.Destroy, to also remove cookies the session does not
// manage (an app's preferences or CSRF cookies, a stale cookie under
// another path or name).
//
// The header reaches further than the session: browsers clear the cookies
// of the whole registrable domain (example.com and all its subdomains),
// and only over HTTPS or on localhost. If the commit of the request fails,
// the header is discarded with the handler's other headers, so a logout
// that did not happen clears nothing.
func ClearSiteCookies(w http.ResponseWriter) {
	w.Header().Set("Clear-Site-Data", `"cookies"`)
}
