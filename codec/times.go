package codec

import (
	"reflect"
	"sync"
	"time"
)

// The built-in codecs hand back every time.Time in UTC: JSON and Gob would
// otherwise return the writer's offset as a fixed zone (or time.Local when
// it matches the reader's), and MsgPack time.Local. One rule for every
// codec means a codec swap changes nothing a handler can see. The instant
// is kept to the nanosecond; location names and monotonic clock readings
// are not.

// facts caches, per type, what decoding into it needs to know.
var facts sync.Map // reflect.Type -> typeFacts

// typeFacts is what values of a type can hold.
type typeFacts struct {
	// time: a time.Time that reflection can reach and set.
	time bool
	// iface: an interface value (a field tagged with LooseTag).
	iface bool
}

func factsOf(t reflect.Type) typeFacts {
	if v, ok := facts.Load(t); ok {
		return v.(typeFacts)
	}
	var f typeFacts
	scanType(t, make(map[reflect.Type]bool), &f, true)
	facts.Store(t, f)
	return f
}

// holdsTime reports whether values of t can hold a settable time.Time.
func holdsTime(t reflect.Type) bool { return factsOf(t).time }

// scanType records in f what values of t can hold. settable is false below
// unexported struct fields, where reflection cannot set a time.
func scanType(t reflect.Type, seen map[reflect.Type]bool, f *typeFacts, settable bool) {
	if t == timeType {
		f.time = f.time || settable
		return
	}
	if seen[t] {
		return
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		f.iface = true
	case reflect.Map:
		if t.Key() == timeType {
			f.time = f.time || settable
		}
		scanType(t.Elem(), seen, f, settable)
	case reflect.Pointer, reflect.Slice, reflect.Array:
		scanType(t.Elem(), seen, f, settable)
	case reflect.Struct:
		for i := range t.NumField() {
			fl := t.Field(i)
			// The exported fields of an embedded struct are settable
			// even when its type is unexported.
			scanType(fl.Type, seen, f, settable && (fl.IsExported() || fl.Anonymous))
		}
	}
}

// maxTimeDepth bounds how deep timesToUTC follows a value: far deeper
// than any session's data, and only cyclic values (through pointers) reach
// it.
const maxTimeDepth = 1 << 16

// timesToUTC sets every time.Time reachable from the value p points to (not
// through interfaces) to UTC.
func timesToUTC(p any) {
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.IsNil() || !holdsTime(v.Type().Elem()) {
		return
	}
	toUTC(v.Elem(), 0)
}

func toUTC(v reflect.Value, depth int) {
	if depth > maxTimeDepth {
		return // a cyclic value: reached through pointers only
	}
	t := v.Type()
	if t == timeType {
		if v.CanSet() {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
		}
		return
	}
	if !holdsTime(t) {
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			toUTC(v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			toUTC(v.Index(i), depth+1)
		}
	case reflect.Map:
		if t.Key() == timeType {
			// Time keys (JSON reads them through UnmarshalText): move
			// every entry to the key's UTC form.
			keys := v.MapKeys()
			for _, k := range keys {
				val := v.MapIndex(k)
				v.SetMapIndex(k, reflect.Value{})
				v.SetMapIndex(reflect.ValueOf(k.Interface().(time.Time).UTC()), val)
			}
		}
		if !holdsTime(t.Elem()) {
			return
		}
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(t.Elem()).Elem()
			e.Set(iter.Value())
			toUTC(e, depth+1)
			v.SetMapIndex(iter.Key(), e)
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() || f.Anonymous {
				toUTC(v.Field(i), depth+1)
			}
		}
	}
}
