//lint:file-ignore SA4006 the README snippets leave error checks out for brevity; they are compiled, not run

package readmecheck_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/cookiestore"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/backend/pgstore"
	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/internal/readmecheck/mystore"
	"github.com/typedsession/session/sessiontest"
)

// Each function below holds one README snippet verbatim (indented by one
// tab), with the declarations it needs before it and uses of its variables
// after it. They are compiled, not run.

type UserSession struct {
	UserID string
	Roles  []string
	Cart   []string
}

func snippetIntro(r *http.Request, item string) {
	type UserSession struct {
		UserID string
		Roles  []string
		Cart   []string
	}

	mgr, err := session.New[UserSession](memstore.New(), session.Config{})
	u, ok, err := mgr.From(r).Get() // u is a UserSession
	err = mgr.From(r).Update(func(u *UserSession) error { u.Cart = append(u.Cart, item); return nil })
	_, _, _ = u, ok, err
}

func snippetFlash(s *session.Session[UserSession]) {
	s.AddFlash(session.Flash{Level: session.FlashSuccess, Text: "Logged in."}) // before the redirect
	flashes, err := s.Flashes()                                                // on the next page: read and removed
	_, _ = flashes, err
}

func snippetOwner(store backend.Store) {
	mgr, err := session.New[UserSession](store, session.Config{
		Owner: session.OwnerOf(func(s UserSession) string { return s.UserID }), // "" = anonymous
	})
	_, _ = mgr, err
}

func snippetRevoke(mgr *session.Manager[UserSession], r *http.Request, user, handle string) {
	list, err := mgr.Sessions(r.Context(), user)         // []SessionInfo: Handle, Created, LastWrite, Expires, Current
	n, err := mgr.RevokeOtherSessions(r.Context(), user) // "log out my other devices"
	n, err = mgr.RevokeOwner(r.Context(), user)          // after a password change: everywhere
	err = mgr.RevokeSession(r.Context(), user, handle)   // "sign out that laptop"
	_, _, _ = list, n, err
}

func snippetHostPrefix() {
	cfg := session.Config{Cookie: session.CookieConfig{Name: "__Host-session"}}
	_ = cfg
}

func snippetRedis() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true}) // or NewClusterClient, NewFailoverClient
	mgr, err := session.New[UserSession](redisstore.New(client), session.Config{})
	_, _ = mgr, err
}

func snippetPostgres(ctx context.Context) {
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	err = pgstore.CreateTable(ctx, pool) // idempotent; or run the SQL below in a migration
	store, err := pgstore.New(pool)      // starts the expired-row sweeper; store.Close() stops it
	mgr, err := session.New[UserSession](store, session.Config{})
	_, _ = mgr, err
}

func snippetCookie(secret []byte) {
	keys, err := cookiestore.KeyPairFromSecret(secret) // 32+ random bytes; or cookiestore.NewKeyPair(hashKey, encKey)
	mgr, err := session.New[UserSession](cookiestore.New(keys /*, oldKeys... */), session.Config{})
	_, _ = mgr, err
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		s := mystore.New( /* ... */ )
		return backendtest.Harness{Store: s, Advance: time.Sleep}
	})
}

func snippetSessiontest(t *testing.T, app http.Handler) {
	kit := sessiontest.New[UserSession](t, session.Config{})
	ann := kit.Login(UserSession{UserID: "ann"})
	rec := ann.Do(app, ann.NewRequest(http.MethodPost, "/cart", strings.NewReader("item=tea")))
	got, ok := ann.Data()         // what ann's next request will see
	kit.Advance(31 * time.Minute) // past the idle timeout: ann's session is gone
	_, _, _ = rec, got, ok
}

func snippetFaultStore() {
	fs := backendtest.NewFaultStore(memstore.New())
	fs.Next(backendtest.OpUpdate, backendtest.Fault{LostReply: true})            // the write lands, the caller sees ErrUnavailable
	fs.Always(backendtest.OpAll, backendtest.Fault{Err: backend.ErrUnavailable}) // the store is down until fs.Clear()
	n := fs.Count(backendtest.OpWrite)                                           // round trips a request made; fs.Calls() lists them
	_ = n
}

var (
	_ = snippetIntro
	_ = snippetFlash
	_ = snippetOwner
	_ = snippetRevoke
	_ = snippetHostPrefix
	_ = snippetOwner
	_ = snippetRevoke
	_ = snippetRedis
	_ = snippetPostgres
	_ = snippetCookie
	_ = snippetSessiontest
	_ = snippetFaultStore
	_ = slog.Default
)
