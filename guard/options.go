package guard

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Option configures a guard.
type Option func(*config)

type config struct {
	login      *url.URL
	respond    Responder
	retryAfter time.Duration
	log        *slog.Logger
}

// Responder writes the response for a refused request. The guard has set
// Cache-Control: no-store, Vary: Accept and, for 503, Retry-After on w
// before calling it; a Responder may change them.
type Responder func(w http.ResponseWriter, r *http.Request, d Denial)

// WithLoginRedirect makes a refusal with 401 redirect browsers (requests
// preferring text/html) to loginURL with 303 See Other, adding a next
// parameter with the local path of the request when it is a GET or HEAD,
// so the login page can send the visitor back. JSON and other clients
// still get 401. loginURL may be a path or an absolute URL and may carry a
// query of its own; WithLoginRedirect panics if it does not parse, like
// http.ServeMux does with a bad pattern. Validate next with LocalPath
// before redirecting to it.
func WithLoginRedirect(loginURL string) Option {
	u, err := url.Parse(loginURL)
	if err != nil || loginURL == "" {
		panic(fmt.Sprintf("guard: WithLoginRedirect(%q): not a URL", loginURL))
	}
	return func(c *config) { c.login = u }
}

// WithResponder replaces Respond, the default way refusals are written
// (including the login redirect, whose target it finds in
// Denial.LoginURL). A Responder may call Respond for the cases it does
// not handle itself.
func WithResponder(respond Responder) Option {
	return func(c *config) { c.respond = respond }
}

// WithRetryAfter sets the Retry-After of 503 responses, rounded up to
// whole seconds (at least one). Default DefaultRetryAfter.
func WithRetryAfter(d time.Duration) Option {
	return func(c *config) { c.retryAfter = d }
}

// WithLogger sets the logger for store failures (error level) and refused
// checks (debug level). Default slog.Default().
func WithLogger(log *slog.Logger) Option {
	return func(c *config) { c.log = log }
}
