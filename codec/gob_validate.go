package codec

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"unicode"
	"unicode/utf8"
)

// This file holds a validator for gob streams. encoding/gob is "not
// designed to be hardened against adversarial inputs": a value message can
// declare a map of 2^62 entries and the decoder passes that size to
// reflect.MakeMapWithSize before reading a single entry; message, slice and
// type-definition lengths are trusted up to 10 MB. validateGob walks a
// stream the way the gob decoder will, type definitions included, and
// rejects any length that claims more than the bytes that follow it, so the
// decoder never allocates for more elements than the input holds.
//
// The walk follows the decoder's reading order exactly (see decoder.go and
// decode.go in encoding/gob), including how it loads the next message in
// the middle of an interface value. Where the decoder would read the same
// bytes two different ways depending on the target type, the walker either
// follows the target type or rejects the input:
//
//   - An interface value in a struct field the target may lack (gob skips
//     such fields) must be exactly as long as its length prefix says: gob
//     skips an interface value by that length but decodes it by its
//     structure. Elsewhere the prefix is not used.
//   - A nil interface value in a struct field the target may lack is
//     rejected: gob's skipping code misreads nil interfaces.
//   - A struct must end with its explicit terminator (the encoder always
//     writes one), so that a struct inside a length-delimited interface
//     value cannot run on past its end.

const (
	gobFirstUserID = 64
	gobMaxDepth    = 1000
	gobMaxNameLen  = 1024

	// Predefined type ids (encoding/gob's doc.go).
	gobBool      = 1
	gobInt       = 2
	gobUint      = 3
	gobFloat     = 4
	gobBytes     = 5
	gobString    = 6
	gobComplex   = 7
	gobInterface = 8
)

type gobKind uint8

const (
	gobArrayKind gobKind = iota + 1
	gobSliceKind
	gobStructKind
	gobMapKind
	gobEncoderKind // GobEncoder, BinaryMarshaler or TextMarshaler
)

// gobType is a type definition received in the stream.
type gobType struct {
	kind      gobKind
	key, elem int32 // map key; array, slice and map element
	len       int64 // array length
	fields    []gobField
	// goFields caches, per local struct type, the local type of each
	// field (nil where the local struct has no such field).
	goFields map[reflect.Type][]reflect.Type
}

type gobField struct {
	name string
	id   int32
}

var errGobTruncated = errors.New("unexpected end of data")

// gobWalker walks a gob stream.
type gobWalker struct {
	stream  []byte // messages not yet started
	cur     []byte // the rest of the current message
	limited int    // > 0 while walking inside a length-delimited interface value
	types   map[int32]*gobType
}

func gobFail(format string, args ...any) error {
	return malformed("gob", fmt.Errorf(format, args...))
}

// validateGob reports whether data is a gob stream holding one value that
// encoding/gob can decode into a value of type target without allocating
// for more elements than data holds. Errors wrap ErrMalformed.
func validateGob(data []byte, target reflect.Type) error {
	w := gobWalker{stream: data}
	id, err := w.typeSequence(false)
	if err != nil {
		return err
	}
	if err := w.value(id, gobDest{typ: target}, 0); err != nil {
		return err
	}
	if len(w.cur) != 0 {
		return gobFail("%d unread bytes at the end of the value's message", len(w.cur))
	}
	if len(w.stream) != 0 {
		return gobFail("%d bytes of trailing data after the value", len(w.stream))
	}
	return nil
}

// remaining returns the bytes the rest of the walk may consume.
func (w *gobWalker) remaining() uint64 {
	if w.limited > 0 {
		return uint64(len(w.cur))
	}
	return uint64(len(w.cur)) + uint64(len(w.stream))
}

// readGobUint reads a gob unsigned integer from the front of *b.
func readGobUint(b *[]byte) (uint64, error) {
	buf := *b
	if len(buf) == 0 {
		return 0, errGobTruncated
	}
	c := buf[0]
	if c <= 0x7f {
		*b = buf[1:]
		return uint64(c), nil
	}
	n := -int(int8(c))
	if n > 8 {
		return 0, errors.New("encoded unsigned integer out of range")
	}
	if len(buf)-1 < n {
		return 0, errGobTruncated
	}
	var x uint64
	for _, d := range buf[1 : 1+n] {
		x = x<<8 | uint64(d)
	}
	*b = buf[1+n:]
	return x, nil
}

