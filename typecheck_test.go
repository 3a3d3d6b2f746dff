package session_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
)

// balance serialises only through MarshalJSON/UnmarshalJSON.
type balance struct{ cents int64 }

func (b balance) MarshalJSON() ([]byte, error) { return []byte(strconv.FormatInt(b.cents, 10)), nil }
func (b *balance) UnmarshalJSON(p []byte) error {
	n, err := strconv.ParseInt(string(p), 10, 64)
	b.cents = n
	return err
}

type walletSession struct {
	UserID  string
	Balance balance
}

type secretSession struct {
	UserID string
	secret string
}

// String reads secret, as real code would.
func (s secretSession) String() string { return s.UserID + s.secret }

type looseSession struct {
	UserID string
	Extra  map[string]any `session:"loose"`
}

type anySession struct{ Data map[string]any }

// TestNewRefusesTypesTheCodecWouldChange checks that New inspects T for
// the write codec and names the field path, the codec and a fix, and that
// it judges read codecs only on whether they can decode into T.
func TestNewRefusesTypesTheCodecWouldChange(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	refuse := func(t *testing.T, err error, wants ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("New accepted the type")
		}
		if !errors.Is(err, codec.ErrLossy) {
			t.Errorf("%v does not wrap codec.ErrLossy", err)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
	_, err := session.New[secretSession](store, session.Config{})
	refuse(t, err, "secretSession.secret", "msgpack", "fix: export it")
	// A balance stored under JSON would be destroyed by one msgpack write:
	// the default codec refuses the type...
	_, err = session.New[walletSession](store, session.Config{})
	refuse(t, err, "walletSession.Balance.cents", "msgpack", "MarshalJSON")
	// ...and a JSON writer accepts it, although gob and msgpack, merely
	// readable, could not carry it.
	if _, err := session.New[walletSession](store, session.Config{Codec: codec.JSON}); err != nil {
		t.Errorf("JSON writer: %v", err)
	}
	_, err = session.New[anySession](store, session.Config{Codec: codec.JSON})
	refuse(t, err, "anySession.Data[key]", "json", codec.LooseTag)
	if _, err := session.New[looseSession](store, session.Config{}); err != nil {
		t.Errorf("a field tagged %s: %v", codec.LooseTag, err)
	}
}

// TestWhatAHandlerSetsIsWhatTheNextRequestGets sets a value with every
// kind of data the codecs normalise differently, under each codec, and
// reads it on the next request through a cookie.
func TestWhatAHandlerSetsIsWhatTheNextRequestGets(t *testing.T) {
	for _, c := range []codec.Codec{codec.JSON, codec.MsgPack, codec.Gob} {
		t.Run(c.Name(), func(t *testing.T) {
			h := newHarness(t, session.Config{Codec: c})
			want := goldenUser
			want.Visits = 1<<62 + 1
			cookie := h.login(want)
			got, ok := h.get(cookie)
			if !ok || got.UserID != want.UserID || got.Visits != want.Visits || strings.Join(got.Roles, ",") != strings.Join(want.Roles, ",") {
				t.Errorf("next request got %+v, %v; want %+v", got, ok, want)
			}
		})
	}
}
