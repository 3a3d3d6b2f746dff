package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/internal/testserver"
)

// TestCluster runs the conformance suite, and a test of keys spread over
// every slot range, on a real three-node Redis Cluster started on
// loopback ports for the test (redis-server and redis-cli must be
// installed). miniredis cannot catch a command that spans hash slots; this
// test does. Run it alone with: go test -run Cluster ./backend/redisstore/
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster and sleeps for several seconds")
	}
	c, nodes := testserver.StartCluster(t, 3)

	t.Run("Conformance", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) backendtest.Harness {
			return backendtest.Harness{Store: redisstore.New(c), Advance: time.Sleep}
		})
	})

	t.Run("ManyKeys", func(t *testing.T) {
		testManyKeys(t, c, nodes)
	})

	t.Run("Groups", func(t *testing.T) {
		testGroupSlots(t, c, nodes)
	})
}

// testGroupSlots stores groups of records, with write histories, under
// prefixes with and without braces, and checks on the nodes that every
// key of a group (records, histories, index) is in one slot (CLUSTER
// KEYSLOT), that the groups are spread over the cluster unless the prefix
// holds a hash tag of its own, and that Group and DeleteGroup work there.
// A prefix whose first brace pair is empty cannot co-locate a group, and
// the index methods say so.
func testGroupSlots(t *testing.T, c *redis.ClusterClient, nodes []*testserver.Redis) {
	const groups, perGroup = 30, 3
	ctx := context.Background()
	for _, prefix := range []string{"g:", "", "a{b:", "x}y:", "{t}:"} {
		s := redisstore.New(c, redisstore.WithPrefix(prefix))
		keys := make(map[string][]string) // by group
		versions := make(map[string]uint64)
		for range groups {
			g := newGroup()
			for range perGroup {
				k := newGroupedKey(g)
				v, err := s.Create(ctx, k, []byte("x"), time.Minute)
				if err != nil {
					t.Fatalf("prefix %q: Create: %v", prefix, err)
				}
				if v, err = s.Update(ctx, k, v, []byte("y"), time.Minute); err != nil {
					t.Fatalf("prefix %q: Update: %v", prefix, err)
				}
				if err := s.Touch(ctx, k, time.Hour); err != nil {
					t.Fatalf("prefix %q: Touch: %v", prefix, err)
				}
				keys[g] = append(keys[g], k)
				versions[k] = v
			}
		}

		stored := groupKeysOnNodes(t, nodes, prefix, keys)
		slots := make(map[int64]bool)
		for g, ks := range stored {
			if len(ks) != 2*perGroup+1 {
				t.Errorf("prefix %q: group %s has keys %q, want %d records, their histories and the index", prefix, g, ks, perGroup)
			}
			var slot int64 = -1
			for _, k := range ks {
				ks, err := c.ClusterKeySlot(ctx, k).Result()
				if err != nil {
					t.Fatal(err)
				}
				if slot >= 0 && ks != slot {
					t.Errorf("prefix %q: group %s: key %q is in slot %d, another of its keys in %d", prefix, g, k, ks, slot)
				}
				slot = ks
			}
			slots[slot] = true
		}
		if len(stored) != groups {
			t.Errorf("prefix %q: %d of %d groups found on the nodes", prefix, len(stored), groups)
		}
		if own := strings.Contains(prefix, "{t}"); own != (len(slots) == 1) {
			t.Errorf("prefix %q: %d groups in %d slots", prefix, groups, len(slots))
		}

		for g, ks := range keys {
			recs, err := s.Group(ctx, g)
			if err != nil || len(recs) != perGroup {
				t.Fatalf("prefix %q: Group = (%d records, %v), want %d", prefix, len(recs), err, perGroup)
			}
			for _, r := range recs {
				if string(r.Data) != "y" || r.Version != versions[r.Key] || r.TTL <= time.Minute {
					t.Errorf("prefix %q: Group lists %s as (%q, %d, %v)", prefix, r.Key, r.Data, r.Version, r.TTL)
				}
			}
			if n, err := s.DeleteGroup(ctx, g, ks[0]); err != nil || n != perGroup-1 {
				t.Fatalf("prefix %q: DeleteGroup = (%d, %v), want (%d, nil)", prefix, n, err, perGroup-1)
			}
			if recs, err := s.Group(ctx, g); err != nil || len(recs) != 1 || recs[0].Key != ks[0] {
				t.Errorf("prefix %q: Group after DeleteGroup = (%+v, %v), want the kept record", prefix, recs, err)
			}
			// Left: the kept record, its history and the index.
			if n, err := s.DeleteGroup(ctx, g, ""); err != nil || n != 1 {
				t.Fatalf("prefix %q: DeleteGroup keeping none = (%d, %v), want (1, nil)", prefix, n, err)
			}
		}
		if left := groupKeysOnNodes(t, nodes, prefix, keys); len(left) != 0 {
			t.Errorf("prefix %q: keys left after DeleteGroup: %q", prefix, left)
		}
	}

	s := redisstore.New(c, redisstore.WithPrefix("a{}:"))
	if _, err := s.Group(ctx, newGroup()); err == nil {
		t.Error(`prefix "a{}:": Group succeeded, want an error`)
	}
}

