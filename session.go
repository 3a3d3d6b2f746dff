package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/internal/envelope"
	"github.com/typedsession/session/internal/token"
)

// Session is one visitor's session during one request. Obtain it with
// Manager.From. Its methods are safe for concurrent use by goroutines of
// the request, but a Session must not be used after its request's handler
// has returned.
//
// Nothing is loaded until a method needs the data. Changes are buffered
// and written to the store once, when the response starts (the first
// WriteHeader or Write) or the handler returns. Changes attempted after
// that fail with ErrCommitted.
type Session[T any] struct {
	m   *Manager[T]
	req *http.Request
	rw  responseWriter[T]

	mu       sync.Mutex
	detached bool // not obtained through the middleware

	parsed    bool
	hadCookie bool   // the request carried a cookie of our name
	key       string // store key of the cookie's ID (if well-formed) or of the ID given at commit

	loaded   bool
	exists   bool // a live record was loaded under key
	version  uint64
	ttl      time.Duration // remaining store TTL at load
	loadedAt time.Time     // when the record was loaded
	created  time.Time
	dead     time.Time // absolute deadline

	base      []byte      // payload the loaded value was decoded from
	baseCodec codec.Codec // codec of base

	value T
	has   bool // the session holds data (loaded or set in this request)
	ops   []op[T]

	dirty     bool // value changed in this request
	renew     bool // RenewID was called
	destroyed bool // Destroy was called: the loaded record is to be deleted
	committed bool
}

// op is one recorded change, replayed on fresh data after a conflict.
type op[T any] struct {
	set []byte         // Set: the value encoded with the manager's codec
	fn  func(*T) error // Update
}

// Get returns the session data. ok is false when the visitor has no
// session: none was ever created, it expired, it was destroyed, or the
// cookie was malformed, forged or unknown to the store. err is non-nil
// only when the store could not be read (it then wraps
// backend.ErrUnavailable or the context's error); the visitor may well
// have a session, so answer such errors with 503, not as "logged out".
//
// The returned value shares slices and maps with the session: treat it as
// read-only and make changes with Update.
func (s *Session[T]) Get() (v T, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return v, false, err
	}
	return s.value, s.has, nil
}

// Set replaces the session data with v, creating the session if there is
// none. It is a blind write by design: if a concurrent request of the same
// visitor commits first, its changes are overwritten. Use Update for
// changes that depend on the current data.
func (s *Session[T]) Set(v T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginChange("Set"); err != nil {
		return err
	}
	b, err := s.m.codec.Marshal(&v)
	if err != nil {
		return fmt.Errorf("session: Set: encode %T: %w", v, err)
	}
	s.value, s.has, s.dirty = v, true, true
	s.ops = append(s.ops, op[T]{set: b})
	return nil
}

// Update calls fn with a pointer to the session data (the zero value of T
// if there is no session yet) and keeps its changes, creating the session
// if needed. If fn returns an error, Update returns it and the data is
// left as it was before the call.
//
// fn may run more than once: if another request of the same visitor
// commits a change first, the session is reloaded at commit and every
// function given to Update in this request is run again, in order, on the
// fresh data, so neither request's change is lost. fn must therefore only
// derive its changes from *T and its own captured inputs, and must not
// call methods of the Session.
func (s *Session[T]) Update(fn func(*T) error) error {
	if fn == nil {
		return errors.New("session: Update with a nil function")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginChange("Update"); err != nil {
		return err
	}
	if err := fn(&s.value); err != nil {
		// Roll back whatever fn changed before failing.
		v, has, rerr := s.replay(s.base, s.baseCodec)
		if rerr != nil {
			return errors.Join(err, fmt.Errorf("session: restoring data after a failed Update: %w", rerr))
		}
		s.value, s.has = v, has
		return err
	}
	s.has, s.dirty = true, true
	s.ops = append(s.ops, op[T]{fn: fn})
	return nil
}

// RenewID gives the session a new ID, keeping its data, and retires the
// old one: at commit the data is stored under the new ID before the old
// record is deleted, so a request still holding the old ID can neither
// read nor resurrect it. Changes other requests committed under the old ID
// after this request loaded it are carried over (the renewal starts with a
// compare-and-set write, replaying this request's changes on conflict). Call it after login and on every privilege
// change (OWASP's defence against session fixation). The absolute
// lifetime restarts. Without a session RenewID does nothing: new sessions
// always get fresh IDs.
func (s *Session[T]) RenewID() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginChange("RenewID"); err != nil {
		return err
	}
	if s.has {
		s.renew = true
	}
	return nil
}

