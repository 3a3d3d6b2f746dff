package otelsession_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	otelsession "github.com/typedsession/session/otel"
)

// This example wires both halves: the store decorator for spans and store
// metrics, and the slog handler, as Config.Logger, for the lifecycle
// counters. An application passes its own providers, or none to use the
// global ones (otel.SetTracerProvider, otel.SetMeterProvider); this one
// keeps everything in memory to print it.
func Example() {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	opts := []otelsession.Option{
		otelsession.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))),
		otelsession.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
	}

	mem := memstore.New()
	defer mem.Close()
	mgr, err := session.New[string](otelsession.Store(mem, opts...), session.Config{
		Logger: slog.New(otelsession.Handler(slog.DiscardHandler, opts...)),
	})
	if err != nil {
		panic(err)
	}
	h := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Set("ann"); err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/login", nil))

	for _, s := range spans.Ended() {
		fmt.Print("span: ", s.Name())
		for _, kv := range s.Attributes() {
			fmt.Printf(" %s=%s", kv.Key, kv.Value.Emit())
		}
		fmt.Println()
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			fmt.Println("metric:", m.Name, sum.DataPoints[0].Value)
		}
	}
	// Output:
	// span: session.store.Create session.store.operation=create session.store.outcome=ok
	// metric: session.store.writes 1
	// metric: session.created 1
}
