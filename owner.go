package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/internal/envelope"
	"github.com/typedsession/session/internal/token"
)

// ErrUnsupported reports a call that needs an ability the store lacks:
// listing or revoking an owner's sessions with a store that keeps no
// index of sessions by owner (see backend.OwnerIndex), or with a Manager
// whose Config has no Owner.
var ErrUnsupported = errors.New("session: the store keeps no index of sessions by owner")

// Owner names the user a session belongs to, for Config.Owner. Make one
// with OwnerOf.
type Owner interface {
	// String describes the function, for errors.
	String() string
}

// OwnerOf returns the Owner that reads a session's owner from its data
// with f: "" means anonymous. f must be a pure, fast function of the
// data, and T the Manager's session type.
func OwnerOf[T any](f func(T) string) Owner {
	return ownerFunc[T](f)
}

// ownerFunc is an Owner for sessions of type T.
type ownerFunc[T any] func(T) string

func (f ownerFunc[T]) String() string {
	return fmt.Sprintf("func(%v) string", reflect.TypeFor[T]())
}

// errRegroup reports, inside a commit, that the session's data changed
// owner while changes were replayed: the session must be renewed.
var errRegroup = errors.New("session: the owner changed during a replay")

// SessionInfo describes one live session of an owner, as Manager.Sessions
// lists it.
type SessionInfo struct {
	// Handle names the session for RevokeSession. It is opaque and stays
	// the same for as long as the session keeps its ID; it is neither
	// the ID nor the store key, and cannot be turned into either.
	Handle string

	// Created is when the session was created or last renewed (a login
	// renews it).
	Created time.Time

	// LastWrite is when the session's data last changed.
	LastWrite time.Time

	// Expires is when the session ends unless it is used: the end of its
	// idle timeout as the store last extended it, or its absolute
	// lifetime, whichever comes first.
	Expires time.Time

	// Current reports that this is the session of the request whose
	// context was passed to Sessions.
	Current bool
}

// indexOf returns the owner index and owner's group in it, or an error
// wrapping ErrUnsupported when there is no index, or one for the empty
// owner, whose sessions are not indexed.
func (m *Manager[T]) indexOf(method, owner string) (backend.OwnerIndex, string, error) {
	switch {
	case m.index == nil && m.owner == nil:
		return nil, "", fmt.Errorf("session: %s: Config.Owner is not set: %w", method, ErrUnsupported)
	case m.index == nil:
		return nil, "", fmt.Errorf("session: %s: %T does not implement backend.OwnerIndex: %w", method, m.store, ErrUnsupported)
	case owner == "":
		return nil, "", fmt.Errorf("session: %s of the empty owner: anonymous sessions are not indexed", method)
	}
	return m.index, token.Group(owner), nil
}

// currentKey returns the store key of the session of the request whose
// context is ctx, or "" if ctx carries none of m's sessions.
func (m *Manager[T]) currentKey(ctx context.Context) (string, error) {
	s, ok := ctx.Value(m).(*Session[T])
	if !ok {
		return "", nil
	}
	if err := s.enter(); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	s.parse()
	if s.loaded && s.found != foundLive {
		return "", nil
	}
	return s.key, nil
}

