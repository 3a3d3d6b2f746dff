package loadtest_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/memstore"
)

// TestMain fails the run if a goroutine outlives the tests: the manager,
// the middleware and the stores (once closed) must leave none behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// account is the session data. ID names the identity: one login of one
// slot, so that a session seen after its Destroy is recognised. Lineage
// changes on every renewal, so that increments can be told apart when a
// failed renewal leaves two records of one identity (see renew in the
// root package).
type account struct {
	ID      string `msgpack:"id"`
	Lineage string `msgpack:"l"`
	N       int    `msgpack:"n"`
}

// app serves the load: login, read, increment, renew and destroy. Every
// route but /login answers 401 when the request has no session, so that
// nothing but /login creates one.
func app(t testing.TB, store backend.Store) http.Handler {
	t.Helper()
	mgr, err := session.New[account](store, session.Config{
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	fail := func(w http.ResponseWriter, err error) {
		code := http.StatusServiceUnavailable
		if errors.Is(err, session.ErrGone) {
			code = http.StatusConflict
		}
		http.Error(w, err.Error(), code)
	}
	// get loads the session, or answers and returns false.
	get := func(w http.ResponseWriter, r *http.Request) (account, bool) {
		v, ok, err := mgr.From(r).Get()
		switch {
		case err != nil:
			fail(w, err)
		case !ok:
			http.Error(w, "no session", http.StatusUnauthorized)
		}
		return v, ok && err == nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Set(account{ID: r.FormValue("id"), Lineage: "0"}); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		if v, ok := get(w, r); ok {
			fmt.Fprintf(w, "%s %s %d", v.ID, v.Lineage, v.N)
		}
	})
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		v, ok := get(w, r)
		if !ok {
			return
		}
		// The function may run again at commit, on fresh data; what
		// the last run saw is what was stored.
		var after account
		if err := mgr.From(r).Update(func(a *account) error {
			a.N++
			after = *a
			return nil
		}); err != nil {
			fail(w, err)
			return
		}
		// WriteHeader commits; only then is after final. A failed
		// commit has written the error response instead.
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "%s %s %d", v.ID, after.Lineage, after.N)
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		v, ok := get(w, r)
		if !ok {
			return
		}
		lineage := r.FormValue("lineage")
		s := mgr.From(r)
		if err := s.Update(func(a *account) error { a.Lineage = lineage; return nil }); err != nil {
			fail(w, err)
			return
		}
		if err := s.RenewID(); err != nil {
			fail(w, err)
			return
		}
		fmt.Fprint(w, v.ID)
	})
	mux.HandleFunc("POST /destroy", func(w http.ResponseWriter, r *http.Request) {
		v, ok := get(w, r)
		if !ok {
			return
		}
		if err := mgr.From(r).Destroy(); err != nil {
			fail(w, err)
			return
		}
		fmt.Fprint(w, v.ID)
	})
	return mgr.Middleware(mux)
}

// identity is one login: the session a slot holds until it is destroyed.
type identity struct {
	name string

	mu      sync.Mutex
	tokens  []string          // every ID the session was given
	parent  map[string]string // the ID each ID given by a renewal succeeded
	stray   map[string]bool   // IDs sent by a renewal that failed (503)
	commits map[string][]int  // per lineage, the N of each increment reported committed
	incOK   int               // increments answered 200
	incFail int               // increments answered 503: applied or not, the client cannot tell
	risky   int               // Destroys not answered 200: they may have ended the session

	// The clock reading when the first renewal or Destroy of the session
	// was sent; 0 before. Until then, nothing but an outage of the store
	// can stop a request from finding the session, and an outage is a 503.
	firstEnd atomic.Int64

	destroyed atomic.Int64 // the clock reading after a Destroy was answered 200; 0 while live
	destroyID string       // the ID that Destroy was given (under mu)
}

// Reasons why a destroyed identity's ID may still answer, known
// weaknesses of the session package that the load finds; every other
// answer from a destroyed session fails the test.
const (
	// A RenewID that failed without knowing whether it retired the old ID
	// sends the new one anyway; when the old one was not retired, two
	// records hold the session, and a Destroy through one leaves the
	// other.
	strayFork = "a failed RenewID left two IDs"
)

