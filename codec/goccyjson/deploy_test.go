package goccyjson_test

import (
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/codec/goccyjson"
)

// TestRollingDeployBetweenCodecs runs a visitor's requests alternately
// through two app instances on one store, one writing with codec.JSON and
// one with goccyjson.JSON, as during a deploy that switches between them
// (in either direction). Each instance must read exactly what the other
// wrote, and every write must land.
func TestRollingDeployBetweenCodecs(t *testing.T) {
	store := memstore.New()
	defer store.Close()
	var servers []*httptest.Server
	for _, c := range []codec.Codec{codec.JSON, goccyjson.JSON} {
		mgr, err := session.New[profile](store, session.Config{Codec: c, IdleTimeout: time.Hour, Lifetime: 24 * time.Hour,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
			if err := mgr.From(r).Set(sample()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
			}
		})
		mux.HandleFunc("POST /visit", func(w http.ResponseWriter, r *http.Request) {
			err := mgr.From(r).Update(func(p *profile) error {
				p.Age++
				p.Roles = append(p.Roles, c.Name())
				return nil
			})
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
			}
		})
		mux.HandleFunc("GET /check", func(w http.ResponseWriter, r *http.Request) {
			p, ok, err := mgr.From(r).Get()
			if err != nil || !ok {
				http.Error(w, "no session", http.StatusUnauthorized)
				return
			}
			want := sample()
			want.Age += 10
			for range 10 {
				want.Roles = append(want.Roles, "json")
			}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("%T read\n%#v\nwant\n%#v", c, p, want)
			}
		})
		// TLS, as the cookie is Secure (Go before 1.26 keeps Secure
		// cookies from plain-HTTP loopback servers).
		srv := httptest.NewTLSServer(mgr.Middleware(mux))
		defer srv.Close()
		servers = append(servers, srv)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := servers[0].Client() // trusts the test certificate both servers use
	client.Jar = jar
	do := func(srv *httptest.Server, method, path string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s on instance %s: %s", method, path, srv.URL, resp.Status)
		}
	}
	// Both servers are on 127.0.0.1, so the jar sends one cookie to both.
	do(servers[0], http.MethodPost, "/login")
	for i := range 10 {
		do(servers[i%2], http.MethodPost, "/visit")
	}
	do(servers[0], http.MethodGet, "/check")
	do(servers[1], http.MethodGet, "/check")
}
