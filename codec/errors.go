package codec

import (
	"errors"
	"fmt"
	"reflect"
)

// ErrMalformed reports input that a codec cannot decode: bytes that are not
// a valid encoding, are truncated or followed by trailing data, do not fit
// the target type, or that claim sizes or a nesting depth the codec refuses
// to allocate for. Every error an Unmarshal returns because of its input
// wraps ErrMalformed, so callers can tell corrupt data from other failures
// with errors.Is(err, ErrMalformed).
var ErrMalformed = errors.New("codec: malformed input")

// ErrInvalidTarget reports an Unmarshal call whose target is not a non-nil
// pointer. It describes a programming error, not bad input, and does not
// wrap ErrMalformed.
var ErrInvalidTarget = errors.New("codec: Unmarshal target must be a non-nil pointer")

// malformedError is the error every codec returns for undecodable input. It
// matches ErrMalformed and unwraps to the underlying cause.
type malformedError struct {
	codec string
	err   error
}

func (e *malformedError) Error() string {
	return "codec: malformed " + e.codec + " input: " + e.err.Error()
}

func (e *malformedError) Is(target error) bool { return target == ErrMalformed }

func (e *malformedError) Unwrap() error { return e.err }

// malformed wraps err, a decoding failure of the named codec, so that it
// matches ErrMalformed.
func malformed(codec string, err error) error {
	var me *malformedError
	if errors.As(err, &me) {
		return err
	}
	return &malformedError{codec: codec, err: err}
}

// checkTarget reports whether v can receive a decoded value: it must be a
// non-nil pointer.
func checkTarget(codec string, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: %s Unmarshal into %T", ErrInvalidTarget, codec, v)
	}
	return nil
}

// recoverDecode turns a panic raised while decoding into an error that wraps
// ErrMalformed. Use it as: defer recoverDecode("json", &err).
func recoverDecode(codec string, err *error) {
	if r := recover(); r != nil {
		*err = malformed(codec, fmt.Errorf("decoder panicked: %v", r))
	}
}

// recoverEncode turns a panic raised while encoding into an error. Use it
// as: defer recoverEncode("json", &b, &err).
func recoverEncode(codec string, b *[]byte, err *error) {
	if r := recover(); r != nil {
		*b = nil
		*err = fmt.Errorf("codec: %s encoder panicked: %v", codec, r)
	}
}
