package pgstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/typedsession/session/backend"
)

// testGroup returns a fresh group shaped like the manager's (22
// characters of base64url), and groupedKey a fresh key in it.
func testGroup() string { return randomName("g")[:13] + "_abcdefgh" }

func groupedKey(group string) string {
	return randomName("h")[:13] + strings.Repeat("x", 30) + backend.GroupSeparator + group
}

// groupKeys returns the keys Group lists for group, sorted.
func groupKeys(t *testing.T, s *Store, group string) []string {
	t.Helper()
	recs, err := s.Group(context.Background(), group)
	if err != nil {
		t.Fatalf("Group: %v", err)
	}
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key)
	}
	slices.Sort(keys)
	return keys
}

// groupRows returns the keys of every row of table whose owner_group is
// group, live or not, sorted.
func groupRows(t *testing.T, pool *pgxpool.Pool, table, group string) []string {
	t.Helper()
	ident, _ := tableIdent(table)
	rows, err := pool.Query(context.Background(), `SELECT key FROM `+ident.Sanitize()+` WHERE owner_group = $1 ORDER BY key`, group)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// expire moves the rows of keys into the database's past.
func expire(t *testing.T, pool *pgxpool.Pool, table string, keys ...string) {
	t.Helper()
	ident, _ := tableIdent(table)
	if _, err := pool.Exec(context.Background(), `UPDATE `+ident.Sanitize()+` SET expires_at = now() - interval '1 second' WHERE key = ANY($1)`, keys); err != nil {
		t.Fatal(err)
	}
}

func sorted(keys ...string) []string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return keys
}

