// Package backendtest checks that a backend.Store keeps the contract the
// session manager relies on, in the spirit of testing/fstest.
//
// A Store implementation's tests call Run with a factory that returns a
// fresh store (and a way to move its clock) for every check. A store whose
// clock can be injected passes a fake clock's advance; one on real time,
// such as a networked store, passes time.Sleep:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backendtest.Harness {
//			s := mystore.New(testServerAddr(t))
//			t.Cleanup(func() { s.Close() })
//			return backendtest.Harness{Store: s, Advance: time.Sleep}
//		})
//	}
//
// Every check uses its own random keys, so stores backed by one shared
// server do not see each other's records. Checks that need time to pass
// advance it by at most a few seconds in total, so a store on real time (an
// Advance that sleeps) stays reasonably fast. No check runs in parallel with
// another.
//
// The package also provides FaultStore, a wrapper that counts and logs the
// calls made to a Store and injects errors, latency and lost replies into
// chosen ones, for tests of code that uses a Store.
package backendtest

import (
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/typedsession/session/backend"
)

// Harness is what a factory gives the suite for one subtest.
type Harness struct {
	// Store is the store under test, empty or at least holding none of
	// the suite's keys.
	Store backend.Store

	// Advance moves the store's notion of time forward by d. Stores on a
	// fake clock pass the clock's Advance; stores on real time pass a func
	// that sleeps for d (the suite then uses short TTLs sparingly).
	Advance func(d time.Duration)
}

// Run runs the conformance suite against the stores newStore returns. Each
// check is a subtest of t that calls newStore once, with the subtest's
// *testing.T, for a store of its own; the factory registers any cleanup
// with t.Cleanup. Run also calls newStore once with t itself, to learn
// whether the store implements backend.OwnerIndex: if it does, the checks
// of the index run too (their names start with Group or DeleteGroup).
func Run(t *testing.T, newStore func(t *testing.T) Harness) {
	t.Helper()
	all := checks()
	// The checks of an optional interface are left out, not skipped, for
	// a store without it: one store from the factory tells.
	if _, ok := newStore(t).Store.(backend.OwnerIndex); ok {
		all = append(all, groupChecks()...)
	}
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			h := newStore(t)
			if h.Store == nil {
				t.Fatal("backendtest: the factory returned a Harness without a Store")
			}
			if h.Advance == nil {
				t.Fatal("backendtest: the factory returned a Harness without Advance")
			}
			c.run(t, h)
		})
	}
}

// tb is the part of testing.TB the checks use. *testing.T implements it;
// the package's own tests substitute a recorder to prove that each check
// fails against a store with the fault it looks for.
//
// Fatalf must stop the check (runtime.Goexit); it is called only from the
// goroutine running the check. Errorf may be called from any goroutine.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// check is one named conformance check.
type check struct {
	name string
	run  func(t tb, h Harness)
}

// newKey returns a fresh random key shaped like the manager's store keys:
// 43 characters of unpadded base64url (a SHA-256 sum).
func newKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b[:])
}
