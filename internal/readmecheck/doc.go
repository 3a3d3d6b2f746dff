// Package readmecheck holds, in its tests, every Go snippet of the README
// verbatim, so that the build checks they compile, and a test that checks
// the README still shows exactly these snippets. The quickstart is
// examples/quickstart, and the OpenTelemetry snippet lives in the otel
// module's tests.
package readmecheck
