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
	"github.com/typedsession/session/internal/httpheader"
	"github.com/typedsession/session/internal/token"
)

// tombstoneTTL is how long a retired record's tombstone may outlive a
// failed delete.
const tombstoneTTL = time.Minute

// maxCreateAttempts bounds retries of Create on an ID collision, which
// with 256-bit IDs means a broken random source or store.
const maxCreateAttempts = 3

// commit writes the session's changes, at most once per request. It runs
// before the response header is written, so it may add Set-Cookie and
// cache headers to h.
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
	if !s.loaded {
		return nil // the handler never touched the session
	}
	ctx := context.WithoutCancel(s.req.Context())
	// The response depends on the session, so on the cookie: keep shared
	// caches from serving it to other visitors.
	httpheader.AddVary(h, "Cookie")

	if s.destroyed && s.key != "" {
		if err := s.m.store.Delete(ctx, s.key); err != nil {
			return fmt.Errorf("session: destroy: %w", err)
		}
	}
	switch {
	case !s.has:
		// Nothing to store: a destroyed session, or a cookie naming no
		// live session (malformed, forged, expired). Clear the cookie so
		// the browser stops sending it.
		if s.hadCookie {
			s.m.clearCookie(h)
		}
		return nil
	case !s.dirty && !s.renew && !s.destroyed:
		// Read, not changed: the data came from a live record. The load's
		// clock reading is close enough to decide on a touch and saves
		// reading the clock on the read-only path.
		s.touchIfDue(ctx, s.loadedAt)
		return nil
	case s.destroyed || !s.exists:
		return s.create(ctx, h, s.m.now())
	case s.renew:
		return s.renewID(ctx, h, s.m.now())
	default:
		return s.update(ctx, s.m.now())
	}
}

