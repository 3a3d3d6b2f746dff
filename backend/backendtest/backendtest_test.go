package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/internal/fakeclock"
)

// fault is one way a store can break the contract.
type fault int

const (
	noFault               fault = iota
	loadMissingSucceeds         // Load of a missing key returns an empty record
	createKeepsSlice            // Create stores the caller's slice
	updateKeepsSlice            // Update stores the caller's slice
	createOverwrites            // Create ignores a live record (an upsert)
	ignoresExpiry               // records never expire
	updateIgnoresVersion        // Update is a blind write
	updateZeroIsWildcard        // Update with version 0 skips the version check
	updateResurrects            // Update of a missing key creates it
	updateKeepsTTL              // Update does not reset the TTL
	updateExtendsOnly           // Update only ever lengthens the TTL
	touchChangesVersion         // Touch bumps the version
	touchResurrects             // Touch of a missing key creates an empty record
	touchNoop                   // Touch does nothing
	touchExtendsOnly            // Touch only ever lengthens the TTL
	deleteMissingFails          // Delete of a missing key returns ErrNotFound
	versionsPerKey              // versions count from 1 per key and restart on Create
	versionsStartAtZero         // the first version handed out is 0
	ttlReportedAsGiven          // Load reports the TTL given, not what is left
	truncatesLarge              // data beyond 32 KiB is dropped
	mangledBinary               // data goes through a UTF-8 string conversion
	emptyBecomesError           // Create and Update refuse empty data
	caseInsensitiveKeys         // keys are folded to lower case
	keysCutAtColon              // keys are cut at the first ':'
	ignoresContext              // a cancelled context is not noticed
	contextAfterEffect          // the operation happens, then ctx.Err() is returned
	errorsMatchEverything       // every error matches every sentinel
	nonSentinelErrors           // errors are look-alikes, not the sentinels
	updateNotApplied            // Update reports success but keeps the old data
	numFaults
)

func (f fault) String() string {
	names := [...]string{
		"noFault", "loadMissingSucceeds", "createKeepsSlice", "updateKeepsSlice",
		"createOverwrites", "ignoresExpiry", "updateIgnoresVersion", "updateZeroIsWildcard",
		"updateResurrects", "updateKeepsTTL", "updateExtendsOnly", "touchChangesVersion",
		"touchResurrects", "touchNoop", "touchExtendsOnly", "deleteMissingFails",
		"versionsPerKey", "versionsStartAtZero", "ttlReportedAsGiven", "truncatesLarge",
		"mangledBinary", "emptyBecomesError", "caseInsensitiveKeys", "keysCutAtColon",
		"ignoresContext", "contextAfterEffect", "errorsMatchEverything", "nonSentinelErrors",
		"updateNotApplied",
	}
	return names[f]
}

// mustFail lists, for each fault, checks that must report it. Other checks
// may fail too.
func mustFail() map[fault][]string {
	return map[fault][]string{
		loadMissingSucceeds:   {"LoadMissing", "UpdateMissing", "TouchMissing", "Delete"},
		createKeepsSlice:      {"CreateCopiesInput"},
		updateKeepsSlice:      {"UpdateCopiesInput"},
		createOverwrites:      {"CreateExisting", "ConcurrentCreate", "ErrorsAreSentinels"},
		ignoresExpiry:         {"Expiry", "TTLRefresh"},
		updateIgnoresVersion:  {"UpdateStaleVersion", "ConcurrentCAS", "ErrorsAreSentinels"},
		updateZeroIsWildcard:  {"UpdateStaleVersion"},
		updateResurrects:      {"UpdateMissing", "UpdateAfterDelete", "Expiry", "ErrorsAreSentinels"},
		updateKeepsTTL:        {"UpdateCurrentVersion", "TTLRefresh"},
		updateExtendsOnly:     {"UpdateCurrentVersion"},
		touchChangesVersion:   {"Touch", "VersionsNeverRepeat"},
		touchResurrects:       {"TouchMissing", "Expiry", "ErrorsAreSentinels"},
		touchNoop:             {"Touch", "TTLRefresh"},
		touchExtendsOnly:      {"Touch"},
		deleteMissingFails:    {"Delete"},
		versionsPerKey:        {"VersionsNeverRepeat", "Delete", "Expiry"},
		versionsStartAtZero:   {"CreateLoad", "VersionsNeverRepeat"},
		ttlReportedAsGiven:    {"CreateLoad", "TTLRefresh"},
		truncatesLarge:        {"LargeData"},
		mangledBinary:         {"BinaryData"},
		emptyBecomesError:     {"EmptyData"},
		caseInsensitiveKeys:   {"Keys"},
		keysCutAtColon:        {"Keys"},
		ignoresContext:        {"CancelledContext"},
		contextAfterEffect:    {"CancelledContext"},
		errorsMatchEverything: {"ErrorsAreSentinels"},
		nonSentinelErrors:     {"LoadMissing", "CreateExisting", "UpdateStaleVersion", "ErrorsAreSentinels"},
		updateNotApplied:      {"UpdateCurrentVersion", "ConcurrentCAS"},
	}
}