func gobToInt(x uint64) int64 {
	if x&1 != 0 {
		return ^int64(x >> 1)
	}
	return int64(x >> 1)
}

func (w *gobWalker) uint() (uint64, error) {
	x, err := readGobUint(&w.cur)
	if err != nil {
		return 0, gobFail("%w", err)
	}
	return x, nil
}

func (w *gobWalker) int() (int64, error) {
	x, err := w.uint()
	return gobToInt(x), err
}

func (w *gobWalker) typeID() (int32, error) {
	x, err := w.int()
	if err != nil {
		return 0, err
	}
	if x < math.MinInt32 || x > math.MaxInt32 {
		return 0, gobFail("type id %d out of range", x)
	}
	return int32(x), nil
}

// bytes skips a length-prefixed string, []byte or GobEncoder value.
func (w *gobWalker) bytes() error {
	_, err := w.str()
	return err
}

// str reads a length-prefixed string, []byte or GobEncoder value.
func (w *gobWalker) str() ([]byte, error) {
	n, err := w.uint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(w.cur)) {
		return nil, gobFail("length %d exceeds the %d bytes left in the message", n, len(w.cur))
	}
	b := w.cur[:n]
	w.cur = w.cur[n:]
	return b, nil
}

// recvMessage starts the next message of the stream.
func (w *gobWalker) recvMessage() error {
	n, err := readGobUint(&w.stream)
	if err != nil {
		return gobFail("message length: %w", err)
	}
	if n > uint64(len(w.stream)) {
		return gobFail("message of %d bytes but only %d bytes follow", n, len(w.stream))
	}
	w.cur, w.stream = w.stream[:n], w.stream[n:]
	return nil
}

// typeSequence mirrors gob's Decoder.decodeTypeSequence: it receives type
// definitions until it reads the id of a value.
func (w *gobWalker) typeSequence(isInterface bool) (int32, error) {
	for {
		if len(w.cur) == 0 {
			if w.limited > 0 {
				return 0, gobFail("interface value shorter than its type sequence")
			}
			if len(w.stream) == 0 {
				return 0, gobFail("%w", errGobTruncated)
			}
			if err := w.recvMessage(); err != nil {
				return 0, err
			}
		}
		x, err := w.int()
		if err != nil {
			return 0, err
		}
		id := int32(x) // the decoder truncates to typeId (int32) too
		if id >= 0 {
			return id, nil
		}
		if err := w.recvType(-id); err != nil {
			return 0, err
		}
		if len(w.cur) > 0 {
			if !isInterface {
				return 0, gobFail("extra data after a type definition")
			}
			if _, err := w.uint(); err != nil {
				return 0, err
			}
		}
	}
}

// nextField reads the next field delta of a struct with n fields whose
// last field read was *fieldnum (-1 at the start), and advances *fieldnum.
// It reports done at the struct's zero terminator, which must be present.
func (w *gobWalker) nextField(fieldnum *int, n int) (done bool, err error) {
	if len(w.cur) == 0 {
		return false, gobFail("struct without terminator")
	}
	u, err := w.uint()
	if err != nil {
		return false, err
	}
	delta := int(u)
	if delta < 0 {
		return false, gobFail("negative field delta")
	}
	if delta == 0 {
		return true, nil
	}
	if *fieldnum >= n-delta {
		return false, gobFail("field number out of range")
	}
	*fieldnum += delta
	return false, nil
}

// structFields walks the (delta, field) pairs of a struct with n fields,
// calling field for each field number; field must consume the value.
func (w *gobWalker) structFields(n int, field func(int) error) error {
	fieldnum := -1
	for {
		done, err := w.nextField(&fieldnum, n)
		if done || err != nil {
			return err
		}
		if err := field(fieldnum); err != nil {
			return err
		}
	}
}

func (w *gobWalker) commonType() error {
	return w.structFields(2, func(f int) error {
		if f == 0 { // Name string
			return w.bytes()
		}
		_, err := w.typeID() // Id typeId
		return err
	})
}

