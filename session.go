package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
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
	ctx sessionContext[T]

	mu        sync.Mutex
	busy      atomic.Bool // a function given to Update is running
	detached  bool        // not obtained through the middleware
	committed bool

	// Everything else, allocated by the first method call (enter), so
	// that a request whose handler never uses its session allocates only
	// the fields above, whatever the size of T.
	*sessionState[T]
}

// sessionState is the part of a Session that only a request using its
// session needs.
type sessionState[T any] struct {
	// The request's ID, read from the cookie or bearer token on first use.
	// (Within each group, the small fields come together, after the
	// others, so that a sessionState wastes no bytes on padding.)
	parsed    bool
	hadCookie bool   // the request carried an ID on the carrier it uses (a cookie of our name, or a bearer token)
	viaHeader bool   // IDs go back in TokenHeader, not in the cookie
	raw       string // the ID of the request's cookie, to send again when SetPersist changes the cookie
	key       string // store key of the cookie's ID, if well-formed; then of the session's current ID
	sealed    string // the sealed session the request carried, with a client-side store (Manager.sealer)

	// What the store holds under key, as loaded (and as written since).
	unreadable error // set when found == foundUnreadable; every call returns it
	version    uint64
	ttl        time.Duration // remaining store TTL at load
	loadedAt   time.Time     // when the record was loaded
	created    time.Time
	dead       time.Time // absolute deadline
	ext        []byte    // envelope extensions this build does not know, written back
	loaded     bool
	found      found
	stale      bool // a client-side cookie opened with an old key: seal it again

	// The session data as this request sees it.
	value    T
	enc      []byte      // value encoded with encCodec (nil when !has)
	encCodec codec.Codec // the codec of enc
	ops      []op[T]     // this request's changes, replayed on fresh data after a conflict
	flashes  []Flash     // flash messages, kept beside the data
	has      bool        // the session holds data (loaded or set in this request)
	encMine  bool        // encCodec is the manager's write codec
	intent   intent
	persist  int8 // the session's cookie choice: 1 persistent, -1 not, 0 the manager's default
	resend   bool // SetPersist changed the choice: send the cookie again

	token string // a new ID to send: the session was created or renewed
	stray string // a new ID to send even though the commit failed (see renew)
}

// found says what a load found under the request's ID.
type found uint8

const (
	foundNothing    found = iota // no ID, or an ID naming no live record
	foundLive                    // a live record, decoded into value
	foundRetired                 // a tombstone: RenewID retired the ID
	foundCorrupt                 // a record that cannot be parsed or decoded (logged)
	foundUnreadable              // a record of a newer format or an unknown codec
)

// intent is what the commit will do.
type intent uint8

const (
	keep    intent = iota // nothing changed: at most a throttled Touch
	write                 // store the data under the current ID, or a new one if there is no record
	renew                 // store the data under a new ID and retire the old one
	destroy               // delete the record; data set afterwards goes under a new ID
)

// op is one recorded change, replayed on fresh data after a conflict.
type op[T any] struct {
	set     []byte         // Set: the value encoded with the manager's codec
	fn      func(*T) error // Update
	flash   *Flash         // AddFlash
	shown   []Flash        // Flashes: the flashes it returned
	persist int8           // SetPersist: 1 or -1
}

// Get returns the session data. ok is false when the visitor has no
// session: none was ever created, it expired, it was destroyed, the
// request carried an ID that was just retired by RenewID, or the cookie was
// malformed, forged or unknown to the store. err is non-nil only when the
// store could not be read (it then wraps ErrUnavailable or the context's
// error) or holds a session this build cannot read (ErrUnreadable, which
// also wraps ErrUnavailable); the visitor may well have a session, so
// answer such errors with 503, not as "logged out".
//
// The returned value shares slices and maps with the session: treat it as
// read-only and make changes with Update.
func (s *Session[T]) Get() (v T, ok bool, err error) {
	if err := s.enter(); err != nil {
		return v, false, err
	}
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
//
// Set encodes v at once, so an error of the codec (or a value above
// Config.MaxRecordSize) is returned here, and the session is left as it
// was.
func (s *Session[T]) Set(v T) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.beginChange("Set"); err != nil {
		return err
	}
	if err := s.set(v); err != nil {
		return fmt.Errorf("session: Set: %w", err)
	}
	s.plan(write)
	return nil
}