// refStore is a straightforward Store on a fake clock: correct with
// noFault, broken in one way otherwise.
type refStore struct {
	fault fault
	now   func() time.Time

	mu      sync.Mutex
	m       map[string]refEntry
	version uint64
}

type refEntry struct {
	data    []byte
	version uint64
	expiry  time.Time
}

func newRefStore(f fault, now func() time.Time) *refStore {
	return &refStore{fault: f, now: now, m: make(map[string]refEntry)}
}

func (s *refStore) key(k string) string {
	switch s.fault {
	case caseInsensitiveKeys:
		return strings.ToLower(k)
	case keysCutAtColon:
		k, _, _ = strings.Cut(k, ":")
	}
	return k
}

func (s *refStore) err(e error) error {
	switch s.fault {
	case errorsMatchEverything:
		return errors.Join(backend.ErrNotFound, backend.ErrExists, backend.ErrConflict,
			backend.ErrUnavailable, backend.ErrTooLarge)
	case nonSentinelErrors:
		return errors.New(e.Error())
	}
	return e
}

// ctxErr returns the context's error unless the store ignores it. With
// contextAfterEffect it is checked by the caller after the operation.
func (s *refStore) ctxErr(ctx context.Context) error {
	if s.fault == ignoresContext || s.fault == contextAfterEffect {
		return nil
	}
	return ctx.Err()
}

