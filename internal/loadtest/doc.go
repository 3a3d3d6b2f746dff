// Package loadtest holds the session manager's load and fault-injection
// tests: many goroutines over a few sessions, through the real middleware,
// on each store, checking that no update is lost, no destroyed session
// comes back and no goroutine leaks. The chaos tests (TestChaos*) run
// the load over HTTP while a private redis-server or PostgreSQL is killed
// with SIGKILL and restarted (see SECURITY.md). It has no code of its
// own; run it with
//
//	go test -race ./internal/loadtest/
//
// (add -short for a smaller run without the chaos, -v for the figures).
package loadtest
