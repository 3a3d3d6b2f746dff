package backendtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/typedsession/session/backend"
)

// groupChecks returns the checks of backend.OwnerIndex, which Run adds
// for a store that implements it.
func groupChecks() []check {
	return []check{
		{"GroupList", checkGroupList},
		{"GroupFollowsWrites", checkGroupFollowsWrites},
		{"GroupExpiry", checkGroupExpiry},
		{"DeleteGroup", checkDeleteGroup},
		{"DeleteGroupRacingWrites", checkDeleteGroupRacingWrites},
	}
}

// newGroup returns a fresh random group, shaped like the manager's: 22
// characters of unpadded base64url.
func newGroup() string { return newKey()[:22] }

// newGroupedKey returns a fresh key in group.
func newGroupedKey(group string) string { return newKey() + backend.GroupSeparator + group }

// index returns h's store as a backend.OwnerIndex.
func index(t tb, h Harness) backend.OwnerIndex {
	ix, ok := h.Store.(backend.OwnerIndex)
	if !ok {
		t.Fatalf("the store does not implement backend.OwnerIndex")
	}
	return ix
}

// listGroup returns the records of group by key.
func listGroup(t tb, h Harness, group, when string) map[string]backend.Record {
	recs, err := index(t, h).Group(context.Background(), group)
	if err != nil {
		t.Fatalf("Group %s: %v", when, err)
	}
	out := make(map[string]backend.Record, len(recs))
	for _, r := range recs {
		if _, dup := out[r.Key]; dup {
			t.Errorf("Group %s lists key %q twice", when, r.Key)
		}
		out[r.Key] = r.Record
	}
	return out
}

// wantGroup reports any difference between the keys Group lists for group
// and want.
func wantGroup(t tb, h Harness, group string, want []string, when string) map[string]backend.Record {
	got := listGroup(t, h, group, when)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("Group %s lists %d keys %q, want %d keys %q", when, len(keys), keys, len(want), want)
	}
	return got
}

func checkGroupList(t tb, h Harness) {
	g, other := newGroup(), newGroup()
	a, b, c := newGroupedKey(g), newGroupedKey(g), newGroupedKey(g)
	va := mustCreate(t, h, a, []byte("a"), long)
	mustCreate(t, h, b, []byte("b"), long)
	mustCreate(t, h, c, nil, long)
	o := newGroupedKey(other)
	mustCreate(t, h, o, []byte("other"), long)
	mustCreate(t, h, newKey(), []byte("ungrouped"), long)

	got := wantGroup(t, h, g, []string{a, b, c}, "of a group of three")
	if r, ok := got[a]; ok {
		if string(r.Data) != "a" || r.Version != va {
			t.Errorf("Group lists %q as (%s, version %d), want (a, version %d)", a, abbrev(r.Data), r.Version, va)
		}
		wantTTL(t, r, time.Minute, long, "of a record listed by Group")
	}
	wantGroup(t, h, other, []string{o}, "of another group")
	wantGroup(t, h, newGroup(), nil, "of a group never used")
	// A grouped key is an ordinary key for the Store methods.
	wantRecord(t, h, b, []byte("b"), got[b].Version, "of a grouped key")
}

func checkGroupFollowsWrites(t tb, h Harness) {
	g := newGroup()
	a, b, c := newGroupedKey(g), newGroupedKey(g), newGroupedKey(g)
	va := mustCreate(t, h, a, []byte("a"), long)
	mustCreate(t, h, b, []byte("b"), time.Minute)
	mustCreate(t, h, c, []byte("c"), long)

	va = mustUpdate(t, h, a, va, []byte("a2"), long)
	if err := h.Store.Touch(context.Background(), b, long); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	mustDelete(t, h, c)
	got := wantGroup(t, h, g, []string{a, b}, "after Update, Touch and Delete")
	if r := got[a]; string(r.Data) != "a2" || r.Version != va {
		t.Errorf("Group lists the updated %q as (%s, version %d), want (a2, version %d)", a, abbrev(r.Data), r.Version, va)
	}
	if r, ok := got[b]; ok {
		wantTTL(t, r, 2*time.Minute, long, "of a touched record listed by Group")
	}

	// A key deleted and created again is listed once.
	mustDelete(t, h, b)
	mustCreate(t, h, b, []byte("b2"), long)
	wantGroup(t, h, g, []string{a, b}, "after deleting and creating a key again")
}