// survivor says why tok, an ID of the destroyed identity, may still name a
// session: strayFork, or "" for no known reason. (A Destroy racing a
// RenewID used to be one, and is no more: Destroy follows the renewal.)
// tok is ""
// for an unknown ID.
func (id *identity) survivor(tok string) string {
	id.mu.Lock()
	defer id.mu.Unlock()
	for t := tok; t != ""; t = id.parent[t] {
		if id.stray[t] {
			return strayFork
		}
		// The old ID of a stray renewal that was never retired.
		for child, p := range id.parent {
			if p == t && id.stray[child] {
				return strayFork
			}
		}
	}
	return ""
}

// slot is one of the sessions the workers share. Its identity changes
// when a Destroy ends it and a worker logs in again.
type slot struct {
	mu     sync.Mutex
	id     *identity
	cookie string // the session ID the slot's requests carry; "" when logged out
	gen    int
}

// load is one run's shared state and figures.
type load struct {
	t     testing.TB
	h     http.Handler
	name  string
	url   string       // with client: the base URL of a server serving h
	hc    *http.Client // if not nil, requests go over HTTP to url instead of straight to h
	clock atomic.Int64 // orders requests and events: every read is a new tick

	slots []*slot

	mu         sync.Mutex
	identities []*identity
	statuses   map[string]int // "op status" -> count
	survivors  map[string]int // answers from destroyed sessions the library is known to let through, by reason
	answers    []answer
	violations []string
}

// answer is the status of one request and when it ran.
type answer struct {
	op          string
	code        int
	start, done int64
}

func (l *load) tick() int64 { return l.clock.Add(1) }

func (l *load) violate(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violations) < 20 {
		l.violations = append(l.violations, fmt.Sprintf(format, args...))
	}
}

func (l *load) count(op string, res response) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[op+" "+strconv.Itoa(res.code)]++
	l.answers = append(l.answers, answer{op: op, code: res.code, start: res.start, done: res.done})
}

// response is what a request got.
type response struct {
	code        int
	body        string
	cookie      string // the session cookie set, if any
	cleared     bool   // the session cookie was cleared
	cookieSent  string // the session ID the request carried
	start, done int64  // clock readings around the request
}

// do serves one request carrying cookie through the middleware: over
// HTTP when the load has a client, else straight to the handler. A
// request that gets no HTTP answer at all has code 0.
func (l *load) do(method, target, cookie string) response {
	res := response{cookieSent: cookie}
	if l.hc != nil {
		r, err := http.NewRequest(method, l.url+target, nil)
		if err != nil {
			l.t.Fatal(err)
		}
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: cookie})
		}
		res.start = l.tick()
		resp, err := l.hc.Do(r)
		if err != nil {
			res.done = l.tick()
			res.body = err.Error()
			return res
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		res.done = l.tick()
		res.code, res.body = resp.StatusCode, string(b)
		if err != nil {
			res.code = 0
			res.body = err.Error()
		}
		res.cookies(resp.Cookies())
		return res
	}
	r := httptest.NewRequest(method, target, nil)
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: cookie})
	}
	w := httptest.NewRecorder()
	res.start = l.tick()
	l.h.ServeHTTP(w, r)
	res.done = l.tick()
	res.code = w.Code
	b, _ := io.ReadAll(w.Result().Body)
	res.body = string(b)
	res.cookies(w.Result().Cookies())
	return res
}

// cookies records the session cookie a response set or cleared.
func (res *response) cookies(cs []*http.Cookie) {
	for _, c := range cs {
		if c.Name == session.DefaultCookieName {
			if c.Value == "" || c.MaxAge < 0 {
				res.cleared = true
			} else {
				res.cookie = c.Value
			}
		}
	}
}

// login gives s a new identity. s.mu is held.
func (l *load) login(s *slot, idx int) {
	s.gen++
	name := fmt.Sprintf("s%d.%d", idx, s.gen)
	res := l.do("POST", "/login?id="+name, "")
	l.count("login", res)
	if res.code != http.StatusOK || res.cookie == "" {
		return
	}
	id := &identity{name: name, tokens: []string{res.cookie}, commits: map[string][]int{},
		parent: map[string]string{}, stray: map[string]bool{}}
	l.mu.Lock()
	l.identities = append(l.identities, id)
	l.mu.Unlock()
	s.id, s.cookie = id, res.cookie
}

