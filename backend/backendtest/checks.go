package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/typedsession/session/backend"
)

// long is a time to live that no check outlives.
const long = time.Hour

// checks returns the conformance checks in the order Run runs them.
func checks() []check {
	return []check{
		{"LoadMissing", checkLoadMissing},
		{"CreateLoad", checkCreateLoad},
		{"CreateCopiesInput", checkCreateCopiesInput},
		{"UpdateCopiesInput", checkUpdateCopiesInput},
		{"CreateExisting", checkCreateExisting},
		{"UpdateCurrentVersion", checkUpdateCurrentVersion},
		{"UpdateStaleVersion", checkUpdateStaleVersion},
		{"UpdateMissing", checkUpdateMissing},
		{"UpdateAfterDelete", checkUpdateAfterDelete},
		{"Touch", checkTouch},
		{"TouchMissing", checkTouchMissing},
		{"Expiry", checkExpiry},
		{"TTLRefresh", checkTTLRefresh},
		{"Delete", checkDelete},
		{"VersionsNeverRepeat", checkVersionsNeverRepeat},
		{"EmptyData", checkEmptyData},
		{"LargeData", checkLargeData},
		{"BinaryData", checkBinaryData},
		{"Keys", checkKeys},
		{"CancelledContext", checkCancelledContext},
		{"ConcurrentCAS", checkConcurrentCAS},
		{"ConcurrentCreate", checkConcurrentCreate},
		{"ErrorsAreSentinels", checkErrorsAreSentinels},
	}
}

// Helpers. They report with Fatalf only when the check cannot go on.

func mustCreate(t tb, h Harness, key string, data []byte, ttl time.Duration) uint64 {
	t.Helper()
	v, err := h.Store.Create(context.Background(), key, data, ttl)
	if err != nil {
		t.Fatalf("Create: unexpected error: %v", err)
	}
	if v == 0 {
		t.Errorf("Create returned version 0; zero is never a valid version")
	}
	return v
}

func mustUpdate(t tb, h Harness, key string, version uint64, data []byte, ttl time.Duration) uint64 {
	t.Helper()
	v, err := h.Store.Update(context.Background(), key, version, data, ttl)
	if err != nil {
		t.Fatalf("Update with the current version: unexpected error: %v", err)
	}
	if v == 0 {
		t.Errorf("Update returned version 0; zero is never a valid version")
	}
	if v == version {
		t.Errorf("Update returned the version it was given (%d); it must change on every update", v)
	}
	return v
}

func mustDelete(t tb, h Harness, key string) {
	t.Helper()
	if err := h.Store.Delete(context.Background(), key); err != nil {
		t.Fatalf("Delete: unexpected error: %v", err)
	}
}

func mustLoad(t tb, h Harness, key, when string) backend.Record {
	t.Helper()
	rec, err := h.Store.Load(context.Background(), key)
	if err != nil {
		t.Fatalf("Load %s: unexpected error: %v", when, err)
	}
	return rec
}

// wantRecord loads key and reports any difference from data and version.
func wantRecord(t tb, h Harness, key string, data []byte, version uint64, when string) backend.Record {
	t.Helper()
	rec := mustLoad(t, h, key, when)
	if !bytes.Equal(rec.Data, data) {
		t.Errorf("Load %s: data = %s, want %s", when, abbrev(rec.Data), abbrev(data))
	}
	if rec.Version != version {
		t.Errorf("Load %s: version = %d, want %d", when, rec.Version, version)
	}
	return rec
}

// wantMissing loads key and reports anything but ErrNotFound.
func wantMissing(t tb, h Harness, key, when string) {
	t.Helper()
	rec, err := h.Store.Load(context.Background(), key)
	if !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load %s: got (data %s, version %d, err %v), want ErrNotFound",
			when, abbrev(rec.Data), rec.Version, err)
	}
}

// wantTTL reports a TTL outside (lo, hi].
func wantTTL(t tb, rec backend.Record, lo, hi time.Duration, when string) {
	t.Helper()
	if rec.TTL <= lo || rec.TTL > hi {
		t.Errorf("Load %s: TTL = %v, want more than %v and at most %v", when, rec.TTL, lo, hi)
	}
}