func checkGroupExpiry(t tb, h Harness) {
	g := newGroup()
	short, touched, kept := newGroupedKey(g), newGroupedKey(g), newGroupedKey(g)
	mustCreate(t, h, kept, []byte("kept"), long)
	mustCreate(t, h, touched, []byte("touched"), time.Second)
	if err := h.Store.Touch(context.Background(), touched, long); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	// The last write has the shortest TTL: the index must outlive it, as
	// long as the group's longest-lived record.
	mustCreate(t, h, short, []byte("short"), time.Second)
	h.Advance(1500 * time.Millisecond)
	got := wantGroup(t, h, g, []string{touched, kept}, "1.5s after creating a record with a 1s TTL")
	// Group reports what is left of a TTL, not what the last write gave.
	for _, k := range []string{touched, kept} {
		if r, ok := got[k]; ok {
			wantTTL(t, r, time.Minute, long-time.Second, "of a record listed by Group 1.5s after a write with a 1h TTL")
		}
	}

	// A group whose records all expired is empty, and a new record in it
	// is listed alone.
	g2 := newGroup()
	gone := newGroupedKey(g2)
	mustCreate(t, h, gone, []byte("gone"), time.Second)
	h.Advance(1500 * time.Millisecond)
	wantGroup(t, h, g2, nil, "after its only record expired")
	fresh := newGroupedKey(g2)
	mustCreate(t, h, fresh, []byte("fresh"), long)
	wantGroup(t, h, g2, []string{fresh}, "after a record expired and another was created")
}

func checkDeleteGroup(t tb, h Harness) {
	ctx := context.Background()
	ix := index(t, h)
	g, other := newGroup(), newGroup()
	// DeleteGroup counts live records only, not the index entries that a
	// store may still hold for records that expired or were deleted.
	mustCreate(t, h, newGroupedKey(g), []byte("expired"), time.Second)
	deleted := newGroupedKey(g)
	mustCreate(t, h, deleted, []byte("deleted"), long)
	mustDelete(t, h, deleted)
	h.Advance(1500 * time.Millisecond)

	a, b, c, keep := newGroupedKey(g), newGroupedKey(g), newGroupedKey(g), newGroupedKey(g)
	va := mustCreate(t, h, a, []byte("a"), long)
	mustCreate(t, h, b, []byte("b"), long)
	vc := mustCreate(t, h, c, []byte("c"), long)
	vk := mustCreate(t, h, keep, []byte("keep"), long)
	o := newGroupedKey(other)
	vo := mustCreate(t, h, o, []byte("other"), long)
	u := newKey()
	vu := mustCreate(t, h, u, []byte("ungrouped"), long)

	n, err := ix.DeleteGroup(ctx, g, keep)
	if err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if n != 3 {
		t.Errorf("DeleteGroup of a group of four live records (and one expired, one deleted) keeping one = %d, want 3", n)
	}
	for _, k := range []string{a, b, c} {
		wantMissing(t, h, k, "after DeleteGroup")
	}
	if v, err := h.Store.Update(ctx, a, va, []byte("revived"), long); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Update after DeleteGroup: got (version %d, err %v), want ErrNotFound", v, err)
	}
	if err := h.Store.Touch(ctx, c, long); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Touch after DeleteGroup: got %v, want ErrNotFound", err)
	}
	wantMissing(t, h, a, "after Update and Touch of records DeleteGroup deleted")
	_ = vc
	wantRecord(t, h, keep, []byte("keep"), vk, "of the record DeleteGroup kept")
	wantRecord(t, h, o, []byte("other"), vo, "of another group's record after DeleteGroup")
	wantRecord(t, h, u, []byte("ungrouped"), vu, "of an ungrouped record after DeleteGroup")
	wantGroup(t, h, g, []string{keep}, "after DeleteGroup kept one")

	// A record created afterwards lives.
	d := newGroupedKey(g)
	vd := mustCreate(t, h, d, []byte("after"), long)
	wantRecord(t, h, d, []byte("after"), vd, "of a record created after DeleteGroup")
	wantGroup(t, h, g, []string{keep, d}, "after a Create that followed DeleteGroup")

	if n, err := ix.DeleteGroup(ctx, g, ""); err != nil || n != 2 {
		t.Errorf("DeleteGroup keeping none = (%d, %v), want (2, nil)", n, err)
	}
	wantGroup(t, h, g, nil, "after DeleteGroup keeping none")
	if n, err := ix.DeleteGroup(ctx, newGroup(), ""); err != nil || n != 0 {
		t.Errorf("DeleteGroup of a group never used = (%d, %v), want (0, nil)", n, err)
	}
}

