package session_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/guard"
)

// flashApp is a login/logout app that says what happened with flashes
// after its redirects, as a browser sees it through a cookie jar.
func flashApp(t *testing.T, h *harness) (*httptest.Server, *http.Client) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := h.mgr.From(r)
		if err := s.Renew(UserSession{UserID: "ada"}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := s.AddFlash(session.Flash{Level: session.FlashSuccess, Text: "logged in"}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s := h.mgr.From(r)
		if err := s.Destroy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := s.AddFlash(session.Flash{Level: session.FlashInfo, Text: "logged out"}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fs, err := h.mgr.From(r).Flashes()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, f := range fs {
			fmt.Fprintf(w, "[%s] %s\n", f.Level, f.Text)
		}
	})
	mux.Handle("GET /me", guard.Require(h.mgr, func(w http.ResponseWriter, _ *http.Request, _ *session.Session[UserSession], u UserSession) {
		io.WriteString(w, u.UserID)
	}))
	srv := httptest.NewTLSServer(h.mgr.Middleware(mux))
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Jar = newJar(t)
	return srv, client
}

func fetch(t *testing.T, c *http.Client, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestFlashesSurviveExactlyOneRedirect logs in and out through a cookie
// jar: each flash shows on the page after the redirect, once, and the
// "logged out" flash, a session of flashes only, lets nobody in.
func TestFlashesSurviveExactlyOneRedirect(t *testing.T) {
	h := newHarness(t, session.Config{})
	srv, c := flashApp(t, h)
	if code, body := fetch(t, c, "POST", srv.URL+"/login"); code != 200 || body != "[success] logged in\n" {
		t.Fatalf("after login: %d %q", code, body)
	}
	if _, body := fetch(t, c, "GET", srv.URL+"/"); body != "" {
		t.Errorf("the login flash showed twice: %q", body)
	}
	if code, body := fetch(t, c, "GET", srv.URL+"/me"); code != 200 || body != "ada" {
		t.Errorf("/me: %d %q", code, body)
	}
	if code, body := fetch(t, c, "POST", srv.URL+"/logout"); code != 200 || body != "[info] logged out\n" {
		t.Fatalf("after logout: %d %q", code, body)
	}
	if code, _ := fetch(t, c, "GET", srv.URL+"/me"); code != http.StatusUnauthorized {
		t.Errorf("/me after logout: %d, want 401", code)
	}
	if _, body := fetch(t, c, "GET", srv.URL+"/"); body != "" {
		t.Errorf("the logout flash showed twice: %q", body)
	}
}

// TestFlashOnlySessionIsNoSession checks Get and guards on a session that
// holds flashes only, even before they are read.
func TestFlashOnlySessionIsNoSession(t *testing.T) {
	h := newHarness(t, session.Config{})
	res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.AddFlash(session.Flash{Text: "hello"}); err != nil {
			t.Error(err)
		}
	})
	c := sessionCookie(t, res, "session")
	if c == nil {
		t.Fatal("AddFlash set no cookie")
	}
	cookie := "session=" + c.Value
	if _, ok := h.get(cookie); ok {
		t.Error("Get reports a session of flashes only as a session")
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", cookie)
	h.mgr.Middleware(guard.Require(h.mgr, func(w http.ResponseWriter, _ *http.Request, _ *session.Session[UserSession], _ UserSession) {
		t.Error("a guard let a session of flashes only in")
	})).ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("guard: %d", rec.Code)
	}
	// Reading the last flash ends the session of flashes only: the
	// record goes and the cookie is cleared.
	res = h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if fs, err := s.Flashes(); err != nil || len(fs) != 1 || fs[0].Text != "hello" {
			t.Errorf("Flashes = %v, %v", fs, err)
		}
	})
	if c := sessionCookie(t, res, "session"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the emptied session's cookie was not cleared: %v", res.Header["Set-Cookie"])
	}
	if _, _, err := h.storedEnvelope(cookie); err == nil {
		t.Error("the emptied session's record is still stored")
	}
}

// TestFlashesAfterCommitFail checks that reading or adding a flash after
// the response started is an error, never a silent loss.
func TestFlashesAfterCommitFail(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.AddFlash(session.Flash{Text: "one"}); err != nil {
			t.Fatal(err)
		}
	})
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		w.WriteHeader(http.StatusOK) // commits
		if _, err := s.Flashes(); !errors.Is(err, session.ErrCommitted) {
			t.Errorf("Flashes after the commit: %v, want ErrCommitted", err)
		}
		if err := s.AddFlash(session.Flash{Text: "two"}); !errors.Is(err, session.ErrCommitted) {
			t.Errorf("AddFlash after the commit: %v, want ErrCommitted", err)
		}
	})
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if fs, err := s.Flashes(); err != nil || len(fs) != 1 || fs[0].Text != "one" {
			t.Errorf("the flash was lost: %v, %v", fs, err)
		}
	})
}

// TestConcurrentFlashesAreNotLost adds flashes from parallel requests on
// two managers (two app instances), while a visitor's page reads them
// again and again: every flash is shown exactly once, and the data is
// untouched. (Two reads at the same instant may both show a flash, as
// with every session library: reading happens before the commit.)
func TestConcurrentFlashesAreNotLost(t *testing.T) {
	h := newHarness(t, session.Config{})
	other := h.manager(session.Config{})
	cookie := h.login(UserSession{UserID: "ada", Visits: 7})
	const adders = 12
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	shown := map[string]int{}
	read := func(mgr *session.Manager[UserSession]) {
		serve(mgr, "GET", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			fs, err := s.Flashes()
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			for _, f := range fs {
				shown[f.Text]++
			}
			mu.Unlock()
		})
	}
	for i := range adders {
		mgr := h.mgr
		if i%2 == 1 {
			mgr = other
		}
		wg.Go(func() {
			serve(mgr, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
				if err := s.AddFlash(session.Flash{Text: fmt.Sprint("flash ", i)}); err != nil {
					t.Error(err)
				}
			})
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			read([]*session.Manager[UserSession]{h.mgr, other}[i%2])
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	read(h.mgr)
	for i := range adders {
		if n := shown[fmt.Sprint("flash ", i)]; n != 1 {
			t.Errorf("flash %d shown %d times", i, n)
		}
	}
	if u, ok := h.get(cookie); !ok || u.UserID != "ada" || u.Visits != 7 {
		t.Errorf("data after the flashes: %+v, %v", u, ok)
	}
	if len(shown) != adders {
		t.Errorf("shown %v", strings.Join(func() []string {
			var ks []string
			for k := range shown {
				ks = append(ks, k)
			}
			return ks
		}(), ", "))
	}
}

// TestFlashesReadDuringAConcurrentAdd reads the flashes while another
// request adds one and commits before this one: the commit conflicts, and
// the replay removes only the flash this request showed and keeps the new
// one.
func TestFlashesReadDuringAConcurrentAdd(t *testing.T) {
	h := newHarness(t, session.Config{})
	other := h.manager(session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.AddFlash(session.Flash{Text: "old"})
	})
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		fs, err := s.Flashes()
		if err != nil || len(fs) != 1 || fs[0].Text != "old" {
			t.Fatalf("Flashes = %v, %v", fs, err)
		}
		serve(other, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			if err := s.AddFlash(session.Flash{Text: "new"}); err != nil {
				t.Error(err)
			}
		})
	})
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if fs, err := s.Flashes(); err != nil || len(fs) != 1 || fs[0].Text != "new" {
			t.Errorf("after the conflict: %v, %v; want only the new flash", fs, err)
		}
	})
}