// payload encodes the current value, reusing Set's encoding when nothing
// changed after it.
func (s *Session[T]) payload() ([]byte, error) {
	if n := len(s.ops); n > 0 && s.ops[n-1].set != nil {
		return s.ops[n-1].set, nil
	}
	b, err := s.m.codec.Marshal(&s.value)
	if err != nil {
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	return b, nil
}

func (s *Session[T]) record(created, dead time.Time, payload []byte) ([]byte, error) {
	e := envelope.Envelope{Codec: s.m.codecName, Created: created, Deadline: dead, Payload: payload}
	buf := make([]byte, 0, envelope.Size(len(s.m.codecName), len(payload)))
	b, err := envelope.Append(buf, e)
	if err != nil {
		return nil, fmt.Errorf("session: envelope: %w", err)
	}
	return b, nil
}

// ttl is the store time to live for a record with absolute deadline dead:
// the idle timeout, cut short by the deadline.
func (s *Session[T]) ttlFor(now, dead time.Time) time.Duration {
	return max(min(s.m.idle, dead.Sub(now)), time.Millisecond)
}

// create stores the session under a new ID and sets the cookie.
func (s *Session[T]) create(ctx context.Context, h http.Header, now time.Time) error {
	tok, key, dead, err := s.storeNew(ctx, now)
	if err != nil {
		return err
	}
	s.adopt(key, now, dead)
	s.m.setCookie(h, tok, dead, now)
	return nil
}

// storeNew stores the current data under a fresh ID, as a session whose
// lifetime starts now, and returns the ID, its key and the deadline.
func (s *Session[T]) storeNew(ctx context.Context, now time.Time) (tok, key string, dead time.Time, err error) {
	dead = now.Add(s.m.lifetime)
	p, err := s.payload()
	if err != nil {
		return "", "", dead, err
	}
	rec, err := s.record(now, dead, p)
	if err != nil {
		return "", "", dead, err
	}
	tok, key, err = s.createRecord(ctx, rec, s.ttlFor(now, dead))
	return tok, key, dead, err
}

// createRecord stores rec under a fresh ID, retrying on a collision.
func (s *Session[T]) createRecord(ctx context.Context, rec []byte, ttl time.Duration) (tok, key string, err error) {
	for range maxCreateAttempts {
		tok, err = token.New()
		if err != nil {
			return "", "", fmt.Errorf("session: new ID: %w", err)
		}
		key = token.Key(tok)
		_, err = s.m.store.Create(ctx, key, rec, ttl)
		if err == nil {
			return tok, key, nil
		}
		if !errors.Is(err, backend.ErrExists) {
			return "", "", fmt.Errorf("session: create: %w", err)
		}
	}
	return "", "", fmt.Errorf("session: create: %d ID collisions in a row: %w", maxCreateAttempts, err)
}

func (s *Session[T]) adopt(key string, created, dead time.Time) {
	s.key = key
	s.created, s.dead = created, dead
	s.exists = true
}

// renewID moves the session to a new ID. It first retires the old record
// with a compare-and-set write of a tombstone (an envelope whose deadline
// has passed, holding no data): on a conflict the record is reloaded and
// this request's changes are replayed on it, so changes other requests
// committed meanwhile are carried over, and from then on the old ID reads
// as no session (a planted ID never sees the data of the login that
// retires it). Then the data is stored under the new ID and the tombstone
// is deleted; if that fails, the failure is logged and the renewal stands,
// because the tombstone holds nothing and expires by itself.
func (s *Session[T]) renewID(ctx context.Context, h http.Header, now time.Time) error {
	lock := s.m.lockFor(s.key)
	lock.Lock()
	defer lock.Unlock()
	if err := s.updateLocked(ctx, now, true); err != nil {
		return err
	}
	oldKey := s.key
	tok, key, dead, err := s.storeNew(ctx, now)
	if err != nil {
		return err
	}
	if err := s.m.store.Delete(ctx, oldKey); err != nil {
		// The old ID is dead already: its record is a tombstone that
		// holds nothing and expires by itself.
		s.m.log.WarnContext(ctx, "session renew: deleting the retired record failed",
			slog.String("key", logKey(oldKey)), slog.Any("error", err))
	}
	s.adopt(key, now, dead)
	s.m.setCookie(h, tok, dead, now)
	return nil
}

// update writes the changed session with compare-and-set. On a version
// conflict it reloads the record, replays this request's changes on the
// fresh data and tries again, a bounded number of times. Commits of one
// key within this process are serialised, so they conflict only with
// writers elsewhere.
func (s *Session[T]) update(ctx context.Context, now time.Time) error {
	lock := s.m.lockFor(s.key)
	lock.Lock()
	defer lock.Unlock()
	return s.updateLocked(ctx, now, false)
}

// updateLocked is update with the commit lock held. With tombstone set it
// writes a tombstone instead of the data (see renewID), after the same
// conflict handling, so that s.value ends up as the merged data.
func (s *Session[T]) updateLocked(ctx context.Context, now time.Time, tombstone bool) error {
	p, err := s.payload()
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		if !now.Before(s.dead) {
			return fmt.Errorf("session: commit: session reached its lifetime: %w: %w", ErrGone, backend.ErrNotFound)
		}
		created, dead, payload, ttl := s.created, s.dead, p, s.ttlFor(now, s.dead)
		if tombstone {
			created, dead, payload, ttl = now, now, nil, tombstoneTTL
		}
		rec, err := s.record(created, dead, payload)
		if err != nil {
			return err
		}
		v, err := s.m.store.Update(ctx, s.key, s.version, rec, ttl)
		switch {
		case err == nil:
			s.version = v
			return nil
		case errors.Is(err, backend.ErrNotFound):
			return fmt.Errorf("session: commit: %w: %w", ErrGone, err)
		case !errors.Is(err, backend.ErrConflict):
			return fmt.Errorf("session: commit: %w", err)
		case attempt >= s.m.maxRetries:
			return fmt.Errorf("session: commit: gave up after %d conflicting writes: %w", attempt+1, err)
		}
		if attempt > 0 {
			// Another process keeps winning: back off with jitter.
			if err := sleep(ctx, rand.N(time.Duration(1<<min(attempt, 6))*time.Millisecond)); err != nil {
				return fmt.Errorf("session: commit: %w", err)
			}
		}
		if p, err = s.reload(ctx); err != nil {
			return err
		}
		now = s.m.now()
	}
}

// reload fetches the current record after a conflict and replays this
// request's changes on it, returning the payload to write.
func (s *Session[T]) reload(ctx context.Context) ([]byte, error) {
	rec, err := s.m.store.Load(ctx, s.key)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return nil, fmt.Errorf("session: commit: %w: %w", ErrGone, err)
	case err != nil:
		return nil, fmt.Errorf("session: commit: reload: %w", err)
	}
	c, created, dead, payload, ok := s.decode(ctx, rec.Data, s.m.now(), &s.value)
	if !ok {
		return nil, fmt.Errorf("session: commit: %w: the record changed into one that cannot be read", ErrGone)
	}
	s.version, s.created, s.dead = rec.Version, created, dead
	s.base, s.baseCodec = payload, c
	if s.value, s.has, err = s.apply(s.value, true); err != nil {
		return nil, fmt.Errorf("session: commit: replaying changes: %w", err)
	}
	b, err := s.m.codec.Marshal(&s.value)
	if err != nil {
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	return b, nil
}

// touchIfDue extends an unchanged session's time to live when enough of
// its idle timeout has passed, without rewriting it. A failed touch costs
// at most some idle time, so it is logged rather than failing the
// response.
func (s *Session[T]) touchIfDue(ctx context.Context, now time.Time) {
	want := s.ttlFor(now, s.dead)
	if want-s.ttl < s.m.touchAfter {
		return
	}
	err := s.m.store.Touch(ctx, s.key, want)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		s.m.log.WarnContext(ctx, "session touch failed",
			slog.String("key", logKey(s.key)), slog.Any("error", err))
	}
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
