package codec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The types of TestTypeCheckTable.

type plainUser struct {
	ID     string            `json:"id"`
	Age    int               `json:"age"`
	Score  float64           `json:"score"`
	Admin  bool              `json:"admin,omitempty"`
	Roles  []string          `json:"roles"`
	Prefs  map[string]string `json:"prefs"`
	Joined time.Time         `json:"joined"`
}

type withSecret struct {
	Name   string
	secret string
}

// money serialises through MarshalJSON only: JSON carries it, msgpack and
// gob see a struct with one unexported field.
type money struct{ cents int64 }

func (m money) MarshalJSON() ([]byte, error) { return []byte(strconv.FormatInt(m.cents, 10)), nil }
func (m *money) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(string(b), 10, 64)
	m.cents = n
	return err
}

type wallet struct {
	Owner   string
	Balance money
}

// textID carries its data through MarshalText/UnmarshalText, which JSON and
// msgpack honour and gob does not.
type textID struct{ v string }

func (t textID) MarshalText() ([]byte, error) { return []byte(t.v), nil }
func (t *textID) UnmarshalText(b []byte) error {
	t.v = string(b)
	return nil
}

// binID carries its data through MarshalBinary, which msgpack and gob
// honour and JSON does not.
type binID struct{ v uint32 }

func (b binID) MarshalBinary() ([]byte, error) { return []byte(strconv.Itoa(int(b.v))), nil }
func (b *binID) UnmarshalBinary(p []byte) error {
	n, err := strconv.Atoi(string(p))
	b.v = uint32(n)
	return err
}

// halfMarshaler has MarshalJSON but no UnmarshalJSON.
type halfMarshaler struct{ N int }

func (h halfMarshaler) MarshalJSON() ([]byte, error) {
	return []byte(`{"n":` + strconv.Itoa(h.N) + `}`), nil
}

type halfHolder struct{ H halfMarshaler }

// event embeds time.Time: its marshalers are promoted and hide Name.
type event struct {
	time.Time
	Name string
}

// ownEvent embeds time.Time but declares its own pair, so nothing is hidden.
type ownEvent struct {
	time.Time
	Name string
}

func (e ownEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		T    time.Time
		Name string
	}{e.Time, e.Name})
}

func (e *ownEvent) UnmarshalJSON(b []byte) error {
	var v struct {
		T    time.Time
		Name string
	}
	err := json.Unmarshal(b, &v)
	e.Time, e.Name = v.T, v.Name
	return err
}

type base struct{ ID int }
type audit struct{ ID int }

// ambiguous embeds two structs with a field of one name.
type ambiguous struct {
	base
	audit
}

// shadowed has an outer field that hides an embedded one.
type shadowed struct {
	base
	ID int
}

type Inner struct{ A, B string }

// embedsExported embeds an exported struct: flattened by JSON and
// msgpack, a named field under gob.
type embedsExported struct {
	Inner
	C string
}

// embedsUnexported embeds an unexported struct type: JSON and msgpack
// flatten its exported fields, gob drops it.
type embedsUnexported struct {
	base
	C string
}

type withAny struct{ V any }

type withLoose struct {
	Name  string
	Extra map[string]any `session:"loose"`
}

type withPointers struct {
	Count *int
	Name  *string
	Sub   *Inner
}

type withComplex struct{ Z complex128 }

type withFunc struct {
	Name string
	F    func()
}

type withChan struct{ C chan int }

type structKey struct{ A, B int }

type withStructKeys struct{ M map[structKey]string }

type withFloatKeys struct{ M map[float64]string }

type withIntKeys struct{ M map[int64]string }

type withTextKeys struct{ M map[textID]int }

type tree struct {
	Name string
	Kids []tree
}

type list struct {
	V    int
	Next *list
}

type withDuration struct {
	TTL time.Duration
	At  []time.Time
}

type withBytes struct {
	Raw  []byte
	Hash [4]byte
}

type withIgnored struct {
	Name  string
	Cache string `json:"-"`
}

type withZeroSize struct {
	_    struct{}
	Name string
	//lint:ignore U1000 the type check must pass over unexported fields of size zero
	mark struct{}
}

// renamedTwice has a field renamed to another field's name.
type renamedTwice struct {
	A string `json:"B"`
	B string
}

type nestedMaps struct {
	M map[string]map[string][]int
}

type wideInts struct {
	I8  int8
	U8  uint8
	I64 int64
	U64 uint64
	F32 float32
}

type noExported struct {
	//lint:ignore U1000 data that no codec carries
	n int
}

type holdsNoExported struct {
	Name string
	X    noExported
}