// recvType receives the definition of type id: a wireType value.
func (w *gobWalker) recvType(id int32) error {
	if id < gobFirstUserID {
		return gobFail("definition of reserved type id %d", id)
	}
	if w.types[id] != nil {
		return gobFail("duplicate definition of type id %d", id)
	}
	var t *gobType
	defs := 0
	err := w.structFields(7, func(f int) error {
		defs++
		var err error
		switch f {
		case 0: // ArrayT *arrayType{CommonType; Elem typeId; Len int}
			t = &gobType{kind: gobArrayKind}
			return w.structFields(3, func(g int) error {
				switch g {
				case 0:
					return w.commonType()
				case 1:
					t.elem, err = w.typeID()
				default:
					t.len, err = w.int()
				}
				return err
			})
		case 1: // SliceT *sliceType{CommonType; Elem typeId}
			t = &gobType{kind: gobSliceKind}
			return w.structFields(2, func(g int) error {
				if g == 0 {
					return w.commonType()
				}
				t.elem, err = w.typeID()
				return err
			})
		case 2: // StructT *structType{CommonType; Field []fieldType}
			t = &gobType{kind: gobStructKind}
			return w.structFields(2, func(g int) error {
				if g == 0 {
					return w.commonType()
				}
				return w.fieldTypes(t)
			})
		case 3: // MapT *mapType{CommonType; Key, Elem typeId}
			t = &gobType{kind: gobMapKind}
			return w.structFields(3, func(g int) error {
				switch g {
				case 0:
					return w.commonType()
				case 1:
					t.key, err = w.typeID()
				default:
					t.elem, err = w.typeID()
				}
				return err
			})
		default: // GobEncoderT, BinaryMarshalerT, TextMarshalerT *gobEncoderType{CommonType}
			t = &gobType{kind: gobEncoderKind}
			return w.structFields(1, func(int) error { return w.commonType() })
		}
	})
	if err != nil {
		return err
	}
	if defs != 1 {
		return gobFail("type definition of type id %d describes %d types", id, defs)
	}
	if w.types == nil {
		w.types = make(map[int32]*gobType)
	}
	w.types[id] = t
	return nil
}

// fieldTypes walks the []fieldType of a struct type definition.
func (w *gobWalker) fieldTypes(t *gobType) error {
	n, err := w.uint()
	if err != nil {
		return err
	}
	if n > uint64(len(w.cur)) {
		return gobFail("struct type of %d fields but only %d bytes left in the message", n, len(w.cur))
	}
	t.fields = make([]gobField, 0, n)
	for range n {
		if len(w.cur) == 0 {
			return gobFail("%w", errGobTruncated)
		}
		var f gobField
		err := w.structFields(2, func(g int) error {
			if g == 0 { // Name string
				name, err := w.str()
				f.name = string(name)
				return err
			}
			var err error
			f.id, err = w.typeID()
			return err
		})
		if err != nil {
			return err
		}
		t.fields = append(t.fields, f)
	}
	return nil
}

// gobDest describes where the decoder puts a value: typ is the local type
// (nil if unknown) and skippable reports whether the decoder may skip the
// value instead of decoding it, because it lies, or may lie, in a struct
// field the local type lacks.
type gobDest struct {
	typ       reflect.Type
	skippable bool
}

// value walks a top-level or interface value of type id: a struct's fields
// or, for any other type, a zero delta and the value.
func (w *gobWalker) value(id int32, dest gobDest, depth int) error {
	if t := w.types[id]; t != nil && t.kind == gobStructKind {
		return w.structValue(t, dest, depth)
	}
	delta, err := w.uint()
	if err != nil {
		return err
	}
	if delta != 0 {
		return gobFail("non-zero delta %d for a non-struct value", delta)
	}
	return w.field(id, dest, depth)
}

