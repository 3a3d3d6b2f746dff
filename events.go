package session

import (
	"context"
	"log/slog"
)

// Lifecycle events. The manager logs each through Config.Logger with one
// of these messages, which are stable: filter and alert on them. Every
// event carries the attribute "key", the first 12 characters of the
// session's store key (itself a SHA-256 hash of the ID): enough to follow
// one session through the logs, never the ID a cookie carries. With a
// client-side store (backend.Sealer) there is no ID and no key, and "key"
// is empty; EventUnknownID then reports a cookie that did not open, with
// the attribute "reason", and EventExpired one past its idle timeout or
// absolute lifetime.
const (
	// EventCreated: a new session was stored (Info).
	EventCreated = "session created"

	// EventRenewed: a session moved to a new ID (Info); "key" is the new
	// key, "previous" the old one.
	EventRenewed = "session renewed"

	// EventDestroyed: a session was deleted by Destroy (Info).
	EventDestroyed = "session destroyed"

	// EventRevoked: sessions of an owner were ended by RevokeOwner,
	// RevokeOtherSessions or RevokeSession (Info). "sessions" counts
	// them; "key" is the session ended by RevokeSession, or the one kept
	// by RevokeOtherSessions ("kept_current"). Neither the owner nor a
	// digest of it is logged.
	EventRevoked = "session revoked"

	// EventExpired: a request presented the ID of a session past its
	// absolute lifetime (Info). A session past its idle timeout has
	// left the store and shows up as EventUnknownID.
	EventExpired = "session expired"

	// EventUnknownID: a request presented a well-formed ID that names no
	// session: expired by its idle timeout, destroyed long ago, or never
	// issued (Info).
	EventUnknownID = "session unknown ID presented"

	// EventRetiredID: a request presented an ID retired by a renewal,
	// typically a parallel request that left before the renewal (Info).
	EventRetiredID = "session retired ID presented"

	// EventConflictRetried: a write lost a compare-and-set to a
	// concurrent writer and is replayed on the fresh data (Info);
	// "attempt" counts from 1.
	EventConflictRetried = "session conflict retried"

	// EventCommitFailed: a request's changes could not be stored, and
	// the ErrorHandler answers (Warn for ErrGone, Error otherwise); the
	// attributes are "method", "path" and "error".
	EventCommitFailed = "session commit failed"
)

// event logs a lifecycle event of the session stored under key.
func (m *Manager[T]) event(ctx context.Context, level slog.Level, msg, key string, attrs ...slog.Attr) {
	if !m.log.Enabled(ctx, level) {
		return
	}
	m.log.LogAttrs(ctx, level, msg, append([]slog.Attr{slog.String("key", logKey(key))}, attrs...)...)
}
