package codec

import (
	"encoding"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrLossy reports a type that a codec cannot carry faithfully: some value
// of it would come back from a round trip different, or not at all. The
// errors of TypeChecker.CheckType wrap it.
var ErrLossy = errors.New("codec: type does not survive a round trip")

// LooseTag is the struct tag that opts a field out of the type check:
// `session:"loose"`. Use it on interface-typed fields (or fields holding
// interfaces, such as map[string]any) whose values you accept to come back
// changed: under JSON, numbers in interfaces come back as float64 and
// structs as map[string]any; under MsgPack, integers come back in the
// smallest width that holds them (5 as int8) and structs as
// map[string]any; under Gob, concrete types must be registered with
// gob.Register or the write fails.
const LooseTag = `session:"loose"`

// TypeError is one place in a type that a codec cannot carry faithfully.
// It wraps ErrLossy.
type TypeError struct {
	// Codec is the name of the codec, such as "msgpack".
	Codec string
	// Path is where the problem is, from the checked type down, such as
	// "UserSession.Wallet.cents" ("[]" stands for the elements of a slice
	// or array, "[key]" for the values of a map).
	Path string
	// Type is the type found at Path.
	Type reflect.Type
	// Problem says what the codec would do to the data.
	Problem string
	// Fix says how to make the type safe.
	Fix string
}

// Error returns a message naming the codec, the path, the problem and the
// fix.
func (e *TypeError) Error() string {
	return fmt.Sprintf("codec %s cannot carry %s (%v): %s; fix: %s", e.Codec, e.Path, e.Type, e.Problem, e.Fix)
}

// Is reports whether target is ErrLossy.
func (e *TypeError) Is(target error) bool { return target == ErrLossy }

// maxTypeErrors is the most problems one CheckType reports.
const maxTypeErrors = 8

// methodPair is an encoding method a codec honours and the decoding method
// that must come with it.
type methodPair struct {
	enc, dec         reflect.Type
	encName, decName string
}

var (
	timeType         = reflect.TypeFor[time.Time]()
	jsonMarshaler    = methodPair{reflect.TypeFor[json.Marshaler](), reflect.TypeFor[json.Unmarshaler](), "MarshalJSON", "UnmarshalJSON"}
	textMarshaler    = methodPair{reflect.TypeFor[encoding.TextMarshaler](), reflect.TypeFor[encoding.TextUnmarshaler](), "MarshalText", "UnmarshalText"}
	binaryMarshaler  = methodPair{reflect.TypeFor[encoding.BinaryMarshaler](), reflect.TypeFor[encoding.BinaryUnmarshaler](), "MarshalBinary", "UnmarshalBinary"}
	gobEncoder       = methodPair{reflect.TypeFor[gob.GobEncoder](), reflect.TypeFor[gob.GobDecoder](), "GobEncode", "GobDecode"}
	msgpackCustom    = methodPair{reflect.TypeFor[msgpack.CustomEncoder](), reflect.TypeFor[msgpack.CustomDecoder](), "EncodeMsgpack", "DecodeMsgpack"}
	msgpackMarshaler = methodPair{reflect.TypeFor[msgpack.Marshaler](), reflect.TypeFor[msgpack.Unmarshaler](), "MarshalMsgpack", "UnmarshalMsgpack"}
)

// rules is what a codec does with Go types, as far as the type check needs
// to know.
type rules struct {
	codec string
	// pairs are the method pairs the codec honours, in its order of
	// precedence.
	pairs []methodPair
	// fix is how to give a struct type an encoding of its own.
	fix string
	// complexOK: the codec encodes complex numbers.
	complexOK bool
	// pointersOK: the codec keeps a pointer to a zero value (gob does not).
	pointersOK bool
	// flatten: the fields of embedded structs are encoded as fields of the
	// outer struct, by name, so names can collide (json, msgpack).
	flatten bool
	// fieldName returns the name a field is encoded under, whether the
	// field is skipped ("-"), and whether an embedded struct is flattened.
	fieldName func(f reflect.StructField) (name string, skip, inline bool)
	// keyOK reports whether the codec can use values of t as map keys.
	keyOK   func(t reflect.Type) bool
	keyHelp string
}

// check returns nil if r's codec carries every value of t faithfully, and
// otherwise the problems found, each a *TypeError.
func (r *rules) check(t reflect.Type) error {
	if t == nil {
		return fmt.Errorf("codec %s: CheckType of a nil type", r.codec)
	}
	c := checker{r: r, seen: make(map[seenKey]bool)}
	c.walk(t, t.String())
	return errors.Join(c.errs...)
}

type checker struct {
	r    *rules
	seen map[seenKey]bool
	errs []error
	// unaddr: the value walked is not addressable (it is, or is inside,
	// a map value), so encoders do not see methods declared on *T.
	unaddr bool
}

type seenKey struct {
	t      reflect.Type
	unaddr bool
}

func (c *checker) fail(path string, t reflect.Type, problem, fix string) {
	if len(c.errs) < maxTypeErrors {
		c.errs = append(c.errs, &TypeError{Codec: c.r.codec, Path: path, Type: t, Problem: problem, Fix: fix})
	}
}

func (c *checker) walk(t reflect.Type, path string) {
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Array, reflect.Map, reflect.Pointer:
		// Composite types are checked once: this also ends the walk of
		// recursive types.
		if c.seen[seenKey{t, c.unaddr}] {
			return
		}
		c.seen[seenKey{t, c.unaddr}] = true
	}
	if t == timeType {
		return // every codec carries the instant; see the package doc
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && c.marshaler(t, path) {
		return
	}
	switch t.Kind() {
	case reflect.Complex64, reflect.Complex128:
		if !c.r.complexOK {
			c.fail(path, t, "complex numbers cannot be encoded", "store the real and imaginary parts as float64 fields, or use codec.Gob")
		}
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		c.fail(path, t, "channels, funcs and unsafe pointers are not data and are not encoded", "keep them out of the session type")
	case reflect.Interface:
		c.fail(path, t, "values in interfaces come back as other types (numbers change width, structs become maps) or fail to encode",
			"use a concrete type, or tag the struct field "+LooseTag+" to accept that")
	case reflect.Pointer:
		if !c.r.pointersOK {
			c.fail(path, t, "gob turns a pointer to a zero value into nil", "use a non-pointer field, or codec.JSON or codec.MsgPack")
			return
		}
		defer func(u bool) { c.unaddr = u }(c.unaddr)
		c.unaddr = false
		c.walk(t.Elem(), path)
	case reflect.Slice:
		defer func(u bool) { c.unaddr = u }(c.unaddr)
		c.unaddr = false
		c.walk(t.Elem(), path+"[]")
	case reflect.Array:
		c.walk(t.Elem(), path+"[]")
	case reflect.Map:
		if !c.r.keyOK(t.Key()) {
			c.fail(path, t, fmt.Sprintf("%s cannot key a map by %v", c.r.codec, t.Key()), c.r.keyHelp)
		}
		defer func(u bool) { c.unaddr = u }(c.unaddr)
		c.unaddr = true
		c.walk(t.Elem(), path+"[key]")
	case reflect.Struct:
		c.structType(t, path)
	}
}

// marshaler reports whether t, not a pointer, encodes through a method the
// codec honours (so its fields are not walked), after checking that the
// decoding method comes with it and that the method is not promoted from an
// embedded field, hiding the other fields.
func (c *checker) marshaler(t reflect.Type, path string) bool {
	pt := reflect.PointerTo(t)
	for _, p := range c.r.pairs {
		enc := t.Implements(p.enc) || pt.Implements(p.enc)
		dec := pt.Implements(p.dec)
		switch {
		case !enc && !dec:
			continue
		case c.unaddr && !t.Implements(p.enc):
			c.fail(path, t, fmt.Sprintf("%s is declared on *%v, and map values are not addressable, so %s does not call it there", p.encName, t, c.r.codec),
				fmt.Sprintf("use a map of *%v, or declare %s on %v", t, p.encName, t))
		case !dec:
			c.fail(path, t, fmt.Sprintf("%s honours %s, but *%v has no %s, so the data cannot come back", c.r.codec, p.encName, t, p.decName),
				fmt.Sprintf("give *%v an %s method", t, p.decName))
		case !enc:
			c.fail(path, t, fmt.Sprintf("%s honours %s, but %v has no %s, so what is written is not what %s reads", c.r.codec, p.decName, t, p.encName, p.decName),
				fmt.Sprintf("give %v a %s method", t, p.encName))
		case t.Kind() == reflect.Struct && promotedThroughPointer(t, p):
			c.fail(path, t, fmt.Sprintf("%s is promoted from an embedded pointer, so %s calls it on a nil pointer in the zero value", p.encName, c.r.codec),
				fmt.Sprintf("embed the value, not a pointer, or declare %s and %s on %v", p.encName, p.decName, t))
		case t.Kind() == reflect.Struct && promoted(t, p) && dataFields(t) > 1:
			c.fail(path, t, fmt.Sprintf("%s is promoted from an embedded field, so %s encodes only that field and drops the others", p.encName, c.r.codec),
				fmt.Sprintf("declare %s and %s on %v, or make the embedded field a named field", p.encName, p.decName, t))
		}
		return true
	}
	return false
}

// promoted reports whether t has p's encoding method only because an
// embedded field has it. Methods promoted from embedded fields are
// compiler-generated wrappers; a method t declares itself is not.
func promoted(t reflect.Type, p methodPair) bool {
	embedded := false
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && (f.Type.Implements(p.enc) || reflect.PointerTo(f.Type).Implements(p.enc)) {
			embedded = true
		}
	}
	if !embedded {
		return false
	}
	return !declares(t, p)
}

