// Command quickstart is the README's quickstart: a typed session that
// counts a visitor's visits and keeps their name, and a page guarded by it.
package main

import (
	"fmt"
	"log"
	"net/http"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/guard"
)

// Visitor is what the app keeps per visitor: plain, typed Go data.
type Visitor struct {
	Name   string `json:"name"`
	Visits int    `json:"visits"`
}

func main() {
	mgr, err := session.New[Visitor](memstore.New(), session.Config{})
	if err != nil {
		log.Fatal(err)
	}
	log.Println("listening on http://127.0.0.1:8080")
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mgr.Middleware(routes(mgr))))
}

// routes returns the app's handlers; they run inside mgr.Middleware.
func routes(mgr *session.Manager[Visitor]) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s := mgr.From(r)
		// Update replays on fresh data if a parallel request wins the race.
		err := s.Update(func(v *Visitor) error { v.Visits++; return nil })
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		v, _, _ := s.Get()
		fmt.Fprintf(w, "hello %q, visit number %d\n", v.Name, v.Visits)
	})
	mux.HandleFunc("POST /name", func(w http.ResponseWriter, r *http.Request) {
		s := mgr.From(r)
		name := r.FormValue("name")
		err := s.Update(func(v *Visitor) error { v.Name = name; return nil })
		if err == nil {
			err = s.RenewID() // a new ID whenever privileges change
		}
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})

	// Only visitors who gave a name get in, and the handler receives the
	// session typed: no session is 401, no name yet 403, a store outage
	// 503 (never a 401).
	named := func(v Visitor) bool { return v.Name != "" }
	mux.Handle("GET /me", guard.Allow(mgr, named, func(w http.ResponseWriter, r *http.Request, _ *session.Session[Visitor], v Visitor) {
		fmt.Fprintf(w, "you are %q, with %d visits\n", v.Name, v.Visits)
	}))
	return mux
}
