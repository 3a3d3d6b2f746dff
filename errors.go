package session

import (
	"errors"

	"github.com/typedsession/session/backend"
)

// Sentinel errors returned by Session methods and passed to
// Config.ErrorHandler. Test for them with errors.Is; store failures wrap the
// backend package's sentinels (backend.ErrUnavailable, backend.ErrConflict,
// backend.ErrNotFound, backend.ErrTooLarge) as well.
var (
	// ErrUnavailable reports that the session store could not be reached
	// or could not serve the request. It is the same value as
	// backend.ErrUnavailable, so applications can tell an outage (answer
	// 503 and let the visitor retry) from a bug without importing backend.
	// It is never a reason to treat the visitor as logged out.
	ErrUnavailable = backend.ErrUnavailable

	// ErrCommitted reports a change (Set, Update, Renew, RenewID,
	// Destroy) attempted after the session was committed, which happens
	// when the response starts (first WriteHeader or Write) or the handler
	// returns. The change is not applied; it is also logged.
	ErrCommitted = errors.New("session: change after the session was committed")

	// ErrGone reports a change to a session that was ended or moved to a
	// new ID by another request: the request carried an ID that a
	// concurrent RenewID had just retired, or the session was destroyed,
	// renewed or expired between this request's load and its commit. The
	// change is not applied (a write never brings a retired session back)
	// and the visitor's cookie is left alone. The default error handler
	// answers 409 Conflict. The error also matches backend.ErrNotFound.
	ErrGone = errors.New("session: session ended or renewed by another request")

	// ErrUnreadable reports a stored session that this build cannot read:
	// a newer release wrote it in a format this one does not know, or with
	// a codec that is neither built in nor listed in Config.Codecs. The
	// record is left exactly as it is (never overwritten, deleted or
	// treated as empty, and its cookie is never cleared), so that the
	// instance that wrote it can go on serving it: this happens during a
	// rolling deploy or a rollback. The error also matches ErrUnavailable,
	// so it is answered with 503.
	ErrUnreadable = errors.New("session: stored session written in a format this build cannot read")

	// ErrInUpdate reports a Session method called while a function given
	// to Update runs. Such a call from the function itself would deadlock,
	// so every call made while the function runs fails with ErrInUpdate,
	// including calls from other goroutines of the request: Go cannot tell
	// the two apart.
	ErrInUpdate = errors.New("session: Session method called while an Update function runs")

	// ErrNoMiddleware reports a Session obtained from a request that did
	// not pass through the Manager's Middleware.
	ErrNoMiddleware = errors.New("session: request did not pass through the session middleware")
)
