package pgstore

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/typedsession/session/backend/backendtest"
)

// TestConformanceSimpleProtocol runs the suite over pgx's simple protocol,
// which poolers in transaction mode (PgBouncer before 1.21) need: no
// prepared statements and no server-side parameters, so the statements
// must type every parameter themselves.
func TestConformanceSimpleProtocol(t *testing.T) {
	t.Parallel()
	cfg := poolConfig(t)
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	pool := newPool(t, cfg)
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		s, _ := newStore(t, pool)
		return backendtest.Harness{Store: s, Advance: time.Sleep}
	})
}