// seen checks a 200 answer that shows the data of the identity name.
func (l *load) seen(op string, res response, name string, want *identity) {
	if name != want.name {
		l.violate("%s with a cookie of %s answered with the data of %s", op, want.name, name)
		return
	}
	if d := want.destroyed.Load(); d != 0 && d < res.start {
		if why := want.survivor(res.cookieSent); why != "" {
			l.mu.Lock()
			l.survivors[why]++
			l.mu.Unlock()
			return
		}
		l.violate("%s: session %s came back after its Destroy (tick %d, request from tick %d)", op, name, d, res.start)
	}
}

// step runs one random operation on a random slot.
func (l *load) step(rng *mrand.Rand) {
	idx := rng.IntN(len(l.slots))
	s := l.slots[idx]
	s.mu.Lock()
	if s.cookie == "" {
		l.login(s, idx)
		s.mu.Unlock()
		return
	}
	id, cookie := s.id, s.cookie
	s.mu.Unlock()

	var op, target, method string
	switch p := rng.IntN(100); {
	case p < 50:
		op, method, target = "read", "GET", "/read"
	case p < 88:
		op, method, target = "inc", "POST", "/inc"
	case p < 98:
		op, method, target = "renew", "POST", "/renew?lineage="+rand.Text()[:8]
	default:
		op, method, target = "destroy", "POST", "/destroy"
	}
	if op == "renew" || op == "destroy" {
		id.firstEnd.CompareAndSwap(0, l.tick())
	}
	res := l.do(method, target, cookie)
	l.count(op, res)
	switch res.code {
	case http.StatusOK, http.StatusConflict, http.StatusServiceUnavailable:
	case http.StatusUnauthorized:
		// No session: only after a renewal (the ID is retired) or a
		// Destroy was sent. Before, a 401 logged the visitor out.
		if e := id.firstEnd.Load(); e == 0 || e > res.done {
			l.violate("%s answered 401 for %s, whose session no renewal or Destroy had touched: a logout", op, id.name)
		}
	default:
		l.violate("%s answered %d: %s", op, res.code, strings.TrimSpace(res.body))
	}
	if res.cleared && res.code == http.StatusServiceUnavailable {
		l.violate("%s answered %d and cleared the cookie of %s: a logout", op, res.code, id.name)
	}
	if res.cookie != "" {
		// A renewal, or a failed one that may have retired the old ID
		// and so sends the new one anyway.
		id.mu.Lock()
		id.tokens = append(id.tokens, res.cookie)
		id.parent[res.cookie] = cookie
		if res.code != http.StatusOK {
			id.stray[res.cookie] = true
		}
		id.mu.Unlock()
		s.mu.Lock()
		if s.cookie == cookie {
			s.cookie = res.cookie
		}
		s.mu.Unlock()
	}
	if res.code != http.StatusOK {
		id.mu.Lock()
		switch op {
		case "inc":
			if res.code == http.StatusServiceUnavailable {
				id.incFail++
			}
		case "destroy":
			// A failed renewal leaves a working ID (the old one,
			// or the new one it sends anyway); a failed Destroy
			// may have deleted the record.
			id.risky++
		}
		id.mu.Unlock()
		return
	}
	f := strings.Fields(res.body)
	if len(f) == 0 {
		l.violate("%s answered 200 with %q", op, res.body)
		return
	}
	l.seen(op, res, f[0], id)
	switch op {
	case "inc":
		n, err := strconv.Atoi(f[len(f)-1])
		if len(f) != 3 || err != nil {
			l.violate("inc answered %q", res.body)
			return
		}
		id.mu.Lock()
		id.incOK++
		id.commits[f[1]] = append(id.commits[f[1]], n)
		id.mu.Unlock()
	case "destroy":
		id.mu.Lock()
		id.destroyID = cookie
		id.mu.Unlock()
		id.destroyed.Store(l.tick())
		s.mu.Lock()
		if s.id == id {
			s.cookie = ""
		}
		s.mu.Unlock()
	}
}

// config sizes a run.
type config struct {
	goroutines, sessions, steps int
	cycles                      int  // of the disturbance beside the load, at least
	overHTTP                    bool // serve the handler on a loopback HTTP server and send real requests
}

func sizes() config {
	if testing.Short() {
		return config{goroutines: 100, sessions: 20, steps: 10, cycles: 3}
	}
	return config{goroutines: 1000, sessions: 100, steps: 10, cycles: 8}
}

