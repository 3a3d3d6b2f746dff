package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend"
)

// StoreCalls calls every method of s once, by name, on key (Update with
// version), for tests that check what each method returns in one
// situation. It is exported for the external test package. The methods
// are also called on key in a group (Load grouped, ...), and, if s
// implements backend.OwnerIndex, Group and DeleteGroup on that group.
func StoreCalls(s backend.Store, key string, version uint64) map[string]func(context.Context) error {
	const group = "grp"
	calls := make(map[string]func(context.Context) error)
	for suffix, key := range map[string]string{"": key, " grouped": key + backend.GroupSeparator + group} {
		calls["Load"+suffix] = func(ctx context.Context) error { _, err := s.Load(ctx, key); return err }
		calls["Create"+suffix] = func(ctx context.Context) error { _, err := s.Create(ctx, key, nil, time.Minute); return err }
		calls["Update"+suffix] = func(ctx context.Context) error { _, err := s.Update(ctx, key, version, nil, time.Minute); return err }
		calls["Touch"+suffix] = func(ctx context.Context) error { return s.Touch(ctx, key, time.Minute) }
		calls["Delete"+suffix] = func(ctx context.Context) error { return s.Delete(ctx, key) }
	}
	if ix, ok := s.(backend.OwnerIndex); ok {
		calls["Group"] = func(ctx context.Context) error { _, err := ix.Group(ctx, group); return err }
		calls["DeleteGroup"] = func(ctx context.Context) error { _, err := ix.DeleteGroup(ctx, group, ""); return err }
	}
	return calls
}

// GroupCreateScriptSHA and GroupUpdateScriptSHA are the SHA-1s of the
// scripts of Create and Update of a grouped key, by which a test's proxy
// recognises them on the wire (EVALSHA).
func GroupCreateScriptSHA() string { return redis.NewScript(groupCreateSrc).Hash() }

// GroupUpdateScriptSHA: see GroupCreateScriptSHA.
func GroupUpdateScriptSHA() string { return redis.NewScript(groupUpdateSrc).Hash() }

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
