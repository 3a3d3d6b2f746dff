package otelsession_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/memstore"
	otelsession "github.com/typedsession/session/otel"
)

// account is the session data of the test app.
type account struct {
	User string `json:"user" msgpack:"user"`
	N    int    `json:"n" msgpack:"n"`
}

// telemetry collects what the package reports, in memory.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	opts   []otelsession.Option
}

func newTelemetry() *telemetry {
	sr := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	return &telemetry{
		spans:  sr,
		reader: reader,
		opts: []otelsession.Option{
			otelsession.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))),
			otelsession.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		},
	}
}

// collect returns every metric recorded so far.
func (tm *telemetry) collect(t *testing.T) []metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tm.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		out = append(out, sm.Metrics...)
	}
	return out
}

// count returns the sum of the counter name's data points (or the
// number of measurements of the histogram name) whose attributes include
// every one of want.
func (tm *telemetry) count(t *testing.T, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	matches := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	var n int64
	for _, m := range tm.collect(t) {
		if m.Name != name {
			continue
		}
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				if matches(p.Attributes) {
					n += p.Value
				}
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				if matches(p.Attributes) {
					n += int64(p.Count)
				}
			}
		default:
			t.Fatalf("metric %s has data of type %T", name, m.Data)
		}
	}
	return n
}

// expect checks a list of metric counts.
func (tm *telemetry) expect(t *testing.T, checks ...check) {
	t.Helper()
	for _, c := range checks {
		if got := tm.count(t, c.name, c.attrs...); got != c.want {
			t.Errorf("%s %v = %d, want %d", c.name, c.attrs, got, c.want)
		}
	}
}

type check struct {
	name  string
	attrs []attribute.KeyValue
	want  int64
}

func op(o string) attribute.KeyValue  { return otelsession.AttrOperation.String(o) }
func out(o string) attribute.KeyValue { return otelsession.AttrOutcome.String(o) }

// spanSummary is "name outcome" for each span ended since the last reset,
// in order, with " ERROR" appended to spans whose status is Error.
func (tm *telemetry) spanSummary() []string {
	var s []string
	for _, sp := range tm.spans.Ended() {
		line := sp.Name()
		for _, kv := range sp.Attributes() {
			if kv.Key == otelsession.AttrOutcome {
				line += " " + kv.Value.AsString()
			}
		}
		if sp.Status().Code == codes.Error {
			line += " ERROR"
		}
		s = append(s, line)
	}
	return s
}

// keyLog is a store that remembers every key it is called with, so that
// the test can look for them in the telemetry.
type keyLog struct {
	backend.Store
	mu   sync.Mutex
	keys map[string]bool
}

func (k *keyLog) saw(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string]bool{}
	}
	k.keys[key] = true
}

func (k *keyLog) Load(ctx context.Context, key string) (backend.Record, error) {
	k.saw(key)
	return k.Store.Load(ctx, key)
}

func (k *keyLog) Create(ctx context.Context, key string, data []byte, ttl time.Duration) (uint64, error) {
	k.saw(key)
	return k.Store.Create(ctx, key, data, ttl)
}

func (k *keyLog) Update(ctx context.Context, key string, v uint64, data []byte, ttl time.Duration) (uint64, error) {
	k.saw(key)
	return k.Store.Update(ctx, key, v, data, ttl)
}

func (k *keyLog) Touch(ctx context.Context, key string, ttl time.Duration) error {
	k.saw(key)
	return k.Store.Touch(ctx, key, ttl)
}

func (k *keyLog) Delete(ctx context.Context, key string) error {
	k.saw(key)
	return k.Store.Delete(ctx, key)
}

// app is the test application on top of a manager.
type app struct {
	mgr *session.Manager[account]
	h   http.Handler
	// duringInc, if set, runs inside /inc after the Update, before the
	// commit.
	duringInc func(r *http.Request)
}