// run drives the load on h: every goroutine runs cfg.steps operations.
// during, if not nil, runs over and over beside the load, and the
// goroutines go on past cfg.steps until it has run cfg.cycles times.
func run(t testing.TB, name string, h http.Handler, cfg config, during func(*load)) *load {
	l := &load{t: t, h: h, name: name, statuses: map[string]int{}, survivors: map[string]int{}}
	if cfg.overHTTP {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		tr := &http.Transport{MaxIdleConnsPerHost: cfg.goroutines + 1}
		t.Cleanup(tr.CloseIdleConnections)
		l.url, l.hc = srv.URL, &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	l.slots = make([]*slot, cfg.sessions)
	for i := range l.slots {
		l.slots[i] = &slot{}
		for try := 0; l.slots[i].cookie == "" && try < 100; try++ {
			l.login(l.slots[i], i)
		}
		if l.slots[i].cookie == "" {
			t.Fatalf("cannot log in slot %d", i)
		}
	}
	stop := make(chan struct{})
	var (
		bg     sync.WaitGroup
		cycles atomic.Int64
	)
	if during != nil {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					during(l)
					cycles.Add(1)
				}
			}
		}()
	} else {
		cfg.cycles = 0
	}
	begin := time.Now()
	var wg sync.WaitGroup
	for g := range cfg.goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(g), 14))
			for i := 0; i < cfg.steps || cycles.Load() < int64(cfg.cycles); i++ {
				l.step(rng)
			}
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	t.Logf("%s: %d goroutines, %d sessions, %d requests in %v", name, cfg.goroutines, cfg.sessions, l.requests(), time.Since(begin).Round(time.Millisecond))
	return l
}

func (l *load) requests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.statuses {
		n += c
	}
	return n
}

// verify checks the end state, once the load is over and the store
// healthy, and reports the figures. exact says that no write may have
// failed ambiguously, so every counter must equal its 200 answers.
func (l *load) verify(t testing.TB, exact bool) {
	t.Helper()
	var live, destroyed, ambiguous, lost int
	for _, id := range l.identities {
		id.mu.Lock()
		// No two committed increments of one record saw the same N:
		// otherwise one overwrote the other.
		for lineage, ns := range id.commits {
			sort.Ints(ns)
			for i := 1; i < len(ns); i++ {
				if ns[i] == ns[i-1] {
					l.violate("%s: two increments of lineage %s both committed N=%d", id.name, lineage, ns[i])
				}
			}
		}
		tokens := append([]string(nil), id.tokens...)
		incOK, incFail, commits, risky := id.incOK, id.incFail, id.commits, id.risky
		forked := len(id.stray) > 0
		id.mu.Unlock()

		if id.destroyed.Load() != 0 {
			destroyed++
			for _, tok := range tokens {
				res := l.do("GET", "/read", tok)
				if res.code == http.StatusUnauthorized {
					continue
				}
				switch why := id.survivor(tok); why {
				case "":
					l.violate("%s: an ID of the destroyed session answered %d %q", id.name, res.code, res.body)
				default:
					l.mu.Lock()
					l.survivors[why]++
					l.mu.Unlock()
				}
			}
			continue
		}
		// The live record is the one the last ID given names.
		var res response
		for i := len(tokens) - 1; i >= 0; i-- {
			if res = l.do("GET", "/read", tokens[i]); res.code == http.StatusOK {
				break
			}
		}
		f := strings.Fields(res.body)
		if res.code != http.StatusOK || len(f) != 3 || f[0] != id.name {
			if exact || risky == 0 {
				// Nothing but a failed Destroy may end a
				// session without the client knowing.
				lost += incOK
				l.violate("%s: live session unreadable at the end: %d %q", id.name, res.code, res.body)
			} else {
				ambiguous++
			}
			continue
		}
		live++
		n, _ := strconv.Atoi(f[2])
		// Exact: every increment answered 200 is there, and nothing
		// else but those answered 503, which may have been applied
		// (a reply lost or cut off by the store's time limit).
		if exact && (n < incOK || n > incOK+incFail) {
			lost += max(incOK-n, 0)
			l.violate("%s: N=%d after %d increments answered 200 and %d answered 503", id.name, n, incOK, incFail)
		}
		if !exact {
			// Every increment reported committed in this record's
			// lineage is in it; nothing beyond what was tried is.
			for _, c := range commits[f[1]] {
				if c > n {
					lost++
					l.violate("%s: N=%d below the committed increment N=%d", id.name, n, c)
				}
			}
			// Unless a failed renewal forked the session into two
			// records, every increment answered 200 is in this one,
			// and nothing but those and the failed ones whose outcome
			// is unknown.
			if !forked && n < incOK {
				lost += incOK - n
				l.violate("%s: N=%d after %d increments answered 200", id.name, n, incOK)
			}
			if n > incOK+incFail {
				l.violate("%s: N=%d above the %d increments answered 200 and the %d whose outcome is unknown", id.name, n, incOK, incFail)
			}
		}
	}
	var keys []string
	for k := range l.statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var figures strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&figures, " %s:%d", k, l.statuses[k])
	}
	t.Logf("%s: %d requests by op and status:%s", l.name, l.requests(), figures.String())
	byCode := map[int]int{}
	for k, n := range l.statuses {
		code, _ := strconv.Atoi(k[strings.IndexByte(k, ' ')+1:])
		byCode[code] += n
	}
	others := l.requests() - byCode[200] - byCode[401] - byCode[409] - byCode[503]
	t.Logf("%s: %d requests served: 200 %d, errors 503 %d, 409 %d, 401 %d, others %d",
		l.name, l.requests(), byCode[200], byCode[503], byCode[409], byCode[401], others)
	if len(l.survivors) > 0 {
		t.Logf("%s: answers from destroyed sessions by a known weakness (see the survivor reasons): %v", l.name, l.survivors)
	}
	t.Logf("%s: identities %d (live %d, destroyed %d, unverifiable after ambiguous failures %d); data lost %d",
		l.name, len(l.identities), live, destroyed, ambiguous, lost)
	for _, v := range l.violations {
		t.Error(v)
	}
}