// testManyKeys creates, reads, updates, touches and deletes enough keys to
// land on every node, and checks that every node held some.
func testManyKeys(t *testing.T, c *redis.ClusterClient, nodes []*testserver.Redis) {
	const n = 2000
	ctx := context.Background()
	s := redisstore.New(c, redisstore.WithPrefix("many:"))
	keys := make([]string, n)
	versions := make([]uint64, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	parallel(t, n, func(i int) error {
		v, err := s.Create(ctx, keys[i], []byte(keys[i]), time.Minute)
		versions[i] = v
		return err
	})

	// Every node holds a share of the keys.
	for _, node := range nodes {
		if size := countKeys(t, node.Addr(), "many:*"); size < n/10 {
			t.Errorf("node %s holds %d of %d keys; the keys are not spread over the cluster", node.Addr(), size, n)
		}
	}

	parallel(t, n, func(i int) error {
		rec, err := s.Load(ctx, keys[i])
		if err != nil {
			return err
		}
		if string(rec.Data) != keys[i] || rec.Version != versions[i] {
			return fmt.Errorf("Load %s: got (%q, %d), want (%q, %d)", keys[i], rec.Data, rec.Version, keys[i], versions[i])
		}
		if versions[i], err = s.Update(ctx, keys[i], versions[i], []byte("updated"), time.Minute); err != nil {
			return err
		}
		if err := s.Touch(ctx, keys[i], time.Hour); err != nil {
			return err
		}
		rec, err = s.Load(ctx, keys[i])
		if err != nil {
			return err
		}
		if string(rec.Data) != "updated" || rec.Version != versions[i] || rec.TTL <= time.Minute {
			return fmt.Errorf("Load %s after Update and Touch: got (%q, %d, %v)", keys[i], rec.Data, rec.Version, rec.TTL)
		}
		return s.Delete(ctx, keys[i])
	})

	for _, node := range nodes {
		if size := countKeys(t, node.Addr(), "many:*"); size != 0 {
			t.Errorf("node %s: %d keys left after deleting them all", node.Addr(), size)
		}
	}
}

// countKeys returns the number of keys matching pattern on one node.
func countKeys(t *testing.T, addr, pattern string) int {
	t.Helper()
	nc := redis.NewClient(&redis.Options{Addr: addr})
	defer nc.Close()
	keys, err := nc.Keys(context.Background(), pattern).Result()
	if err != nil {
		t.Fatalf("KEYS on %s: %v", addr, err)
	}
	return len(keys)
}

// parallel runs fn(0) ... fn(n-1) on 16 goroutines and reports errors.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// groupKeysOnNodes returns the keys of the groups of keys under prefix
// that the nodes hold, by group.
func groupKeysOnNodes[V any](t *testing.T, nodes []*testserver.Redis, prefix string, groups map[string]V) map[string][]string {
	t.Helper()
	stored := make(map[string][]string)
	for _, node := range nodes {
		nc := redis.NewClient(&redis.Options{Addr: node.Addr()})
		all, err := nc.Keys(context.Background(), "*").Result()
		_ = nc.Close()
		if err != nil {
			t.Fatalf("KEYS on %s: %v", node.Addr(), err)
		}
		for _, k := range all {
			for g := range groups {
				if strings.HasPrefix(k, prefix+"{"+g+"}") {
					stored[g] = append(stored[g], k)
				}
			}
		}
	}
	return stored
}