func abbrev(b []byte) string {
	if len(b) <= 32 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q... (%d bytes)", b[:32], len(b))
}

// The checks.

func checkLoadMissing(t tb, h Harness) {
	wantMissing(t, h, newKey(), "of a key never created")
}

func checkCreateLoad(t tb, h Harness) {
	key := newKey()
	data := []byte("hello, session")
	const ttl = time.Minute
	v := mustCreate(t, h, key, data, ttl)
	rec := wantRecord(t, h, key, data, v, "after Create")
	wantTTL(t, rec, 0, ttl, "after Create with a 1m TTL")
}

func checkCreateCopiesInput(t tb, h Harness) {
	key := newKey()
	data := []byte("original")
	v := mustCreate(t, h, key, data, long)
	for i := range data {
		data[i] = 'X'
	}
	wantRecord(t, h, key, []byte("original"), v, "after the caller reused the slice given to Create")
}

func checkUpdateCopiesInput(t tb, h Harness) {
	key := newKey()
	v := mustCreate(t, h, key, []byte("first"), long)
	data := []byte("second")
	v = mustUpdate(t, h, key, v, data, long)
	for i := range data {
		data[i] = 'X'
	}
	wantRecord(t, h, key, []byte("second"), v, "after the caller reused the slice given to Update")
}

func checkCreateExisting(t tb, h Harness) {
	key := newKey()
	v := mustCreate(t, h, key, []byte("first"), long)
	v2, err := h.Store.Create(context.Background(), key, []byte("second"), long)
	if !errors.Is(err, backend.ErrExists) {
		t.Errorf("Create on a live key: got (version %d, err %v), want ErrExists", v2, err)
	}
	wantRecord(t, h, key, []byte("first"), v, "after a refused Create")
}

func checkUpdateCurrentVersion(t tb, h Harness) {
	key := newKey()
	v1 := mustCreate(t, h, key, []byte("one"), time.Minute)
	v2 := mustUpdate(t, h, key, v1, []byte("two"), long)
	rec := wantRecord(t, h, key, []byte("two"), v2, "after Update")
	wantTTL(t, rec, time.Minute, long, "after Update from a 1m to a 1h TTL")

	v3 := mustUpdate(t, h, key, v2, []byte("three"), time.Minute)
	if v3 == v1 {
		t.Errorf("second Update returned version %d, the version Create returned", v3)
	}
	rec = wantRecord(t, h, key, []byte("three"), v3, "after a second Update")
	wantTTL(t, rec, 0, time.Minute, "after Update from a 1h to a 1m TTL (Update sets the TTL, it does not only extend it)")
}

func checkUpdateStaleVersion(t tb, h Harness) {
	key := newKey()
	v1 := mustCreate(t, h, key, []byte("one"), time.Minute)
	v2 := mustUpdate(t, h, key, v1, []byte("two"), time.Minute)

	v, err := h.Store.Update(context.Background(), key, v1, []byte("stale"), long)
	if !errors.Is(err, backend.ErrConflict) {
		t.Errorf("Update with a stale version: got (version %d, err %v), want ErrConflict", v, err)
	}
	v, err = h.Store.Update(context.Background(), key, 0, []byte("zero"), long)
	if !errors.Is(err, backend.ErrConflict) {
		t.Errorf("Update with version 0: got (version %d, err %v), want ErrConflict (0 is never a valid version, not a wildcard)", v, err)
	}
	rec := wantRecord(t, h, key, []byte("two"), v2, "after refused Updates")
	wantTTL(t, rec, 0, time.Minute, "after refused Updates with a 1h TTL (they must not touch the TTL)")
}

func checkUpdateMissing(t tb, h Harness) {
	key := newKey()
	v, err := h.Store.Update(context.Background(), key, 1, []byte("ghost"), long)
	if !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Update of a key never created: got (version %d, err %v), want ErrNotFound", v, err)
	}
	wantMissing(t, h, key, "after Update of a key never created (Update must never create)")
}

