package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend"
)

// TestUpdateScriptRetry runs the update script twice with the same
// arguments, as go-redis does when it retries a command whose reply was
// lost: the second run must report success, not a conflict that would
// make the manager replay the change a second time.
func TestUpdateScriptRetry(t *testing.T) {
	s, c, v2, args := updateFixture(t)
	ctx := context.Background()
	for attempt := 1; attempt <= 2; attempt++ {
		res, err := s.update.Run(ctx, c, []string{"s:k"}, args[:8], args[8:], 60000, 60000).Int64()
		if err != nil || res != 1 {
			t.Fatalf("attempt %d: got (%d, %v), want (1, nil)", attempt, res, err)
		}
	}
	rec, err := s.Load(ctx, "k")
	if err != nil || rec.Version != v2 || string(rec.Data) != "two" {
		t.Fatalf("Load: got (%q, %d, %v), want (two, %d, nil)", rec.Data, rec.Version, err, v2)
	}

	// Another writer's version is still a conflict.
	v3 := newVersion(v2)
	binary.BigEndian.PutUint64(args[8:], v3)
	res, err := s.update.Run(ctx, c, []string{"s:k"}, args[:8], args[8:], 60000, 60000).Int64()
	if err != nil || res != -1 {
		t.Fatalf("stale version: got (%d, %v), want (-1, nil)", res, err)
	}
}