// promotedThroughPointer reports whether t has p's encoding method only
// because an embedded pointer has it: the method then runs on a nil
// pointer in the zero value.
func promotedThroughPointer(t reflect.Type, p methodPair) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Pointer && f.Type.Implements(p.enc) {
			return !declares(t, p)
		}
	}
	return false
}

// declares reports whether t or *t declares p's encoding method itself,
// rather than through a compiler-generated wrapper of a promoted one.
func declares(t reflect.Type, p methodPair) bool {
	for _, tt := range []reflect.Type{t, reflect.PointerTo(t)} {
		m, ok := tt.MethodByName(p.encName)
		if !ok {
			continue
		}
		pc := m.Func.Pointer()
		if f := runtime.FuncForPC(pc); f != nil {
			if file, _ := f.FileLine(pc); file != "<autogenerated>" {
				return true
			}
		}
	}
	return false
}

// dataFields counts the fields of the struct t that can hold data.
func dataFields(t reflect.Type) int {
	n := 0
	for i := range t.NumField() {
		if f := t.Field(i); f.Name != "_" && f.Type.Size() != 0 {
			n++
		}
	}
	return n
}

// field is a struct field as the codec encodes it.
type field struct {
	name  string
	path  string
	typ   reflect.Type
	loose bool
}