// TestTypeCheckTable checks, for each type and each codec, that CheckType
// either refuses the type (and the table says it should, with a message
// naming the path and the codec), or that a realistic non-zero value comes
// back from a round trip equal to what went in, after the documented
// normalisations. A checker that refused everything, or accepted a type
// the codec changes, fails here.
// textCode is an integer written through MarshalText.
type textCode int

func (c textCode) MarshalText() ([]byte, error) { return []byte("C" + strconv.Itoa(int(c))), nil }

func (c *textCode) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "C"))
	*c = textCode(n)
	return err
}

// quotedText asks encoding/json to quote a value it writes through
// MarshalText: it writes "C3" and then cannot read it back.
type quotedText struct {
	C textCode `json:",string"`
}

// quotedPlain uses the string option where encoding/json honours it.
type quotedPlain struct {
	N int  `json:",string"`
	P *int `json:"p,string"`
}

func TestTypeCheckTable(t *testing.T) {
	seven, name := 7, "ada"
	zero := 0
	joined := time.Date(2024, 3, 9, 17, 4, 5, 123456789, time.FixedZone("CET", 3600))
	cases := []struct {
		value   any
		rejects string // codecs that must refuse the type
		path    string // a path the refusal must name
	}{
		{plainUser{ID: "u1", Age: 36, Score: 9.5, Admin: true, Roles: []string{"a", "b"}, Prefs: map[string]string{"k": "v"}, Joined: joined}, "", ""},
		{withSecret{Name: "n", secret: "s3cret"}, "json msgpack gob", "withSecret.secret"},
		{wallet{Owner: "o", Balance: money{cents: 1234}}, "msgpack gob", "wallet.Balance.cents"},
		{struct{ ID textID }{textID{"abc"}}, "gob", ".ID.v"},
		{struct{ ID binID }{binID{42}}, "json", ".ID.v"},
		{halfHolder{H: halfMarshaler{N: 3}}, "json", "halfHolder.H"},
		{event{Time: joined, Name: "launch"}, "json msgpack gob", "event"},
		{ownEvent{Time: joined, Name: "launch"}, "msgpack gob", "ownEvent"},
		{ambiguous{base{1}, audit{2}}, "json msgpack gob", "ambiguous"},
		{shadowed{base{1}, 2}, "json msgpack gob", "shadowed"},
		{embedsExported{Inner{"a", "b"}, "c"}, "", ""},
		{embedsUnexported{base{5}, "c"}, "gob", "embedsUnexported.base"},
		{withAny{V: 5}, "json msgpack gob", "withAny.V"},
		{withLoose{Name: "n", Extra: map[string]any{"s": "x", "b": true}}, "", ""},
		{withPointers{Count: &seven, Name: &name, Sub: &Inner{"a", "b"}}, "gob", "withPointers.Count"},
		{withPointers{Count: &zero}, "gob", "withPointers.Count"},
		{withComplex{Z: complex(1, -2)}, "json msgpack", "withComplex.Z"},
		{withFunc{Name: "n"}, "json msgpack gob", "withFunc.F"},
		{withChan{}, "json msgpack gob", "withChan.C"},
		{withStructKeys{M: map[structKey]string{{1, 2}: "x"}}, "json", "withStructKeys.M"},
		{withFloatKeys{M: map[float64]string{1.5: "x"}}, "json", "withFloatKeys.M"},
		{withIntKeys{M: map[int64]string{-3: "x", 1 << 40: "y"}}, "", ""},
		{withTextKeys{M: map[textID]int{{"k"}: 1}}, "gob msgpack", "withTextKeys"},
		{tree{Name: "root", Kids: []tree{{Name: "a", Kids: []tree{{Name: "b"}}}}}, "", ""},
		{list{V: 1, Next: &list{V: 2}}, "gob", "list.Next"},
		{withDuration{TTL: 90 * time.Second, At: []time.Time{joined, joined.Add(time.Hour)}}, "", ""},
		{withBytes{Raw: []byte{0, 1, 255}, Hash: [4]byte{9, 8, 7, 6}}, "", ""},
		{withIgnored{Name: "n"}, "", ""},
		{withZeroSize{Name: "n"}, "", ""},
		{renamedTwice{A: "a", B: "b"}, "json msgpack", "renamedTwice.B"},
		{quotedText{C: 3}, "json", "quotedText.C"},
		{quotedPlain{N: 3, P: &seven}, "gob", "quotedPlain.P"},
		{nestedMaps{M: map[string]map[string][]int{"a": {"b": {1, 2}}}}, "", ""},
		{wideInts{I8: -8, U8: 200, I64: math.MinInt64, U64: math.MaxUint64, F32: 1.5}, "", ""},
		{holdsNoExported{Name: "n"}, "json msgpack gob", "holdsNoExported.X.n"},
		{[]string{"a", "b"}, "", ""},
		{map[string]int{"a": 1}, "", ""},
	}
	codecs := []Codec{JSON, MsgPack, Gob}
	for _, tc := range cases {
		typ := reflect.TypeOf(tc.value)
		for _, c := range codecs {
			t.Run(fmt.Sprintf("%v/%s", typ, c.Name()), func(t *testing.T) {
				err := c.(TypeChecker).CheckType(typ)
				mustReject := strings.Contains(" "+tc.rejects+" ", " "+c.Name()+" ")
				if mustReject {
					if err == nil {
						t.Fatalf("CheckType accepted %v", typ)
					}
					var te *TypeError
					if !errors.Is(err, ErrLossy) || !errors.As(err, &te) || te.Codec != c.Name() {
						t.Fatalf("error %v: want a *TypeError of codec %s wrapping ErrLossy", err, c.Name())
					}
					if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), "fix: ") {
						t.Errorf("error %q does not name the path %q and a fix", err, tc.path)
					}
					return
				}
				if err != nil {
					t.Fatalf("CheckType refused %v: %v", typ, err)
				}
				if err := roundTripValue(c, tc.value); err != nil {
					t.Fatalf("accepted, but %v", err)
				}
			})
		}
	}
}

