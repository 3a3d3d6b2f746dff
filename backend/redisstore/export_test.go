package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend"
)

// StoreCalls calls every method of s once, by name, on key (Update with
// version), for tests that check what each method returns in one
// situation. It is exported for the external test package.
func StoreCalls(s backend.Store, key string, version uint64) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"Load":   func(ctx context.Context) error { _, err := s.Load(ctx, key); return err },
		"Create": func(ctx context.Context) error { _, err := s.Create(ctx, key, nil, time.Minute); return err },
		"Update": func(ctx context.Context) error { _, err := s.Update(ctx, key, version, nil, time.Minute); return err },
		"Touch":  func(ctx context.Context) error { return s.Touch(ctx, key, time.Minute) },
		"Delete": func(ctx context.Context) error { return s.Delete(ctx, key) },
	}
}

// UpdateScriptSHA is the SHA-1 of the update script, by which a test's
// proxy recognises an Update on the wire (EVALSHA).
func UpdateScriptSHA() string { return redis.NewScript(updateSrc).Hash() }

// LoadByScript is Load through the load script, as for a cluster client
// that reads from replicas.
func LoadByScript(s *Store, ctx context.Context, key string) (backend.Record, error) {
	if err := check(ctx, opLoad, key); err != nil {
		return backend.Record{}, err
	}
	return s.loadByScript(ctx, key)
}

// LoadsByScript reports whether s's Load uses the load script.
func LoadsByScript(s *Store) bool { return s.loadScript }