// window is a stretch of the load's clock in which the store was down.
type window struct{ from, to int64 }

// checkOutages checks the outages on the answers: a request that ran
// entirely inside one could not reach the store, and must have said so
// with a 503 (never a 401, a logout, nor a 500).
func (l *load) checkOutages(t testing.TB, windows []window) {
	t.Helper()
	inside, wrong := 0, 0
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.answers {
		for _, w := range windows {
			if a.start > w.from && a.done < w.to {
				inside++
				if a.code != http.StatusServiceUnavailable {
					wrong++
					if wrong <= 10 {
						t.Errorf("%s answered %d during an outage", a.op, a.code)
					}
				}
			}
		}
	}
	if inside == 0 {
		t.Error("no request ran entirely inside an outage: the outages prove nothing")
	}
	t.Logf("%s: %d outages; %d requests ran inside one, %d of them not answered 503", l.name, len(windows), inside, wrong)
}

// randomName returns a fresh name for a private key prefix or table.
func randomName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func TestLoadMemory(t *testing.T) {
	mem := memstore.New()
	defer mem.Close()
	l := run(t, "memory", app(t, mem), sizes(), nil)
	l.verify(t, true)
}

// TestLoadFaults runs the load while the store fails: outages in which
// every call fails with ErrUnavailable, and single writes that fail or
// whose reply is lost after they were applied.
func TestLoadFaults(t *testing.T) {
	mem := memstore.New()
	defer mem.Close()
	faults := backendtest.NewFaultStore(mem)
	down := fmt.Errorf("injected outage: %w", backend.ErrUnavailable)
	var (
		windows []window
		lost    atomic.Int64
	)
	rng := mrand.New(mrand.NewPCG(14, 14))
	during := func(l *load) {
		// Down for a while.
		faults.Clear()
		faults.Always(backendtest.OpAll, backendtest.Fault{Err: down})
		w := window{from: l.tick()}
		time.Sleep(5 * time.Millisecond)
		w.to = l.tick()
		faults.Always(backendtest.OpAll, backendtest.Fault{})
		windows = append(windows, w)
		// Then mostly up, with single faults now and then.
		for range 10 {
			time.Sleep(time.Millisecond)
			switch rng.IntN(3) {
			case 0:
				faults.Next(backendtest.OpCreate|backendtest.OpUpdate, backendtest.Fault{LostReply: true})
				lost.Add(1)
			case 1:
				faults.Next(backendtest.OpWrite, backendtest.Fault{Err: down})
			default:
				faults.Next(backendtest.OpLoad, backendtest.Fault{Err: down})
			}
		}
	}
	l := run(t, "memory with faults", app(t, faults), sizes(), during)
	faults.Clear()

	l.checkOutages(t, windows)
	l.verify(t, false)
	t.Logf("memory with faults: %d lost replies scheduled, %d store calls", lost.Load(), faults.Count(backendtest.OpAll))
}
