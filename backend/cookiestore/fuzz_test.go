package cookiestore_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/cookiestore"
)

// FuzzOpen sends arbitrary cookie values through the manager's open path.
// It must never panic or fail the request, and a value that is not the
// genuine cookie can only be no session or the genuine session's data:
// nothing else was ever sealed with the key.
func FuzzOpen(f *testing.F) {
	store := cookiestore.New(keys(f, "f"))
	mgr, err := session.New[visit](store, session.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	genuine := visit{User: "ann", N: 7}
	login := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Set(genuine); err != nil {
			f.Fatal(err)
		}
	}))
	sc := newRecorder(login, nil).Result().Cookies()
	if len(sc) != 1 {
		f.Fatalf("login set %d cookies", len(sc))
	}
	good := sc[0].Value
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(strings.Replace(good, good[10:11], "A", 1))
	f.Add("")
	f.Add("AAAA")
	f.Add(strings.Repeat("A", 5000))

	var got struct {
		v   visit
		ok  bool
		err error
	}
	read := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.v, got.ok, got.err = mgr.From(r).Get()
	}))
	f.Fuzz(func(t *testing.T, value string) {
		got.v, got.ok, got.err = visit{}, false, nil
		rec := newRecorder(read, &http.Cookie{Name: session.DefaultCookieName, Value: value})
		if rec.Code != http.StatusOK || got.err != nil {
			t.Fatalf("value %q: status %d, Get error %v", value, rec.Code, got.err)
		}
		if got.ok && fmt.Sprint(got.v) != fmt.Sprint(genuine) {
			t.Fatalf("value %q opened as %+v, which was never sealed", value, got.v)
		}
		if value == good && !got.ok {
			t.Fatal("the genuine cookie did not open")
		}
		if rec, _, err := store.Open(session.DefaultCookieName, value); err == nil && len(rec) == 0 {
			t.Fatalf("value %q opened as an empty record", value)
		}
	})
}
