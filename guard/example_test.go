package guard_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/guard"
)

// Account is the session data of the examples.
type Account struct {
	User  string   `json:"user"`
	Roles []string `json:"roles"`
}

// visit sends one request to h and prints the status, the Location if any
// and the body. cookie is the Cookie header to send.
func visit(h http.Handler, method, target, cookie, accept string) {
	req := httptest.NewRequest(method, target, nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Accept", accept)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	fmt.Print(res.StatusCode)
	if loc := res.Header.Get("Location"); loc != "" {
		fmt.Print(" -> ", loc)
	} else {
		fmt.Print(" ", strings.TrimSpace(string(body)))
	}
	fmt.Println()
}

// logIn creates a session holding a through mgr and returns the Cookie
// header that carries it, as a browser would send it back.
func logIn(mgr *session.Manager[Account], a Account) string {
	rec := httptest.NewRecorder()
	mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Set(a); err != nil {
			panic(err)
		}
	})).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
	c := rec.Result().Cookies()[0]
	return c.Name + "=" + c.Value
}

// This example protects two routes: /me needs a session, /admin a session
// with the admin role. Handlers receive the session data typed.
func Example() {
	store := memstore.New()
	defer store.Close()
	mgr, err := session.New[Account](store, session.Config{})
	if err != nil {
		panic(err)
	}
	isAdmin := func(a Account) bool { return slices.Contains(a.Roles, "admin") }

	mux := http.NewServeMux()
	mux.Handle("GET /me", guard.Require(mgr, func(w http.ResponseWriter, r *http.Request, _ *session.Session[Account], a Account) {
		fmt.Fprintln(w, "you are", a.User)
	}))
	mux.Handle("GET /admin", guard.Allow(mgr, isAdmin, func(w http.ResponseWriter, r *http.Request, _ *session.Session[Account], a Account) {
		fmt.Fprintln(w, "welcome to the console,", a.User)
	}))
	app := mgr.Middleware(mux)

	ada := logIn(mgr, Account{User: "ada", Roles: []string{"admin"}})
	bob := logIn(mgr, Account{User: "bob"})

	visit(app, "GET", "/me", "", "")     // anonymous
	visit(app, "GET", "/me", bob, "")    // logged in
	visit(app, "GET", "/admin", bob, "") // logged in, not an admin
	visit(app, "GET", "/admin", ada, "") // an admin
	visit(app, "GET", "/admin", "", "application/json")
	// Output:
	// 401 Unauthorized: You need to log in first.
	// 200 you are bob
	// 403 Forbidden: You are not allowed to do this.
	// 200 welcome to the console, ada
	// 401 {"type":"about:blank","title":"Unauthorized","status":401,"detail":"You need to log in first."}
}

// With WithLoginRedirect, browsers without a session are sent to the login
// page, which learns where to send them back in next. JSON clients still
// get a 401 they can act on.
func ExampleWithLoginRedirect() {
	store := memstore.New()
	defer store.Close()
	mgr, err := session.New[Account](store, session.Config{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", guard.Require(mgr, func(w http.ResponseWriter, r *http.Request, _ *session.Session[Account], a Account) {
		fmt.Fprintln(w, "orders of", a.User)
	}, guard.WithLoginRedirect("/login")))
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		// Check next before using it: only a local path will do.
		next, ok := guard.LocalPath(r.FormValue("next"))
		if !ok {
			next = "/"
		}
		fmt.Fprintln(w, "log in, then go to", next)
	})
	app := mgr.Middleware(mux)

	const browser = "text/html,application/xhtml+xml,*/*;q=0.8"
	visit(app, "GET", "/orders?page=2", "", browser)
	visit(app, "GET", "/login?next=%2Forders%3Fpage%3D2", "", browser)
	visit(app, "GET", "/login?next=%2F%2Fevil.example", "", browser)
	visit(app, "GET", "/orders", "", "application/problem+json")
	// Output:
	// 303 -> /login?next=%2Forders%3Fpage%3D2
	// 200 log in, then go to /orders?page=2
	// 200 log in, then go to /
	// 401 {"type":"about:blank","title":"Unauthorized","status":401,"detail":"You need to log in first."}
}

