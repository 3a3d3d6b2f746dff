package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/internal/envelope"
	"github.com/typedsession/session/internal/token"
)

// maxCreateAttempts bounds retries of Create on an ID collision, which
// with 256-bit IDs means a broken random source or store.
const maxCreateAttempts = 3

// commit writes the session's changes, at most once per request. It runs
// before the response header is written. When it succeeds it adds the
// session's headers (Vary, Set-Cookie, Cache-Control) to h; when it fails
// it leaves h alone, and the caller writes the error response (see
// failedHeaders).
//
// The store calls use a context detached from the request's cancellation:
// once the handler has done its work, a client hanging up must not leave
// the session half-committed.
func (s *Session[T]) commit(h http.Header) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.committed || s.detached {
		return nil
	}
	s.committed = true
	if s.sessionState == nil || !s.loaded {
		return nil // the handler never touched the session
	}
	ctx := context.WithoutCancel(s.req.Context())
	if s.intent == write && !s.has && len(s.flashes) == 0 {
		// Nothing left to store: the last flashes of a session of
		// flashes only were shown. A client-side session just ends
		// (its cookie is cleared); a stored one is written like any
		// change, and ended only if nothing came meanwhile (see
		// emptied), so a concurrent login or flash is never lost.
		switch {
		case s.found != foundLive:
			s.intent = keep
		case s.m.sealer != nil:
			s.intent = destroy
		}
	}
	if s.m.sealer != nil {
		return s.commitSealed(ctx, h)
	}
	var err error
	switch s.intent {
	case keep:
		switch {
		case s.found != foundLive:
		case s.regroup():
			err = s.moveToGroup(ctx)
		default:
			s.touchIfDue(ctx)
		}
	case write:
		if s.found == foundLive {
			// Only the data as written (or replayed on the fresh
			// record) decides: after a failed write, a reload that
			// found a tombstone has emptied the data, and that is no
			// change of owner.
			if s.regroup() {
				err = errRegroup
			} else {
				err = s.write(ctx)
			}
			if errors.Is(err, errRegroup) {
				// The owner changed: a new ID in the owner's index.
				s.intent = renew
				err = s.renew(ctx)
			} else if err == nil && !s.has && len(s.flashes) == 0 {
				// The last flashes of a session of flashes only were
				// shown, and nothing came meanwhile: end the emptied
				// record if it is still the version just written.
				if s.emptied(ctx) {
					s.intent = destroy // clears the cookie
				}
			}
		} else {
			err = s.create(ctx)
		}
	case renew:
		err = s.renew(ctx)
	case destroy:
		err = s.destroy(ctx)
	}
	if err != nil {
		return err
	}
	s.idHeaders(h)
	return nil
}

// idHeaders adds, after a successful commit, the headers that carry the
// session's ID: Vary for the carriers read (the response depends on the
// session, so shared caches must not serve it to other visitors), then a
// new or renewed ID, the same ID again when SetPersist changed the
// cookie's lifetime, or the instruction to forget the ID.
func (s *Session[T]) idHeaders(h http.Header) {
	s.m.vary(h)
	switch {
	case s.token != "":
		s.sendID(h, s.token)
	case s.resend && s.raw != "" && !s.viaHeader && s.found == foundLive:
		s.sendID(h, s.raw)
	case s.intent == destroy,
		s.hadCookie && s.found == foundNothing:
		// A logout, or an ID naming no session at all (malformed,
		// forged, expired): the client can stop sending it. A retired,
		// corrupt or unreadable session's ID is left alone.
		s.dropID(h)
	}
}

// failedHeaders adds to h, after a failed commit, the session headers the
// error response must still carry: the cookie of a renewal that may have
// retired the old ID (see renew).
func (s *Session[T]) failedHeaders(h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stray != "" {
		s.m.vary(h)
		s.sendID(h, s.stray)
	}
}

// payload returns the data encoded with the manager's codec, or nothing
// for a session of flashes only.
func (s *Session[T]) payload() ([]byte, error) {
	if !s.has {
		return nil, nil
	}
	if s.encMine {
		return s.enc, nil
	}
	b, err := s.m.encode(&s.value)
	if err != nil {
		return nil, fmt.Errorf("session: commit: %w", err)
	}
	s.enc, s.encCodec, s.encMine = b, s.m.codec, true
	return b, nil
}