func newApp(t *testing.T, store backend.Store, logger *slog.Logger) *app {
	t.Helper()
	mgr, err := session.New[account](store, session.Config{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	a := &app{mgr: mgr}
	fail := func(w http.ResponseWriter, err error) {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := mgr.From(r)
		if err := s.Set(account{User: r.FormValue("user")}); err != nil {
			fail(w, err)
			return
		}
		if err := s.RenewID(); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Update(func(a *account) error { a.N++; return nil }); err != nil {
			fail(w, err)
			return
		}
		if a.duringInc != nil {
			a.duringInc(r)
		}
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := mgr.From(r).Get()
		switch {
		case err != nil:
			fail(w, err)
		case !ok:
			http.Error(w, "log in", http.StatusUnauthorized)
		default:
			fmt.Fprintf(w, "%s %d", v.User, v.N)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Destroy(); err != nil {
			fail(w, err)
		}
	})
	a.h = mgr.Middleware(mux)
	return a
}

// visitor carries one session cookie from response to request.
type visitor struct {
	cookie *http.Cookie
	tokens []string // every ID the visitor was given
}

func (v *visitor) do(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if v.cookie != nil {
		r.AddCookie(v.cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == session.DefaultCookieName {
			v.cookie = c
			if c.Value != "" {
				v.tokens = append(v.tokens, c.Value)
			}
		}
	}
	return w
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, code int) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d (%q), want %d", w.Code, strings.TrimSpace(w.Body.String()), code)
	}
}

func wantSpans(t *testing.T, tm *telemetry, want ...string) {
	t.Helper()
	got := tm.spanSummary()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("spans:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	tm.spans.Reset()
}

// noSecrets fails if a span or a metric carries an ID, a key or a
// 12-character prefix of one.
func noSecrets(t *testing.T, tm *telemetry, kl *keyLog, v *visitor) {
	t.Helper()
	var secrets []string
	kl.mu.Lock()
	for k := range kl.keys {
		secrets = append(secrets, k, k[:12])
	}
	kl.mu.Unlock()
	for _, tok := range v.tokens {
		secrets = append(secrets, tok, tok[:12])
	}
	if len(secrets) == 0 {
		t.Fatal("no keys seen: the test proves nothing")
	}
	var text bytes.Buffer
	for _, sp := range tm.spans.Ended() {
		fmt.Fprintln(&text, sp.Name(), sp.Status(), sp.Attributes(), sp.Events())
	}
	for _, m := range tm.collect(t) {
		fmt.Fprintf(&text, "%s %+v\n", m.Name, m.Data)
	}
	for _, s := range secrets {
		if strings.Contains(text.String(), s) {
			t.Fatalf("telemetry contains %q:\n%s", s, text.String())
		}
	}
}

func TestLogin(t *testing.T) {
	tm := newTelemetry()
	mem := memstore.New()
	defer mem.Close()
	kl := &keyLog{Store: mem}
	var logs bytes.Buffer
	logger := slog.New(otelsession.Handler(slog.NewTextHandler(&logs, nil), tm.opts...))
	a := newApp(t, otelsession.Store(kl, tm.opts...), logger)

	v := &visitor{}
	wantStatus(t, v.do(t, a.h, "POST", "/login?user=ann"), http.StatusOK)
	// A new visitor: nothing to load, one Create.
	wantSpans(t, tm, "session.store.Create ok")
	// Logging in again on a live session renews its ID: the data goes
	// under a new key, and the old record becomes a tombstone.
	wantStatus(t, v.do(t, a.h, "POST", "/login?user=ann"), http.StatusOK)
	wantSpans(t, tm, "session.store.Load ok", "session.store.Create ok", "session.store.Update ok")
	w := v.do(t, a.h, "GET", "/me")
	wantStatus(t, w, http.StatusOK)
	if w.Body.String() != "ann 0" {
		t.Fatalf("GET /me = %q", w.Body.String())
	}
	wantSpans(t, tm, "session.store.Load ok")
	old := v.cookie
	wantStatus(t, v.do(t, a.h, "POST", "/logout"), http.StatusOK)
	// Destroy retires the record with compare-and-set before deleting
	// it, so that a concurrent renewal cannot keep the session alive.
	wantSpans(t, tm, "session.store.Load ok", "session.store.Update ok", "session.store.Delete ok")
	if v.cookie.MaxAge >= 0 {
		t.Fatalf("logout left the cookie %v", v.cookie)
	}
	// A stolen copy of the logged-out cookie names no session.
	v.cookie = old
	wantStatus(t, v.do(t, a.h, "GET", "/me"), http.StatusUnauthorized)
	wantSpans(t, tm, "session.store.Load not_found")

	tm.expect(t,
		check{"session.store.loads", []attribute.KeyValue{out("ok")}, 3},
		check{"session.store.loads", []attribute.KeyValue{out("not_found")}, 1},
		check{"session.store.writes", []attribute.KeyValue{op("create"), out("ok")}, 2},
		check{"session.store.writes", []attribute.KeyValue{op("update"), out("ok")}, 2},
		check{"session.store.writes", []attribute.KeyValue{op("delete"), out("ok")}, 1},
		check{"session.store.writes", nil, 5},
		check{"session.store.conflicts", nil, 0},
		check{"session.store.unavailable", nil, 0},
		check{"session.store.duration", nil, 9},
		check{"session.store.duration", []attribute.KeyValue{op("load")}, 4},
		check{"session.created", nil, 1},
		check{"session.renewed", nil, 1},
		check{"session.destroyed", nil, 1},
		check{"session.ids.rejected", []attribute.KeyValue{otelsession.AttrIDState.String("unknown")}, 1},
		check{"session.commits.failed", nil, 0},
	)
	// The handler passed the events on.
	for _, msg := range []string{session.EventCreated, session.EventRenewed, session.EventDestroyed} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("the log lacks %q:\n%s", msg, logs.String())
		}
	}
	noSecrets(t, tm, kl, v)
}