func gobDeref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// field walks one value of type id.
func (w *gobWalker) field(id int32, dest gobDest, depth int) error {
	if depth > gobMaxDepth {
		return gobFail("values nested deeper than %d levels", gobMaxDepth)
	}
	local := gobDeref(dest.typ)
	switch id {
	case gobBool, gobInt, gobUint, gobFloat:
		_, err := w.uint()
		return err
	case gobComplex:
		if _, err := w.uint(); err != nil {
			return err
		}
		_, err := w.uint()
		return err
	case gobBytes, gobString:
		return w.bytes()
	case gobInterface:
		return w.iface(dest, depth)
	}
	t := w.types[id]
	if t == nil {
		return gobFail("use of undefined type id %d", id)
	}
	switch t.kind {
	case gobEncoderKind:
		return w.bytes()
	case gobStructKind:
		return w.structValue(t, dest, depth)
	case gobArrayKind, gobSliceKind:
		n, err := w.uint()
		if err != nil {
			return err
		}
		if t.kind == gobArrayKind && (t.len < 0 || n != uint64(t.len)) {
			return gobFail("array of %d elements, type says %d", n, t.len)
		}
		if n > w.remaining() {
			return gobFail("slice or array of %d elements but only %d bytes follow", n, w.remaining())
		}
		elem := gobDest{skippable: dest.skippable}
		if local != nil && (local.Kind() == reflect.Slice || local.Kind() == reflect.Array) {
			elem.typ = local.Elem()
		}
		for range n {
			if len(w.cur) == 0 {
				return gobFail("%w", errGobTruncated)
			}
			if err := w.field(t.elem, elem, depth+1); err != nil {
				return err
			}
		}
		return nil
	default: // gobMapKind
		n, err := w.uint()
		if err != nil {
			return err
		}
		if n > w.remaining()/2 {
			return gobFail("map of %d entries but only %d bytes follow", n, w.remaining())
		}
		key := gobDest{skippable: dest.skippable}
		elem := key
		if local != nil && local.Kind() == reflect.Map {
			key.typ, elem.typ = local.Key(), local.Elem()
		}
		for range n {
			if err := w.field(t.key, key, depth+1); err != nil {
				return err
			}
			if err := w.field(t.elem, elem, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
}

// structValue walks a struct value of wire type t.
func (w *gobWalker) structValue(t *gobType, dest gobDest, depth int) error {
	locals := w.localFields(t, gobDeref(dest.typ))
	fieldnum := -1
	for {
		done, err := w.nextField(&fieldnum, len(t.fields))
		if done || err != nil {
			return err
		}
		// A field the local struct lacks, or any field of a struct whose
		// local type is unknown, may be skipped.
		fd := gobDest{skippable: true}
		if locals != nil && locals[fieldnum] != nil {
			fd = gobDest{typ: locals[fieldnum], skippable: dest.skippable}
		}
		if err := w.field(t.fields[fieldnum].id, fd, depth+1); err != nil {
			return err
		}
	}
}

// localFields returns the local type of each field of t as gob matches
// them (by name, exported only) in the local struct type local, nil for
// fields it lacks; or nil if local is not a struct.
func (w *gobWalker) localFields(t *gobType, local reflect.Type) []reflect.Type {
	if local == nil || local.Kind() != reflect.Struct {
		return nil
	}
	if lf, ok := t.goFields[local]; ok {
		return lf
	}
	lf := make([]reflect.Type, len(t.fields))
	for i, f := range t.fields {
		r, _ := utf8.DecodeRuneInString(f.name)
		if !unicode.IsUpper(r) {
			continue
		}
		if sf, ok := local.FieldByName(f.name); ok {
			lf[i] = sf.Type
		}
	}
	if t.goFields == nil {
		t.goFields = make(map[reflect.Type][]reflect.Type)
	}
	t.goFields[local] = lf
	return lf
}

// iface walks an interface value.
func (w *gobWalker) iface(dest gobDest, depth int) error {
	n, err := w.uint()
	if err != nil {
		return err
	}
	if n > uint64(len(w.cur)) {
		return gobFail("interface type name of %d bytes exceeds the message", n)
	}
	if n == 0 {
		if dest.skippable {
			return gobFail("nil interface value in a field the target may lack")
		}
		return nil
	}
	if n > gobMaxNameLen {
		return gobFail("interface type name of %d bytes", n)
	}
	w.cur = w.cur[n:]
	id, err := w.typeSequence(true)
	if err != nil {
		return err
	}
	size, err := w.uint()
	if err != nil {
		return err
	}
	// The decoder decodes the value into the registered concrete type,
	// whose structure is unknown here but which gob must find compatible
	// (so only its struct fields may be skipped), or, if it skips the
	// interface, drops size bytes.
	if !dest.skippable {
		// Decoded: the length prefix is not used. It covers only the
		// first segment when the value holds interface values whose
		// types are defined inside it.
		return w.value(id, gobDest{}, depth+1)
	}
	// Maybe skipped: the value must be exactly size bytes, so that
	// skipping and decoding read the same bytes.
	if size > uint64(len(w.cur)) {
		return gobFail("interface value of %d bytes exceeds the message", size)
	}
	rest := w.cur[size:]
	w.cur = w.cur[:size]
	w.limited++
	err = w.value(id, gobDest{}, depth+1)
	w.limited--
	if err != nil {
		return err
	}
	if len(w.cur) != 0 {
		return gobFail("interface value %d bytes shorter than its length prefix", len(w.cur))
	}
	w.cur = rest
	return nil
}