// envelope is the record of the session's data p, created at created and
// ending at dead, with its flashes and the extensions this build keeps.
func (s *Session[T]) envelope(created, dead time.Time, p []byte) envelope.Envelope {
	e := envelope.Envelope{Created: created, Deadline: dead, Ext: s.ext, Flashes: encodeFlashes(s.flashes), Persist: s.persistExt(), Payload: p}
	if s.m.index != nil {
		e.Written = s.m.now() // listed by Manager.Sessions
	}
	return e
}

// record frames a stored record.
func (s *Session[T]) record(e envelope.Envelope) ([]byte, error) {
	e.Codec = s.m.codecName
	n := e.Size()
	if n > s.m.maxRecord {
		return nil, fmt.Errorf("session: commit: the record takes %d bytes, above MaxRecordSize (%d): %w",
			n, s.m.maxRecord, backend.ErrTooLarge)
	}
	b, err := envelope.Append(make([]byte, 0, n), e)
	if err != nil {
		return nil, fmt.Errorf("session: commit: %w", err)
	}
	return b, nil
}

// ttlFor is the store time to live for a record with absolute deadline
// dead: the idle timeout, cut short by the deadline.
func (s *Session[T]) ttlFor(now, dead time.Time) time.Duration {
	return max(min(s.m.idle, dead.Sub(now)), time.Millisecond)
}

// create stores the data under a new ID, as a session whose lifetime
// starts now.
func (s *Session[T]) create(ctx context.Context) error {
	p, err := s.payload()
	if err != nil {
		return err
	}
	now := s.m.now()
	dead := now.Add(s.m.lifetime)
	rec, err := s.record(s.envelope(now, dead, p))
	if err != nil {
		return err
	}
	tok, key, v, err := s.createRecord(ctx, s.group(), rec, s.ttlFor(now, dead))
	if err != nil {
		return err
	}
	s.key, s.version, s.found = key, v, foundLive
	s.created, s.dead, s.token = now, dead, tok
	s.m.event(ctx, slog.LevelInfo, EventCreated, key)
	return nil
}

// createRecord stores rec under a fresh ID in group, retrying on a
// collision.
func (s *Session[T]) createRecord(ctx context.Context, group string, rec []byte, ttl time.Duration) (tok, key string, version uint64, err error) {
	for range maxCreateAttempts {
		tok, err = token.NewIn(group)
		if err != nil {
			return "", "", 0, fmt.Errorf("session: new ID: %w", err)
		}
		key = token.Key(tok)
		version, err = s.m.store.Create(ctx, key, rec, ttl)
		if err == nil {
			return tok, key, version, nil
		}
		if !errors.Is(err, backend.ErrExists) {
			return "", "", 0, fmt.Errorf("session: create: %w", err)
		}
	}
	return "", "", 0, fmt.Errorf("session: create: %d ID collisions in a row: %w", maxCreateAttempts, err)
}

// write stores the changed data under the session's ID with
// compare-and-set. On a version conflict it reloads the record, replays
// this request's changes on the fresh data and tries again, a bounded
// number of times. Commits of one key within this process are serialised,
// so they conflict only with writers elsewhere.
func (s *Session[T]) write(ctx context.Context) error {
	k := s.m.locks.lock(s.key)
	defer s.m.locks.unlock(s.key, k)
	p, err := s.payload()
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		now := s.m.now()
		if !now.Before(s.dead) {
			return fmt.Errorf("session: commit: session reached its lifetime: %w: %w", ErrGone, backend.ErrNotFound)
		}
		rec, err := s.record(s.envelope(s.created, s.dead, p))
		if err != nil {
			return err
		}
		v, err := s.m.store.Update(ctx, s.key, s.version, rec, s.ttlFor(now, s.dead))
		if err == nil {
			s.version = v
			return nil
		}
		if err := s.conflict(ctx, err, attempt); err != nil {
			return err
		}
		if p, err = s.reload(ctx); err != nil {
			return err
		}
		if s.regroup() {
			return errRegroup
		}
	}
}

