package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// TestUpdateScriptRetry runs the update script twice with the same
// arguments, as go-redis does when it retries a command whose reply was
// lost: the second run must report success, not a conflict that would
// make the manager replay the change a second time.
func TestUpdateScriptRetry(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer c.Close()
	s := New(c)
	ctx := context.Background()
	v1, err := s.Create(ctx, "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v2 := newVersion(v1)
	args := make([]byte, 16, 19)
	binary.BigEndian.PutUint64(args, v1)
	binary.BigEndian.PutUint64(args[8:], v2)
	args = append(args, "two"...)
	for attempt := 1; attempt <= 2; attempt++ {
		res, err := s.update.Run(ctx, c, []string{"s:k"}, args[:8], args[8:], 60000).Int64()
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
	res, err := s.update.Run(ctx, c, []string{"s:k"}, args[:8], args[8:], 60000).Int64()
	if err != nil || res != -1 {
		t.Fatalf("stale version: got (%d, %v), want (-1, nil)", res, err)
	}
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
