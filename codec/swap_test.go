package codec

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// account is realistic session data for the codec-swap matrix: nested
// structs, slices of structs, maps, times, optional fields and wide
// integers, all types every codec carries.
type account struct {
	UserID    string            `json:"user_id"`
	Email     string            `json:"email,omitempty"`
	Roles     []string          `json:"roles"`
	Cart      []lineItem        `json:"cart"`
	Flags     map[string]bool   `json:"flags"`
	Counters  map[string]uint64 `json:"counters"`
	LoggedIn  time.Time         `json:"logged_in"`
	Seen      []time.Time       `json:"seen"`
	Address   postal            `json:"address"`
	Token     []byte            `json:"token"`
	Nonce     int64             `json:"nonce"`
	Remember  bool              `json:"remember,omitempty"`
	Preferred string            `json:"preferred,omitempty"`
}

type lineItem struct {
	SKU      string  `json:"sku"`
	Quantity int     `json:"qty"`
	Price    float64 `json:"price"`
}

type postal struct {
	Street string `json:"street"`
	City   string `json:"city"`
	Zip    string `json:"zip,omitempty"`
}

func sampleAccount() account {
	cet := time.FixedZone("CET", 3600)
	return account{
		UserID:   "u-1815",
		Email:    "ada@example.com",
		Roles:    []string{"admin", "editor"},
		Cart:     []lineItem{{SKU: "sku-1", Quantity: 2, Price: 9.99}, {SKU: "sku-2", Quantity: 1, Price: 1e-3}},
		Flags:    map[string]bool{"beta": true, "dark": false},
		Counters: map[string]uint64{"logins": 1<<63 + 5, "zero": 0},
		LoggedIn: time.Date(2025, 11, 30, 23, 59, 58, 550000001, cet),
		Seen:     []time.Time{time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC), time.Unix(0x80000000, 0x21000000)},
		Address:  postal{Street: "12 St James's Sq", City: "London"},
		Token:    []byte{0, 0xff, 0x80, 0x7f},
		Nonce:    -1 << 62,
	}
}

// TestCodecSwapMatrix writes realistic data under each codec, reads it
// under each codec as a manager after a codec swap would (the envelope
// names the writer, so the writer decodes), rewrites it under the new
// codec, reads that back, and compares with the original: a swap in any
// direction loses nothing.
func TestCodecSwapMatrix(t *testing.T) {
	want := sampleAccount()
	for _, from := range []Codec{JSON, MsgPack, Gob} {
		for _, to := range []Codec{JSON, MsgPack, Gob} {
			t.Run(from.Name()+"->"+to.Name(), func(t *testing.T) {
				for _, c := range []Codec{from, to} {
					if err := c.(TypeChecker).CheckType(reflect.TypeFor[account]()); err != nil {
						t.Fatalf("%s refuses the matrix type: %v", c.Name(), err)
					}
				}
				old := mustMarshal(t, from, &want)
				var read account
				if err := from.Unmarshal(old, &read); err != nil {
					t.Fatal(err)
				}
				rewritten := mustMarshal(t, to, &read)
				var got account
				if err := to.Unmarshal(rewritten, &got); err != nil {
					t.Fatal(err)
				}
				var d differ
				d.diff("account", reflect.ValueOf(got), reflect.ValueOf(want), 0)
				if len(d.lines) > 0 {
					t.Errorf("%s then %s changed the data:\n%s", from.Name(), to.Name(), strings.Join(d.lines, "\n"))
				}
			})
		}
	}
}

// TestTimesComeBackInUTC pins the one location rule of every codec: the
// instant is kept to the nanosecond, and the location is UTC, whatever
// zone the writer used; times in maps, slices and behind pointers too.
func TestTimesComeBackInUTC(t *testing.T) {
	type times struct {
		At   time.Time
		List []time.Time
		Map  map[string]time.Time
		Ptr  *time.Time
	}
	at := time.Date(2024, 2, 29, 12, 0, 0, 999999999, time.FixedZone("X", -7*3600-30*60))
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		in := times{At: at, List: []time.Time{at}, Map: map[string]time.Time{"k": at}}
		if c != Gob {
			in.Ptr = &at
		}
		var out times
		if err := c.Unmarshal(mustMarshal(t, c, &in), &out); err != nil {
			t.Fatal(err)
		}
		got := []time.Time{out.At, out.List[0], out.Map["k"]}
		if out.Ptr != nil {
			got = append(got, *out.Ptr)
		}
		for i, g := range got {
			if !g.Equal(at) || g.Location() != time.UTC {
				t.Errorf("%s: time %d came back as %v (%v), want %v in UTC", c.Name(), i, g, g.Location(), at)
			}
		}
	}
}

// TestNilAndEmptyNormalisations pins what each codec does with nil and
// empty slices and maps, as the docs say: JSON and MsgPack keep the
// difference, Gob returns an empty slice as nil.
func TestNilAndEmptyNormalisations(t *testing.T) {
	type v struct {
		NilS, EmptyS []int
		NilM, EmptyM map[string]int
	}
	in := v{EmptyS: []int{}, EmptyM: map[string]int{}}
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		var out v
		if err := c.Unmarshal(mustMarshal(t, c, &in), &out); err != nil {
			t.Fatal(err)
		}
		keeps := c != Gob
		if out.NilS != nil || out.NilM != nil || (out.EmptyS != nil) != keeps || out.EmptyM == nil {
			t.Errorf("%s: %#v", c.Name(), out)
		}
	}
}

func TestRoundTripReportsDifferences(t *testing.T) {
	if err := RoundTrip(sampleAccount()); err != nil {
		t.Errorf("RoundTrip of the matrix value: %v", err)
	}
	err := RoundTrip(wallet{Owner: "o", Balance: money{cents: 1234}}, MsgPack)
	if err == nil {
		t.Fatal("RoundTrip accepted a wallet under msgpack")
	}
	for _, want := range []string{"wallet.Balance.cents: got 0, want 1234", "codec msgpack cannot carry codec.wallet.Balance.cents"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("RoundTrip error lacks %q:\n%v", want, err)
		}
	}
	if !errors.Is(err, ErrLossy) {
		t.Errorf("%v does not wrap ErrLossy", err)
	}
	if err := RoundTrip(wallet{Owner: "o", Balance: money{cents: 1234}}, JSON); err != nil {
		t.Errorf("JSON carries MarshalJSON types: %v", err)
	}
}

func ExampleRoundTrip() {
	type Cart struct {
		Items []string
		total int // unexported: no codec carries it
	}
	err := RoundTrip(Cart{Items: []string{"book"}, total: 12}, JSON)
	fmt.Println(err)
	// Output:
	// codec json cannot carry codec.Cart.total (int): json drops unexported fields; fix: export it, or implement json.Marshaler and json.Unmarshaler on codec.Cart
	// codec json changes codec.Cart:
	// 	codec.Cart.total: got 0, want 12
}
