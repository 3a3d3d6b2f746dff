package session

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/typedsession/session/internal/httpheader"
)

// Transport says how a session ID travels between client and server.
type Transport uint8

const (
	// TransportCookie carries the ID in the session cookie, and only
	// there: an Authorization header is ignored. It is the default.
	TransportCookie Transport = iota

	// TransportHeader carries the ID as a bearer token, for API clients
	// and mobile apps: requests send "Authorization: Bearer <ID>", and a
	// response that creates or renews the session sends the new ID, the
	// same string as the cookie value, in the TokenHeader
	// response header. A response that ends the session (Destroy, or a
	// token naming nothing) sends TokenHeader with an empty value: the
	// client should forget its token. The session cookie is ignored and
	// never set. Responses that used the session carry
	// "Vary: Authorization", and guards add "WWW-Authenticate: Bearer" to
	// every 401.
	TransportHeader

	// TransportCookieOrHeader accepts both, for a host that serves
	// browsers and API clients alike: the cookie first, else the bearer
	// token. A new or renewed ID goes back on the carrier the request used:
	// TokenHeader for a request with an "Authorization: Bearer" header
	// (whatever its token; a client without a session can send any, such
	// as "Authorization: Bearer new"), else the cookie, so that browsers
	// never receive their ID where scripts can read it.
	TransportCookieOrHeader
)

// TokenHeader is the response header that carries a new or renewed session
// ID under TransportHeader and TransportCookieOrHeader.
const TokenHeader = "Session-Token"

// String returns the name of the transport: "cookie", "header" or
// "cookie-or-header".
func (t Transport) String() string {
	switch t {
	case TransportCookie:
		return "cookie"
	case TransportHeader:
		return "header"
	case TransportCookieOrHeader:
		return "cookie-or-header"
	}
	return fmt.Sprintf("Transport(%d)", uint8(t))
}

// ParseTransport returns the transport named s, as String names it.
func ParseTransport(s string) (Transport, error) {
	for t := TransportCookie; t <= TransportCookieOrHeader; t++ {
		if t.String() == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("session: unknown transport %q (known: cookie, header, cookie-or-header)", s)
}

// Transport returns how the manager's session IDs travel; guards use it to
// answer 401 with "WWW-Authenticate: Bearer" when bearer tokens are
// accepted.
func (m *Manager[T]) Transport() Transport { return m.transport }

// usesCookie and usesHeader report which carriers the manager accepts.
func (m *Manager[T]) usesCookie() bool { return m.transport != TransportHeader }
func (m *Manager[T]) usesHeader() bool { return m.transport != TransportCookie }

// readBearer returns the token of the request's "Authorization: Bearer"
// header if valid reports true for it, and whether the request had a
// bearer Authorization header at all.
func readBearer(h http.Header, valid func(string) bool) (value string, present bool) {
	for _, line := range h["Authorization"] {
		scheme, tok, _ := strings.Cut(line, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		present = true
		if tok = strings.TrimSpace(tok); valid(tok) {
			return tok, true
		}
	}
	return "", present
}

// sendID adds the response headers that carry a new or renewed ID, on the
// carrier of the request.
func (s *Session[T]) sendID(h http.Header, id string) {
	if s.viaHeader {
		h.Set(TokenHeader, id)
		h.Set("Cache-Control", "no-store")
		return
	}
	s.m.setCookie(h, id, s.persistent(), s.dead, s.m.now())
}

// dropID adds the response headers that tell the client to forget its ID.
func (s *Session[T]) dropID(h http.Header) {
	if s.viaHeader {
		h.Set(TokenHeader, "")
		h.Set("Cache-Control", "no-store")
		return
	}
	s.m.clearCookie(h)
}

// vary adds the Vary header for the carriers the manager reads.
func (m *Manager[T]) vary(h http.Header) {
	if m.usesCookie() {
		httpheader.AddVary(h, "Cookie")
	}
	if m.usesHeader() {
		httpheader.AddVary(h, "Authorization")
	}
}