func checkUpdateAfterDelete(t tb, h Harness) {
	key := newKey()
	v := mustCreate(t, h, key, []byte("alive"), long)
	mustDelete(t, h, key)
	v2, err := h.Store.Update(context.Background(), key, v, []byte("ghost"), long)
	if !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Update after Delete: got (version %d, err %v), want ErrNotFound", v2, err)
	}
	wantMissing(t, h, key, "after Update of a deleted key (Update must never resurrect)")
}

func checkTouch(t tb, h Harness) {
	key := newKey()
	data := []byte("untouched")
	v := mustCreate(t, h, key, data, time.Minute)
	if err := h.Store.Touch(context.Background(), key, long); err != nil {
		t.Fatalf("Touch of a live key: unexpected error: %v", err)
	}
	rec := wantRecord(t, h, key, data, v, "after Touch (Touch must change neither data nor version)")
	wantTTL(t, rec, time.Minute, long, "after Touch from a 1m to a 1h TTL")

	if err := h.Store.Touch(context.Background(), key, time.Minute); err != nil {
		t.Fatalf("second Touch of a live key: unexpected error: %v", err)
	}
	rec = wantRecord(t, h, key, data, v, "after a second Touch")
	wantTTL(t, rec, 0, time.Minute, "after Touch from a 1h to a 1m TTL (Touch sets the TTL, it does not only extend it)")
}

func checkTouchMissing(t tb, h Harness) {
	never := newKey()
	if err := h.Store.Touch(context.Background(), never, long); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Touch of a key never created: got %v, want ErrNotFound", err)
	}
	wantMissing(t, h, never, "after Touch of a key never created (Touch must never create)")

	deleted := newKey()
	mustCreate(t, h, deleted, []byte("alive"), long)
	mustDelete(t, h, deleted)
	if err := h.Store.Touch(context.Background(), deleted, long); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Touch of a deleted key: got %v, want ErrNotFound", err)
	}
	wantMissing(t, h, deleted, "after Touch of a deleted key (Touch must never resurrect)")
}

func checkExpiry(t tb, h Harness) {
	const ttl = time.Second
	loadKey, updateKey, touchKey, createKey := newKey(), newKey(), newKey(), newKey()
	mustCreate(t, h, loadKey, []byte("load"), ttl)
	uv := mustCreate(t, h, updateKey, []byte("update"), ttl)
	mustCreate(t, h, touchKey, []byte("touch"), ttl)
	cv := mustCreate(t, h, createKey, []byte("create"), ttl)

	h.Advance(1500 * time.Millisecond)

	wantMissing(t, h, loadKey, "1.5s after Create with a 1s TTL")

	v, err := h.Store.Update(context.Background(), updateKey, uv, []byte("revived"), long)
	if !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Update of an expired record: got (version %d, err %v), want ErrNotFound", v, err)
	}
	wantMissing(t, h, updateKey, "after Update of an expired record (Update must never resurrect)")

	if err := h.Store.Touch(context.Background(), touchKey, long); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Touch of an expired record: got %v, want ErrNotFound", err)
	}
	wantMissing(t, h, touchKey, "after Touch of an expired record (Touch must never resurrect)")

	v, err = h.Store.Create(context.Background(), createKey, []byte("fresh"), long)
	if err != nil {
		t.Fatalf("Create over an expired record: got %v, want success", err)
	}
	if v == cv {
		t.Errorf("Create over an expired record returned the expired record's version %d", v)
	}
	rec := wantRecord(t, h, createKey, []byte("fresh"), v, "after Create over an expired record")
	wantTTL(t, rec, time.Minute, long, "after Create over an expired record with a 1h TTL")
}

