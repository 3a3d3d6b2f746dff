package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
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

	// Faults of the owner index (backend.OwnerIndex).
	createNotIndexed        // Create of a grouped key leaves it out of the index
	groupIgnoresUpdates     // Update leaves the index with the old data and version
	groupIgnoresTouch       // Touch leaves the index with the old expiry
	groupMissesDeletes      // Delete leaves the key in the index
	groupListsExpired       // Group lists expired records
	deleteGroupIgnoresKeep  // DeleteGroup deletes the kept record too
	deleteGroupSpillsOver   // DeleteGroup deletes the records of every group
	deleteGroupTakesNoGroup // DeleteGroup deletes the ungrouped records too
	deleteGroupMiscounts    // DeleteGroup counts the kept record as deleted
	deleteGroupNotAtomic    // DeleteGroup reads the members, then deletes those that did not change since
	groupTTLAsGiven         // Group reports the TTL of the last write, not what is left
	groupIndexShrinks       // each write sets the index's expiry to its record's, even an earlier one
	deleteGroupCountsStale  // DeleteGroup counts the index entries of expired records as deleted
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
		"createNotIndexed", "groupIgnoresUpdates", "groupIgnoresTouch", "groupMissesDeletes",
		"groupListsExpired", "deleteGroupIgnoresKeep", "deleteGroupSpillsOver",
		"deleteGroupTakesNoGroup", "deleteGroupMiscounts", "deleteGroupNotAtomic",
		"groupTTLAsGiven", "groupIndexShrinks", "deleteGroupCountsStale",
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

		createNotIndexed:        {"GroupList", "GroupFollowsWrites", "GroupExpiry", "DeleteGroup", "DeleteGroupRacingWrites"},
		groupIgnoresUpdates:     {"GroupFollowsWrites"},
		groupIgnoresTouch:       {"GroupFollowsWrites", "GroupExpiry"},
		groupMissesDeletes:      {"GroupFollowsWrites"},
		groupListsExpired:       {"GroupExpiry"},
		deleteGroupIgnoresKeep:  {"DeleteGroup"},
		deleteGroupSpillsOver:   {"DeleteGroup"},
		deleteGroupTakesNoGroup: {"DeleteGroup"},
		deleteGroupMiscounts:    {"DeleteGroup"},
		// Only a DeleteGroup racing with writers can tell: alone, reading
		// the members and then deleting them is indistinguishable from
		// one atomic step.
		deleteGroupNotAtomic:   {"DeleteGroupRacingWrites"},
		groupTTLAsGiven:        {"GroupExpiry"},
		groupIndexShrinks:      {"GroupExpiry"},
		deleteGroupCountsStale: {"DeleteGroup"},
	}
}

// refStore is a straightforward Store and backend.OwnerIndex on a fake
// clock: correct with noFault, broken in one way otherwise.
//
// Its owner index is kept apart from the records, as a networked store
// keeps one (a Redis hash per group, an index table): idx holds a copy of
// each grouped record, which every write of the key must refresh, and the
// index of a group expires as a whole at idxExpiry, which every write must
// push back to the latest expiry of its records.
type refStore struct {
	fault fault
	now   func() time.Time

	mu        sync.Mutex
	m         map[string]refEntry
	idx       map[string]map[string]refEntry // group -> key -> the record as the index has it
	idxExpiry map[string]time.Time           // group -> when its index expires
	version   uint64
}

type refEntry struct {
	data    []byte
	version uint64
	expiry  time.Time
	ttl     time.Duration // as the last write gave it
}

var _ backend.OwnerIndex = (*refStore)(nil)

func newRefStore(f fault, now func() time.Time) *refStore {
	return &refStore{
		fault:     f,
		now:       now,
		m:         make(map[string]refEntry),
		idx:       make(map[string]map[string]refEntry),
		idxExpiry: make(map[string]time.Time),
	}
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
	if !ok || !s.alive(e, now) {
		return refEntry{}, false
	}
	return e, true
}

func (s *refStore) alive(e refEntry, now time.Time) bool {
	return s.fault == ignoresExpiry || now.Before(e.expiry)
}

// put stores e under k and, for a grouped key, in the index: Create
// adds the key to the index, Update and Touch only refresh the entry of a
// key it holds (as the key of a live record always is). The index is left
// alone if the store has the fault skip, that of the calling write.
func (s *refStore) put(k string, e refEntry, adds bool, skip fault) {
	s.m[k] = e
	g := backend.KeyGroup(k)
	if g == "" || s.fault == skip {
		return
	}
	if _, ok := s.idx[g][k]; !ok && !adds {
		return
	}
	if s.idx[g] == nil {
		s.idx[g] = make(map[string]refEntry)
	}
	s.idx[g][k] = e
	if s.fault == groupIndexShrinks {
		s.idxExpiry[g] = e.expiry
	} else {
		s.idxExpiry[g] = later(s.idxExpiry[g], e.expiry)
	}
}

// drop deletes the record under k and its index entry.
func (s *refStore) drop(k string) {
	delete(s.m, k)
	if g := backend.KeyGroup(k); g != "" && s.fault != groupMissesDeletes {
		delete(s.idx[g], k)
	}
}

// members returns the index of group, which is empty once it expired.
func (s *refStore) members(group string, now time.Time) map[string]refEntry {
	if !now.Before(s.idxExpiry[group]) {
		delete(s.idx, group)
		delete(s.idxExpiry, group)
		return nil
	}
	return s.idx[group]
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
	s.put(k, refEntry{data: s.store(data, createKeepsSlice), version: v, expiry: now.Add(ttl), ttl: ttl}, true, createNotIndexed)
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
	e.ttl = ttl
	s.put(k, e, false, groupIgnoresUpdates)
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
	e.ttl = ttl
	s.put(k, e, false, groupIgnoresTouch)
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
	s.drop(k)
	return s.after(ctx, nil)
}

