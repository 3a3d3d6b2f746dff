package codec

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// MsgPack is the codec named "msgpack". It encodes with
// github.com/vmihailenco/msgpack/v5.
//
// A struct field without a msgpack tag uses its json tag (name, omitempty,
// "-"), so one set of json tags serves every codec. Integers of every size
// take the shortest encoding that holds them; typed fields come back in
// their own width. Embedded structs are flattened, as JSON does. Timestamps
// use the standard timestamp extension and come back in UTC (see the
// package doc). msgpack honours msgpack.CustomEncoder, msgpack.Marshaler,
// encoding.BinaryMarshaler and encoding.TextMarshaler (with their decoding
// halves), in that order, but not json.Marshaler: CheckType refuses a type
// whose data only MarshalJSON would carry.
//
// Map entries are written in Go's iteration order: the bytes of equal
// values can differ, which nothing in this module depends on.
var MsgPack Codec = newMsgpackCodec()

// msgpackPoolMax is the largest buffer an encoder or decoder goes back to
// the pool with, so that the pools never pin very large buffers.
const msgpackPoolMax = 256 << 10

// msgpackTag is the struct tag msgpack falls back to when a field has no
// msgpack tag.
const msgpackTag = "json"

type msgpackCodec struct {
	decoders sync.Pool // of *msgpackDecoder
	encoders sync.Pool // of *msgpackEncoder
}

type msgpackDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

type msgpackEncoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

func newMsgpackCodec() *msgpackCodec {
	c := &msgpackCodec{}
	c.decoders.New = func() any {
		d := &msgpackDecoder{}
		// *bytes.Reader is an io.ByteScanner, so the decoder reads it
		// directly instead of wrapping it in a bufio.Reader.
		d.dec = msgpack.NewDecoder(&d.r)
		return d
	}
	c.encoders.New = func() any {
		e := &msgpackEncoder{}
		e.enc = msgpack.NewEncoder(&e.buf)
		return e
	}
	return c
}

// Name returns "msgpack".
func (*msgpackCodec) Name() string { return "msgpack" }

// Marshal returns the MessagePack encoding of v in a new slice.
func (c *msgpackCodec) Marshal(v any) (b []byte, err error) {
	defer recoverEncode("msgpack", &b, &err)
	e := c.encoders.Get().(*msgpackEncoder)
	e.buf.Reset()
	// Reset clears the flags and the struct tag, so set them every time.
	e.enc.Reset(&e.buf)
	e.enc.SetCustomStructTag(msgpackTag)
	e.enc.UseCompactInts(true)
	err = e.enc.Encode(v)
	if err == nil {
		b = bytes.Clone(e.buf.Bytes())
	}
	e.enc.ResetWriter(nil)
	if e.buf.Cap() <= msgpackPoolMax {
		c.encoders.Put(e)
	}
	if err != nil {
		return nil, fmt.Errorf("codec: msgpack: %w", err)
	}
	return b, nil
}

// Unmarshal decodes the MessagePack value in data into the value v points
// to. Trailing data after the value is an error wrapping ErrMalformed. If
// v can hold interface values, Unmarshal first checks that no length
// header claims more than the input holds (see checkLengths).
func (c *msgpackCodec) Unmarshal(data []byte, v any) (err error) {
	if err := checkTarget("msgpack", v); err != nil {
		return err
	}
	if factsOf(reflect.TypeOf(v).Elem()).iface {
		if err := checkLengths(data); err != nil {
			return err
		}
	}
	d := c.decoders.Get().(*msgpackDecoder)
	reuse := false
	defer func() {
		if r := recover(); r != nil {
			err = malformed("msgpack", fmt.Errorf("decoder panicked: %v", r))
			return
		}
		// A decoder that failed may hold inconsistent state (msgpack/v5
		// leaves its raw-message recorder set on some errors): drop it.
		if reuse && len(data) <= msgpackPoolMax {
			d.r.Reset(nil)
			c.decoders.Put(d)
		}
	}()
	d.r.Reset(data)
	// Reset clears the flags and the struct tag, so set them every time.
	d.dec.Reset(&d.r)
	d.dec.SetCustomStructTag(msgpackTag)
	if err := d.dec.Decode(v); err != nil {
		return malformed("msgpack", err)
	}
	if n := d.r.Len(); n != 0 {
		return malformed("msgpack", fmt.Errorf("%d bytes of trailing data after the value", n))
	}
	reuse = true
	timesToUTC(v)
	return nil
}

// CheckType reports the fields of t that MsgPack cannot carry faithfully:
// see TypeChecker and the package doc.
func (*msgpackCodec) CheckType(t reflect.Type) error { return msgpackRules.check(t) }