func checkTTLRefresh(t tb, h Harness) {
	const ttl = 2 * time.Second
	touchKey, updateKey := newKey(), newKey()
	tv := mustCreate(t, h, touchKey, []byte("touch"), ttl)
	uv := mustCreate(t, h, updateKey, []byte("update"), ttl)

	h.Advance(1200 * time.Millisecond)
	if err := h.Store.Touch(context.Background(), touchKey, ttl); err != nil {
		t.Fatalf("Touch 1.2s into a 2s TTL: unexpected error: %v", err)
	}
	uv = mustUpdate(t, h, updateKey, uv, []byte("updated"), ttl)

	h.Advance(1200 * time.Millisecond)
	rec := wantRecord(t, h, touchKey, []byte("touch"), tv, "2.4s after Create, 1.2s after Touch with a 2s TTL")
	wantTTL(t, rec, 0, ttl, "1.2s after Touch with a 2s TTL")
	rec = wantRecord(t, h, updateKey, []byte("updated"), uv, "2.4s after Create, 1.2s after Update with a 2s TTL")
	wantTTL(t, rec, 0, ttl, "1.2s after Update with a 2s TTL")

	h.Advance(time.Second)
	wantMissing(t, h, touchKey, "2.2s after Touch with a 2s TTL")
	wantMissing(t, h, updateKey, "2.2s after Update with a 2s TTL")
}

func checkDelete(t tb, h Harness) {
	key := newKey()
	v := mustCreate(t, h, key, []byte("doomed"), long)
	mustDelete(t, h, key)
	wantMissing(t, h, key, "after Delete")

	if err := h.Store.Delete(context.Background(), key); err != nil {
		t.Errorf("Delete of a deleted key: got %v, want nil", err)
	}
	if err := h.Store.Delete(context.Background(), newKey()); err != nil {
		t.Errorf("Delete of a key never created: got %v, want nil", err)
	}

	v2, err := h.Store.Create(context.Background(), key, []byte("reborn"), long)
	if err != nil {
		t.Fatalf("Create after Delete: got %v, want success", err)
	}
	if v2 == v {
		t.Errorf("Create after Delete returned the deleted record's version %d", v2)
	}
	wantRecord(t, h, key, []byte("reborn"), v2, "after Delete and Create")
}

func checkVersionsNeverRepeat(t tb, h Harness) {
	key := newKey()
	seen := make(map[uint64]string)
	note := func(v uint64, what string) {
		t.Helper()
		if v == 0 {
			t.Errorf("%s returned version 0", what)
		}
		if first, ok := seen[v]; ok {
			t.Errorf("%s returned version %d, already returned by %s", what, v, first)
		}
		seen[v] = what
	}
	for round := 1; round <= 3; round++ {
		v := mustCreate(t, h, key, []byte("created"), long)
		note(v, fmt.Sprintf("Create #%d", round))
		for i := 1; i <= 2; i++ {
			v = mustUpdate(t, h, key, v, []byte("updated"), long)
			note(v, fmt.Sprintf("Update #%d after Create #%d", i, round))
		}
		if err := h.Store.Touch(context.Background(), key, long); err != nil {
			t.Fatalf("Touch: unexpected error: %v", err)
		}
		wantRecord(t, h, key, []byte("updated"), v, "after Touch")
		mustDelete(t, h, key)
	}
}

func checkEmptyData(t tb, h Harness) {
	key := newKey()
	v := mustCreate(t, h, key, []byte{}, long)
	wantRecord(t, h, key, nil, v, "after Create with empty data")

	v = mustUpdate(t, h, key, v, []byte("full"), long)
	wantRecord(t, h, key, []byte("full"), v, "after Update from empty to non-empty data")
	v = mustUpdate(t, h, key, v, nil, long)
	wantRecord(t, h, key, nil, v, "after Update with nil data")

	nilKey := newKey()
	v = mustCreate(t, h, nilKey, nil, long)
	wantRecord(t, h, nilKey, nil, v, "after Create with nil data")
}

func checkLargeData(t tb, h Harness) {
	const size = 64 << 10
	key := newKey()
	data := pattern(size, 1)
	v := mustCreate(t, h, key, data, long)
	rec := wantRecord(t, h, key, data, v, "after Create with 64 KiB of data")
	if len(rec.Data) != size {
		t.Errorf("Load after Create with 64 KiB: got %d bytes", len(rec.Data))
	}
	data = pattern(size, 7)
	v = mustUpdate(t, h, key, v, data, long)
	wantRecord(t, h, key, data, v, "after Update with another 64 KiB")
}

