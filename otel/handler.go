package otelsession

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/typedsession/session"
)

// Attribute keys of the Handler's measurements.
const (
	// AttrCommitReason says why a commit failed: gone (the session was
	// ended or renewed by a concurrent request, session.ErrGone),
	// unavailable (session.ErrUnavailable) or error.
	AttrCommitReason = attribute.Key("session.commit.reason")
	// AttrIDState says what a rejected ID named: unknown (no session) or
	// retired (a session moved to a new ID).
	AttrIDState = attribute.Key("session.id.state")
)

// counters are the Handler's instruments, shared by the handlers that
// WithAttrs and WithGroup derive.
type counters struct {
	attrs                                []attribute.KeyValue
	created, renewed, destroyed, expired metric.Int64Counter
	rejected, retried, failed, revoked   metric.Int64Counter
}

// handler is the slog.Handler Handler returns.
type handler struct {
	next slog.Handler
	c    *counters
}

// Handler returns a slog.Handler that counts the session manager's
// lifecycle events (see the package documentation for the names) and
// passes every record on to next, as next would have handled it alone.
// Use it as the manager's logger:
//
//	cfg := session.Config{
//		Logger: slog.New(otelsession.Handler(slog.Default().Handler())),
//	}
//
// The manager logs its events at Info, Warn and Error, and only when its
// logger is enabled at their level; so the handler reports every level
// from Info up as enabled, even when next does not, and then counts
// those records without passing them to next. Records are recognised by
// their message, the session.Event constants, so a logger derived with
// With or WithGroup counts them as well.
func Handler(next slog.Handler, opts ...Option) slog.Handler {
	c := newConfig(opts)
	m := c.mp.Meter(ScopeName)
	return &handler{next: next, c: &counters{
		attrs:     c.attrs,
		created:   int64Counter(m, "session.created", "{session}", "Sessions created."),
		renewed:   int64Counter(m, "session.renewed", "{session}", "Sessions moved to a new ID."),
		destroyed: int64Counter(m, "session.destroyed", "{session}", "Sessions destroyed by Destroy."),
		expired:   int64Counter(m, "session.expired", "{request}", "Requests that presented the ID of a session past its lifetime."),
		rejected:  int64Counter(m, "session.ids.rejected", "{request}", "Requests that presented an unknown or retired session ID."),
		retried:   int64Counter(m, "session.conflicts.retried", "{retry}", "Commits replayed after losing a compare-and-set to a concurrent writer."),
		failed:    int64Counter(m, "session.commits.failed", "{commit}", "Commits that could not be stored."),
		revoked:   int64Counter(m, "session.revoked", "{session}", "Sessions ended by RevokeOwner, RevokeOtherSessions or RevokeSession."),
	}}
}

// Enabled reports whether next is enabled at level, or level is at least
// Info, the lowest level of a lifecycle event.
func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || h.next.Enabled(ctx, level)
}

// Handle counts r if it is a lifecycle event, and passes it to next if
// next is enabled at its level.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	h.count(ctx, r)
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler that counts as h does and passes records to
// next.WithAttrs(attrs).
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(attrs), c: h.c}
}

// WithGroup returns a handler that counts as h does and passes records to
// next.WithGroup(name).
func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), c: h.c}
}

// count adds r to its counter if it is a lifecycle event.
func (h *handler) count(ctx context.Context, r slog.Record) {
	c := h.c
	var (
		ctr   metric.Int64Counter
		extra attribute.KeyValue
		n     int64 = 1
	)
	switch r.Message {
	case session.EventRevoked:
		ctr, n = c.revoked, revokedCount(r)
	case session.EventCreated:
		ctr = c.created
	case session.EventRenewed:
		ctr = c.renewed
	case session.EventDestroyed:
		ctr = c.destroyed
	case session.EventExpired:
		ctr = c.expired
	case session.EventUnknownID:
		ctr, extra = c.rejected, AttrIDState.String("unknown")
	case session.EventRetiredID:
		ctr, extra = c.rejected, AttrIDState.String("retired")
	case session.EventConflictRetried:
		ctr = c.retried
	case session.EventCommitFailed:
		ctr, extra = c.failed, AttrCommitReason.String(commitReason(r))
	default:
		return
	}
	if extra.Valid() {
		attrs := make([]attribute.KeyValue, 0, 1+len(c.attrs))
		ctr.Add(ctx, n, metric.WithAttributeSet(attribute.NewSet(append(append(attrs, extra), c.attrs...)...)))
		return
	}
	ctr.Add(ctx, n, metric.WithAttributes(c.attrs...))
}

// revokedCount returns the "sessions" attribute of an EventRevoked
// record: how many sessions it ended.
func revokedCount(r slog.Record) int64 {
	var n int64
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sessions" && a.Value.Kind() == slog.KindInt64 {
			n = a.Value.Int64()
			return false
		}
		return true
	})
	return n
}

// commitReason classifies the "error" attribute of an EventCommitFailed
// record.
func commitReason(r slog.Record) string {
	reason := "error"
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "error" {
			return true
		}
		if err, ok := a.Value.Any().(error); ok {
			switch {
			case errors.Is(err, session.ErrGone):
				reason = "gone"
			case errors.Is(err, session.ErrUnavailable):
				reason = "unavailable"
			}
		}
		return false
	})
	return reason
}
