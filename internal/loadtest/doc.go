// Package loadtest holds the session manager's load and fault-injection
// tests: many goroutines over a few sessions, through the real middleware,
// on each store, checking that no update is lost, no destroyed session
// comes back and no goroutine leaks. It has no code of its own; run it
// with
//
//	go test -race ./internal/loadtest/
//
// (add -short for a smaller run, -v for the figures).
package loadtest