func (s *refStore) Group(ctx context.Context, group string) ([]backend.KeyedRecord, error) {
	if err := s.ctxErr(ctx); err != nil {
		return nil, err
	}
	if group == "" {
		return nil, errors.New("refStore: Group of the empty group")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	members := s.members(group, now)
	out := []backend.KeyedRecord{}
	for k, e := range members {
		if !s.alive(e, now) && s.fault != groupListsExpired {
			delete(members, k)
			continue
		}
		rec := backend.Record{Data: e.data, Version: e.version, TTL: e.expiry.Sub(now)}
		if s.fault == groupTTLAsGiven {
			rec.TTL = e.ttl
		}
		out = append(out, backend.KeyedRecord{Key: k, Record: rec})
	}
	return out, s.after(ctx, nil)
}

func (s *refStore) DeleteGroup(ctx context.Context, group, keep string) (int, error) {
	if err := s.ctxErr(ctx); err != nil {
		return 0, err
	}
	if group == "" {
		return 0, errors.New("refStore: DeleteGroup of the empty group")
	}
	keep = s.key(keep)
	if s.fault == deleteGroupNotAtomic {
		return s.deleteGroupPiecemeal(ctx, group, keep)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	members := s.members(group, now)
	n := 0
	for k := range members {
		if k == keep && s.fault != deleteGroupIgnoresKeep {
			if s.fault == deleteGroupMiscounts {
				n++
			}
			continue
		}
		if _, ok := s.live(k, now); ok || s.fault == deleteGroupCountsStale {
			n++
		}
		delete(s.m, k)
		delete(members, k)
	}
	// The spills delete without counting, so that only the records they
	// take, not the count, can give them away.
	for k := range s.m {
		g := backend.KeyGroup(k)
		if (s.fault == deleteGroupSpillsOver && g != "" && k != keep) ||
			(s.fault == deleteGroupTakesNoGroup && g == "") {
			s.drop(k)
		}
	}
	return n, s.after(ctx, nil)
}

// piecemealPause stands for the round trips between reading a group's
// members and deleting them, in a store that does not do both in one step.
const piecemealPause = 10 * time.Millisecond

// deleteGroupPiecemeal is DeleteGroup with the fault deleteGroupNotAtomic:
// it reads the members and their versions, releases the lock, and then
// deletes each member that still has the version it read, so as not to
// delete a record that changed in between. A record updated in that
// window, although created long before DeleteGroup was called, survives.
func (s *refStore) deleteGroupPiecemeal(ctx context.Context, group, keep string) (int, error) {
	s.mu.Lock()
	now := s.now()
	read := make(map[string]uint64)
	for k := range s.members(group, now) {
		if e, ok := s.live(k, now); ok && k != keep {
			read[k] = e.version
		}
	}
	s.mu.Unlock()
	time.Sleep(piecemealPause)
	n := 0
	for k, v := range read {
		s.mu.Lock()
		if e, ok := s.live(k, s.now()); ok && e.version == v {
			s.drop(k)
			n++
		}
		s.mu.Unlock()
	}
	return n, s.after(ctx, nil)
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

// runChildEnv names the variable that makes TestRunChild run: "index" for
// a store that implements backend.OwnerIndex, "plain" for one that does not.
const runChildEnv = "BACKENDTEST_RUN_CHILD"

// plainStore hides every method of its Store but the Store methods, so
// that it is a store without backend.OwnerIndex.
type plainStore struct{ backend.Store }

// TestRunChild runs the suite for TestRunGroupChecksOnlyWithIndex, in a
// child process.
func TestRunChild(t *testing.T) {
	mode := os.Getenv(runChildEnv)
	if mode == "" {
		t.Skip("run by TestRunGroupChecksOnlyWithIndex in a child process")
	}
	Run(t, func(*testing.T) Harness {
		h := refHarness(noFault)
		if mode == "plain" {
			h.Store = plainStore{h.Store}
		}
		return h
	})
}

// TestRunGroupChecksOnlyWithIndex checks that Run adds the checks of
// backend.OwnerIndex for a store that implements it, and leaves them out
// for one that does not: not skipped, absent. Only the verbose output of
// the test binary names every subtest, skipped or not, so the suite runs
// in a child process.
func TestRunGroupChecksOnlyWithIndex(t *testing.T) {
	if _, ok := any(plainStore{}).(backend.OwnerIndex); ok {
		t.Fatal("plainStore implements backend.OwnerIndex")
	}
	subtest := regexp.MustCompile(`(?m)^=== RUN\s+TestRunChild/(\S+)$`)
	for _, mode := range []string{"index", "plain"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRunChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), runChildEnv+"="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the suite failed in the child process: %v\n%s", err, out)
			}
			ran := make(map[string]bool)
			for _, m := range subtest.FindAllSubmatch(out, -1) {
				ran[string(m[1])] = true
			}
			for _, c := range checks() {
				if !ran[c.name] {
					t.Errorf("check %s is not a subtest", c.name)
				}
			}
			for _, c := range groupChecks() {
				if want := mode == "index"; ran[c.name] != want {
					t.Errorf("check %s is a subtest: %v, want %v", c.name, ran[c.name], want)
				}
			}
			if len(ran) == 0 {
				t.Errorf("no subtests in the output of the child process:\n%s", out)
			}
		})
	}
}

// TestChecksDetectFaults proves that the suite can fail: every check fails
// against at least one broken store, and every broken store fails the
// checks meant to catch its fault. The reference store implements
// backend.OwnerIndex, so the checks of the index are among them.
func TestChecksDetectFaults(t *testing.T) {
	all := append(checks(), groupChecks()...)
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
