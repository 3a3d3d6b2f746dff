// Package session provides typed HTTP sessions for net/http.
//
// An application declares the data it keeps per visitor as an ordinary Go
// type and gets a Manager for it:
//
//	type UserSession struct {
//		UserID string   `json:"user_id"`
//		Cart   []string `json:"cart"`
//	}
//
//	mgr, err := session.New[UserSession](memstore.New(), session.Config{})
//	http.ListenAndServe(addr, mgr.Middleware(mux))
//
// Handlers reach the visitor's session with mgr.From(r) and read and change
// it with typed methods (Get, Set, Update, RenewID, Destroy); no casts, no
// gob registration.
//
// The middleware is lazy and frugal: a handler that never touches the
// session costs no store call; reading loads the record once; an unchanged
// session is never rewritten (its idle timeout is extended by a throttled
// Touch); a changed one is written once, with compare-and-set, when the
// response starts or the handler returns, whichever comes first. Concurrent
// requests of one visitor do not lose each other's changes: Update records
// its function and replays it on the fresh data if another request
// committed first.
//
// Session IDs are 256-bit random values; the store only ever sees their
// SHA-256, so a leaked store does not leak live sessions. An ID the store
// does not know is never adopted: the visitor gets a fresh one on the next
// write.
package session

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/codec"
)

// Default values used for zero Config fields.
const (
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultLifetime      = 12 * time.Hour
	DefaultCookieName    = "session"
	DefaultMaxRetries    = 8
	DefaultMaxRecordSize = 1 << 20
)

// Config configures a Manager. The zero value is usable: msgpack encoding,
// a 30-minute idle timeout, a 12-hour lifetime, records of at most 1 MiB and
// a cookie named "session" that is HttpOnly, Secure, SameSite=Lax, Path=/
// and lasts for the browser session.
type Config struct {
	// Codec encodes session data for new writes. Default codec.MsgPack:
	// it accepts the same session types as codec.JSON (bar which marshaler
	// methods each honours), carries []byte without base64, and writes
	// smaller records that decode faster. Choose one by name with
	// codec.Lookup. New checks that it carries every value of T faithfully
	// (see New).
	Codec codec.Codec

	// Codecs lists custom codecs that stored sessions may have been
	// written with, besides Codec. The built-in codecs (json, msgpack,
	// gob) are always readable. A session written with another codec than
	// Codec is decoded with its own codec and rewritten with Codec on its
	// next change. A session written with a codec this list lacks is left
	// alone and reported as ErrUnreadable (503): when you switch to a
	// custom codec, first deploy every instance with it in Codecs, then
	// make it the Codec. A codec here with the name of a built-in one
	// replaces it for reading.
	Codecs []codec.Codec

	// IdleTimeout ends a session that has not been used for this long.
	// The store's time to live is extended as the session is used, at most
	// about once every IdleTimeout/10, without rewriting the data. A
	// client-side store (backend.Sealer) keeps the idle deadline inside
	// the sealed cookie instead, and a read-only request re-issues the
	// cookie at most about once every IdleTimeout/10. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration

	// Lifetime caps a session's total life, counted from its creation or
	// its last renewal. It is never extended. Default DefaultLifetime.
	Lifetime time.Duration

	// MaxRecordSize caps the size of a stored record: the encoded session
	// data plus about 30 bytes of framing. A change that makes the data
	// larger fails (Set and Update return an error wrapping
	// backend.ErrTooLarge), and a stored record larger than this is
	// treated as corrupt, so decoders never see more input than this.
	// The cap bounds the input of a decode, not the memory it allocates:
	// a few bytes can stand for a large zero value, such as an array
	// field. Default DefaultMaxRecordSize (1 MiB).
	MaxRecordSize int

	// Cookie configures the session cookie.
	Cookie CookieConfig

	// ErrorHandler writes the response when committing the session fails.
	// The headers the handler had set are discarded first; headers set
	// before the session middleware ran (security headers, CORS) are kept.
	// The manager has logged the failure (EventCommitFailed) before it
	// calls the handler. The default answers 409 Conflict for errors
	// wrapping ErrGone (the session was ended or renewed by a concurrent
	// request), 503 Service Unavailable with Retry-After for errors
	// wrapping ErrUnavailable, and 500 Internal Server Error for the rest.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// Logger receives the manager's logs. Default slog.Default().
	Logger *slog.Logger

	// Now returns the current time. Default time.Now. Tests inject a fake
	// clock here (and the same one into the store).
	Now func() time.Time

	// MaxRetries bounds how many times a commit is retried after a version
	// conflict with a concurrent request before giving up with an error
	// wrapping backend.ErrConflict. Conflicts between requests served by
	// the same Manager are serialised and resolve in one retry; the bound
	// matters for writers in other processes. Default DefaultMaxRetries.
	MaxRetries int

	// Owner names the user a session belongs to, "" for an anonymous
	// one: OwnerOf(func(s UserSession) string { return s.UserID }). New
	// fails if its function takes another type than the Manager's. With
	// it, and a store that implements backend.OwnerIndex
	// (memstore, redisstore, pgstore), Manager.Sessions lists a user's
	// sessions and RevokeOwner, RevokeOtherSessions and RevokeSession end
	// them. The owner is read from the data at every commit: a session
	// whose owner changes (a login, a logout by clearing the user, a
	// switch of user) moves to a new ID in its new owner's index, as if
	// RenewID were called, and a session stored before Owner was set
	// moves on its next request. It must be a pure, fast function of the
	// data. Without it, sessions are not indexed.
	Owner Owner

	// Transport says how session IDs travel: in the cookie (the default),
	// as bearer tokens in the Authorization header, or both. See
	// Transport.
	Transport Transport
}

