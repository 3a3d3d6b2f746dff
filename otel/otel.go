// Package otelsession reports what a session store and a session manager do
// to OpenTelemetry: a span and metrics for every store call, and counters
// for the manager's lifecycle events.
//
// It lives in its own module, github.com/typedsession/session/otel, so
// that the session module itself depends on no OpenTelemetry package.
//
// Two pieces, used together or apart:
//
//   - Store wraps a backend.Store. Every call gets a span named
//     "session.store.Load", "session.store.Create" and so on, and counts
//     towards the metrics listed below. Spans are children of the span in
//     the request's context, since the manager passes it down to the store.
//   - Handler wraps a slog.Handler. Give the Logger built on it to
//     session.Config.Logger: it counts the manager's lifecycle events
//     (session.EventCreated, session.EventConflictRetried,
//     session.EventCommitFailed, ...) and passes every record on.
//
// Neither ever records a session ID or a store key, not even in part.
// Attributes are limited to the operation, the outcome and the reason,
// all from small fixed sets, so that metric cardinality stays bounded.
//
// # Metrics
//
// Store records, with the attributes session.store.operation (load,
// create, update, touch, delete, and for a store with an owner index
// group and delete_group) and session.store.outcome (ok,
// not_found, exists, conflict, unavailable, error):
//
//	session.store.loads        counter    Load and Group calls
//	session.store.writes       counter    Create, Update, Touch, Delete and DeleteGroup calls
//	session.store.conflicts    counter    Update calls lost to a concurrent writer (ErrConflict)
//	session.store.unavailable  counter    calls that failed with ErrUnavailable
//	session.store.duration     histogram  call latency in seconds
//
// A commit is one or more store writes, so the latency of the commits is
// that of the writes: session.store.duration with operation create,
// update or delete.
//
// Handler records:
//
//	session.created           counter  EventCreated
//	session.renewed           counter  EventRenewed
//	session.destroyed         counter  EventDestroyed
//	session.expired           counter  EventExpired
//	session.ids.rejected      counter  EventUnknownID, EventRetiredID; attribute session.id.state (unknown, retired)
//	session.conflicts.retried counter  EventConflictRetried
//	session.commits.failed    counter  EventCommitFailed; attribute session.commit.reason (gone, unavailable, error)
//	session.revoked           counter  sessions ended by the EventRevoked calls
package otelsession

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter this
// package uses.
const ScopeName = "github.com/typedsession/session/otel"

// Option configures Store and Handler.
type Option func(*config)

type config struct {
	tp    trace.TracerProvider
	mp    metric.MeterProvider
	attrs []attribute.KeyValue
}

// WithTracerProvider sets where spans go. Default otel.GetTracerProvider()
// at the time Store is called.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets where metrics go. Default otel.GetMeterProvider()
// at the time Store or Handler is called.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithAttributes adds attributes to every span and measurement, for
// example the name of the store when an application has several. Keep
// their values few: every distinct value is a new metric series.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, attrs...) }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	return c
}

// int64Counter creates a counter. A creation error goes to the global
// OpenTelemetry error handler, and the counter then drops what it is
// given, unless the meter returned a usable one along with the error.
func int64Counter(m metric.Meter, name, unit, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
	}
	if c == nil {
		return noop.Int64Counter{}
	}
	return c
}
