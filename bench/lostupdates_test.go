package bench

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"
	"github.com/gorilla/sessions"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
)

// parallelIncrements is how many requests of one visitor increment one
// counter at the same time in TestLostUpdates.
const parallelIncrements = 64

// counterApp is a library's take on one visitor's counter: POST /inc adds
// one, GET /count answers the count, POST /login starts the session.
type counterApp struct {
	name string
	h    http.Handler
	// serverSide is false when the session lives in the cookie, so the
	// count is what the cookie of the last response holds.
	serverSide bool
}

func counterApps(t *testing.T) []counterApp {
	mgr, err := session.New[UserSession](memstore.New(), session.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ours := http.NewServeMux()
	ours.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		_ = mgr.From(r).Set(UserSession{UserID: "ada"})
	})
	ours.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Update(func(u *UserSession) error { u.Visits++; return nil }); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	ours.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		u, _, _ := mgr.From(r).Get()
		io.WriteString(w, strconv.Itoa(u.Visits))
	})

	scsStore := scsmem.NewWithCleanupInterval(time.Hour)
	t.Cleanup(scsStore.StopCleanup)
	sm := scs.New()
	sm.Store = scsStore
	sm.IdleTimeout = idle
	scsMux := http.NewServeMux()
	scsMux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "visits", 0)
	})
	scsMux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "visits", sm.GetInt(r.Context(), "visits")+1)
	})
	scsMux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strconv.Itoa(sm.GetInt(r.Context(), "visits")))
	})

	store := sessions.NewCookieStore([]byte("0123456789abcdef0123456789abcdef"))
	store.Options.Secure = true
	gorilla := http.NewServeMux()
	gorilla.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "session")
		s.Values["visits"] = 0
		_ = s.Save(r, w)
	})
	gorilla.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "session")
		n, _ := s.Values["visits"].(int)
		s.Values["visits"] = n + 1
		_ = s.Save(r, w)
	})
	gorilla.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "session")
		n, _ := s.Values["visits"].(int)
		io.WriteString(w, strconv.Itoa(n))
	})
	return []counterApp{
		{name: "typedsession (memory store)", h: mgr.Middleware(ours), serverSide: true},
		{name: "alexedwards/scs (memory store)", h: sm.LoadAndSave(scsMux), serverSide: true},
		{name: "gorilla/sessions (cookie store)", h: gorilla},
	}
}

// TestLostUpdates fires 64 requests of one visitor at once, each adding
// one to a counter in the session, through each library, as a browser's
// parallel requests carrying one cookie do, and reports how many
// increments survive. This library must keep all of them; the others are
// reported, not judged: scs writes the whole session back (last writer
// wins) and a cookie store keeps whichever cookie the browser got last.
func TestLostUpdates(t *testing.T) {
	for _, app := range counterApps(t) {
		srv := httptest.NewTLSServer(app.h)
		client := srv.Client()
		do := func(method, path, cookie string) (*http.Response, string) {
			req, _ := http.NewRequest(method, srv.URL+path, nil)
			if cookie != "" {
				req.Header.Set("Cookie", cookie)
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			return res, string(body)
		}
		res, _ := do("POST", "/login", "")
		cookie := res.Cookies()[0].Name + "=" + res.Cookies()[0].Value
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			last = cookie
		)
		start := make(chan struct{})
		for range parallelIncrements {
			wg.Go(func() {
				<-start
				res, _ := do("POST", "/inc", cookie)
				if cs := res.Cookies(); len(cs) > 0 && !app.serverSide {
					mu.Lock()
					last = cs[0].Name + "=" + cs[0].Value
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		_, body := do("GET", "/count", last)
		got, _ := strconv.Atoi(body)
		t.Logf("%s: %d of %d parallel increments kept, %d lost", app.name, got, parallelIncrements, parallelIncrements-got)
		if app.name == "typedsession (memory store)" && got != parallelIncrements {
			t.Errorf("%s lost %d increments", app.name, parallelIncrements-got)
		}
		srv.Close()
	}
}