// CookieConfig configures the session cookie.
type CookieConfig struct {
	// Name is the cookie's name. Default DefaultCookieName. A name
	// starting with "__Host-" requires Path "/", no Domain and Secure; one
	// starting with "__Secure-" requires Secure. New rejects a
	// configuration that breaks these rules, which browsers enforce by
	// silently dropping the cookie.
	Name string

	// Domain is the cookie's Domain attribute. Default none (host-only).
	Domain string

	// Path is the cookie's Path attribute. Default "/".
	Path string

	// SameSite is the cookie's SameSite attribute. Default
	// http.SameSiteLaxMode. http.SameSiteNoneMode requires Secure.
	SameSite http.SameSite

	// Insecure drops the Secure attribute, so the cookie is also sent over
	// plain HTTP to hosts other than localhost. Browsers send Secure
	// cookies to http://localhost and http://127.0.0.1, so development
	// does not need it.
	Insecure bool

	// Persist makes the cookie outlive the browser session: it carries an
	// expiry equal to the session's absolute deadline. By default the
	// cookie has no expiry and the browser drops it when it closes.
	Persist bool
}

// Manager creates, loads and commits sessions holding values of type T.
// It is safe for concurrent use; create one per application (or per
// session type) and share it.
type Manager[T any] struct {
	store      backend.Store
	sealer     backend.Sealer // set when store is client-side: sessions live in the cookie
	codec      codec.Codec
	codecName  string
	readers    map[string]codec.Codec // by name: the codecs records may be written with
	idle       time.Duration
	lifetime   time.Duration
	touchAfter time.Duration
	maxRecord  int
	cookie     CookieConfig
	onError    func(w http.ResponseWriter, r *http.Request, err error)
	log        *slog.Logger
	now        func() time.Time
	maxRetries int
	transport  Transport
	owner      func(T) string
	index      backend.OwnerIndex // set with owner when the store keeps an index of owners

	// locks serialise the commits of one store key within this process,
	// so that concurrent requests of one visitor resolve a conflict in a
	// single retry instead of racing each other. They are per key, so one
	// visitor's slow commit never delays another visitor's.
	locks keyLocks
}