// TestGroupColumn checks what Create writes in owner_group: the key's
// group, NULL for an ungrouped key, also when it replaces an expired row.
func TestGroupColumn(t *testing.T) {
	pool := testPool(t)
	s, table := newStore(t, pool)
	ctx := context.Background()
	g := testGroup()
	grouped, plain := groupedKey(g), "plain"
	for _, k := range []string{grouped, plain} {
		if _, err := s.Create(ctx, k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	ident, _ := tableIdent(table)
	column := func(key string) *string {
		t.Helper()
		var g *string
		if err := pool.QueryRow(ctx, `SELECT owner_group FROM `+ident.Sanitize()+` WHERE key = $1`, key).Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	if got := column(grouped); got == nil || *got != g {
		t.Errorf("owner_group of a grouped key = %v, want %q", got, g)
	}
	if got := column(plain); got != nil {
		t.Errorf("owner_group of an ungrouped key = %q, want NULL", *got)
	}
	// An expired row replaced by Create gets the key's group, whatever
	// the row held.
	expire(t, pool, table, grouped)
	if _, err := pool.Exec(ctx, `UPDATE `+ident.Sanitize()+` SET owner_group = NULL WHERE key = $1`, grouped); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, grouped, []byte("again"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := column(grouped); got == nil || *got != g {
		t.Errorf("owner_group after Create replaced an expired row = %v, want %q", got, g)
	}
	if got := groupKeys(t, s, g); !slices.Equal(got, []string{grouped}) {
		t.Errorf("Group after Create replaced an expired row: %q, want %q", got, grouped)
	}
}

// TestGroupSweep checks that the sweeper deletes a group's expired rows
// and keeps its live ones, that Group never lists expired rows, and that
// DeleteGroup deletes a group's expired rows but counts only the live
// ones.
func TestGroupSweep(t *testing.T) {
	pool := testPool(t)
	s, table := newStore(t, pool)
	ctx := context.Background()
	g, other := testGroup(), testGroup()
	var live, dead []string
	for i := range 5 {
		k := groupedKey(g)
		if _, err := s.Create(ctx, k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			live = append(live, k)
		} else {
			dead = append(dead, k)
		}
	}
	otherDead := groupedKey(other)
	if _, err := s.Create(ctx, otherDead, []byte("x"), time.Hour); err != nil {
		t.Fatal(err)
	}
	expire(t, pool, table, append(dead, otherDead)...)

	if got := groupKeys(t, s, g); !slices.Equal(got, sorted(live...)) {
		t.Errorf("Group with expired rows: %q, want the live ones %q", got, sorted(live...))
	}
	if got := groupRows(t, pool, table, g); len(got) != 5 {
		t.Fatalf("%d rows of the group before the sweep, want 5", len(got))
	}
	if n, err := s.Sweep(ctx); err != nil || n != 3 {
		t.Errorf("Sweep = (%d, %v), want (3, nil)", n, err)
	}
	if got := groupRows(t, pool, table, g); !slices.Equal(got, sorted(live...)) {
		t.Errorf("rows of the group after the sweep: %q, want the live ones %q", got, sorted(live...))
	}
	if got := groupRows(t, pool, table, other); len(got) != 0 {
		t.Errorf("rows of a group whose only row expired, after the sweep: %q, want none", got)
	}
	wantLive(t, s, live)
	if got := groupKeys(t, s, g); !slices.Equal(got, sorted(live...)) {
		t.Errorf("Group after the sweep: %q, want %q", got, sorted(live...))
	}

	// DeleteGroup counts the live rows only, and deletes the expired ones
	// as well.
	expire(t, pool, table, live[0])
	if n, err := s.DeleteGroup(ctx, g, ""); err != nil || n != 2 {
		t.Errorf("DeleteGroup of two live rows and an expired one = (%d, %v), want (2, nil)", n, err)
	}
	if got := groupRows(t, pool, table, g); len(got) != 0 {
		t.Errorf("rows of the group after DeleteGroup: %q, want none", got)
	}
}

// TestGroupRoundTrips checks that Group and DeleteGroup are one statement
// each, whatever the size of the group.
func TestGroupRoundTrips(t *testing.T) {
	cfg := poolConfig(t)
	log := &queryLog{}
	cfg.ConnConfig.Tracer = log
	pool := newPool(t, cfg)
	s, _ := newStore(t, pool)
	ctx := context.Background()
	g := testGroup()
	var keys []string
	for range 5 {
		k := groupedKey(g)
		keys = append(keys, k)
		if _, err := s.Create(ctx, k, []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	log.take()
	recs, err := s.Group(ctx, g)
	if err != nil || len(recs) != 5 {
		t.Fatalf("Group = (%d records, %v), want 5", len(recs), err)
	}
	if got := log.take(); !slices.Equal(got, []string{"SELECT"}) {
		t.Errorf("Group ran %q, want one SELECT", got)
	}
	n, err := s.DeleteGroup(ctx, g, keys[0])
	if err != nil || n != 4 {
		t.Fatalf("DeleteGroup = (%d, %v), want (4, nil)", n, err)
	}
	if got := log.take(); !slices.Equal(got, []string{"WITH"}) {
		t.Errorf("DeleteGroup ran %q, want one statement", got)
	}
}

// TestGroupArguments checks that an empty group and an ended context fail
// before anything is sent.
func TestGroupArguments(t *testing.T) {
	cfg := poolConfig(t)
	log := &queryLog{}
	cfg.ConnConfig.Tracer = log
	pool := newPool(t, cfg)
	s, _ := newStore(t, pool)
	log.take()
	ctx := context.Background()
	if _, err := s.Group(ctx, ""); err == nil {
		t.Error("Group of an empty group: no error")
	}
	if _, err := s.DeleteGroup(ctx, "", ""); err == nil {
		t.Error("DeleteGroup of an empty group: no error")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Group(cancelled, testGroup()); !errors.Is(err, context.Canceled) {
		t.Errorf("Group with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.DeleteGroup(cancelled, testGroup(), ""); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteGroup with a cancelled context: %v, want context.Canceled", err)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("refused calls ran %q", got)
	}
}

// TestDeleteGroupBlocked checks a DeleteGroup held up by a row another
// transaction has locked: it ends with the store's time limit
// (ErrUnavailable) or the caller's context (its error) and deletes
// nothing, while Group, which takes no lock, answers at once.
func TestDeleteGroupBlocked(t *testing.T) {
	cfg := poolConfig(t)
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 2 * time.Second}
	}
	pool := newPool(t, cfg)
	s, table := newStore(t, pool, WithTimeout(300*time.Millisecond))
	ctx := context.Background()
	g := testGroup()
	a, b := groupedKey(g), groupedKey(g)
	for _, k := range []string{a, b} {
		if _, err := s.Create(ctx, k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	unlock := lockRow(t, table, b)

	if got := groupKeys(t, s, g); !slices.Equal(got, sorted(a, b)) {
		t.Errorf("Group while a row is locked: %q, want %q", got, sorted(a, b))
	}
	if _, err := s.DeleteGroup(ctx, g, ""); !errors.Is(err, backend.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("DeleteGroup blocked past the store's time limit: %v, want ErrUnavailable and no context error", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := s.DeleteGroup(cctx, g, ""); !errors.Is(err, context.Canceled) || errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("DeleteGroup cancelled while blocked: %v, want context.Canceled and not ErrUnavailable", err)
	}
	unlock()
	// All or nothing: the row that was not locked is still there.
	if got := groupKeys(t, s, g); !slices.Equal(got, sorted(a, b)) {
		t.Errorf("Group after the ended DeleteGroups: %q, want %q", got, sorted(a, b))
	}
}

// oldTableSQL is the table of the release before the owner index, as its
// CreateTable made it.
func oldTableSQL(kind, table, index string) []string {
	return []string{
		`CREATE ` + kind + ` IF NOT EXISTS ` + table + ` (
	key        text COLLATE "C" PRIMARY KEY,
	version    bigint      NOT NULL,
	data       bytea       NOT NULL,
	expires_at timestamptz NOT NULL,
	writes     bigint[]    NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS ` + index + ` ON ` + table + ` (expires_at)`,
	}
}

// TestUpgradeTable runs this release on a table of the previous one (an
// UNLOGGED one with a schema-qualified, mixed-case name): the methods
// that need owner_group fail with a plain error naming the upgrade, the
// others serve the existing sessions, and CreateTable upgrades the table
// in place, keeping its rows and its kind. It then checks that CreateTable
// on an up-to-date table takes no lock on it.
func TestUpgradeTable(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	schema := randomName("pgstore_schema_")
	execSQL(t, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { execSQL(t, `DROP SCHEMA `+schema+` CASCADE`) })
	table := schema + ".Sessions"
	quoted := schema + `."Sessions"`
	for _, sql := range oldTableSQL("UNLOGGED TABLE", quoted, `"Sessions_expires_at_idx"`) {
		execSQL(t, sql)
	}
	execSQL(t, `INSERT INTO `+quoted+` (key, version, data, expires_at, writes)
VALUES ('old1', 11, 'one', now() + interval '1 hour', ARRAY[11::bigint]),
       ('old2', 22, 'two', now() + interval '1 hour', ARRAY[22::bigint])`)

	s, err := New(pool, WithTable(table), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := testGroup()
	for name, call := range map[string]func() error{
		"Create": func() error { _, err := s.Create(ctx, groupedKey(g), []byte("x"), time.Hour); return err },
		"Create (no group)": func() error {
			_, err := s.Create(ctx, "new", []byte("x"), time.Hour)
			return err
		},
		"Group":       func() error { _, err := s.Group(ctx, g); return err },
		"DeleteGroup": func() error { _, err := s.DeleteGroup(ctx, g, ""); return err },
	} {
		err := call()
		var pgErr *pgconn.PgError
		if err == nil || errors.Is(err, backend.ErrUnavailable) || !errors.As(err, &pgErr) || pgErr.Code != "42703" ||
			!strings.Contains(err.Error(), "CreateTable") || !strings.Contains(err.Error(), "ALTER TABLE") {
			t.Errorf("%s on a table of the previous release: %v, want a plain error wrapping SQLSTATE 42703 that names the upgrade", name, err)
		}
	}
	rec, err := s.Load(ctx, "old1")
	if err != nil || rec.Version != 11 || string(rec.Data) != "one" {
		t.Errorf("Load on a table of the previous release: (%q, %d, %v)", rec.Data, rec.Version, err)
	}
	if _, err := s.Update(ctx, "old1", 11, []byte("one'"), time.Hour); err != nil {
		t.Errorf("Update on a table of the previous release: %v", err)
	}
	if err := s.Touch(ctx, "old2", time.Hour); err != nil {
		t.Errorf("Touch on a table of the previous release: %v", err)
	}

	// The upgrade, run by several processes at once.
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() { errs <- CreateTable(ctx, pool, WithTable(table)) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatalf("CreateTable on a table of the previous release: %v", err)
		}
	}
	var persistence string
	var groupIndex string
	err = pool.QueryRow(ctx, `SELECT relpersistence::text,
	(SELECT indexdef FROM pg_indexes WHERE schemaname = $2 AND indexname = 'Sessions_group_idx')
FROM pg_class WHERE oid = $1::regclass`, quoted, schema).Scan(&persistence, &groupIndex)
	if err != nil {
		t.Fatalf("after the upgrade: %v", err)
	}
	if persistence != "u" {
		t.Errorf("after the upgrade: relpersistence = %q, want \"u\": the upgrade changed the table's kind", persistence)
	}
	if !strings.Contains(groupIndex, "(owner_group) WHERE (owner_group IS NOT NULL)") {
		t.Errorf("after the upgrade: index on owner_group %q", groupIndex)
	}
	if rec, err := s.Load(ctx, "old1"); err != nil || string(rec.Data) != "one'" {
		t.Errorf("Load of an old row after the upgrade: (%q, %v)", rec.Data, err)
	}
	if rec, err := s.Load(ctx, "old2"); err != nil || rec.Version != 22 || string(rec.Data) != "two" {
		t.Errorf("Load of an old row after the upgrade: (%q, %d, %v)", rec.Data, rec.Version, err)
	}
	a, b := groupedKey(g), groupedKey(g)
	for _, k := range []string{a, b} {
		if _, err := s.Create(ctx, k, []byte(k), time.Hour); err != nil {
			t.Fatalf("Create after the upgrade: %v", err)
		}
	}
	if got := groupKeys(t, s, g); !slices.Equal(got, sorted(a, b)) {
		t.Errorf("Group after the upgrade: %q, want %q", got, sorted(a, b))
	}
	if n, err := s.DeleteGroup(ctx, g, a); err != nil || n != 1 {
		t.Errorf("DeleteGroup after the upgrade = (%d, %v), want (1, nil)", n, err)
	}
	if rec, err := s.Load(ctx, "old2"); err != nil || string(rec.Data) != "two" {
		t.Errorf("an old row after DeleteGroup: (%q, %v)", rec.Data, err)
	}

	// On an up-to-date table CreateTable changes nothing and locks
	// nothing: it finishes while another transaction has written to the
	// table and not committed (ALTER TABLE or CREATE INDEX would wait).
	conn, err := pgx.Connect(ctx, postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `UPDATE `+quoted+` SET data = data WHERE key = 'old2'`); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := CreateTable(tctx, pool, WithTable(table)); err != nil {
		t.Errorf("CreateTable on an up-to-date table in use: %v", err)
	}
}