// conflict turns an error of a compare-and-set on s.key into the error
// the commit returns, or nil if it was a version conflict worth another
// attempt, after a backoff when another process keeps winning.
func (s *Session[T]) conflict(ctx context.Context, err error, attempt int) error {
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return fmt.Errorf("session: commit: %w: %w", ErrGone, err)
	case !errors.Is(err, backend.ErrConflict):
		return fmt.Errorf("session: commit: %w", err)
	case attempt >= s.m.maxRetries:
		return fmt.Errorf("session: commit: gave up after %d conflicting writes: %w", attempt+1, err)
	case attempt > 0:
		if err := sleep(ctx, rand.N(time.Duration(1<<min(attempt, 6))*time.Millisecond)); err != nil {
			return fmt.Errorf("session: commit: %w", err)
		}
	}
	s.m.event(ctx, slog.LevelInfo, EventConflictRetried, s.key, slog.Int("attempt", attempt+1))
	return nil
}

// reload fetches the current record under s.key after a conflict, replays
// this request's changes on it and returns the data to write.
func (s *Session[T]) reload(ctx context.Context) ([]byte, error) {
	rec, err := s.m.store.Load(ctx, s.key)
	switch {
	case errors.Is(err, backend.ErrNotFound), errors.Is(err, backend.ErrCorrupt):
		return nil, fmt.Errorf("session: commit: %w: %w", ErrGone, err)
	case err != nil:
		return nil, fmt.Errorf("session: commit: reload: %w", err)
	}
	switch f, err := s.adopt(ctx, rec, s.m.now()); {
	case err != nil:
		return nil, fmt.Errorf("session: commit: %w", err)
	case f != foundLive:
		return nil, fmt.Errorf("session: commit: the session was ended or renewed meanwhile: %w: %w",
			ErrGone, backend.ErrNotFound)
	}
	if err := s.replay(); err != nil {
		return nil, fmt.Errorf("session: commit: replaying changes: %w", err)
	}
	return s.payload()
}

// replay runs the recorded changes, in order, on the freshly loaded data.
func (s *Session[T]) replay() error {
	for _, o := range s.ops {
		switch {
		case o.flash != nil:
			s.addFlash(*o.flash)
			continue
		case o.shown != nil:
			s.removeShown(o.shown)
			continue
		case o.persist != 0:
			s.persist = o.persist
			continue
		}
		if o.set != nil {
			var fresh T
			if err := s.m.codec.Unmarshal(o.set, &fresh); err != nil {
				return fmt.Errorf("session: decode: %w", err)
			}
			s.value, s.has = fresh, true
			continue
		}
		s.busy.Store(true)
		err := o.fn(&s.value)
		s.busy.Store(false)
		if err != nil {
			return err
		}
		s.has = true
	}
	s.encMine = false // the data changed: payload encodes it
	return nil
}