// Destroy ends the session: at commit its record is deleted from the
// store and the cookie is cleared. Data set after Destroy in the same
// request starts a new session with a new ID.
func (s *Session[T]) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.detached {
		return ErrNoMiddleware
	}
	if s.committed {
		return s.afterCommit("Destroy")
	}
	// Destroy does not need the data, only the key, so it works even when
	// the store cannot be read.
	s.parse()
	var zero T
	s.value, s.has = zero, false
	s.ops, s.base, s.baseCodec = nil, nil, nil
	s.dirty, s.renew = false, false
	s.destroyed = true
	s.loaded = true
	return nil
}

// beginChange checks that a change may be made and loads the session.
func (s *Session[T]) beginChange(method string) error {
	if s.detached {
		return ErrNoMiddleware
	}
	if s.committed {
		return s.afterCommit(method)
	}
	return s.load()
}

func (s *Session[T]) afterCommit(method string) error {
	s.m.log.WarnContext(s.req.Context(), "session change after commit",
		slog.String("method", method), slog.String("path", s.req.URL.Path))
	return fmt.Errorf("session: %s: %w", method, ErrCommitted)
}

// parse reads the session cookie once.
func (s *Session[T]) parse() {
	if s.parsed {
		return
	}
	s.parsed = true
	var tok string
	tok, s.hadCookie = readCookie(s.req.Header, s.m.cookie.Name, token.Valid)
	if tok != "" {
		s.key = token.Key(tok)
	}
}

// load loads the session record once per request. A missing, expired or
// corrupt record is an empty session; only a store failure is an error.
func (s *Session[T]) load() error {
	if s.detached {
		return ErrNoMiddleware
	}
	if s.loaded {
		return nil
	}
	s.parse()
	if s.key == "" {
		s.loaded = true
		return nil
	}
	ctx := s.req.Context()
	rec, err := s.m.store.Load(ctx, s.key)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		s.loaded = true
		return nil
	case err != nil:
		return fmt.Errorf("session: load: %w", err)
	}
	s.loaded = true
	s.loadedAt = s.m.now()
	c, created, dead, payload, ok := s.decode(ctx, rec.Data, s.loadedAt, &s.value)
	if !ok {
		return nil
	}
	s.exists = true
	s.version, s.ttl = rec.Version, rec.TTL
	s.created, s.dead = created, dead
	s.base, s.baseCodec = payload, c
	s.has = true
	return nil
}

// decode parses a stored record into *dst. ok is false for records that
// are corrupt, written by an unknown codec, or past their absolute
// deadline at now; corrupt ones are logged. On failure *dst is the zero
// value.
func (s *Session[T]) decode(ctx context.Context, data []byte, now time.Time, dst *T) (c codec.Codec, created, dead time.Time, payload []byte, ok bool) {
	var zero T
	*dst = zero
	name, created, dead, payload, err := envelope.ParseHeader(data)
	if err != nil {
		s.corrupt(ctx, "malformed envelope", err)
		return nil, created, dead, nil, false
	}
	if !now.Before(dead) {
		return nil, created, dead, nil, false
	}
	c, err = s.m.codecFor(name)
	if err != nil {
		s.corrupt(ctx, "unknown codec", err)
		return nil, created, dead, nil, false
	}
	if err := c.Unmarshal(payload, dst); err != nil {
		*dst = zero
		s.corrupt(ctx, "undecodable data", err)
		return nil, created, dead, nil, false
	}
	return c, created, dead, payload, true
}

func (s *Session[T]) corrupt(ctx context.Context, what string, err error) {
	s.m.log.WarnContext(ctx, "session record unreadable; treating the session as empty",
		slog.String("problem", what), slog.String("key", logKey(s.key)), slog.Any("error", err))
}

// replay rebuilds the session data from a stored payload (none if base is
// nil) by running the recorded changes on it.
func (s *Session[T]) replay(base []byte, c codec.Codec) (v T, has bool, err error) {
	if base != nil {
		if err := c.Unmarshal(base, &v); err != nil {
			return v, false, fmt.Errorf("session: decode: %w", err)
		}
		has = true
	}
	return s.apply(v, has)
}

// apply runs the recorded changes, in order, on v.
func (s *Session[T]) apply(v T, has bool) (T, bool, error) {
	for _, o := range s.ops {
		if o.set != nil {
			var fresh T
			if err := s.m.codec.Unmarshal(o.set, &fresh); err != nil {
				return v, has, fmt.Errorf("session: decode: %w", err)
			}
			v, has = fresh, true
			continue
		}
		if err := o.fn(&v); err != nil {
			return v, has, err
		}
		has = true
	}
	return v, has, nil
}

// logKey shortens a store key for logs: enough to correlate, never the ID.
func logKey(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}
