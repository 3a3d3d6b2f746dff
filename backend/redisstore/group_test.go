package redisstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/redisstore"
)

// newGroup returns a fresh group shaped like the manager's: 22 characters
// of unpadded base64url.
func newGroup() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newMember returns a fresh hash of a session ID, as the manager's keys
// start with: 43 characters of unpadded base64url.
func newMember() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newGroupedKey returns a fresh key in group.
func newGroupedKey(group string) string { return newMember() + backend.GroupSeparator + group }

// memberOf returns the part of a grouped key before its group.
func memberOf(key string) string { return key[:strings.IndexByte(key, '.')] }

// clockedMiniredis returns a miniredis server whose clock is set by hand,
// with TIME and key expiry following it, and a function that moves it on.
func clockedMiniredis(t *testing.T, hooks ...redis.Hook) (*miniredis.Miniredis, *redis.Client, func(time.Duration)) {
	t.Helper()
	mr, c := newMiniredis(t, hooks...)
	now := time.UnixMilli(1_700_000_000_000)
	mr.SetTime(now)
	mr.ClockTTL(true)
	return mr, c, func(d time.Duration) {
		now = now.Add(d)
		mr.SetTime(now)
	}
}

// TestGroupLayout pins the grouped layout: the record, its history and
// the group's index share the group's hash tag after the prefix, the
// index scores each member with its record's expiry and outlives every
// record, and ungrouped keys keep their layout in the same store.
func TestGroupLayout(t *testing.T) {
	mr, c, _ := clockedMiniredis(t)
	t0 := time.UnixMilli(1_700_000_000_000)
	s := redisstore.New(c, redisstore.WithPrefix("sess:"))
	ctx := context.Background()
	g := "Z3JvdXAtb2YtYW4tb3duZX"
	h1, h2 := strings.Repeat("a", 43), strings.Repeat("b", 43)
	k1, k2 := h1+"."+g, h2+"."+g
	rec1, rec2 := "sess:{"+g+"}."+h1, "sess:{"+g+"}."+h2
	hist2 := "sess:{" + g + "}:w." + h2
	idx := "sess:{" + g + "}:i"

	wantKeys := func(when string, want ...string) {
		t.Helper()
		slices.Sort(want)
		if keys := mr.Keys(); !slices.Equal(keys, want) {
			t.Fatalf("keys %s = %q, want %q", when, keys, want)
		}
	}
	wantScore := func(member string, ttl time.Duration) {
		t.Helper()
		score, err := mr.ZScore(idx, member)
		if want := float64(t0.Add(ttl).UnixMilli()); err != nil || score != want {
			t.Errorf("index score of %s = %v (%v), want its record's expiry %v", member[:1], score, err, want)
		}
	}
	wantTTL := func(key string, want time.Duration) {
		t.Helper()
		if ttl := mr.TTL(key); ttl != want {
			t.Errorf("TTL of %s = %v, want %v", key, ttl, want)
		}
	}

	v1, err := s.Create(ctx, k1, []byte("one"), 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys("after Create", rec1, idx)
	if raw, _ := mr.Get(rec1); raw != string(binary.BigEndian.AppendUint64(nil, v1))+"one" {
		t.Errorf("stored value = %q, want version %d + %q (the plain layout's framing)", raw, v1, "one")
	}
	wantTTL(rec1, 90*time.Second)
	wantScore(h1, 90*time.Second)
	wantTTL(idx, 90*time.Second)

	// A shorter-lived record never shortens the index's life.
	v2, err := s.Create(ctx, k2, []byte("two"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wantScore(h2, 30*time.Second)
	wantTTL(idx, 90*time.Second)

	// Update keeps the replaced version in the history, which shares the
	// tag, and a longer TTL extends the index.
	if _, err := s.Update(ctx, k2, v2, []byte("two'"), 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	wantKeys("after Update", rec1, rec2, hist2, idx)
	if hist, _ := mr.Get(hist2); hist != string(binary.BigEndian.AppendUint64(nil, v2)) {
		t.Errorf("history = %q, want the replaced version", hist)
	}
	wantTTL(hist2, time.Minute)
	wantScore(h2, 2*time.Hour)
	wantTTL(idx, 2*time.Hour)

	// Touch moves the score, both ways, and leaves the index's TTL.
	if err := s.Touch(ctx, k1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	wantScore(h1, 10*time.Second)
	wantTTL(idx, 2*time.Hour)

	// An ungrouped key in the same store keeps the plain layout.
	vu, err := s.Create(ctx, "k", []byte("plain"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "k", vu, []byte("plain'"), time.Minute); err != nil {
		t.Fatal(err)
	}
	wantKeys("with an ungrouped key", rec1, rec2, hist2, idx, "sess:k", "{sess:k}:w")

	// Delete removes the record and its member.
	if err := s.Delete(ctx, k1); err != nil {
		t.Fatal(err)
	}
	wantKeys("after Delete", rec2, hist2, idx, "sess:k", "{sess:k}:w")
	if members, _ := mr.ZMembers(idx); !slices.Equal(members, []string{h2}) {
		t.Errorf("index after Delete = %q, want [%s]", members, h2)
	}

	// DeleteGroup removes the records, their histories and, with its last
	// member, the index; nothing else.
	if n, err := s.DeleteGroup(ctx, g, ""); err != nil || n != 1 {
		t.Fatalf("DeleteGroup = (%d, %v), want (1, nil)", n, err)
	}
	wantKeys("after DeleteGroup", "sess:k", "{sess:k}:w")
}

// TestGroupIndexBounded: a group whose sessions keep expiring does not
// grow its index. Every round creates many short-lived sessions in one
// group and lets them expire; the next write to the group (here a Touch
// of its one long-lived session) or the next listing removes their
// members, so the index holds only the live session. Records removed
// behind the store's back (as by eviction) leave at the next listing.
func TestGroupIndexBounded(t *testing.T) {
	_, c, advance := clockedMiniredis(t)
	testGroupIndexBounded(t, c, 6, 200, time.Second, advance, false)
}

// TestGroupIndexBoundedRedis is TestGroupIndexBounded on a real Redis, in
// real time.
func TestGroupIndexBoundedRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps for several seconds")
	}
	c := realRedis(t)
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	testGroupIndexBounded(t, c, 4, 100, 500*time.Millisecond, time.Sleep, true)
}

// testGroupIndexBounded runs rounds rounds of n sessions that live for
// ttl, through c, on a server whose clock advance moves on; realTime says
// that the server's clock also moves by itself.
func testGroupIndexBounded(t *testing.T, c redis.UniversalClient, rounds, n int, ttl time.Duration, advance func(time.Duration), realTime bool) {
	ctx := context.Background()
	s := redisstore.New(c)
	g := newGroup()
	idx := "s:{" + g + "}:i"
	card := func() int64 {
		t.Helper()
		n, err := c.ZCard(ctx, idx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	long := newGroupedKey(g)
	if _, err := s.Create(ctx, long, []byte("long"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		start := time.Now()
		for range n {
			if _, err := s.Create(ctx, newGroupedKey(g), []byte("short"), ttl); err != nil {
				t.Fatal(err)
			}
		}
		if elapsed := time.Since(start); realTime && elapsed > ttl/2 {
			t.Fatalf("round %d: %d creates took %v, too long for sessions that live %v", round, n, elapsed, ttl)
		}
		if got := card(); got != int64(n)+1 {
			t.Fatalf("round %d: the index holds %d members after %d creates, want %d", round, got, n, n+1)
		}
		advance(2 * ttl)
		how := "a write"
		if round%2 == 0 {
			if err := s.Touch(ctx, long, time.Hour); err != nil {
				t.Fatal(err)
			}
		} else {
			how = "a listing"
			if recs, err := s.Group(ctx, g); err != nil || len(recs) != 1 || recs[0].Key != long {
				t.Fatalf("round %d: Group = (%d records, %v), want the long-lived one", round, len(recs), err)
			}
		}
		if got := card(); got != 1 {
			t.Fatalf("round %d: after %d sessions expired and %s, the index holds %d members, want 1", round, n, how, got)
		}
	}

	// Records gone while their members' scores are still ahead.
	var keys []string
	for range 10 {
		k := newGroupedKey(g)
		if _, err := s.Create(ctx, k, []byte("evicted"), time.Hour); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, "s:{"+g+"}."+memberOf(k))
	}
	if err := c.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.Group(ctx, g); err != nil || len(recs) != 1 {
		t.Fatalf("Group after records vanished = (%d records, %v), want 1", len(recs), err)
	}
	if got := card(); got != 1 {
		t.Errorf("after a listing found 10 records gone, the index holds %d members, want 1", got)
	}

	// The index goes with its last member.
	if err := s.Delete(ctx, long); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, idx).Result(); err != nil || n != 0 {
		t.Errorf("index after its last record was deleted: EXISTS = (%d, %v), want 0", n, err)
	}
}

// TestGroupRoundTrips pins the round trips of grouped keys: one per
// write, as for ungrouped ones; two for Group and DeleteGroup, whose
// second script must be told the keys of the records the first listed.
func TestGroupRoundTrips(t *testing.T) {
	rt := &roundTrips{}
	_, c := newMiniredis(t, rt)
	s := redisstore.New(c)
	ctx := context.Background()
	g := newGroup()
	warm := newGroupedKey(g) // caches every script on the server
	v, _ := s.Create(ctx, warm, nil, time.Minute)
	v, _ = s.Update(ctx, warm, v, nil, time.Minute)
	_ = s.Touch(ctx, warm, time.Minute)
	_, _ = s.Create(ctx, newGroupedKey(g), nil, time.Minute)
	_, _ = s.Group(ctx, g)
	_, _ = s.DeleteGroup(ctx, g, warm)
	_ = s.Delete(ctx, warm)
	rt.take()

	k := newGroupedKey(g)
	for _, tc := range []struct {
		op   string
		call func() error
		want []string
	}{
		{"Create", func() error { var err error; v, err = s.Create(ctx, k, []byte("x"), time.Minute); return err }, []string{"evalsha"}},
		{"Load", func() error { _, err := s.Load(ctx, k); return err }, []string{"pipeline(get,pttl)"}},
		{"Update", func() error { var err error; v, err = s.Update(ctx, k, v, []byte("y"), time.Minute); return err }, []string{"evalsha"}},
		{"Touch", func() error { return s.Touch(ctx, k, time.Hour) }, []string{"evalsha"}},
		{"Group", func() error { _, err := s.Group(ctx, g); return err }, []string{"evalsha", "evalsha"}},
		{"Group of an empty group", func() error { _, err := s.Group(ctx, newGroup()); return err }, []string{"evalsha"}},
		{"Delete", func() error { return s.Delete(ctx, k) }, []string{"evalsha"}},
		{"DeleteGroup", func() error {
			if _, err := s.Create(ctx, k, []byte("x"), time.Minute); err != nil {
				return err
			}
			rt.take()
			_, err := s.DeleteGroup(ctx, g, "")
			return err
		}, []string{"evalsha", "evalsha"}},
	} {
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
		if n, names := rt.take(); n != len(tc.want) || !slices.Equal(names, tc.want) {
			t.Errorf("%s: %d round trips %q, want %q", tc.op, n, names, tc.want)
		}
	}
}

// TestGroupForeignValues: values under a group's record keys that the
// store did not write (a hash, a string too short to be a record) are not
// records: Group skips them, without failing the listing, and DeleteGroup
// deletes them with the group (counting them).
func TestGroupForeignValues(t *testing.T) {
	mr, c := newMiniredis(t)
	s := redisstore.New(c)
	ctx := context.Background()
	g := newGroup()
	good, hash, short := newGroupedKey(g), newGroupedKey(g), newGroupedKey(g)
	for _, k := range []string{good, hash, short} {
		if _, err := s.Create(ctx, k, []byte("x"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	mr.Del("s:{" + g + "}." + memberOf(hash))
	mr.HSet("s:{"+g+"}."+memberOf(hash), "f", "v")
	if err := mr.Set("s:{"+g+"}."+memberOf(short), "abc"); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Group(ctx, g)
	if err != nil {
		t.Fatalf("Group with foreign values: %v", err)
	}
	if len(recs) != 1 || recs[0].Key != good || string(recs[0].Data) != "x" {
		t.Errorf("Group with foreign values = %+v, want only %s", recs, good)
	}
	if n, err := s.DeleteGroup(ctx, g, ""); err != nil || n != 3 {
		t.Errorf("DeleteGroup = (%d, %v), want (3, nil)", n, err)
	}
	if keys := mr.Keys(); len(keys) != 0 {
		t.Errorf("keys after DeleteGroup = %q, want none", keys)
	}
}

// TestGroupPrefixes: the grouped layout works under prefixes that contain
// braces (TestCluster checks their slots), except one whose first "{" is
// followed at once by "}": Redis would hash such keys whole, so a group
// could not share a slot. Under it, and for a key whose group has a brace,
// keys keep the plain layout and the index methods fail.
func TestGroupPrefixes(t *testing.T) {
	mr, c := newMiniredis(t)
	ctx := context.Background()
	for _, prefix := range []string{"", "s:", "a{b:", "x}y:", "{t}:", "{"} {
		s := redisstore.New(c, redisstore.WithPrefix(prefix))
		g := newGroup()
		k := newGroupedKey(g)
		v, err := s.Create(ctx, k, []byte("x"), time.Minute)
		if err != nil {
			t.Fatalf("prefix %q: Create: %v", prefix, err)
		}
		if _, err := s.Update(ctx, k, v, []byte("y"), time.Minute); err != nil {
			t.Fatalf("prefix %q: Update: %v", prefix, err)
		}
		tag := prefix + "{" + g + "}"
		for _, key := range []string{tag + "." + memberOf(k), tag + ":w." + memberOf(k), tag + ":i"} {
			if !mr.Exists(key) {
				t.Errorf("prefix %q: no key %q among %q", prefix, key, mr.Keys())
			}
		}
		if recs, err := s.Group(ctx, g); err != nil || len(recs) != 1 || string(recs[0].Data) != "y" {
			t.Errorf("prefix %q: Group = (%+v, %v), want the record", prefix, recs, err)
		}
		if n, err := s.DeleteGroup(ctx, g, ""); err != nil || n != 1 {
			t.Errorf("prefix %q: DeleteGroup = (%d, %v), want (1, nil)", prefix, n, err)
		}
		if keys := mr.Keys(); len(keys) != 0 {
			t.Errorf("prefix %q: keys after DeleteGroup = %q, want none", prefix, keys)
		}
	}

	for _, tc := range []struct{ prefix, key, group string }{
		{"a{}:", newGroupedKey("grp"), "grp"},
		{"s:", newMember() + ".{x}", "{x}"},
	} {
		s := redisstore.New(c, redisstore.WithPrefix(tc.prefix))
		v, err := s.Create(ctx, tc.key, []byte("x"), time.Minute)
		if err != nil {
			t.Fatalf("prefix %q, key %q: Create: %v", tc.prefix, tc.key, err)
		}
		if _, err := s.Update(ctx, tc.key, v, []byte("y"), time.Minute); err != nil {
			t.Fatalf("prefix %q, key %q: Update: %v", tc.prefix, tc.key, err)
		}
		if rec, err := s.Load(ctx, tc.key); err != nil || string(rec.Data) != "y" {
			t.Errorf("prefix %q, key %q: Load = (%q, %v)", tc.prefix, tc.key, rec.Data, err)
		}
		// The plain layout; a key with a brace gets no history.
		if keys := mr.Keys(); !slices.Equal(keys, []string{tc.prefix + tc.key}) {
			t.Errorf("prefix %q, key %q: keys %q, want the plain layout", tc.prefix, tc.key, keys)
		}
		if _, err := s.Group(ctx, tc.group); err == nil {
			t.Errorf("prefix %q: Group(%q) succeeded, want an error", tc.prefix, tc.group)
		}
		if _, err := s.DeleteGroup(ctx, tc.group, ""); err == nil {
			t.Errorf("prefix %q: DeleteGroup(%q) succeeded, want an error", tc.prefix, tc.group)
		}
		if err := s.Delete(ctx, tc.key); err != nil {
			t.Fatal(err)
		}
	}

	s := redisstore.New(c)
	if _, err := s.Group(ctx, ""); err == nil {
		t.Error("Group of the empty group succeeded, want an error")
	}
	if _, err := s.DeleteGroup(ctx, "", ""); err == nil {
		t.Error("DeleteGroup of the empty group succeeded, want an error")
	}
}

// TestGroupRESP2 lists and deletes a group over a RESP2 connection, where
// script replies decode differently from RESP3.
func TestGroupRESP2(t *testing.T) {
	c := realRedis(t)
	opt := *c.Options()
	opt.Protocol = 2
	c2 := redis.NewClient(&opt)
	t.Cleanup(func() { _ = c2.Close() })
	s := redisstore.New(c2, redisstore.WithPrefix(""))
	ctx := context.Background()
	g := newGroup()
	a, b := newGroupedKey(g), newGroupedKey(g)
	va, err := s.Create(ctx, a, []byte("a"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, b, nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Group(ctx, g)
	if err != nil || len(recs) != 2 {
		t.Fatalf("Group = (%+v, %v), want two records", recs, err)
	}
	for _, r := range recs {
		switch r.Key {
		case a:
			if string(r.Data) != "a" || r.Version != va || r.TTL <= 50*time.Second || r.TTL > time.Minute {
				t.Errorf("Group lists %s as (%q, %d, %v), want (a, %d, about 1m)", a, r.Data, r.Version, r.TTL, va)
			}
		case b:
			if len(r.Data) != 0 || r.TTL <= 59*time.Minute {
				t.Errorf("Group lists %s as (%q, %v), want (empty, about 1h)", b, r.Data, r.TTL)
			}
		default:
			t.Errorf("Group lists %q", r.Key)
		}
	}
	if n, err := s.DeleteGroup(ctx, g, b); err != nil || n != 1 {
		t.Errorf("DeleteGroup = (%d, %v), want (1, nil)", n, err)
	}
	if _, err := s.Load(ctx, b); err != nil {
		t.Errorf("the kept record: %v", err)
	}
	if _, err := s.Load(ctx, a); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("a deleted record: %v, want ErrNotFound", err)
	}
}

// TestRetriedGroupedWrites loses the replies of a grouped Create and
// Update through a proxy in front of the real Redis; go-redis sends them
// again. The repeated Create is recognised (not ErrExists) and indexed
// once; the repeated Update is recognised even though another writer
// updated the record in between.
func TestRetriedGroupedWrites(t *testing.T) {
	c, p, pc := proxiedClient(t)
	ctx := context.Background()
	a, b := redisstore.New(pc), redisstore.New(c)
	g := newGroup()

	// Cache the scripts, so that a's writes are EVALSHAs.
	warm := newGroupedKey(g)
	v, err := b.Create(ctx, warm, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, warm, v, nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, warm); err != nil {
		t.Fatal(err)
	}

	key := newGroupedKey(g)
	createSHA := []byte(redisstore.GroupCreateScriptSHA())
	p.arm(func(req []byte) bool { return bytes.Contains(req, createSHA) }, func() {})
	v, err = a.Create(ctx, key, []byte("one"), time.Minute)
	if p.drops() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", p.drops())
	}
	if err != nil {
		t.Fatalf("Create whose reply was lost: %v, want success", err)
	}
	if rec, err := b.Load(ctx, key); err != nil || rec.Version != v {
		t.Fatalf("Load after the retried Create: (%d, %v), want version %d", rec.Version, err, v)
	}
	if n, err := c.ZCard(ctx, "s:{"+g+"}:i").Result(); err != nil || n != 1 {
		t.Errorf("index after the retried Create: ZCARD = (%d, %v), want 1", n, err)
	}

	updateSHA := []byte(redisstore.GroupUpdateScriptSHA())
	between := make(chan uint64, 1) // the version of the write in between
	p.arm(func(req []byte) bool { return bytes.Contains(req, updateSHA) }, func() {
		defer close(between)
		rec, err := b.Load(ctx, key)
		if err != nil {
			t.Error(err)
			return
		}
		vb, err := b.Update(ctx, key, rec.Version, []byte("b"), time.Minute)
		if err != nil {
			t.Errorf("Update in between: %v", err)
		}
		between <- vb
	})
	va, err := a.Update(ctx, key, v, []byte("a"), time.Minute)
	if p.drops() != 2 {
		t.Fatalf("the proxy lost %d replies, want 2", p.drops())
	}
	if err != nil || va == 0 {
		t.Fatalf("Update whose reply was lost, retried after another write: (%d, %v), want success", va, err)
	}
	vb := <-between
	if rec, err := b.Load(ctx, key); err != nil || rec.Version != vb || string(rec.Data) != "b" {
		t.Errorf("Load = (%q, %d, %v), want the later write (b, %d)", rec.Data, rec.Version, err, vb)
	}
	if recs, err := b.Group(ctx, g); err != nil || len(recs) != 1 || recs[0].Version != vb {
		t.Errorf("Group = (%+v, %v), want the one record at version %d", recs, err, vb)
	}
}