// A check may refuse with a status of its own. Here a document is only
// visible to its owner, and others get 404 rather than learning it exists.
func ExampleCheck() {
	store := memstore.New()
	defer store.Close()
	mgr, err := session.New[Account](store, session.Config{})
	if err != nil {
		panic(err)
	}
	owner := map[string]string{"1": "ada", "2": "bob"}
	ownsDoc := func(r *http.Request, a Account) error {
		if owner[r.PathValue("id")] != a.User {
			return guard.Deny(http.StatusNotFound, "No such document.")
		}
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /docs/{id}", guard.Check(mgr, ownsDoc, func(w http.ResponseWriter, r *http.Request, _ *session.Session[Account], a Account) {
		fmt.Fprintf(w, "document %s of %s\n", r.PathValue("id"), a.User)
	}))
	app := mgr.Middleware(mux)

	ada := logIn(mgr, Account{User: "ada"})
	visit(app, "GET", "/docs/1", ada, "")
	visit(app, "GET", "/docs/2", ada, "")
	// Output:
	// 200 document 1 of ada
	// 404 Not Found: No such document.
}

// The middleware forms guard whole route groups; handlers inside reach the
// verified data with Data.
func ExampleRequireMiddleware() {
	store := memstore.New()
	defer store.Close()
	mgr, err := session.New[Account](store, session.Config{})
	if err != nil {
		panic(err)
	}
	account := http.NewServeMux()
	account.HandleFunc("GET /account/profile", func(w http.ResponseWriter, r *http.Request) {
		a, _ := guard.Data[Account](r)
		fmt.Fprintln(w, "profile of", a.User)
	})
	account.HandleFunc("GET /account/settings", func(w http.ResponseWriter, r *http.Request) {
		a, _ := guard.Data[Account](r)
		fmt.Fprintln(w, "settings of", a.User)
	})
	mux := http.NewServeMux()
	mux.Handle("/account/", guard.RequireMiddleware(mgr)(account))
	app := mgr.Middleware(mux)

	ada := logIn(mgr, Account{User: "ada"})
	visit(app, "GET", "/account/profile", ada, "")
	visit(app, "GET", "/account/settings", ada, "")
	visit(app, "GET", "/account/settings", "", "")
	// Output:
	// 200 profile of ada
	// 200 settings of ada
	// 401 Unauthorized: You need to log in first.
}

// LocalPath accepts paths on this site only, for redirects after a login.
func ExampleLocalPath() {
	for _, next := range []string{
		"/cart?step=2",
		"//evil.example",
		"/\\evil.example",
		"/%2F%2Fevil.example",
		"https://evil.example",
		"javascript:alert(1)",
	} {
		_, ok := guard.LocalPath(next)
		fmt.Printf("%-22q %v\n", next, ok)
	}
	// Output:
	// "/cart?step=2"         true
	// "//evil.example"       false
	// "/\\evil.example"      false
	// "/%2F%2Fevil.example"  false
	// "https://evil.example" false
	// "javascript:alert(1)"  false
}

// A Responder takes over the responses, here to render 403s as an HTML
// page of the application's own, leaving the rest to Respond.
func ExampleWithResponder() {
	store := memstore.New()
	defer store.Close()
	mgr, err := session.New[Account](store, session.Config{})
	if err != nil {
		panic(err)
	}
	respond := func(w http.ResponseWriter, r *http.Request, d guard.Denial) {
		if d.Status != http.StatusForbidden {
			guard.Respond(w, r, d)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(d.Status)
		fmt.Fprintln(w, "<p>Admins only. <a href=/>Back</a></p>")
	}
	isAdmin := func(a Account) bool { return slices.Contains(a.Roles, "admin") }
	app := mgr.Middleware(guard.Allow(mgr, isAdmin, func(w http.ResponseWriter, r *http.Request, _ *session.Session[Account], a Account) {
		fmt.Fprintln(w, "console")
	}, guard.WithResponder(respond)))

	visit(app, "GET", "/admin", logIn(mgr, Account{User: "bob"}), "")
	visit(app, "GET", "/admin", "", "")
	// Output:
	// 403 <p>Admins only. <a href=/>Back</a></p>
	// 401 Unauthorized: You need to log in first.
}