// New returns a Manager that keeps sessions of type T in store.
//
// It validates cfg (cookie attribute rules, positive durations, codec
// names) and checks once, with reflection, that the write codec carries
// every value of T faithfully: what a handler sets is what the next
// request gets. A type the codec would change (unexported fields holding
// data, marshaler methods the codec ignores, interface fields, pointers
// gob turns into nil...) fails here, with an error naming the field path,
// the codec and the fix; see the codec package. For a codec that does not
// implement codec.TypeChecker, New checks that the zero value of T
// round-trips. Codecs listed in
// cfg.Codecs are only checked to be able to decode into T: a record is as
// faithful as the codec that wrote it.
//
// A store that also implements backend.Sealer (backend/cookiestore) is
// client-side: the whole session record is sealed into the cookie, and
// the manager uses only the store's Seal and Open methods. Sessions behave
// as with a server store except where no server means no control: see
// backend/cookiestore for those limits.
func New[T any](store backend.Store, cfg Config) (*Manager[T], error) {
	if isNil(store) {
		return nil, errors.New("session: New with a nil store")
	}
	sealer, _ := store.(backend.Sealer)
	m := &Manager[T]{
		store:      store,
		sealer:     sealer,
		codec:      cfg.Codec,
		idle:       cfg.IdleTimeout,
		lifetime:   cfg.Lifetime,
		maxRecord:  cfg.MaxRecordSize,
		cookie:     cfg.Cookie,
		onError:    cfg.ErrorHandler,
		log:        cfg.Logger,
		now:        cfg.Now,
		maxRetries: cfg.MaxRetries,
		transport:  cfg.Transport,
	}
	if cfg.Owner != nil {
		f, ok := cfg.Owner.(ownerFunc[T])
		if !ok || f == nil {
			return nil, fmt.Errorf("session: New[%v]: Config.Owner %v does not take a %v", reflect.TypeFor[T](), cfg.Owner, reflect.TypeFor[T]())
		}
		m.owner = f
		if sealer == nil {
			m.index, _ = store.(backend.OwnerIndex)
		}
	}
	if isNil(m.codec) {
		m.codec = codec.MsgPack
	}
	if err := m.setCodecs(cfg.Codecs); err != nil {
		return nil, err
	}
	switch {
	case m.idle < 0:
		return nil, fmt.Errorf("session: negative IdleTimeout %v", m.idle)
	case m.idle == 0:
		m.idle = DefaultIdleTimeout
	}
	switch {
	case m.lifetime < 0:
		return nil, fmt.Errorf("session: negative Lifetime %v", m.lifetime)
	case m.lifetime == 0:
		m.lifetime = DefaultLifetime
	}
	m.touchAfter = m.idle / 10
	switch {
	case m.maxRetries < 0:
		return nil, fmt.Errorf("session: negative MaxRetries %d", m.maxRetries)
	case m.maxRetries == 0:
		m.maxRetries = DefaultMaxRetries
	}
	switch {
	case m.maxRecord < 0:
		return nil, fmt.Errorf("session: negative MaxRecordSize %d", m.maxRecord)
	case m.maxRecord == 0:
		m.maxRecord = DefaultMaxRecordSize
	}
	if m.transport > TransportCookieOrHeader {
		return nil, fmt.Errorf("session: unknown %v", m.transport)
	}
	if err := normalizeCookie(&m.cookie); err != nil {
		return nil, err
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.onError == nil {
		m.onError = m.defaultErrorHandler
	}
	if err := checkType[T](m.codec, cfg.Codecs); err != nil {
		return nil, err
	}
	return m, nil
}

// isNil reports whether v is nil or holds a nil pointer, map, func, chan
// or slice: a typed nil such as (*memstore.Store)(nil) in an interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}

// setCodecs builds the codec lookup: the built-in codecs, then the extra
// ones, then the write codec, each replacing an earlier one of its name.
// It never compares codecs (custom ones need not be comparable) and never
// modifies extra.
func (m *Manager[T]) setCodecs(extra []codec.Codec) error {
	m.codecName = m.codec.Name()
	if !codec.ValidName(m.codecName) {
		return fmt.Errorf("session: Config.Codec: %w: %q", codec.ErrInvalidName, m.codecName)
	}
	names := codec.Names()
	m.readers = make(map[string]codec.Codec, len(names)+len(extra)+1)
	for _, name := range names {
		c, err := codec.Lookup(name)
		if err != nil {
			return fmt.Errorf("session: %w", err)
		}
		m.readers[name] = c
	}
	seen := make(map[string]bool, len(extra))
	for i, c := range extra {
		if isNil(c) {
			return fmt.Errorf("session: Config.Codecs[%d] is nil", i)
		}
		name := c.Name()
		if !codec.ValidName(name) {
			return fmt.Errorf("session: Config.Codecs[%d]: %w: %q", i, codec.ErrInvalidName, name)
		}
		if seen[name] {
			return fmt.Errorf("session: Config.Codecs lists two codecs named %q", name)
		}
		seen[name] = true
		m.readers[name] = c
	}
	m.readers[m.codecName] = m.codec
	return nil
}

// checkType checks that w, the write codec, carries every value of T, and
// that each codec in extra can decode into T.
func checkType[T any](w codec.Codec, extra []codec.Codec) error {
	t := reflect.TypeFor[T]()
	if tc, ok := w.(codec.TypeChecker); ok {
		if err := tc.CheckType(t); err != nil {
			return fmt.Errorf("session: New[%v]: %w", t, err)
		}
	}
	// Also for a checked type: a marshaler of the user's may fail (or
	// panic) on the zero value, which every session starts from.
	if err := roundTripZero[T](w); err != nil {
		return fmt.Errorf("session: New[%v]: codec %q cannot round-trip the zero value: %w", t, w.Name(), err)
	}
	for _, c := range extra {
		if c.Name() == w.Name() {
			continue
		}
		if err := roundTripZero[T](c); err != nil {
			return fmt.Errorf("session: New[%v]: Config.Codecs: codec %q cannot decode into %v: %w", t, c.Name(), t, err)
		}
	}
	return nil
}

// roundTripZero encodes and decodes the zero value of T with c; a panic
// of a custom codec is an error too.
func roundTripZero[T any](c codec.Codec) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("codec panicked: %v", r)
		}
	}()
	var zero T
	b, err := c.Marshal(&zero)
	if err == nil {
		err = c.Unmarshal(b, &zero)
	}
	return err
}