func (c *checker) structType(t reflect.Type, path string) {
	var fields []field
	c.fields(t, path, 0, &fields)
	if c.r.codec == "gob" && len(fields) == 0 {
		c.fail(path, t, "gob cannot encode a struct with no exported fields", "export a field, or implement gob.GobEncoder and gob.GobDecoder on "+t.String())
		return
	}
	byName := make(map[string]field, len(fields))
	for _, f := range fields {
		if first, ok := byName[f.name]; ok {
			c.fail(f.path, f.typ, fmt.Sprintf("%s and %s both encode as %q, and %s keeps at most one of them", first.path, f.path, f.name, c.r.codec),
				"rename one of them, or give one a different name in its json tag")
			continue
		}
		byName[f.name] = f
		if !f.loose {
			c.walk(f.typ, f.path)
		}
	}
}

// fields appends the fields of the struct t as the codec encodes them,
// flattening embedded structs if the codec does, and reports the fields it
// drops.
func (c *checker) fields(t reflect.Type, path string, depth int, out *[]field) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		fpath := path + "." + f.Name
		name, skip, inline := c.r.fieldName(f)
		if skip {
			continue
		}
		if !f.IsExported() && !(f.Anonymous && inline) {
			if f.Type.Size() != 0 {
				c.fail(fpath, f.Type, fmt.Sprintf("%s drops unexported fields", c.r.codec), c.unexportedFix(t))
			}
			continue
		}
		if f.Anonymous && inline && depth < 16 {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				// A nil embedded pointer: json cannot set one to an
				// unexported type, msgpack brings it back as &T{}.
				switch {
				case !f.IsExported():
					c.fail(fpath, f.Type, fmt.Sprintf("%s cannot allocate an embedded pointer to an unexported struct when decoding", c.r.codec),
						"embed the struct value, or export its type")
					continue
				case c.r.codec == "msgpack":
					c.fail(fpath, f.Type, "msgpack brings a nil embedded pointer back as a pointer to a zero struct",
						`embed the struct value, or tag the field msgpack:",noinline"`)
					continue
				}
				et = et.Elem()
			}
			c.fields(et, fpath, depth+1, out)
			continue
		}
		if c.r.codec == "json" && quotedMethods(f) {
			c.fail(fpath, f.Type, "json writes the field through its method, ignoring the string option, but then fails to read it back under that option",
				`drop ",string" from the field's json tag`)
			continue
		}
		if c.omits(t, f) && hidesByIsZero(f.Type) {
			c.fail(fpath, f.Type, fmt.Sprintf("%s leaves the field out whenever its IsZero method says so, which need not mean it is the zero value (a pointer to a zero time comes back nil)", c.r.codec),
				"drop omitempty/omitzero from the field")
			continue
		}
		*out = append(*out, field{name: name, path: fpath, typ: f.Type, loose: f.Tag.Get("session") == "loose"})
	}
}

