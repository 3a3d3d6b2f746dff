package goccyjson_test

import (
	"fmt"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/codec/goccyjson"
)

// A manager that writes JSON with goccy/go-json. It reads the records
// codec.JSON wrote, and codec.JSON reads its records, so either can
// replace the other in a deploy.
func Example() {
	type Cart struct {
		User  string   `json:"user"`
		Items []string `json:"items"`
	}
	store := memstore.New()
	defer store.Close()
	_, err := session.New[Cart](store, session.Config{
		Codec:       goccyjson.JSON,
		IdleTimeout: 30 * time.Minute,
		Lifetime:    12 * time.Hour,
	})
	fmt.Println(err, goccyjson.JSON.Name() == codec.JSON.Name())
	// Output: <nil> true
}