// pattern returns n bytes that are not all alike and differ with step.
func pattern(n int, step byte) []byte {
	b := make([]byte, n)
	var x byte
	for i := range b {
		x = x*31 + step + byte(i>>8)
		b[i] = x
	}
	return b
}

func checkBinaryData(t tb, h Harness) {
	key := newKey()
	data := make([]byte, 0, 3*256+8)
	for i := range 256 {
		data = append(data, byte(i))
	}
	for i := range 256 {
		data = append(data, byte(255-i))
	}
	data = append(data, "\x00\x00\r\n\xc3\x28\xff\xfe"...) // NULs, CRLF, invalid UTF-8, a BOM-ish tail
	v := mustCreate(t, h, key, data, long)
	wantRecord(t, h, key, data, v, "after Create with every byte value")

	rev := make([]byte, len(data))
	for i, c := range data {
		rev[len(data)-1-i] = c
	}
	v = mustUpdate(t, h, key, v, rev, long)
	wantRecord(t, h, key, rev, v, "after Update with every byte value")
}

func checkKeys(t tb, h Harness) {
	base := newKey()
	keys := []string{
		base,
		newKey(),
		swapCase(base),
		base + ":",
		base + ":a",
		base + ":a:b",
		"sess:" + base,
		base[:21] + ":" + base[21:],
	}
	if keys[2] == base {
		keys[2] = base + "A" // no letters to swap (vanishingly unlikely)
	}
	versions := make([]uint64, len(keys))
	for i, k := range keys {
		versions[i] = mustCreate(t, h, k, []byte(strconv.Itoa(i)), long)
	}
	for i, k := range keys {
		wantRecord(t, h, k, []byte(strconv.Itoa(i)), versions[i], fmt.Sprintf("of key #%d %q after creating similar keys", i, k))
	}

	// Changing or removing one key leaves the others alone.
	versions[0] = mustUpdate(t, h, keys[0], versions[0], []byte("changed"), long)
	mustDelete(t, h, keys[4])
	for i, k := range keys {
		switch i {
		case 0:
			wantRecord(t, h, k, []byte("changed"), versions[0], fmt.Sprintf("of key #%d %q after updating it", i, k))
		case 4:
			wantMissing(t, h, k, fmt.Sprintf("of key #%d %q after deleting it", i, k))
		default:
			wantRecord(t, h, k, []byte(strconv.Itoa(i)), versions[i], fmt.Sprintf("of key #%d %q after updating #0 and deleting #4", i, k))
		}
	}
}

func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

func checkCancelledContext(t tb, h Harness) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()

	key := newKey()
	data := []byte("keep me")
	v := mustCreate(t, h, key, data, time.Minute)

	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"past-deadline", expired, context.DeadlineExceeded},
	} {
		wantCtxErr := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, tc.want) {
				t.Errorf("%s with a %s context: got %v, want an error matching %v", op, tc.name, err, tc.want)
			}
		}

		_, err := h.Store.Load(tc.ctx, key)
		wantCtxErr("Load", err)

		fresh := newKey()
		_, err = h.Store.Create(tc.ctx, fresh, []byte("should not exist"), long)
		wantCtxErr("Create", err)
		wantMissing(t, h, fresh, fmt.Sprintf("after Create with a %s context", tc.name))

		_, err = h.Store.Update(tc.ctx, key, v, []byte("should not be stored"), long)
		wantCtxErr("Update", err)

		err = h.Store.Touch(tc.ctx, key, long)
		wantCtxErr("Touch", err)

		err = h.Store.Delete(tc.ctx, key)
		wantCtxErr("Delete", err)

		rec := wantRecord(t, h, key, data, v, fmt.Sprintf("after Update, Touch and Delete with a %s context", tc.name))
		wantTTL(t, rec, 0, time.Minute, fmt.Sprintf("after Touch and Update to 1h with a %s context", tc.name))
	}
}