// updateFixture starts a miniredis server with a record under "k" (prefix
// "s:") and returns a store on it, its client, and the arguments of the
// update script that replaces the record's version with v2 and its data
// with "two": the expected version (args[:8]), then the new value
// (args[8:]).
func updateFixture(t *testing.T) (s *Store, c *redis.Client, v2 uint64, args []byte) {
	t.Helper()
	mr := miniredis.RunT(t)
	c = redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	s = New(c)
	v1, err := s.Create(context.Background(), "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v2 = newVersion(v1)
	args = make([]byte, 16, 19)
	binary.BigEndian.PutUint64(args, v1)
	binary.BigEndian.PutUint64(args[8:], v2)
	return s, c, v2, append(args, "two"...)
}

// TestClassifyKeepsWrappedNilText: go-redis wraps redis.Nil in failures
// that are not nil replies (a Sentinel that does not know the master
// name); the cause must stay visible, and redis.Nil must not leak.
func TestClassifyKeepsWrappedNilText(t *testing.T) {
	cause := fmt.Errorf("redis: all sentinels specified in configuration are unreachable: %w", redis.Nil)
	err := classify(context.Background(), "load", cause)
	if errors.Is(err, redis.Nil) {
		t.Errorf("redis.Nil leaked: %v", err)
	}
	if !strings.Contains(err.Error(), "sentinels") {
		t.Errorf("the cause was dropped: %v", err)
	}
}

// TestUpdateScriptRetryAfterOtherWrites replays an applied update script
// after other writers changed the record: the replay is recognised as long
// as its version is among the record's last historyLen writes, and is a
// conflict after that (and never changes the record).
func TestUpdateScriptRetryAfterOtherWrites(t *testing.T) {
	if historyKeep != strconv.Itoa((historyLen-2)*versionLen) {
		t.Fatalf("historyKeep = %s, want %d", historyKeep, (historyLen-2)*versionLen)
	}
	for _, others := range []int{1, historyLen - 1, historyLen} {
		t.Run(fmt.Sprintf("%d other writes", others), func(t *testing.T) {
			s, c, v2, args := updateFixture(t)
			ctx := context.Background()
			retry := func() int64 {
				t.Helper()
				res, err := s.update.Run(ctx, c, s.keys("s:k"), args[:8], args[8:], 60000, 60000).Int64()
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			if res := retry(); res != 1 {
				t.Fatalf("first attempt: %d, want 1", res)
			}
			v := v2
			for i := range others {
				var err error
				if v, err = s.Update(ctx, "k", v, []byte(strconv.Itoa(i)), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			want := int64(1)
			if others >= historyLen {
				want = -1
			}
			if res := retry(); res != want {
				t.Errorf("repeat after %d other writes: %d, want %d", others, res, want)
			}
			rec, err := s.Load(ctx, "k")
			if err != nil || rec.Version != v || string(rec.Data) != strconv.Itoa(others-1) {
				t.Errorf("the repeat changed the record: got (%q, %d, %v), want (%d, %d)", rec.Data, rec.Version, err, others-1, v)
			}
		})
	}
}

// TestCreateOwnership checks the script that tells a Create whose SET NX
// was declined whether the record is its own: its version is the current
// one or in the history, even after other writes; a foreign one is not.
func TestCreateOwnership(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer c.Close()
	s := New(c)
	ctx := context.Background()
	v1, err := s.Create(ctx, "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	owns := func(v uint64) bool {
		t.Helper()
		ok, err := s.owns.Run(ctx, c, s.keys("s:k"), binary.BigEndian.AppendUint64(nil, v)).Bool()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !owns(v1) {
		t.Error("the current version is not recognised")
	}
	if owns(newVersion(v1)) {
		t.Error("a foreign version is recognised")
	}
	if _, err := s.Update(ctx, "k", v1, []byte("two"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if !owns(v1) {
		t.Error("the creation's version is not recognised after another write")
	}
}

// TestBraceKeys: a key with a brace gets no history key (no name would
// share its Cluster slot in every case), and still works: compare-and-set,
// a repeat of the current write, Delete.
func TestBraceKeys(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer c.Close()
	s := New(c)
	if got := s.keys("s:{a}"); len(got) != 1 || got[0] != "s:{a}" {
		t.Errorf("keys(s:{a}) = %q, want [s:{a}]", got)
	}
	if got := s.keys("s:a"); len(got) != 2 || got[1] != "{s:a}:w" {
		t.Errorf("keys(s:a) = %q, want [s:a {s:a}:w]", got)
	}
	ctx := context.Background()
	for _, key := range []string{"{a}", "a}b", "{"} {
		v, err := s.Create(ctx, key, []byte("one"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if v, err = s.Update(ctx, key, v, []byte("two"), time.Minute); err != nil {
			t.Fatalf("Update of %q: %v", key, err)
		}
		if _, err := s.Update(ctx, key, newVersion(v), []byte("three"), time.Minute); !errors.Is(err, backend.ErrConflict) {
			t.Errorf("stale Update of %q: %v, want ErrConflict", key, err)
		}
		if keys := mr.Keys(); len(keys) != 1 {
			t.Errorf("keys after writing %q: %q, want the record alone", key, keys)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGroupScriptsRetry runs the grouped create and update scripts twice
// with the same arguments, as go-redis does when a reply was lost: the
// repeats report success and change nothing, the index included, also
// when another write came between an update and its repeat.
func TestGroupScriptsRetry(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	s := New(c)
	ctx := context.Background()
	keys := s.groupKeys("m", "grp")
	v1 := newVersion(0)
	val := binary.BigEndian.AppendUint64(nil, v1)
	for attempt := 1; attempt <= 2; attempt++ {
		ok, err := s.groups.create.Run(ctx, c, keys, append(val, "one"...), 60000, "m").Bool()
		if err != nil || !ok {
			t.Fatalf("create attempt %d: got (%t, %v), want (true, nil)", attempt, ok, err)
		}
	}
	// Another create's version is a clash.
	if ok, err := s.groups.create.Run(ctx, c, keys, binary.BigEndian.AppendUint64(nil, newVersion(v1)), 60000, "m").Bool(); err != nil || ok {
		t.Fatalf("create over another's record: got (%t, %v), want (false, nil)", ok, err)
	}

	v2 := newVersion(v1)
	args := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, v1), v2)
	args = append(args, "two"...)
	update := func(what string, args []byte) {
		t.Helper()
		res, err := s.groups.update.Run(ctx, c, keys, args[:8], args[8:], 60000, 60000, "m").Int64()
		if err != nil || res != 1 {
			t.Fatalf("%s: got (%d, %v), want (1, nil)", what, res, err)
		}
	}
	update("update", args)
	// Another writer's update, then the repeat of the first.
	v3 := newVersion(v2)
	other := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, v2), v3)
	update("another writer's update", append(other, "three"...))
	update("the repeated update", args)
	rec, err := s.Load(ctx, "m.grp")
	if err != nil || rec.Version != v3 || string(rec.Data) != "three" {
		t.Fatalf("Load: got (%q, %d, %v), want (three, %d, nil)", rec.Data, rec.Version, err, v3)
	}
	if members, err := mr.ZMembers(keys[2]); err != nil || len(members) != 1 || members[0] != "m" {
		t.Errorf("index = (%q, %v), want [m]", members, err)
	}
	// The repeated create still recognises itself through the history.
	if ok, err := s.groups.create.Run(ctx, c, keys, append(val, "one"...), 60000, "m").Bool(); err != nil || !ok {
		t.Errorf("create repeated after two updates: got (%t, %v), want (true, nil)", ok, err)
	}
}
