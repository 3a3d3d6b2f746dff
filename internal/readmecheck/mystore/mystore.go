// Package mystore stands in for a reader's own store in the README's
// conformance snippet ("Writing a store"), so that the snippet compiles
// and runs as written. It is the memory store.
package mystore

import (
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/memstore"
)

// New returns a memory store, as the reader's New would return theirs.
func New() backend.Store { return memstore.New() }
