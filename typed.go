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
	"sync"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/codec"
)

// Default values used for zero Config fields.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultLifetime    = 12 * time.Hour
	DefaultCookieName  = "session"
	DefaultMaxRetries  = 8
)

// Config configures a Manager. The zero value is usable: msgpack encoding,
// a 30-minute idle timeout, a 12-hour lifetime and a cookie named
// "session" that is HttpOnly, Secure, SameSite=Lax, Path=/ and lasts for
// the browser session.
type Config struct {
	// Codec encodes session data for new writes. Default codec.MsgPack.
	// Choose one by name with codec.Lookup.
	Codec codec.Codec

	// Codecs lists the codecs that stored sessions may have been written
	// with. A session written with another codec than Codec is decoded
	// with its own codec and rewritten with Codec on its next change.
	// Default: the built-in codecs plus Codec.
	Codecs *codec.Registry

	// IdleTimeout ends a session that has not been used for this long.
	// The store's time to live is extended as the session is used, at most
	// about once every IdleTimeout/10, without rewriting the data. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration

	// Lifetime caps a session's total life, counted from its creation or
	// its last RenewID. It is never extended. Default DefaultLifetime.
	Lifetime time.Duration

	// Cookie configures the session cookie.
	Cookie CookieConfig

	// ErrorHandler writes the response when committing the session fails
	// (the store is unavailable, the session was ended concurrently,
	// conflicts persisted). Any headers the handler had set are discarded
	// first. The default logs the error and answers 503 Service
	// Unavailable for errors wrapping backend.ErrUnavailable and 500
	// Internal Server Error for the rest.
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
	codec      codec.Codec
	codecName  string
	codecs     *codec.Registry
	idle       time.Duration
	lifetime   time.Duration
	touchAfter time.Duration
	cookie     CookieConfig
	onError    func(w http.ResponseWriter, r *http.Request, err error)
	log        *slog.Logger
	now        func() time.Time
	maxRetries int

	// commitLocks serialise compare-and-set commits of one store key
	// within this process, so concurrent requests of one visitor resolve
	// a conflict in a single retry instead of racing each other.
	commitLocks [64]sync.Mutex
}

// New returns a Manager that keeps sessions of type T in store.
//
// It validates cfg (cookie attribute rules, positive durations) and checks
// that the zero value of T round-trips through the codec, so a type the
// codec cannot handle fails here rather than on the first request.
func New[T any](store backend.Store, cfg Config) (*Manager[T], error) {
	if store == nil {
		return nil, errors.New("session: New with a nil store")
	}
	m := &Manager[T]{
		store:      store,
		codec:      cfg.Codec,
		codecs:     cfg.Codecs,
		idle:       cfg.IdleTimeout,
		lifetime:   cfg.Lifetime,
		cookie:     cfg.Cookie,
		onError:    cfg.ErrorHandler,
		log:        cfg.Logger,
		now:        cfg.Now,
		maxRetries: cfg.MaxRetries,
	}
	if m.codec == nil {
		m.codec = codec.MsgPack
	}
	m.codecName = m.codec.Name()
	if !codec.ValidName(m.codecName) {
		return nil, fmt.Errorf("session: %w: %q", codec.ErrInvalidName, m.codecName)
	}
	if m.codecs == nil {
		reg, err := codec.NewRegistry(m.codec)
		if err != nil {
			return nil, fmt.Errorf("session: %w", err)
		}
		m.codecs = reg
	} else if c, err := m.codecs.Lookup(m.codecName); err != nil || c != m.codec {
		if err := m.codecs.Register(m.codec); err != nil {
			return nil, fmt.Errorf("session: Config.Codecs: %w", err)
		}
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
	var zero T
	b, err := m.codec.Marshal(&zero)
	if err == nil {
		err = m.codec.Unmarshal(b, &zero)
	}
	if err != nil {
		return nil, fmt.Errorf("session: codec %q cannot round-trip %T: %w", m.codecName, zero, err)
	}
	return m, nil
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

// defaultErrorHandler logs err and answers 503 for an unavailable store,
// 500 otherwise.
func (m *Manager[T]) defaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, backend.ErrUnavailable) {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	m.log.ErrorContext(r.Context(), "session commit failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Any("error", err))
	http.Error(w, http.StatusText(status), status)
}

// lockFor returns the commit lock for a store key.
func (m *Manager[T]) lockFor(key string) *sync.Mutex {
	var h uint32 = 2166136261
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &m.commitLocks[h%uint32(len(m.commitLocks))]
}

// codecFor returns the codec named by an envelope.
func (m *Manager[T]) codecFor(name []byte) (codec.Codec, error) {
	if string(name) == m.codecName {
		return m.codec, nil
	}
	return m.codecs.Lookup(string(name))
}
