package otelsession

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/typedsession/session/backend"
)

// Attribute keys of spans and measurements.
const (
	// AttrOperation is the store method: load, create, update, touch,
	// delete, group or delete_group.
	AttrOperation = attribute.Key("session.store.operation")
	// AttrOutcome is how a store call ended: ok, not_found, exists,
	// conflict, unavailable or error.
	AttrOutcome = attribute.Key("session.store.outcome")
)

// Outcomes of a store call, the values of AttrOutcome.
const (
	OutcomeOK          = "ok"
	OutcomeNotFound    = "not_found"
	OutcomeExists      = "exists"
	OutcomeConflict    = "conflict"
	OutcomeUnavailable = "unavailable"
	OutcomeError       = "error"
)

// outcome classifies the error of a store call.
func outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, backend.ErrNotFound):
		return OutcomeNotFound
	case errors.Is(err, backend.ErrExists):
		return OutcomeExists
	case errors.Is(err, backend.ErrConflict):
		return OutcomeConflict
	case errors.Is(err, backend.ErrUnavailable):
		return OutcomeUnavailable
	}
	return OutcomeError
}

// store is the decorator Store returns.
type store struct {
	next   backend.Store
	tracer trace.Tracer
	attrs  []attribute.KeyValue

	loads, writes, conflicts, unavailable metric.Int64Counter
	duration                              metric.Float64Histogram
}

// Store returns s wrapped so that every call starts a span and is
// measured (see the package documentation for the names). The wrapper
// passes every call and its result through unchanged, and is safe for
// concurrent use if s is.
//
// If s also implements backend.OwnerIndex, so does the returned Store,
// and its Group and DeleteGroup calls are traced and measured too (Group
// counts as a load, DeleteGroup as a write).
//
// A span's status is Error when the call failed with ErrUnavailable or an
// error the backend package does not name; ErrNotFound, ErrExists and
// ErrConflict are answers the manager expects and acts on, so they only
// show in the outcome attribute. Neither spans nor measurements carry the
// key or the error's text, which may quote the key.
func Store(s backend.Store, opts ...Option) backend.Store {
	c := newConfig(opts)
	m := c.mp.Meter(ScopeName)
	st := &store{
		next:        s,
		tracer:      c.tp.Tracer(ScopeName),
		attrs:       c.attrs,
		loads:       int64Counter(m, "session.store.loads", "{call}", "Session store Load calls."),
		writes:      int64Counter(m, "session.store.writes", "{call}", "Session store Create, Update, Touch and Delete calls."),
		conflicts:   int64Counter(m, "session.store.conflicts", "{call}", "Session store Update calls that lost a compare-and-set to a concurrent writer."),
		unavailable: int64Counter(m, "session.store.unavailable", "{call}", "Session store calls that failed because the store was unavailable."),
	}
	h, err := m.Float64Histogram("session.store.duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of session store calls."))
	if err != nil {
		otel.Handle(err)
	}
	if h == nil {
		h = noop.Float64Histogram{}
	}
	st.duration = h
	if ix, ok := s.(backend.OwnerIndex); ok {
		return &indexedStore{store: st, index: ix}
	}
	return st
}

// Names of the operations, as span names and AttrOperation values.
const (
	opLoad        = "load"
	opCreate      = "create"
	opUpdate      = "update"
	opTouch       = "touch"
	opDelete      = "delete"
	opGroup       = "group"
	opDeleteGroup = "delete_group"
)

var spanNames = map[string]string{
	opLoad:        "session.store.Load",
	opCreate:      "session.store.Create",
	opUpdate:      "session.store.Update",
	opTouch:       "session.store.Touch",
	opDelete:      "session.store.Delete",
	opGroup:       "session.store.Group",
	opDeleteGroup: "session.store.DeleteGroup",
}

// start begins the span of a call of op and returns the function that
// ends it and records the call's measurements.
func (s *store) start(ctx context.Context, op string) (context.Context, func(error)) {
	opAttr := AttrOperation.String(op)
	ctx, span := s.tracer.Start(ctx, spanNames[op],
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(opAttr),
		trace.WithAttributes(s.attrs...))
	begin := time.Now()
	return ctx, func(err error) {
		elapsed := time.Since(begin)
		out := outcome(err)
		span.SetAttributes(AttrOutcome.String(out))
		switch out {
		case OutcomeUnavailable:
			span.SetStatus(codes.Error, "session store unavailable")
		case OutcomeError:
			span.SetStatus(codes.Error, "session store error")
		}
		span.End()

		attrs := make([]attribute.KeyValue, 0, 2+len(s.attrs))
		attrs = append(append(attrs, opAttr, AttrOutcome.String(out)), s.attrs...)
		set := metric.WithAttributeSet(attribute.NewSet(attrs...))
		if op == opLoad || op == opGroup {
			s.loads.Add(ctx, 1, set)
		} else {
			s.writes.Add(ctx, 1, set)
		}
		switch out {
		case OutcomeConflict:
			s.conflicts.Add(ctx, 1, set)
		case OutcomeUnavailable:
			s.unavailable.Add(ctx, 1, set)
		}
		s.duration.Record(ctx, elapsed.Seconds(), set)
	}
}

// Load calls the wrapped store's Load in a span.
func (s *store) Load(ctx context.Context, key string) (rec backend.Record, err error) {
	ctx, end := s.start(ctx, opLoad)
	defer func() { end(err) }()
	return s.next.Load(ctx, key)
}

// Create calls the wrapped store's Create in a span.
func (s *store) Create(ctx context.Context, key string, data []byte, ttl time.Duration) (v uint64, err error) {
	ctx, end := s.start(ctx, opCreate)
	defer func() { end(err) }()
	return s.next.Create(ctx, key, data, ttl)
}

// Update calls the wrapped store's Update in a span.
func (s *store) Update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (v uint64, err error) {
	ctx, end := s.start(ctx, opUpdate)
	defer func() { end(err) }()
	return s.next.Update(ctx, key, version, data, ttl)
}

// Touch calls the wrapped store's Touch in a span.
func (s *store) Touch(ctx context.Context, key string, ttl time.Duration) (err error) {
	ctx, end := s.start(ctx, opTouch)
	defer func() { end(err) }()
	return s.next.Touch(ctx, key, ttl)
}

// Delete calls the wrapped store's Delete in a span.
func (s *store) Delete(ctx context.Context, key string) (err error) {
	ctx, end := s.start(ctx, opDelete)
	defer func() { end(err) }()
	return s.next.Delete(ctx, key)
}

// indexedStore is the decorator of a store that implements
// backend.OwnerIndex.
type indexedStore struct {
	*store
	index backend.OwnerIndex
}

// Group calls the wrapped store's Group in a span.
func (s *indexedStore) Group(ctx context.Context, group string) (recs []backend.KeyedRecord, err error) {
	ctx, end := s.start(ctx, opGroup)
	defer func() { end(err) }()
	return s.index.Group(ctx, group)
}

// DeleteGroup calls the wrapped store's DeleteGroup in a span.
func (s *indexedStore) DeleteGroup(ctx context.Context, group, keep string) (n int, err error) {
	ctx, end := s.start(ctx, opDeleteGroup)
	defer func() { end(err) }()
	return s.index.DeleteGroup(ctx, group, keep)
}
