package codec

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// RoundTrip reports whether the sample value v comes back unchanged from
// each of codecs (the three built-in codecs if none is given): encoded,
// decoded into a new T, and compared. Use it in tests, with realistic
// values of a session type:
//
//	if err := codec.RoundTrip(UserSession{ID: "u1", Cart: []Item{{SKU: "x"}}}); err != nil {
//		t.Error(err)
//	}
//
// For a codec that implements TypeChecker, the error also holds what
// CheckType reports for T, since session.New would refuse T then. Each
// difference is listed by path with what came back and what went in, at
// most ten per codec. The comparison allows the documented normalisations:
// times are compared with time.Time.Equal, and nil and empty slices and
// maps count as equal.
func RoundTrip[T any](v T, codecs ...Codec) error {
	if len(codecs) == 0 {
		codecs = builtins
	}
	t := reflect.TypeFor[T]()
	var errs []error
	for _, c := range codecs {
		if tc, ok := c.(TypeChecker); ok {
			if err := tc.CheckType(t); err != nil {
				errs = append(errs, err)
			}
		}
		b, err := c.Marshal(&v)
		if err != nil {
			errs = append(errs, fmt.Errorf("codec %s: %v does not encode: %w", c.Name(), t, err))
			continue
		}
		var back T
		if err := c.Unmarshal(b, &back); err != nil {
			errs = append(errs, fmt.Errorf("codec %s: %v does not decode what it encoded: %w", c.Name(), t, err))
			continue
		}
		var d differ
		d.diff(t.String(), reflect.ValueOf(&back).Elem(), reflect.ValueOf(&v).Elem(), 0)
		if len(d.lines) > 0 {
			errs = append(errs, fmt.Errorf("codec %s changes %v:\n\t%s", c.Name(), t, strings.Join(d.lines, "\n\t")))
		}
	}
	return errors.Join(errs...)
}

// maxDiffLines is the most differences RoundTrip lists per codec.
const maxDiffLines = 10

// maxDiffDepth is how deep RoundTrip compares; a value deeper than that
// (or cyclic) is reported as not compared rather than passed.
const maxDiffDepth = 1000

type differ struct{ lines []string }

func (d *differ) add(path string, got, want reflect.Value) {
	if len(d.lines) < maxDiffLines {
		d.lines = append(d.lines, fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want)))
	}
}

// diff compares got with want, both of one type, and records where they
// differ.
func (d *differ) diff(path string, got, want reflect.Value, depth int) {
	if len(d.lines) >= maxDiffLines {
		return
	}
	if depth > maxDiffDepth {
		d.lines = append(d.lines, path+": deeper than "+strconv.Itoa(maxDiffDepth)+" levels; not compared")
		return
	}
	t := want.Type()
	if t == timeType && want.CanInterface() {
		if !got.Interface().(time.Time).Equal(want.Interface().(time.Time)) {
			d.add(path, got, want)
		}
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		if got.Bool() != want.Bool() {
			d.add(path, got, want)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if got.Int() != want.Int() {
			d.add(path, got, want)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if got.Uint() != want.Uint() {
			d.add(path, got, want)
		}
	case reflect.Float32, reflect.Float64:
		if g, w := got.Float(), want.Float(); g != w && !(g != g && w != w) {
			d.add(path, got, want)
		}
	case reflect.Complex64, reflect.Complex128:
		if got.Complex() != want.Complex() {
			d.add(path, got, want)
		}
	case reflect.String:
		if got.String() != want.String() {
			d.add(path, got, want)
		}
	case reflect.Pointer:
		switch {
		case got.IsNil() != want.IsNil():
			d.add(path, got, want)
		case !want.IsNil():
			d.diff(path, got.Elem(), want.Elem(), depth+1)
		}
	case reflect.Interface:
		switch {
		case got.IsNil() || want.IsNil():
			if got.IsNil() != want.IsNil() {
				d.add(path, got, want)
			}
		case got.Elem().Type() != want.Elem().Type():
			d.add(path, got, want)
		default:
			d.diff(path, got.Elem(), want.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		if got.Len() != want.Len() {
			d.add(path, got, want)
			return
		}
		for i := range want.Len() {
			d.diff(path+"["+strconv.Itoa(i)+"]", got.Index(i), want.Index(i), depth+1)
		}
	case reflect.Map:
		if got.Len() != want.Len() {
			d.add(path, got, want)
			return
		}
		iter := want.MapRange()
		for iter.Next() {
			kp := path + "[" + show(iter.Key()) + "]"
			g := got.MapIndex(iter.Key())
			if !g.IsValid() {
				d.lines = append(d.lines, kp+": missing")
				continue
			}
			d.diff(kp, g, iter.Value(), depth+1)
		}
	case reflect.Struct:
		for i := range t.NumField() {
			d.diff(path+"."+t.Field(i).Name, got.Field(i), want.Field(i), depth+1)
		}
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		if got.IsNil() != want.IsNil() {
			d.add(path, got, want)
		}
	}
}

// show formats v for a difference line, including unexported values,
// which fmt cannot reach through reflect.Value.Interface.
func show(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Invalid:
		return "nothing"
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		if v.IsNil() {
			return "nil"
		}
		if v.Kind() == reflect.Interface {
			return show(v.Elem()) + " (" + v.Elem().Type().String() + ")"
		}
		if v.Kind() == reflect.Pointer {
			return "&" + show(v.Elem())
		}
		return fmt.Sprintf("%v of length %d", v.Type(), v.Len())
	}
	if v.CanInterface() {
		return fmt.Sprintf("%v", v.Interface())
	}
	return v.Type().String() + " value"
}