// renew moves the session to a new ID:
//
//  1. It stores the data under a new ID. If that fails, nothing changed.
//  2. It replaces the old record with a tombstone naming the new one, with
//     compare-and-set. On a conflict it reloads the old record, replays
//     this request's changes on it, rewrites the new record and tries
//     again, so changes other requests committed meanwhile are carried
//     over.
//
// The renewal succeeds when the tombstone is written: the old ID is
// retired and the new one holds the data. If step 2 fails, the new record
// is deleted and the old session is left as it was. A failure that leaves
// it unknown whether the tombstone was written is resolved by reading it
// back; if even that fails, the commit fails but the response still
// carries the new cookie (stray), because the old ID may be retired: the
// visitor keeps a working session either way, and the old ID never shows
// this request's data, since that only ever went under the new ID.
func (s *Session[T]) renew(ctx context.Context) error {
	oldKey := s.key
	k := s.m.locks.lock(oldKey)
	defer s.m.locks.unlock(oldKey, k)

	now := s.m.now()
	if !now.Before(s.dead) {
		return fmt.Errorf("session: commit: session reached its lifetime: %w: %w", ErrGone, backend.ErrNotFound)
	}
	p, err := s.payload()
	if err != nil {
		return err
	}
	dead := now.Add(s.m.lifetime)
	ttl := s.ttlFor(now, dead)
	rec, err := s.record(s.envelope(now, dead, p))
	if err != nil {
		return err
	}
	tok, key, v, err := s.createRecord(ctx, s.group(), rec, ttl)
	if err != nil {
		return err
	}
	tomb, err := s.record(envelope.Envelope{Created: now, Deadline: now, Retired: true, Successor: []byte(key)})
	if err != nil {
		s.abandon(ctx, key)
		return err
	}
	for attempt := 0; ; attempt++ {
		known, err := s.retire(ctx, oldKey, key, tomb)
		if err == nil {
			break
		}
		if !known {
			s.dead, s.stray = dead, tok
			s.m.log.ErrorContext(ctx, "session renew: cannot tell whether the old ID was retired; sending the new one",
				slog.String("key", logKey(oldKey)), slog.Any("error", err))
			return fmt.Errorf("session: commit: retiring the old ID: %w", err)
		}
		// Carry the changes committed under the old ID over to the new
		// record, then try again.
		if err = s.conflict(ctx, err, attempt); err == nil {
			if p, err = s.reload(ctx); err == nil {
				rec, err = s.record(s.envelope(now, dead, p))
			}
			if err == nil {
				v, err = s.m.store.Update(ctx, key, v, rec, ttl)
				switch {
				case errors.Is(err, backend.ErrNotFound):
					// The new record was revoked (RevokeOwner) meanwhile.
					err = fmt.Errorf("session: commit: the new record was ended meanwhile: %w: %w", ErrGone, err)
				case err != nil:
					err = fmt.Errorf("session: commit: %w", err)
				}
			}
		}
		if err != nil {
			s.abandon(ctx, key)
			return err
		}
	}
	s.key, s.version, s.found = key, v, foundLive
	s.created, s.dead, s.token = now, dead, tok
	s.m.event(ctx, slog.LevelInfo, EventRenewed, key, slog.String("previous", logKey(oldKey)))
	return nil
}

// retire replaces the record under oldKey with tomb if its version is
// still s.version. known is false when the store failed in a way that
// leaves it unknown whether it did, and reading the record back failed
// too.
func (s *Session[T]) retire(ctx context.Context, oldKey, newKey string, tomb []byte) (known bool, err error) {
	_, err = s.m.store.Update(ctx, oldKey, s.version, tomb, s.m.idle)
	if err == nil || errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrConflict) {
		return true, err
	}
	rec, lerr := s.m.store.Load(ctx, oldKey)
	switch {
	case errors.Is(lerr, backend.ErrNotFound), errors.Is(lerr, backend.ErrCorrupt):
		return true, err
	case lerr != nil:
		return false, err
	}
	if e, perr := envelope.Parse(rec.Data); perr == nil && e.Retired && string(e.Successor) == newKey {
		return true, nil
	}
	return true, err
}

// abandon deletes the record of a renewal that did not happen. Nobody
// holds its ID, so a failure only costs store space until it expires.
func (s *Session[T]) abandon(ctx context.Context, key string) {
	if err := s.m.store.Delete(ctx, key); err != nil {
		s.m.log.WarnContext(ctx, "session renew: deleting the unused new record failed; it expires by itself",
			slog.String("key", logKey(key)), slog.Any("error", err))
	}
}

// destroy ends the session (see end), and stores data set after Destroy
// under a new ID.
func (s *Session[T]) destroy(ctx context.Context) error {
	if s.key != "" {
		if err := s.end(ctx); err != nil {
			return fmt.Errorf("session: destroy: %w", err)
		}
		s.m.event(ctx, slog.LevelInfo, EventDestroyed, s.key)
	}
	if s.has || len(s.flashes) > 0 {
		return s.create(ctx)
	}
	return nil
}

// maxEndSteps bounds the store calls of end's loop: renewals followed and
// conflicts retried together.
const maxEndSteps = 16