func TestConflict(t *testing.T) {
	tm := newTelemetry()
	mem := memstore.New()
	defer mem.Close()
	kl := &keyLog{Store: mem}
	store := otelsession.Store(kl, tm.opts...)
	logger := slog.New(otelsession.Handler(slog.DiscardHandler, tm.opts...))
	// Two managers, as two instances of an app, on one store: commits of
	// one do not wait for those of the other.
	a1 := newApp(t, store, logger)
	a2 := newApp(t, store, logger)

	v := &visitor{}
	wantStatus(t, v.do(t, a1.h, "POST", "/login?user=ann"), http.StatusOK)
	tm.spans.Reset()
	// While the request on a1 holds the session as loaded, a request on
	// a2 commits an increment: a1's commit loses the compare-and-set,
	// reloads and replays its increment.
	a1.duringInc = func(r *http.Request) {
		other := &visitor{cookie: v.cookie}
		wantStatus(t, other.do(t, a2.h, "POST", "/inc"), http.StatusOK)
	}
	wantStatus(t, v.do(t, a1.h, "POST", "/inc"), http.StatusOK)
	a1.duringInc = nil
	wantSpans(t, tm,
		"session.store.Load ok",         // a1 loads
		"session.store.Load ok",         // a2 loads
		"session.store.Update ok",       // a2 commits
		"session.store.Update conflict", // a1 loses
		"session.store.Load ok",         // a1 reloads
		"session.store.Update ok",       // a1 commits the replay
	)
	w := v.do(t, a1.h, "GET", "/me")
	if w.Body.String() != "ann 2" {
		t.Fatalf("GET /me = %q, want both increments", w.Body.String())
	}
	tm.expect(t,
		check{"session.store.conflicts", nil, 1},
		check{"session.store.conflicts", []attribute.KeyValue{op("update"), out("conflict")}, 1},
		check{"session.store.writes", []attribute.KeyValue{op("update"), out("conflict")}, 1},
		check{"session.store.writes", []attribute.KeyValue{op("update"), out("ok")}, 2},
		check{"session.conflicts.retried", nil, 1},
		check{"session.commits.failed", nil, 0},
		check{"session.store.unavailable", nil, 0},
	)
	noSecrets(t, tm, kl, v)
}

func TestOutage(t *testing.T) {
	tm := newTelemetry()
	mem := memstore.New()
	defer mem.Close()
	kl := &keyLog{Store: mem}
	faults := backendtest.NewFaultStore(kl)
	var logs bytes.Buffer
	// The next handler logs warnings and errors only: the handler must
	// still count the Info events, and pass on only what next wants.
	next := slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})
	logger := slog.New(otelsession.Handler(next, tm.opts...))
	a := newApp(t, otelsession.Store(faults, tm.opts...), logger)

	v := &visitor{}
	wantStatus(t, v.do(t, a.h, "POST", "/login?user=ann"), http.StatusOK)
	tm.spans.Reset()

	down := fmt.Errorf("connection refused: %w", backend.ErrUnavailable)
	faults.Always(backendtest.OpAll, backendtest.Fault{Err: down})
	wantStatus(t, v.do(t, a.h, "GET", "/me"), http.StatusServiceUnavailable)
	wantStatus(t, v.do(t, a.h, "POST", "/inc"), http.StatusServiceUnavailable)
	wantSpans(t, tm, "session.store.Load unavailable ERROR", "session.store.Load unavailable ERROR")
	faults.Clear()

	// The store fails at the commit: the load went through, the write
	// does not.
	faults.Next(backendtest.OpUpdate, backendtest.Fault{Err: down})
	wantStatus(t, v.do(t, a.h, "POST", "/inc"), http.StatusServiceUnavailable)
	wantSpans(t, tm, "session.store.Load ok", "session.store.Update unavailable ERROR")

	// A write whose reply is lost: applied, but reported as failed.
	faults.Next(backendtest.OpUpdate, backendtest.Fault{LostReply: true})
	wantStatus(t, v.do(t, a.h, "POST", "/inc"), http.StatusServiceUnavailable)
	wantSpans(t, tm, "session.store.Load ok", "session.store.Update unavailable ERROR")

	// Recovered.
	wantStatus(t, v.do(t, a.h, "POST", "/inc"), http.StatusOK)
	wantSpans(t, tm, "session.store.Load ok", "session.store.Update ok")
	if w := v.do(t, a.h, "GET", "/me"); w.Body.String() != "ann 2" {
		t.Fatalf("GET /me = %q, want the lost-reply increment and the last one", w.Body.String())
	}

	tm.expect(t,
		check{"session.store.unavailable", nil, 4},
		check{"session.store.unavailable", []attribute.KeyValue{op("load")}, 2},
		check{"session.store.unavailable", []attribute.KeyValue{op("update"), out("unavailable")}, 2},
		check{"session.store.loads", []attribute.KeyValue{out("unavailable")}, 2},
		check{"session.store.writes", []attribute.KeyValue{op("update"), out("unavailable")}, 2},
		check{"session.commits.failed", nil, 2},
		check{"session.commits.failed", []attribute.KeyValue{otelsession.AttrCommitReason.String("unavailable")}, 2},
		check{"session.created", nil, 1},
	)
	if got, want := tm.count(t, "session.store.loads")+tm.count(t, "session.store.writes"), faults.Count(backendtest.OpAll); got != want {
		t.Errorf("loads+writes = %d, but the store was called %d times", got, want)
	}
	// Only the Warn and Error records reached next.
	if !strings.Contains(logs.String(), session.EventCommitFailed) {
		t.Errorf("the log lacks %q:\n%s", session.EventCommitFailed, logs.String())
	}
	if strings.Contains(logs.String(), session.EventCreated) {
		t.Errorf("an Info record reached a handler that logs Warn and up:\n%s", logs.String())
	}
	noSecrets(t, tm, kl, v)
}

