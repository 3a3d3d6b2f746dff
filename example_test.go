package session_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
)

// Cart is the per-visitor data of the example shop.
type Cart struct {
	User  string   `json:"user"`
	Items []string `json:"items"`
}

// This example runs a tiny shop: log in, add to the cart, read the cart,
// log out. Every read and write of the session is typed.
func Example() {
	store := memstore.New()
	defer store.Close()
	mgr, err := session.New[Cart](store, session.Config{
		Codec:       codec.MsgPack,
		IdleTimeout: 30 * time.Minute,
		Lifetime:    12 * time.Hour,
	})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := mgr.From(r)
		if err := s.Set(Cart{User: r.FormValue("user")}); err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		// A login must never keep the pre-login session ID.
		if err := s.RenewID(); err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "welcome", r.FormValue("user"))
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		item := r.FormValue("item")
		err := mgr.From(r).Update(func(c *Cart) error {
			c.Items = append(c.Items, item)
			return nil
		})
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "added", item)
	})
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		c, ok, err := mgr.From(r).Get()
		switch {
		case err != nil:
			http.Error(w, "try again later", http.StatusServiceUnavailable)
		case !ok:
			http.Error(w, "log in first", http.StatusUnauthorized)
		default:
			fmt.Fprintf(w, "%s has %s\n", c.User, strings.Join(c.Items, ", "))
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Destroy(); err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "bye")
	})

	// The session cookie is Secure, so talk TLS to the test server.
	srv := httptest.NewTLSServer(mgr.Middleware(mux))
	defer srv.Close()
	client := srv.Client()
	client.Jar, _ = cookiejar.New(nil)

	show := func(res *http.Response, err error) {
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		fmt.Printf("%d %s", res.StatusCode, body)
	}
	show(client.PostForm(srv.URL+"/login", url.Values{"user": {"ada"}}))
	show(client.PostForm(srv.URL+"/cart", url.Values{"item": {"tea"}}))
	show(client.PostForm(srv.URL+"/cart", url.Values{"item": {"scones"}}))
	show(client.Get(srv.URL + "/cart"))
	show(client.PostForm(srv.URL+"/logout", nil))
	show(client.Get(srv.URL + "/cart"))
	// Output:
	// 200 welcome ada
	// 200 added tea
	// 200 added scones
	// 200 ada has tea, scones
	// 200 bye
	// 401 log in first
}
