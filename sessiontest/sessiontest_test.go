package sessiontest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/sessiontest"
)

type cart struct {
	User  string   `json:"user"`
	Items []string `json:"items"`
}

// app is a small application under test: it adds the form's item to the
// cart, renews the ID on /promote and logs out on /logout.
func app(mgr *session.Manager[cart]) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		item := r.PostFormValue("item")
		if err := mgr.From(r).Update(func(c *cart) error { c.Items = append(c.Items, item); return nil }); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /promote", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).RenewID(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Destroy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	return mux
}

func TestVisitorCarriesTheSession(t *testing.T) {
	kit := sessiontest.New[cart](t, session.Config{})
	h := app(kit.Manager)

	if _, ok := kit.Visitor().Data(); ok {
		t.Error("a new visitor has a session")
	}
	ann := kit.Login(cart{User: "ann"})
	if got, ok := ann.Data(); !ok || got.User != "ann" {
		t.Fatalf("after Login: %+v %v", got, ok)
	}
	rec := ann.Do(h, ann.NewRequest(http.MethodPost, "/cart", strings.NewReader("item=tea")))
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /cart: %d %s", rec.Code, rec.Body)
	}
	if got, _ := ann.Data(); len(got.Items) != 1 || got.Items[0] != "tea" {
		t.Errorf("after POST /cart: %+v", got)
	}

	// A renewal replaces the visitor's cookie; the old one opens nothing.
	before := ann.Cookie()
	ann.Do(h, ann.NewRequest(http.MethodPost, "/promote", nil))
	after := ann.Cookie()
	if after == nil || after.Value == before.Value {
		t.Fatalf("RenewID did not replace the cookie: %v -> %v", before, after)
	}
	if got, ok := ann.Data(); !ok || got.User != "ann" || len(got.Items) != 1 {
		t.Errorf("after RenewID: %+v %v", got, ok)
	}

	// Another visitor's session is untouched by ann's logout.
	bob := kit.Login(cart{User: "bob"})
	ann.Do(h, ann.NewRequest(http.MethodPost, "/logout", nil))
	if ann.Cookie() != nil {
		t.Errorf("logout left cookie %v", ann.Cookie())
	}
	if _, ok := ann.Data(); ok {
		t.Error("ann still has a session after logging out")
	}
	if got, ok := bob.Data(); !ok || got.User != "bob" {
		t.Errorf("bob after ann's logout: %+v %v", got, ok)
	}
}

func TestAdvanceExpiresSessions(t *testing.T) {
	kit := sessiontest.New[cart](t, session.Config{IdleTimeout: 10 * time.Minute, Lifetime: time.Hour})
	ann := kit.Login(cart{User: "ann"})
	kit.Advance(9 * time.Minute)
	if _, ok := ann.Data(); !ok {
		t.Fatal("session gone before its idle timeout")
	}
	// Use keeps it alive past the idle timeout, but not past the lifetime.
	for range 5 {
		kit.Advance(9 * time.Minute)
		if _, ok := ann.Data(); !ok {
			t.Fatalf("session gone at %v although used every 9 minutes", kit.Clock.Now())
		}
	}
	kit.Advance(7 * time.Minute) // 61 minutes after login
	if _, ok := ann.Data(); ok {
		t.Error("session outlived its lifetime")
	}

	bob := kit.Login(cart{User: "bob"})
	kit.Advance(11 * time.Minute)
	if _, ok := bob.Data(); ok {
		t.Error("session outlived its idle timeout")
	}
}

func TestCustomCookieName(t *testing.T) {
	kit := sessiontest.New[cart](t, session.Config{Cookie: session.CookieConfig{Name: "__Host-sid"}})
	ann := kit.Login(cart{User: "ann"})
	if c := ann.Cookie(); c == nil || c.Name != "__Host-sid" {
		t.Fatalf("cookie %v", c)
	}
	if got, ok := ann.Data(); !ok || got.User != "ann" {
		t.Errorf("%+v %v", got, ok)
	}
}