// From returns the session of the request r. r must have passed through
// m.Middleware; otherwise every method of the returned Session fails with
// ErrNoMiddleware.
func (m *Manager[T]) From(r *http.Request) *Session[T] {
	if s, ok := r.Context().Value(m).(*Session[T]); ok {
		return s
	}
	return &Session[T]{m: m, detached: true}
}

// commitFailed logs EventCommitFailed.
func (s *Session[T]) commitFailed(err error) {
	s.mu.Lock()
	key := s.key
	s.mu.Unlock()
	level := slog.LevelError
	if errors.Is(err, ErrGone) {
		level = slog.LevelWarn
	}
	r := s.req
	s.m.event(r.Context(), level, EventCommitFailed, key,
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
}

// defaultErrorHandler answers 409 for a session ended by a concurrent
// request, 503 for an unavailable store, 500 otherwise. The failure is
// already logged (EventCommitFailed).
func (m *Manager[T]) defaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrGone):
		status = http.StatusConflict
	case errors.Is(err, ErrUnavailable):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, http.StatusText(status), status)
}

// keyLocks hands out one mutex per store key, for as long as someone holds
// or waits for it.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int // holders and waiters
}

// lock locks key's mutex and returns it, for unlock.
func (l *keyLocks) lock(key string) *keyLock {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*keyLock)
	}
	k := l.m[key]
	if k == nil {
		k = &keyLock{}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	k.Lock()
	return k
}

// unlock unlocks k, the mutex of key, and forgets it when nobody else
// holds or waits for it.
func (l *keyLocks) unlock(key string, k *keyLock) {
	k.Unlock()
	l.mu.Lock()
	if k.refs--; k.refs == 0 {
		delete(l.m, key)
	}
	l.mu.Unlock()
}
