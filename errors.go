package session

import "errors"

// Sentinel errors returned by Session methods and passed to
// Config.ErrorHandler. Test for them with errors.Is; store failures wrap the
// backend package's sentinels (backend.ErrUnavailable, backend.ErrConflict,
// backend.ErrNotFound) as well.
var (
	// ErrCommitted reports a change (Set, Update, RenewID, Destroy)
	// attempted after the session was committed, which happens when the
	// response starts (first WriteHeader or Write) or the handler returns.
	// The change is not applied; it is also logged.
	ErrCommitted = errors.New("session: change after the session was committed")

	// ErrGone reports that the session was deleted, renewed or expired by
	// another request between this request's load and its commit. The
	// change is not applied: a commit never brings a retired session back.
	// The error also matches backend.ErrNotFound.
	ErrGone = errors.New("session: session ended by another request")

	// ErrNoMiddleware reports a Session obtained from a request that did
	// not pass through the Manager's Middleware.
	ErrNoMiddleware = errors.New("session: request did not pass through the session middleware")
)
