package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
)

// Flash is a read-once message that survives exactly one redirect: "logged
// in", "item added", "wrong password". Flashes are kept beside the session
// data, not inside T, and a session that holds only flashes is no session:
// Get reports ok == false and guards answer 401, so a "logged out" flash
// never lets anyone back in.
type Flash struct {
	// Level says how to show the message. The constants FlashInfo,
	// FlashSuccess, FlashWarning and FlashError are suggestions; any
	// short string works.
	Level string
	// Text is the message.
	Text string
}

// Suggested flash levels.
const (
	FlashInfo    = "info"
	FlashSuccess = "success"
	FlashWarning = "warning"
	FlashError   = "error"
)

// maxFlashes bounds the flashes a session keeps: adding one more drops the
// oldest, so a client that never reads them cannot grow its record.
const maxFlashes = 16

// AddFlash adds a flash message for the visitor's next request that reads
// flashes, creating the session if there is none (a session of flashes
// only, which Get and guards do not count as a session). It marks the
// session for writing. After Destroy it starts a new session, so a logout
// can say "logged out". A session keeps at most 16 flashes; more drop the
// oldest.
func (s *Session[T]) AddFlash(f Flash) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.beginChange("AddFlash"); err != nil {
		return err
	}
	s.addFlash(f)
	s.ops = append(s.ops, op[T]{flash: &f})
	s.plan(write)
	return nil
}

func (s *Session[T]) addFlash(f Flash) {
	s.flashes = append(s.flashes, f)
	if n := len(s.flashes); n > maxFlashes {
		s.flashes = append(s.flashes[:0:0], s.flashes[n-maxFlashes:]...)
	}
}

// Flashes returns the session's flash messages, oldest first, and removes
// them: the removal is committed like any change, so each flash is shown
// once. Call it before the response starts; after the commit it returns
// ErrCommitted rather than dropping the messages silently. A request whose
// session ID was just retired by a concurrent RenewID sees no flashes.
func (s *Session[T]) Flashes() ([]Flash, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if s.committed {
		return nil, s.afterCommit("Flashes")
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	if len(s.flashes) == 0 || s.found == foundRetired {
		return nil, nil
	}
	shown := s.flashes
	s.flashes = nil
	s.ops = append(s.ops, op[T]{shown: shown})
	s.plan(write)
	return shown, nil
}

// removeShown removes from s.flashes the flashes of shown, once each: on a
// replay after a conflict, those this request showed, while keeping any
// that another request added meanwhile.
func (s *Session[T]) removeShown(shown []Flash) {
	left := s.flashes[:0:0]
	gone := append([]Flash(nil), shown...)
	for _, f := range s.flashes {
		if i := indexFlash(gone, f); i >= 0 {
			gone = append(gone[:i], gone[i+1:]...)
			continue
		}
		left = append(left, f)
	}
	s.flashes = left
}

func indexFlash(fs []Flash, f Flash) int {
	for i, g := range fs {
		if g == f {
			return i
		}
	}
	return -1
}

// encodeFlashes encodes fs for the envelope's flashes extension: for each
// flash, the uvarint length of its level, the level, the uvarint length of
// its text and the text.
func encodeFlashes(fs []Flash) []byte {
	if len(fs) == 0 {
		return nil
	}
	var b []byte
	for _, f := range fs {
		b = binary.AppendUvarint(b, uint64(len(f.Level)))
		b = append(b, f.Level...)
		b = binary.AppendUvarint(b, uint64(len(f.Text)))
		b = append(b, f.Text...)
	}
	return b
}

// decodeFlashes decodes what encodeFlashes wrote.
func decodeFlashes(b []byte) ([]Flash, error) {
	var fs []Flash
	str := func() (string, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", errors.New("truncated flash")
		}
		v := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return v, nil
	}
	for len(b) > 0 {
		level, err := str()
		if err != nil {
			return nil, err
		}
		text, err := str()
		if err != nil {
			return nil, err
		}
		fs = append(fs, Flash{Level: level, Text: text})
	}
	return fs, nil
}

// adoptFlashes sets the session's flashes from a loaded record's
// extension; flashes that do not decode are logged and dropped, the
// session itself is kept.
func (s *Session[T]) adoptFlashes(b []byte) {
	fs, err := decodeFlashes(b)
	if err != nil {
		s.m.log.WarnContext(s.req.Context(), "session flashes unreadable; dropping them",
			slog.String("key", logKey(s.key)), slog.Any("error", fmt.Errorf("%w", err)))
	}
	s.flashes = fs
}