// checkDeleteGroupRacingWrites deletes a group while writers create and
// update records in it. Every record whose Create returned before
// DeleteGroup was called must be gone once it returns, whatever the
// writers do after.
func checkDeleteGroupRacingWrites(t tb, h Harness) {
	const (
		writers = 8
		rounds  = 3
	)
	ctx := context.Background()
	ix := index(t, h)
	for round := range rounds {
		g := newGroup()
		var (
			started  atomic.Bool // DeleteGroup is about to be called
			stop     atomic.Bool
			mu       sync.Mutex
			before   []string // created (Create returned) before DeleteGroup was called
			progress sync.WaitGroup
			wg       sync.WaitGroup
		)
		progress.Add(writers)
		for w := range writers {
			wg.Go(func() {
				first := true
				defer func() {
					if first {
						progress.Done() // failed before its first record: do not hold the others
					}
				}()
				for !stop.Load() {
					key := newGroupedKey(g)
					v, err := h.Store.Create(ctx, key, []byte("login"), long)
					if err != nil {
						t.Errorf("round %d writer %d: Create: %v", round, w, err)
						stop.Store(true)
						return
					}
					if !started.Load() {
						mu.Lock()
						before = append(before, key)
						mu.Unlock()
					}
					if first {
						progress.Done()
						first = false
					}
					for i := 0; i < 3 && !stop.Load(); i++ {
						nv, err := h.Store.Update(ctx, key, v, []byte(fmt.Sprint("write ", i)), long)
						if errors.Is(err, backend.ErrNotFound) {
							break // deleted by DeleteGroup
						}
						if err != nil {
							t.Errorf("round %d writer %d: Update: got %v, want success or ErrNotFound", round, w, err)
							return
						}
						v = nv
					}
				}
			})
		}
		progress.Wait() // every writer created at least one record
		started.Store(true)
		if _, err := ix.DeleteGroup(ctx, g, ""); err != nil {
			t.Fatalf("round %d: DeleteGroup: %v", round, err)
		}
		// Let the writers go on for a moment: nothing they do may bring
		// a deleted record back.
		time.Sleep(20 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		survivors := 0
		for _, k := range before {
			if _, err := h.Store.Load(ctx, k); !errors.Is(err, backend.ErrNotFound) {
				survivors++
			}
		}
		if survivors > 0 {
			t.Errorf("round %d: %d of %d records created before DeleteGroup survived it", round, survivors, len(before))
		}
		listed := listGroup(t, h, g, "after DeleteGroup raced with writers")
		for _, k := range before {
			if _, ok := listed[k]; ok {
				t.Errorf("round %d: Group lists %q, deleted by DeleteGroup", round, k)
			}
		}
	}
}
