package otelsession_test

import (
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/redisstore"
	otelsession "github.com/typedsession/session/otel"
)

// readmeSnippet holds the README's OpenTelemetry snippet verbatim, so that
// the build checks it compiles (internal/readmecheck checks the README
// still shows it).
func readmeSnippet(client *redis.Client) {
	type User struct{ Name string }

	store := otelsession.Store(redisstore.New(client))
	mgr, err := session.New[User](store, session.Config{
		Logger: slog.New(otelsession.Handler(slog.Default().Handler())),
	})
	_, _ = mgr, err
}

var _ = readmeSnippet