// Renew replaces the session data with v and moves the session to a new
// ID, in one step and with one error to check: a login. It is Set followed
// by RenewID. A visitor without a session gets a new one.
func (s *Session[T]) Renew(v T) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.beginChange("Renew"); err != nil {
		return err
	}
	if err := s.set(v); err != nil {
		return fmt.Errorf("session: Renew: %w", err)
	}
	s.plan(renew)
	return nil
}

// Update calls fn with a pointer to the session data (the zero value of T
// if there is no session yet) and keeps its changes, creating the session
// if needed. If fn returns an error or panics, the data is left exactly as
// it was before the call; the error is returned and the panic goes on.
// Update then encodes the changed data, so an error of the codec (or data
// above Config.MaxRecordSize) is returned here and undoes fn's changes too.
//
// fn may run more than once: if another request of the same visitor
// commits a change first, the session is reloaded at commit and every
// function given to Update in this request is run again, in order, on the
// fresh data, so neither request's change is lost. Functions run again only
// after such a conflict. fn must therefore only derive its changes from *T
// and its own captured inputs, and must not call methods of the Session:
// while fn runs, they fail with ErrInUpdate.
func (s *Session[T]) Update(fn func(*T) error) error {
	if fn == nil {
		return errors.New("session: Update with a nil function")
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.beginChange("Update"); err != nil {
		return err
	}
	if err := s.update(fn); err != nil {
		return err
	}
	s.ops = append(s.ops, op[T]{fn: fn})
	s.plan(write)
	return nil
}

// RenewID gives the session a new ID, keeping its data, and retires the
// old one. Call it after login and on every privilege change (OWASP's
// defence against session fixation); Renew does both at once. The
// absolute lifetime restarts. Without a session RenewID does nothing: new
// sessions always get fresh IDs.
//
// At commit the data is first stored under the new ID; then the old record
// is replaced, with a compare-and-set, by a tombstone that remembers the
// retirement. The old ID therefore never shows data written by this
// request, and changes other requests committed under the old ID after
// this request loaded it are carried over (this request's changes are
// replayed on them). Until the tombstone expires, a request still carrying
// the old ID sees no session, sends no cookie (so it cannot clobber the
// renewed one in the browser), and fails to change anything with ErrGone.
// If the store fails before the renewal is complete, the old session is
// left as it was and the commit fails (503).
//
// With a client-side store (backend.Sealer) the session has no ID: RenewID
// seals the data into a new cookie value with a new lifetime, but the old
// value cannot be retired and stays valid until its own deadlines (see
// backend/cookiestore).
func (s *Session[T]) RenewID() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.beginChange("RenewID"); err != nil {
		return err
	}
	if s.has {
		s.plan(renew)
	}
	return nil
}

// Destroy ends the session: at commit its record is deleted from the
// store and the cookie is cleared. Data set after Destroy in the same
// request starts a new session with a new ID. Destroy does not need to
// read the session, so it works even when the store cannot be read. With
// a client-side store (backend.Sealer) there is no record to delete: the
// cookie is cleared, and a copy of it stays valid until its own deadlines.
func (s *Session[T]) Destroy() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.committed {
		return s.afterCommit("Destroy")
	}
	s.parse()
	var zero T
	s.value, s.has = zero, false
	s.enc, s.encCodec, s.encMine = nil, nil, false
	s.ops, s.ext, s.flashes, s.persist = nil, nil, nil, 0
	s.intent = destroy
	if !s.loaded {
		// The data no longer matters, so there is nothing to load.
		s.loaded, s.unreadable = true, nil
	}
	return nil
}

// enter locks the session for a method call, unless the call cannot
// proceed, and allocates its state on the first call.
func (s *Session[T]) enter() error {
	if s.detached {
		return ErrNoMiddleware
	}
	if s.busy.Load() {
		return ErrInUpdate
	}
	s.mu.Lock()
	if s.sessionState == nil {
		s.sessionState = new(sessionState[T])
	}
	return nil
}

// beginChange checks that a change may be made and loads the session.
func (s *Session[T]) beginChange(method string) error {
	if s.committed {
		return s.afterCommit(method)
	}
	if err := s.load(); err != nil {
		return err
	}
	if s.found == foundRetired && s.intent != destroy {
		return fmt.Errorf("session: %s: the request's session ID was retired by a concurrent RenewID: %w: %w",
			method, ErrGone, backend.ErrNotFound)
	}
	return nil
}

// plan records that the commit has to write: in is write or renew.
func (s *Session[T]) plan(in intent) {
	switch {
	case s.intent == destroy:
		// The old record goes; the data goes under a new ID anyway.
	case in == renew && s.found == foundLive:
		s.intent = renew
	case s.intent == keep:
		s.intent = write
	}
}