// Sessions lists the live sessions of owner, in no particular order, with
// the one of the current request marked when ctx is (or derives from) the
// context of a request that passed through m's middleware.
//
// It needs Config.Owner and a store that implements backend.OwnerIndex
// (memstore, redisstore and pgstore do); otherwise it returns an error
// wrapping ErrUnsupported. It costs one call of the store's index, whatever the number
// of sessions. A session created before Config.Owner was set joins its
// owner's list on its first request after that.
func (m *Manager[T]) Sessions(ctx context.Context, owner string) ([]SessionInfo, error) {
	ix, group, err := m.indexOf("Sessions", owner)
	if err != nil {
		return nil, err
	}
	current, err := m.currentKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("session: Sessions: %w", err)
	}
	recs, err := ix.Group(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("session: Sessions: %w", err)
	}
	now := m.now()
	out := make([]SessionInfo, 0, len(recs))
	for _, r := range recs {
		e, unreadable, ok := listed(r, now)
		if !ok {
			continue
		}
		info := SessionInfo{
			Handle:  token.Handle(r.Key),
			Expires: now.Add(r.TTL),
			Current: r.Key == current,
		}
		if !unreadable {
			// A record of a newer release is listed with what the store
			// knows of it.
			info.Created, info.LastWrite = e.Created, e.Written
			if info.LastWrite.IsZero() {
				info.LastWrite = e.Created
			}
			if e.Deadline.Before(info.Expires) {
				info.Expires = e.Deadline
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// RevokeOwner ends every session of owner, on every instance of the
// application, and returns how many it ended. See RevokeOtherSessions for
// what "every" means.
func (m *Manager[T]) RevokeOwner(ctx context.Context, owner string) (int, error) {
	return m.revokeGroup(ctx, "RevokeOwner", owner, "")
}

// RevokeOtherSessions ends every session of owner except the one of the
// current request (ctx is, or derives from, the context of a request that
// passed through m's middleware): "log out my other devices". If the
// current request has no session of owner, it ends them all.
//
// A revocation is one atomic step in the store: once it returns, no
// session of owner created or written before it was called can be used
// again, on any instance. That includes a login that completed just
// before: its session was created in the store, in the owner's index,
// before the call. A request that had already loaded a revoked session
// may finish reading it, but its write fails (compare-and-set finds no
// record and never re-creates one), and every later request presenting
// its ID gets no session. A login that completes after the call is a new,
// valid session. Sessions created before Config.Owner was set are not in
// the index until their next request.
//
// It needs Config.Owner and a store that implements backend.OwnerIndex;
// otherwise it returns an error wrapping ErrUnsupported.
func (m *Manager[T]) RevokeOtherSessions(ctx context.Context, owner string) (int, error) {
	current, err := m.currentKey(ctx)
	if err != nil {
		return 0, fmt.Errorf("session: RevokeOtherSessions: %w", err)
	}
	if backend.KeyGroup(current) != token.Group(owner) {
		current = ""
	}
	return m.revokeGroup(ctx, "RevokeOtherSessions", owner, current)
}

// revokeGroup deletes owner's sessions except keep.
func (m *Manager[T]) revokeGroup(ctx context.Context, method, owner, keep string) (int, error) {
	ix, group, err := m.indexOf(method, owner)
	if err != nil {
		return 0, err
	}
	n, err := ix.DeleteGroup(ctx, group, keep)
	if err != nil {
		return 0, fmt.Errorf("session: %s: %w", method, err)
	}
	m.event(ctx, slog.LevelInfo, EventRevoked, keep, slog.Int("sessions", n), slog.Bool("kept_current", keep != ""))
	return n, nil
}

// RevokeSession ends the session of owner named by handle (from
// Sessions): "sign out that laptop". If that session is being renewed at
// the same moment, its renewed record is ended too. A handle that names
// no live session of owner is an error wrapping backend.ErrNotFound.
//
// It needs Config.Owner and a store that implements backend.OwnerIndex;
// otherwise it returns an error wrapping ErrUnsupported.
func (m *Manager[T]) RevokeSession(ctx context.Context, owner, handleValue string) error {
	ix, group, err := m.indexOf("RevokeSession", owner)
	if err != nil {
		return err
	}
	recs, err := ix.Group(ctx, group)
	if err != nil {
		return fmt.Errorf("session: RevokeSession: %w", err)
	}
	now := m.now()
	for _, r := range recs {
		if token.Handle(r.Key) != handleValue {
			continue
		}
		if _, _, ok := listed(r, now); !ok {
			// A tombstone: following its successor could end a session
			// that now belongs to another owner (a switch of user).
			break
		}
		s := &Session[T]{m: m, sessionState: &sessionState[T]{key: r.Key}}
		if err := s.end(ctx); err != nil {
			return fmt.Errorf("session: RevokeSession: %w", err)
		}
		m.event(ctx, slog.LevelInfo, EventRevoked, r.Key, slog.Int("sessions", 1))
		return nil
	}
	return fmt.Errorf("session: RevokeSession: no live session of that owner has handle %q: %w", handleValue, backend.ErrNotFound)
}

// listed parses a record of an owner's group and reports whether it is a
// live session, as Sessions lists them: not corrupt, not retired by a
// renewal or logout, not past its lifetime. A record of a newer release
// (unreadable) is listed with what the store knows of it.
func listed(r backend.KeyedRecord, now time.Time) (e envelope.Envelope, unreadable, ok bool) {
	e, err := envelope.Parse(r.Data)
	unreadable = errors.Is(err, envelope.ErrUnsupported)
	switch {
	case err != nil && !unreadable, err == nil && (e.Retired || !now.Before(e.Deadline)):
		return e, false, false
	}
	return e, unreadable, true
}

// group returns the group the session's data belongs in: its owner's, or
// "" for an anonymous session or when the manager keeps no owner index.
func (s *Session[T]) group() string {
	if s.m.index == nil || !s.has {
		return ""
	}
	if o := s.m.owner(s.value); o != "" {
		return token.Group(o)
	}
	return ""
}

// regroup reports that the session's data belongs to another owner than
// its ID says: it must move to a new ID in its owner's group.
func (s *Session[T]) regroup() bool {
	return s.m.index != nil && s.group() != token.GroupOf(s.key)
}