// roundTripValue round-trips v (of any type) through c and compares.
func roundTripValue(c Codec, v any) error {
	in := reflect.New(reflect.TypeOf(v))
	in.Elem().Set(reflect.ValueOf(v))
	b, err := c.Marshal(in.Interface())
	if err != nil {
		return err
	}
	out := reflect.New(in.Type().Elem())
	if err := c.Unmarshal(b, out.Interface()); err != nil {
		return err
	}
	var d differ
	d.diff(in.Type().Elem().String(), out.Elem(), in.Elem(), 0)
	if len(d.lines) > 0 {
		return errors.New(strings.Join(d.lines, "; "))
	}
	return nil
}

// TestTypeCheckRejectionsAreReal checks that refusals in the table are not
// overcautious for the headline cases: each refused value really comes
// back changed, or fails to encode.
func TestTypeCheckRejectionsAreReal(t *testing.T) {
	joined := time.Date(2024, 3, 9, 17, 4, 5, 0, time.UTC)
	zero := 0
	cases := []struct {
		c Codec
		v any
	}{
		{JSON, withSecret{Name: "n", secret: "s"}},
		{MsgPack, wallet{Owner: "o", Balance: money{cents: 1234}}},
		{Gob, withPointers{Count: &zero}},
		{JSON, event{Time: joined, Name: "launch"}},
		{MsgPack, event{Time: joined, Name: "launch"}},
		{JSON, ambiguous{base{1}, audit{2}}},
		{MsgPack, shadowed{base{1}, 2}},
		{Gob, embedsUnexported{base{5}, "c"}},
		{JSON, withAny{V: 5}},
		{MsgPack, withAny{V: 5}},
		{JSON, withComplex{Z: 1i}},
		{JSON, renamedTwice{A: "a", B: "b"}},
		{JSON, quotedText{C: 3}},
	}
	for _, tc := range cases {
		if err := roundTripValue(tc.c, tc.v); err == nil {
			t.Errorf("%s: %T survives a round trip, yet CheckType refuses it", tc.c.Name(), tc.v)
		}
	}
}

// TestTypeCheckRecursiveTypes checks that recursive types are checked
// without hanging or overflowing the stack.
func TestTypeCheckRecursiveTypes(t *testing.T) {
	type loop map[string]loop
	type self []self
	for _, typ := range []reflect.Type{reflect.TypeFor[tree](), reflect.TypeFor[list](), reflect.TypeFor[loop](), reflect.TypeFor[self]()} {
		for _, c := range []Codec{JSON, MsgPack, Gob} {
			_ = c.(TypeChecker).CheckType(typ) // must return
		}
	}
	if err := JSON.(TypeChecker).CheckType(reflect.TypeFor[list]()); err != nil {
		t.Errorf("json refuses a linked list: %v", err)
	}
}

// TestTypeErrorsAreCapped checks that a type with many problems gets a
// readable error, not one line per field.
func TestTypeErrorsAreCapped(t *testing.T) {
	fields := make([]reflect.StructField, 11)
	for i := range fields {
		fields[i] = reflect.StructField{Name: "f" + strconv.Itoa(i), PkgPath: "codec", Type: reflect.TypeFor[int]()}
	}
	err := JSON.(TypeChecker).CheckType(reflect.StructOf(fields))
	if n := strings.Count(err.Error(), "fix: "); n != maxTypeErrors {
		t.Errorf("%d problems reported, want %d:\n%v", n, maxTypeErrors, err)
	}
}