func (s *Session[T]) afterCommit(method string) error {
	s.m.log.WarnContext(s.req.Context(), "session change after commit",
		slog.String("method", method), slog.String("path", s.req.URL.Path))
	return fmt.Errorf("session: %s: %w", method, ErrCommitted)
}

// set replaces the data with v, encoded.
func (s *Session[T]) set(v T) error {
	b, err := s.m.encode(&v)
	if err != nil {
		return err
	}
	s.value, s.has = v, true
	s.enc, s.encCodec, s.encMine = b, s.m.codec, true
	s.ops = append(s.ops, op[T]{set: b})
	return nil
}

// update runs fn on the data and encodes the result. If fn fails or
// panics, or the result cannot be encoded, it restores the data from its
// encoding before the call.
func (s *Session[T]) update(fn func(*T) error) error {
	snap, snapCodec, snapMine, snapHas := s.enc, s.encCodec, s.encMine, s.has
	ok := false
	s.busy.Store(true)
	defer func() {
		s.busy.Store(false)
		if !ok {
			s.restore(snap, snapCodec, snapMine, snapHas)
		}
	}()
	if err := fn(&s.value); err != nil {
		return err
	}
	b, err := s.m.encode(&s.value)
	if err != nil {
		return fmt.Errorf("session: Update: %w", err)
	}
	s.has, s.enc, s.encCodec, s.encMine = true, b, s.m.codec, true
	ok = true
	return nil
}

// restore sets the data back to what enc (of codec c) holds, or to none.
// Decoding what was decoded or encoded before cannot fail short of a
// broken codec, which is logged.
func (s *Session[T]) restore(enc []byte, c codec.Codec, mine, has bool) {
	var zero T
	s.value, s.has = zero, has
	s.enc, s.encCodec, s.encMine = enc, c, mine
	if enc == nil {
		return
	}
	if err := c.Unmarshal(enc, &s.value); err != nil {
		s.m.log.ErrorContext(s.req.Context(), "session: restoring the data after a failed Update",
			slog.String("key", logKey(s.key)), slog.Any("error", err))
	}
}

// encode encodes v with the manager's codec, within the record size cap.
func (m *Manager[T]) encode(v *T) ([]byte, error) {
	b, err := m.codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T with %s: %w", *v, m.codecName, err)
	}
	if n := envelope.MinSize(m.codecName) + len(b); n > m.maxRecord {
		return nil, fmt.Errorf("the encoded session takes %d bytes, above MaxRecordSize (%d): %w",
			n, m.maxRecord, backend.ErrTooLarge)
	}
	return b, nil
}

// parse reads the session cookie once.
func (s *Session[T]) parse() {
	if s.parsed {
		return
	}
	s.parsed = true
	// A client-side store's value is for its Sealer to judge.
	valid := token.Valid
	if s.m.sealer != nil {
		valid = nonEmpty
	}
	var tok string
	if s.m.usesCookie() {
		tok, s.hadCookie = readCookie(s.req.Header, s.m.cookie.Name, valid)
		s.raw = tok
	}
	if tok == "" && s.m.usesHeader() {
		var bearer string
		var sent bool
		if bearer, sent = readBearer(s.req.Header, valid); sent || s.m.transport == TransportHeader {
			tok, s.hadCookie, s.viaHeader = bearer, sent, true
		}
	}
	if s.m.sealer != nil {
		s.sealed = tok
		return
	}
	if tok != "" {
		s.key = token.Key(tok)
	}
}

// load loads the session record once per request. A missing, expired,
// retired or corrupt record is no session; a store failure is an error
// (and the next call tries again); a record this build cannot read is an
// error for every call.
func (s *Session[T]) load() error {
	if s.loaded {
		return s.unreadable
	}
	s.parse()
	if s.m.sealer != nil {
		s.open()
		return s.unreadable
	}
	if s.key == "" {
		s.loaded = true
		return nil
	}
	ctx := s.req.Context()
	rec, err := s.m.store.Load(ctx, s.key)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		s.loaded = true
		s.m.event(ctx, slog.LevelInfo, EventUnknownID, s.key)
		return nil
	case errors.Is(err, backend.ErrCorrupt):
		s.loaded, s.found = true, foundCorrupt
		s.corrupt(ctx, "the store's framing", err)
		return nil
	case err != nil:
		return fmt.Errorf("session: load: %w", err)
	}
	s.loaded = true
	s.loadedAt = s.m.now()
	s.found, s.unreadable = s.adopt(ctx, rec, s.loadedAt)
	switch {
	case s.found == foundRetired:
		s.m.event(ctx, slog.LevelInfo, EventRetiredID, s.key)
	case s.found == foundNothing:
		s.m.event(ctx, slog.LevelInfo, EventExpired, s.key)
	}
	return s.unreadable
}

