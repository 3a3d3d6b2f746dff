package sessiontest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/sessiontest"
)

// UserSession is the session data of the application under test.
type UserSession struct {
	UserID string
	Cart   []string
}

// addToCart is the handler under test.
func addToCart(mgr *session.Manager[UserSession]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		item := r.PostFormValue("item")
		err := mgr.From(r).Update(func(u *UserSession) error {
			u.Cart = append(u.Cart, item)
			return nil
		})
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
		}
	})
}

// A test logs a visitor in with a typed value, sends a request as that
// visitor and reads what the visitor's next request will find.
func Example() {
	t := &testing.T{} // in a real test, the *testing.T of the test
	kit := sessiontest.New[UserSession](t, session.Config{})
	ann := kit.Login(UserSession{UserID: "ann"})

	rec := ann.Do(addToCart(kit.Manager), ann.NewRequest(http.MethodPost, "/cart", strings.NewReader("item=tea")))
	got, ok := ann.Data()
	fmt.Println(rec.Code, got.UserID, got.Cart, ok)
	// Output: 200 ann [tea] true
}

// Moving the kit's clock expires sessions, as time passing would.
func ExampleKit_Advance() {
	t := &testing.T{}
	kit := sessiontest.New[UserSession](t, session.Config{IdleTimeout: 30 * time.Minute})
	ann := kit.Login(UserSession{UserID: "ann"})

	kit.Advance(29 * time.Minute)
	_, ok := ann.Data()
	fmt.Println("after 29 minutes:", ok)

	kit.Advance(31 * time.Minute)
	_, ok = ann.Data()
	fmt.Println("after 31 more minutes:", ok)
	// Output:
	// after 29 minutes: true
	// after 31 more minutes: false
}
