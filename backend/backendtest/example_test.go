package backendtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/memstore"
)

// A FaultStore between the code under test and a real store: here the
// reply to an Update is lost after the store applied it, the next Load
// fails as during an outage, and the counts and the call log show what
// happened.
func ExampleFaultStore() {
	mem := memstore.New()
	defer mem.Close()
	store := backendtest.NewFaultStore(mem)
	ctx := context.Background()
	key := "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"

	v, _ := store.Create(ctx, key, []byte("v1"), time.Hour)
	store.Next(backendtest.OpUpdate, backendtest.Fault{LostReply: true})
	store.Next(backendtest.OpLoad, backendtest.Fault{Err: fmt.Errorf("connection refused: %w", backend.ErrUnavailable)})

	_, err := store.Update(ctx, key, v, []byte("v2"), time.Hour)
	fmt.Println("Update unavailable:", errors.Is(err, backend.ErrUnavailable))
	_, err = store.Load(ctx, key)
	fmt.Println("Load unavailable:", errors.Is(err, backend.ErrUnavailable))
	rec, _ := store.Load(ctx, key)
	fmt.Printf("stored: %s\n", rec.Data)

	fmt.Println("writes:", store.Count(backendtest.OpWrite), "loads:", store.Count(backendtest.OpLoad))
	for _, c := range store.Calls() {
		fmt.Println(c.Op, c.Key, c.Err != nil)
	}
	// Output:
	// Update unavailable: true
	// Load unavailable: true
	// stored: v2
	// writes: 2 loads: 2
	// Create Zm9vYmFyYmF6 false
	// Update Zm9vYmFyYmF6 true
	// Load Zm9vYmFyYmF6 true
	// Load Zm9vYmFyYmF6 false
}