// open loads a client-side session from the request's cookie. A cookie
// that does not open (forged, tampered, truncated, renamed, sealed with a
// dropped key) is no session, and so is an expired one: opening involves
// no store, so it cannot fail.
func (s *Session[T]) open() {
	s.loaded = true
	if s.sealed == "" {
		return
	}
	ctx := s.req.Context()
	rec, stale, err := s.m.sealer.Open(s.m.cookie.Name, s.sealed)
	if err != nil {
		s.m.event(ctx, slog.LevelInfo, EventUnknownID, "", slog.String("reason", err.Error()))
		return
	}
	s.loadedAt = s.m.now()
	s.found, s.unreadable = s.adopt(ctx, backend.Record{Data: rec}, s.loadedAt)
	switch s.found {
	case foundLive:
		s.stale = stale
	case foundNothing:
		s.m.event(ctx, slog.LevelInfo, EventExpired, "")
	case foundRetired:
		// The manager never seals a tombstone.
		s.found = foundCorrupt
		s.corrupt(ctx, "envelope", errors.New("a sealed record marked retired"))
	}
}

// nonEmpty reports whether v is not empty.
func nonEmpty(v string) bool { return v != "" }

// adopt makes rec, loaded under s.key at now, the session's record and
// data, and says what it is. For a record this build cannot read, it
// returns the error every call of the request reports.
func (s *Session[T]) adopt(ctx context.Context, rec backend.Record, now time.Time) (found, error) {
	var zero T
	s.value, s.has, s.flashes, s.persist = zero, false, nil, 0
	s.enc, s.encCodec, s.encMine = nil, nil, false
	if len(rec.Data) > s.m.maxRecord {
		s.corrupt(ctx, "size", fmt.Errorf("%d bytes, above MaxRecordSize (%d)", len(rec.Data), s.m.maxRecord))
		return foundCorrupt, nil
	}
	e, err := envelope.Parse(rec.Data)
	switch {
	case errors.Is(err, envelope.ErrUnsupported):
		return s.cannotRead(ctx, err)
	case err != nil:
		s.corrupt(ctx, "envelope", err)
		return foundCorrupt, nil
	case e.Retired:
		return foundRetired, nil
	case !now.Before(e.Deadline):
		return foundNothing, nil
	case !e.Idle.IsZero() && !now.Before(e.Idle):
		// Only client-side records carry an idle deadline; a server
		// store expires records by itself.
		return foundNothing, nil
	}
	c := s.m.readers[e.Codec]
	if c == nil {
		return s.cannotRead(ctx, fmt.Errorf("written with codec %q, which is neither built in nor in Config.Codecs", e.Codec))
	}
	// An empty payload is a session of flashes only: no data.
	if len(e.Payload) > 0 {
		if err := c.Unmarshal(e.Payload, &s.value); err != nil {
			s.value = zero
			s.corrupt(ctx, "data", err)
			return foundCorrupt, nil
		}
		s.has = true
		s.enc, s.encCodec, s.encMine = e.Payload, c, e.Codec == s.m.codecName
	}
	if len(e.Flashes) > 0 {
		s.adoptFlashes(e.Flashes)
	}
	s.adoptPersist(e.Persist)
	s.version, s.ttl = rec.Version, rec.TTL
	if !e.Idle.IsZero() {
		s.ttl = e.Idle.Sub(now)
	}
	s.created, s.dead, s.ext = e.Created, e.Deadline, e.Ext
	return foundLive, nil
}

// cannotRead logs a record this build cannot read and returns the error
// that reports it.
func (s *Session[T]) cannotRead(ctx context.Context, cause error) (found, error) {
	s.m.log.WarnContext(ctx, "session record written by a newer release or an unknown codec; leaving it alone",
		slog.String("key", logKey(s.key)), slog.Any("error", cause))
	return foundUnreadable, fmt.Errorf("%w: %w: %w", ErrUnreadable, ErrUnavailable, cause)
}

func (s *Session[T]) corrupt(ctx context.Context, what string, err error) {
	s.m.log.WarnContext(ctx, "session record unreadable; treating the session as empty",
		slog.String("problem", what), slog.String("key", logKey(s.key)), slog.Any("error", err))
}

// logKey shortens a store key for logs: enough to correlate, never the ID.
func logKey(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}