// end deletes the session's record so that nothing of the session stays
// live, whatever concurrent requests do. A plain Delete is not enough: a
// RenewID of another request may be moving the session to a new ID, and
// would then leave it alive there while this logout answers 200. So a live
// record is first replaced, with compare-and-set, by a tombstone that names
// no successor (a renewal still moving it then fails), and a record that
// was already moved is followed to its successor, which is ended too.
func (s *Session[T]) end(ctx context.Context) error {
	key, version, known := s.key, s.version, s.found == foundLive
	var tidy []string // tombstones to delete once the session is ended
	done := func() error {
		// The successor is ended: now the chain may go, last first.
		for i := len(tidy) - 1; i >= 0; i-- {
			if err := s.deleteKey(ctx, tidy[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for range maxEndSteps {
		if !known {
			rec, err := s.m.store.Load(ctx, key)
			switch {
			case errors.Is(err, backend.ErrNotFound):
				return done()
			case errors.Is(err, backend.ErrCorrupt):
				tidy = append(tidy, key)
				return done()
			case err != nil:
				return err
			}
			if e, perr := envelope.Parse(rec.Data); perr == nil && e.Retired {
				tidy = append(tidy, key)
				if len(e.Successor) == 0 {
					return done() // ended by another logout
				}
				key = string(e.Successor)
				continue
			}
			version = rec.Version
		}
		now := s.m.now()
		tomb, err := s.record(envelope.Envelope{Created: now, Deadline: now, Retired: true})
		if err != nil {
			return err
		}
		_, err = s.m.store.Update(ctx, key, version, tomb, s.m.idle)
		switch {
		case err == nil:
			tidy = append(tidy, key)
			return done()
		case errors.Is(err, backend.ErrNotFound):
			return done()
		case errors.Is(err, backend.ErrConflict):
			known = false // changed or moved meanwhile: look again
		default:
			return err
		}
	}
	return fmt.Errorf("the session kept changing under %d attempts to end it: %w", maxEndSteps, backend.ErrConflict)
}

// emptied replaces the record just written, empty, by a tombstone with
// compare-and-set, and deletes it; a conflict means another request wrote
// meanwhile, and the record stays.
func (s *Session[T]) emptied(ctx context.Context) bool {
	now := s.m.now()
	tomb, err := s.record(envelope.Envelope{Created: now, Deadline: now, Retired: true})
	if err == nil {
		_, err = s.m.store.Update(ctx, s.key, s.version, tomb, s.m.idle)
	}
	if err == nil {
		err = s.deleteKey(ctx, s.key)
	}
	if err != nil && !errors.Is(err, backend.ErrConflict) && !errors.Is(err, backend.ErrNotFound) {
		s.m.log.WarnContext(ctx, "session: ending an emptied session failed; it expires by itself",
			slog.String("key", logKey(s.key)), slog.Any("error", err))
	}
	return err == nil
}

// deleteKey deletes the record under key; one already gone is fine.
func (s *Session[T]) deleteKey(ctx context.Context, key string) error {
	if err := s.m.store.Delete(ctx, key); err != nil && !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	return nil
}

// moveToGroup moves an unchanged session whose ID is not in its owner's
// group (a session stored before Config.Owner was set) to a new ID in it,
// so that the owner's sessions can be listed and revoked. A failure that
// leaves the old session as it was is logged and the response goes on
// with it; one that may have retired the old ID fails the commit, whose
// error response carries the new ID (see renew).
func (s *Session[T]) moveToGroup(ctx context.Context) error {
	err := s.renew(ctx)
	switch {
	case err == nil:
		s.intent = renew
		return nil
	case s.stray != "":
		return err
	}
	s.m.log.WarnContext(ctx, "session: moving a session into its owner's index failed; trying again on its next request",
		slog.String("key", logKey(s.key)), slog.Any("error", err))
	return nil
}

// touchIfDue extends an unchanged session's time to live when enough of
// its idle timeout has passed, without rewriting it. A failed touch costs
// at most some idle time, so it is logged rather than failing the
// response. The load's clock reading is close enough to decide, and saves
// reading the clock on the read-only path.
func (s *Session[T]) touchIfDue(ctx context.Context) {
	want, due := s.touchDue()
	if !due {
		return
	}
	err := s.m.store.Touch(ctx, s.key, want)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		s.m.log.WarnContext(ctx, "session touch failed",
			slog.String("key", logKey(s.key)), slog.Any("error", err))
	}
}

// touchDue returns the time to live a touch would give the loaded
// session, and whether enough of its idle timeout has passed to give it.
func (s *Session[T]) touchDue() (time.Duration, bool) {
	want := s.ttlFor(s.loadedAt, s.dead)
	return want, want-s.ttl >= s.m.touchAfter
}

// commitSealed commits a client-side session (see backend.Sealer). The
// record lives in the cookie, so every change, renewal and idle-timeout
// extension is a new cookie value, and a logout clears the cookie. There
// is no store to compare-and-set against: of two concurrent requests that
// change the session, the one whose response the browser gets last wins.
func (s *Session[T]) commitSealed(ctx context.Context, h http.Header) error {
	now := s.m.now()
	var err error
	switch s.intent {
	case keep:
		if s.found == foundLive {
			s.reissueIfDue(ctx, now)
		}
	case write:
		if s.found == foundLive {
			err = s.reseal(now)
		} else {
			err = s.sealNew(ctx, now, EventCreated)
		}
	case renew:
		if !now.Before(s.dead) {
			return fmt.Errorf("session: commit: session reached its lifetime: %w: %w", ErrGone, backend.ErrNotFound)
		}
		err = s.sealNew(ctx, now, EventRenewed)
	case destroy:
		if s.found == foundLive {
			s.m.event(ctx, slog.LevelInfo, EventDestroyed, "")
		}
		if s.has || len(s.flashes) > 0 {
			err = s.sealNew(ctx, now, EventCreated)
		}
	}
	if err != nil {
		return err
	}
	s.idHeaders(h)
	return nil
}

// reissueIfDue seals an unchanged client-side session again when it was
// opened with an old key or enough of its idle timeout has passed: the
// new cookie carries a later idle deadline and the current key. A failure
// costs at most some idle time, and the old cookie stays as it was, so it
// is logged rather than failing the response.
func (s *Session[T]) reissueIfDue(ctx context.Context, now time.Time) {
	if _, due := s.touchDue(); !due && !s.stale {
		return
	}
	if err := s.reseal(now); err != nil {
		s.m.log.WarnContext(ctx, "session cookie re-issue failed; the current cookie stays until its idle deadline",
			slog.Any("error", err))
	}
}

// reseal seals the session's data into a new cookie value, keeping its
// creation time and absolute deadline.
func (s *Session[T]) reseal(now time.Time) error {
	if !now.Before(s.dead) {
		return fmt.Errorf("session: commit: session reached its lifetime: %w: %w", ErrGone, backend.ErrNotFound)
	}
	return s.seal(s.created, s.dead, now)
}

// sealNew seals the session's data into a new cookie value, as a session
// whose lifetime starts now, and logs ev.
func (s *Session[T]) sealNew(ctx context.Context, now time.Time, ev string) error {
	if err := s.seal(now, now.Add(s.m.lifetime), now); err != nil {
		return err
	}
	s.m.event(ctx, slog.LevelInfo, ev, "")
	return nil
}

// seal frames the data and flashes with the given creation time and
// absolute deadline and an idle deadline counted from now, and seals it
// into the value to send. The value is sealed for the cookie's name, also
// when it travels in a header (Config.Transport).
func (s *Session[T]) seal(created, dead, now time.Time) error {
	p, err := s.payload()
	if err != nil {
		return err
	}
	e := s.envelope(created, dead, p)
	e.Idle = now.Add(s.ttlFor(now, dead))
	rec, err := s.record(e)
	if err != nil {
		return err
	}
	v, err := s.m.sealer.Seal(s.m.cookie.Name, rec)
	if err != nil {
		return fmt.Errorf("session: commit: %w", err)
	}
	s.found, s.created, s.dead, s.token = foundLive, created, dead, v
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