// TestHandlerDerived checks that loggers derived with With and WithGroup
// still count, and that records reach next with the derived attributes.
func TestHandlerDerived(t *testing.T) {
	tm := newTelemetry()
	var logs bytes.Buffer
	base := slog.New(otelsession.Handler(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}), tm.opts...))
	l := base.With("app", "shop").WithGroup("g")
	l.Info(session.EventCreated, "key", "abc")
	l.Debug("unrelated")
	l.Warn(session.EventCommitFailed, "error", fmt.Errorf("x: %w", session.ErrGone))
	l.Error(session.EventCommitFailed, "error", fmt.Errorf("x"))
	base.Info(session.EventRetiredID)
	base.Info(session.EventUnknownID)
	base.Info(session.EventExpired)
	tm.expect(t,
		check{"session.created", nil, 1},
		check{"session.expired", nil, 1},
		check{"session.ids.rejected", []attribute.KeyValue{otelsession.AttrIDState.String("retired")}, 1},
		check{"session.ids.rejected", []attribute.KeyValue{otelsession.AttrIDState.String("unknown")}, 1},
		check{"session.commits.failed", []attribute.KeyValue{otelsession.AttrCommitReason.String("gone")}, 1},
		check{"session.commits.failed", []attribute.KeyValue{otelsession.AttrCommitReason.String("error")}, 1},
	)
	for _, want := range []string{`msg="session created" app=shop g.key=abc`, `msg=unrelated app=shop`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestOwnerIndexPassesThrough: the decorator of a store with an owner
// index has one too, traced and measured; revocations are counted.
func TestOwnerIndexPassesThrough(t *testing.T) {
	tm := newTelemetry()
	mem := memstore.New()
	defer mem.Close()
	st := otelsession.Store(mem, tm.opts...)
	if _, ok := st.(backend.OwnerIndex); !ok {
		t.Fatal("the decorator of memstore hides its owner index")
	}
	if _, ok := otelsession.Store(backendtest.NewFaultStore(mem), tm.opts...).(backend.OwnerIndex); ok {
		t.Fatal("the decorator of a store without an owner index claims one")
	}
	logger := slog.New(otelsession.Handler(slog.NewTextHandler(&bytes.Buffer{}, nil), tm.opts...))
	mgr, err := session.New[account](st, session.Config{
		Logger: logger,
		Owner:  session.OwnerOf(func(a account) string { return a.User }),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		req := httptest.NewRequest("POST", "/", nil)
		mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = mgr.From(r).Renew(account{User: "ann"})
		})).ServeHTTP(httptest.NewRecorder(), req)
	}
	tm.spans.Reset()
	ctx := context.Background()
	if list, err := mgr.Sessions(ctx, "ann"); err != nil || len(list) != 2 {
		t.Fatalf("Sessions = %v, %v", list, err)
	}
	if n, err := mgr.RevokeOwner(ctx, "ann"); err != nil || n != 2 {
		t.Fatalf("RevokeOwner = %d, %v", n, err)
	}
	wantSpans(t, tm, "session.store.Group ok", "session.store.DeleteGroup ok")
	tm.expect(t,
		check{"session.store.loads", []attribute.KeyValue{op("group")}, 1},
		check{"session.store.writes", []attribute.KeyValue{op("delete_group")}, 1},
		check{"session.revoked", nil, 2},
	)
}