// quotedMethods reports whether the field f has encoding/json's string
// option on a type whose JSON or text methods encoding/json uses instead:
// the option applies only to strings, numbers and booleans (or a pointer
// to one), and encoding/json ignores it when writing such a type through a
// method, but still expects a quoted value when reading it.
func quotedMethods(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	if !hasOption(opts, "string") {
		return false
	}
	t := f.Type
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !basicKind(t) {
		return false
	}
	for _, tt := range []reflect.Type{t, reflect.PointerTo(t)} {
		for _, p := range []methodPair{jsonMarshaler, textMarshaler} {
			if tt.Implements(p.enc) || tt.Implements(p.dec) {
				return true
			}
		}
	}
	return false
}

// omits reports whether the codec leaves the field f of the struct t out
// when IsZero says it is zero: msgpack's omitempty (also set for every
// field by a _msgpack field tagged omitempty), json's omitzero.
func (c *checker) omits(t reflect.Type, f reflect.StructField) bool {
	switch c.r.codec {
	case "json":
		_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		return hasOption(opts, "omitzero")
	case "msgpack":
		if mp, ok := t.FieldByName("_msgpack"); ok && hasOption(tagOptions(mp), "omitempty") {
			return true
		}
		return hasOption(tagOptions(f), "omitempty")
	}
	return false
}

// tagOptions returns the options of f's msgpack tag, or of its json tag
// when it has no msgpack tag, as msgpack/v5 reads them.
func tagOptions(f reflect.StructField) string {
	tag, ok := f.Tag.Lookup("msgpack")
	if !ok || tag == "" {
		tag = f.Tag.Get("json")
	}
	_, opts, _ := strings.Cut(tag, ",")
	return opts
}

func hasOption(opts, name string) bool {
	return strings.Contains(","+opts+",", ","+name+",")
}

// hidesByIsZero reports whether a field of type t has an IsZero method
// that can call a value that is not the zero value "zero": every type with
// one, except time.Time itself, whose zero value comes back as it was.
func hidesByIsZero(t reflect.Type) bool {
	if t == timeType {
		return false
	}
	m, ok := t.MethodByName("IsZero")
	return ok && m.Type.NumOut() == 1 && m.Type.Out(0).Kind() == reflect.Bool
}

// unexportedFix is the fix for an unexported field of the struct t.
func (c *checker) unexportedFix(t reflect.Type) string {
	fix := "export it, or " + strings.ReplaceAll(c.r.fix, "T", t.String())
	pt := reflect.PointerTo(t)
	for _, p := range []methodPair{jsonMarshaler, textMarshaler, binaryMarshaler, gobEncoder, msgpackMarshaler} {
		if pt.Implements(p.enc) {
			fix += fmt.Sprintf(" (%v has %s, which %s does not use)", t, p.encName, c.r.codec)
			break
		}
	}
	return fix
}