func (s *refStore) after(ctx context.Context, err error) error {
	if s.fault == contextAfterEffect && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (s *refStore) store(data []byte, keep fault) []byte {
	if s.fault == keep {
		return data
	}
	data = bytes.Clone(data)
	switch s.fault {
	case truncatesLarge:
		if len(data) > 32<<10 {
			data = data[:32<<10]
		}
	case mangledBinary:
		data = []byte(strings.ToValidUTF8(string(data), "?"))
	}
	return data
}

func (s *refStore) nextVersion(old uint64) uint64 {
	if s.fault == versionsPerKey {
		return old + 1
	}
	if s.fault == versionsStartAtZero {
		s.version++
		return s.version - 1
	}
	s.version++
	return s.version
}

func (s *refStore) live(k string, now time.Time) (refEntry, bool) {
	e, ok := s.m[k]
	if !ok || (s.fault != ignoresExpiry && !now.Before(e.expiry)) {
		return refEntry{}, false
	}
	return e, true
}

func (s *refStore) Load(ctx context.Context, key string) (backend.Record, error) {
	if err := s.ctxErr(ctx); err != nil {
		return backend.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e, ok := s.live(s.key(key), now)
	if !ok {
		if s.fault == loadMissingSucceeds {
			return backend.Record{}, s.after(ctx, nil)
		}
		return backend.Record{}, s.after(ctx, s.err(backend.ErrNotFound))
	}
	rec := backend.Record{Data: e.data, Version: e.version, TTL: e.expiry.Sub(now)}
	if s.fault == ttlReportedAsGiven {
		rec.TTL = time.Hour
	}
	return rec, s.after(ctx, nil)
}

func (s *refStore) Create(ctx context.Context, key string, data []byte, ttl time.Duration) (uint64, error) {
	if err := s.ctxErr(ctx); err != nil {
		return 0, err
	}
	if s.fault == emptyBecomesError && len(data) == 0 {
		return 0, errors.New("empty data")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k := s.key(key)
	if _, ok := s.live(k, now); ok && s.fault != createOverwrites {
		return 0, s.after(ctx, s.err(backend.ErrExists))
	}
	v := s.nextVersion(0)
	s.m[k] = refEntry{data: s.store(data, createKeepsSlice), version: v, expiry: now.Add(ttl)}
	return v, s.after(ctx, nil)
}

func (s *refStore) Update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	if err := s.ctxErr(ctx); err != nil {
		return 0, err
	}
	if s.fault == emptyBecomesError && len(data) == 0 {
		return 0, errors.New("empty data")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k := s.key(key)
	e, ok := s.live(k, now)
	if !ok {
		if s.fault != updateResurrects {
			return 0, s.after(ctx, s.err(backend.ErrNotFound))
		}
		e = refEntry{version: version, expiry: now}
	}
	if e.version != version && s.fault != updateIgnoresVersion && !(s.fault == updateZeroIsWildcard && version == 0) {
		return 0, s.after(ctx, s.err(backend.ErrConflict))
	}
	e.version = s.nextVersion(e.version)
	if s.fault != updateNotApplied {
		e.data = s.store(data, updateKeepsSlice)
	}
	switch s.fault {
	case updateKeepsTTL:
	case updateExtendsOnly:
		e.expiry = later(e.expiry, now.Add(ttl))
	default:
		e.expiry = now.Add(ttl)
	}
	s.m[k] = e
	return e.version, s.after(ctx, nil)
}

func (s *refStore) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.ctxErr(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k := s.key(key)
	e, ok := s.live(k, now)
	if !ok {
		if s.fault != touchResurrects {
			return s.after(ctx, s.err(backend.ErrNotFound))
		}
		e = refEntry{version: s.nextVersion(0)}
	}
	switch s.fault {
	case touchNoop:
		return s.after(ctx, nil)
	case touchChangesVersion:
		e.version = s.nextVersion(e.version)
	}
	if s.fault == touchExtendsOnly {
		e.expiry = later(e.expiry, now.Add(ttl))
	} else {
		e.expiry = now.Add(ttl)
	}
	s.m[k] = e
	return s.after(ctx, nil)
}

func (s *refStore) Delete(ctx context.Context, key string) error {
	if err := s.ctxErr(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.key(key)
	if _, ok := s.live(k, s.now()); !ok && s.fault == deleteMissingFails {
		return s.after(ctx, s.err(backend.ErrNotFound))
	}
	delete(s.m, k)
	return s.after(ctx, nil)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func refHarness(f fault) Harness {
	clk := fakeclock.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	return Harness{Store: newRefStore(f, clk.Now), Advance: clk.Advance}
}

// recorder stands in for *testing.T when a check runs against a broken
// store, collecting failures instead of failing the real test.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs) > 0
}

// runRecorded runs c on its own goroutine, as testing does, so that Fatalf
// can end it, and returns what it reported.
func runRecorded(c check, h Harness) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(r, h)
	}()
	<-done
	return r
}

// TestRun runs the suite, through the real testing machinery, against the
// reference store and against a FaultStore wrapping it.
func TestRun(t *testing.T) {
	t.Run("reference", func(t *testing.T) {
		Run(t, func(*testing.T) Harness { return refHarness(noFault) })
	})
	t.Run("faultstore", func(t *testing.T) {
		Run(t, func(*testing.T) Harness {
			h := refHarness(noFault)
			h.Store = NewFaultStore(h.Store)
			return h
		})
	})
}

// TestChecksDetectFaults proves that the suite can fail: every check fails
// against at least one broken store, and every broken store fails the
// checks meant to catch its fault.
func TestChecksDetectFaults(t *testing.T) {
	all := checks()
	for _, c := range all {
		if r := runRecorded(c, refHarness(noFault)); r.failed() {
			t.Errorf("%s fails against the reference store: %q", c.name, r.msgs)
		}
	}

	canFail := make(map[string]bool)
	expected := mustFail()
	for f := noFault + 1; f < numFaults; f++ {
		want, ok := expected[f]
		if !ok {
			t.Errorf("fault %v: no expected failures listed", f)
			continue
		}
		var failed []string
		for _, c := range all {
			if r := runRecorded(c, refHarness(f)); r.failed() {
				failed = append(failed, c.name)
				canFail[c.name] = true
			}
		}
		t.Logf("fault %v: failed %v", f, failed)
		for _, name := range want {
			if !slices.Contains(failed, name) {
				t.Errorf("fault %v: check %s passed, want it to fail (failed: %v)", f, name, failed)
			}
		}
	}
	for _, c := range all {
		if !canFail[c.name] {
			t.Errorf("check %s failed against none of the broken stores", c.name)
		}
	}
}

// TestRecorderFatalStopsCheck checks that the recorder's Fatalf ends a check
// the way testing's does.
func TestRecorderFatalStopsCheck(t *testing.T) {
	reached := false
	r := runRecorded(check{"fatal", func(t tb, _ Harness) {
		t.Fatalf("stop")
		reached = true
	}}, Harness{})
	if reached {
		t.Error("code after Fatalf ran")
	}
	if !r.failed() || r.msgs[0] != "stop" {
		t.Errorf("recorded %q, want [stop]", r.msgs)
	}
}
