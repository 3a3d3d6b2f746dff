package codec

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// MsgPack is the codec named "msgpack". It encodes with
// github.com/vmihailenco/msgpack/v5.
//
// A struct field without a msgpack tag uses its json tag (name, omitempty,
// "-"), so one set of json tags serves every codec. Integers of every size
// take the shortest encoding that holds them. Output is canonical and
// deterministic: the entries of every map, including the maps that encode
// structs, are sorted by key (string keys bytewise, before any other keys,
// which sort by their encoding). Timestamps use the standard timestamp
// extension; the few whose 4- or 8-byte form would begin with a map code are
// written in the equivalent 12-byte form (see Unmarshal). Values that nest
// arrays and maps (structs included) more than 64 levels deep, or that use
// an ext type whose payload begins with a map code, cannot be encoded.
//
// Unmarshal first validates the input's structure without allocating, then
// decodes it with a pooled decoder. Input is rejected, with an error that
// wraps ErrMalformed, if it is truncated, has trailing data, uses the code
// 0xc1, nests more than 64 levels deep, has a length header claiming more
// elements or bytes than follow it, has a malformed timestamp, or has an ext
// (other than a timestamp) whose payload begins with a map code, which
// msgpack/v5 would misread. So n bytes of input never make the decoder
// allocate for more than n elements, whatever their headers claim.
var MsgPack Codec = newMsgpackCodec()

// msgpackPoolMax is the largest input or output size whose decoder or
// encoder goes back to the pool, so that the pools never pin large buffers.
const msgpackPoolMax = 64 << 10

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
	buf     bytes.Buffer
	enc     *msgpack.Encoder
	entries []mpEntry
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

// Marshal returns the canonical MessagePack encoding of v in a new slice.
func (c *msgpackCodec) Marshal(v any) (b []byte, err error) {
	defer recoverEncode("msgpack", &b, &err)
	e := c.encoders.Get().(*msgpackEncoder)
	e.buf.Reset()
	// Reset clears the flags and the struct tag, so set them every time.
	e.enc.Reset(&e.buf)
	e.enc.SetCustomStructTag(msgpackTag)
	e.enc.SetSortMapKeys(true)
	e.enc.UseCompactInts(true)
	if err := e.enc.Encode(v); err != nil {
		c.putEncoder(e)
		return nil, fmt.Errorf("codec: msgpack: %w", err)
	}
	out := e.buf.Bytes()
	scan, err := scanMsgpack(out, true)
	if err != nil {
		c.putEncoder(e)
		var me *malformedError
		if errors.As(err, &me) {
			err = me.err
		}
		return nil, fmt.Errorf("codec: msgpack: cannot encode %T: %w", v, err)
	}
	if scan.unsorted || scan.ambiguousTime {
		b, e.entries = rewriteMsgpack(out, true, e.entries)
	} else {
		b = bytes.Clone(out)
	}
	c.putEncoder(e)
	return b, nil
}

func (c *msgpackCodec) putEncoder(e *msgpackEncoder) {
	e.enc.ResetWriter(nil)
	if e.buf.Cap() <= msgpackPoolMax && cap(e.entries) <= msgpackPoolMax/16 {
		e.buf.Reset()
		c.encoders.Put(e)
	}
}

// Unmarshal decodes the MessagePack value in data into the value v points
// to, after validating data as described on MsgPack.
func (c *msgpackCodec) Unmarshal(data []byte, v any) (err error) {
	if err := checkTarget("msgpack", v); err != nil {
		return err
	}
	scan, err := scanMsgpack(data, false)
	if err != nil {
		return err
	}
	if scan.ambiguousTime {
		data, _ = rewriteMsgpack(data, false, nil)
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
	return nil
}