func checkConcurrentCAS(t tb, h Harness) {
	const (
		workers     = 32
		increments  = 25
		maxAttempts = 10_000 // per increment; far more than fair contention needs
	)
	ctx := context.Background()
	key := newKey()
	mustCreate(t, h, key, []byte("0"), long)

	var (
		successes atomic.Int64
		start     = make(chan struct{})
		wg        sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			<-start
			for range increments {
				for attempt := 1; ; attempt++ {
					if attempt > maxAttempts {
						t.Errorf("worker %d: no increment succeeded in %d attempts", w, maxAttempts)
						return
					}
					rec, err := h.Store.Load(ctx, key)
					if err != nil {
						t.Errorf("worker %d: Load: %v", w, err)
						return
					}
					n, err := strconv.Atoi(string(rec.Data))
					if err != nil {
						t.Errorf("worker %d: stored counter %s: %v", w, abbrev(rec.Data), err)
						return
					}
					runtime.Gosched() // widen the window a lost update needs
					_, err = h.Store.Update(ctx, key, rec.Version, []byte(strconv.Itoa(n+1)), long)
					if err == nil {
						successes.Add(1)
						break
					}
					if !errors.Is(err, backend.ErrConflict) {
						t.Errorf("worker %d: Update: got %v, want success or ErrConflict", w, err)
						return
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()

	rec := mustLoad(t, h, key, "after the concurrent increments")
	const want = workers * increments
	if got := successes.Load(); got != want {
		t.Errorf("%d successful Updates, want %d", got, want)
	}
	if got := string(rec.Data); got != strconv.Itoa(want) {
		t.Errorf("counter = %s after %d successful compare-and-set increments, want %d (lost updates)", got, successes.Load(), want)
	}
}

func checkConcurrentCreate(t tb, h Harness) {
	const (
		workers = 16
		rounds  = 8
	)
	ctx := context.Background()
	for round := range rounds {
		key := newKey()
		var (
			start    = make(chan struct{})
			wg       sync.WaitGroup
			mu       sync.Mutex
			winners  []int
			versions = make([]uint64, workers)
		)
		for w := range workers {
			wg.Go(func() {
				<-start
				v, err := h.Store.Create(ctx, key, []byte(strconv.Itoa(w)), long)
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, w)
					versions[w] = v
					mu.Unlock()
				case !errors.Is(err, backend.ErrExists):
					t.Errorf("round %d, worker %d: Create: got %v, want success or ErrExists", round, w, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d of %d concurrent Creates of one key succeeded (workers %v), want exactly 1", round, len(winners), workers, winners)
		}
		w := winners[0]
		wantRecord(t, h, key, []byte(strconv.Itoa(w)), versions[w], fmt.Sprintf("after concurrent Creates (round %d)", round))
	}
}

func checkErrorsAreSentinels(t tb, h Harness) {
	ctx := context.Background()
	sentinels := []error{
		backend.ErrNotFound, backend.ErrExists, backend.ErrConflict,
		backend.ErrUnavailable, backend.ErrTooLarge,
	}
	only := func(op string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want an error matching %v", op, err, want)
			return
		}
		for _, s := range sentinels {
			if s != want && errors.Is(err, s) {
				t.Errorf("%s: error %q matches %v as well as %v", op, err, s, want)
			}
		}
	}

	key := newKey()
	_, err := h.Store.Load(ctx, key)
	only("Load of a missing key", err, backend.ErrNotFound)
	_, err = h.Store.Update(ctx, key, 1, []byte("x"), long)
	only("Update of a missing key", err, backend.ErrNotFound)
	err = h.Store.Touch(ctx, key, long)
	only("Touch of a missing key", err, backend.ErrNotFound)

	v := mustCreate(t, h, key, []byte("x"), long)
	_, err = h.Store.Create(ctx, key, []byte("y"), long)
	only("Create of a live key", err, backend.ErrExists)
	v = mustUpdate(t, h, key, v, []byte("y"), long)
	_, err = h.Store.Update(ctx, key, v+1, []byte("z"), long)
	only("Update with a wrong version", err, backend.ErrConflict)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = h.Store.Load(cancelled, key)
	for _, s := range []error{backend.ErrNotFound, backend.ErrExists, backend.ErrConflict} {
		if errors.Is(err, s) {
			t.Errorf("Load with a cancelled context: error %q matches %v; a cancelled request says nothing about the record", err, s)
		}
	}
}