// jsonFieldName is how encoding/json names a field: by its json tag, else
// by its Go name; embedded structs without a tag name are flattened.
func jsonFieldName(f reflect.StructField) (name string, skip, inline bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", true, false
	}
	name, _, _ = strings.Cut(tag, ",")
	et := f.Type
	if et.Kind() == reflect.Pointer {
		et = et.Elem()
	}
	if f.Anonymous && name == "" && et.Kind() == reflect.Struct {
		return "", false, true
	}
	if name == "" {
		name = f.Name
	}
	return name, false, false
}

// msgpackFieldName is how msgpack/v5 names a field: by its msgpack tag,
// else its json tag, else its Go name. It flattens embedded structs that
// encode as plain structs (whatever their tag name) unless tagged
// "noinline".
func msgpackFieldName(f reflect.StructField) (name string, skip, inline bool) {
	tag, ok := f.Tag.Lookup("msgpack")
	if !ok || tag == "" {
		tag = f.Tag.Get("json")
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" {
		return "", true, false
	}
	if name == "" {
		name = f.Name
	}
	et := f.Type
	if et.Kind() == reflect.Pointer {
		et = et.Elem()
	}
	if f.Anonymous && et.Kind() == reflect.Struct && !strings.Contains(","+opts+",", ",noinline,") && !hasPair(et, msgpackPairs) {
		return name, false, true
	}
	return name, false, false
}

// gobFieldName is how gob names a field: by its Go name, embedded fields
// included; gob ignores struct tags and flattens nothing.
func gobFieldName(f reflect.StructField) (name string, skip, inline bool) {
	return f.Name, false, false
}

// hasPair reports whether t or *t has the encoding method of one of pairs.
func hasPair(t reflect.Type, pairs []methodPair) bool {
	pt := reflect.PointerTo(t)
	for _, p := range pairs {
		if t.Implements(p.enc) || pt.Implements(p.enc) {
			return true
		}
	}
	return false
}

// composedKey reports whether t is a basic key, or an array or struct
// (of exported fields) made of them, which msgpack and gob key maps by.
func composedKey(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return composedKey(t.Elem())
	case reflect.Struct:
		if t == timeType || t.NumField() == 0 {
			return false
		}
		for i := range t.NumField() {
			if f := t.Field(i); !f.IsExported() || !composedKey(f.Type) {
				return false
			}
		}
		return true
	}
	return basicKind(t)
}

// basicKind reports whether t is a string, boolean or number kind.
func basicKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// msgpackPairs are the methods msgpack/v5 honours, in its order.
var msgpackPairs = []methodPair{msgpackCustom, msgpackMarshaler, binaryMarshaler, textMarshaler}

var (
	jsonRules = rules{
		codec:      "json",
		pairs:      []methodPair{jsonMarshaler, textMarshaler},
		fix:        "implement json.Marshaler and json.Unmarshaler on T",
		pointersOK: true,
		flatten:    true,
		fieldName:  jsonFieldName,
		keyOK: func(t reflect.Type) bool {
			// encoding/json writes a string-kinded key as it is, else
			// through MarshalText, else as an integer; it reads a key
			// through UnmarshalText whenever *K has it. Both sides must
			// take the same way.
			writesText := t.Kind() != reflect.String && t.Implements(textMarshaler.enc)
			readsText := reflect.PointerTo(t).Implements(textMarshaler.dec)
			if writesText || readsText {
				return writesText && readsText
			}
			switch t.Kind() {
			case reflect.String,
				reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
				return true
			}
			return false
		},
		keyHelp: "key maps by strings, integers or a non-string type with MarshalText and UnmarshalText (a string type with UnmarshalText is written raw but read through it)",
	}
	msgpackRules = rules{
		codec:      "msgpack",
		pairs:      msgpackPairs,
		fix:        "implement msgpack.Marshaler and msgpack.Unmarshaler (or encoding.BinaryMarshaler and BinaryUnmarshaler) on T",
		pointersOK: true,
		flatten:    true,
		fieldName:  msgpackFieldName,
		keyOK:      composedKey,
		keyHelp:    "key maps by strings, booleans, numbers, or arrays and structs of them",
	}
	gobRules = rules{
		codec:     "gob",
		pairs:     []methodPair{gobEncoder, binaryMarshaler},
		fix:       "implement gob.GobEncoder and gob.GobDecoder on T",
		complexOK: true,
		fieldName: gobFieldName,
		keyOK:     composedKey,
		keyHelp:   "key maps by strings, booleans, numbers, or arrays and structs of them",
	}
)
