package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// Middleware returns next wrapped so that its handlers can use
// m.From(r). It attaches a lazy session to each request and commits it
// exactly once: just before the response header is written (the first
// WriteHeader, Write, ReadFrom, Flush or Hijack) or when next returns
// without writing, whichever is first. If the commit fails, the response
// is replaced by Config.ErrorHandler's: the headers the handler set are
// discarded, those set before the middleware ran are kept, and the
// handler's later writes fail. A handler that panics commits nothing.
//
// The middleware of one Manager applied twice to a request (say, once
// around the router and once around a route) acts once: the inner one
// passes the request through.
//
// The response writer given to next forwards Flush, Hijack and ReadFrom,
// and unwraps (Unwrap) for http.ResponseController.
func (m *Manager[T]) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(m).(*Session[T]); ok {
			next.ServeHTTP(w, r)
			return
		}
		s := &Session[T]{m: m}
		s.ctx = sessionContext[T]{Context: r.Context(), s: s}
		r = r.WithContext(&s.ctx)
		s.req = r
		s.rw = responseWriter[T]{w: w, s: s}
		next.ServeHTTP(&s.rw, r)
		s.rw.commit()
	})
}

// sessionContext is the context the middleware gives the request: its
// parent, plus the session under the key m (the Manager), as
// context.WithValue would. It lives inside Session to save an allocation
// per request; cancellation, deadlines and other values come from the
// parent, so context.WithCancel and friends still find the parent's.
type sessionContext[T any] struct {
	context.Context
	s *Session[T]
}

// Value returns the session for the key s.m, and asks the parent for
// every other key.
func (c *sessionContext[T]) Value(key any) any {
	if key == any(c.s.m) {
		return c.s
	}
	return c.Context.Value(key)
}

// responseWriter commits the session before the response header goes out.
// It lives inside Session to save an allocation per request.
type responseWriter[T any] struct {
	w         http.ResponseWriter
	s         *Session[T]
	attempted bool  // commit ran
	failed    error // commit failed; the error response was written

	// The header map as the handler found it, taken the first time the
	// handler asks for it, so that a failed commit can discard what the
	// handler added and keep what was there before.
	snapped bool
	snap    http.Header
}

// errReplaced is returned by writes after a failed commit replaced the
// response.
var errReplaced = errors.New("session: response replaced after the session commit failed")

// commit commits the session if that has not been tried yet, and reports
// whether the handler's response may go on.
func (rw *responseWriter[T]) commit() bool {
	if rw.attempted {
		return rw.failed == nil
	}
	rw.attempted = true
	h := rw.w.Header()
	if err := rw.s.commit(h); err != nil {
		rw.failed = err
		if rw.snapped {
			clear(h)
			for k, v := range rw.snap {
				h[k] = v
			}
		}
		rw.s.failedHeaders(h)
		rw.s.commitFailed(err)
		rw.s.m.onError(rw.w, rw.s.req, err)
		return false
	}
	return true
}

func (rw *responseWriter[T]) writeErr() error {
	return fmt.Errorf("%w: %w", errReplaced, rw.failed)
}

// Header returns the header map of the underlying writer.
func (rw *responseWriter[T]) Header() http.Header {
	h := rw.w.Header()
	if !rw.snapped && !rw.attempted {
		rw.snapped = true
		if len(h) > 0 {
			rw.snap = h.Clone()
		}
	}
	return h
}

// WriteHeader commits the session, then writes the header. Informational
// (1xx) headers other than 101 pass through without committing.
func (rw *responseWriter[T]) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if rw.failed == nil {
			rw.w.WriteHeader(code)
		}
		return
	}
	if rw.commit() {
		rw.w.WriteHeader(code)
	}
}

// Write commits the session, then writes p.
func (rw *responseWriter[T]) Write(p []byte) (int, error) {
	if !rw.commit() {
		return 0, rw.writeErr()
	}
	return rw.w.Write(p)
}

// ReadFrom commits the session, then copies src to the underlying writer,
// using its io.ReaderFrom (sendfile) when it has one.
func (rw *responseWriter[T]) ReadFrom(src io.Reader) (int64, error) {
	if !rw.commit() {
		return 0, rw.writeErr()
	}
	if rf, ok := rw.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{rw.w}, src)
}

// writerOnly hides every method but Write, so io.Copy cannot recurse into
// ReadFrom.
type writerOnly struct{ io.Writer }

// Flush commits the session, then flushes the underlying writer if it
// can.
func (rw *responseWriter[T]) Flush() {
	_ = rw.FlushError()
}

// FlushError is Flush reporting errors; http.ResponseController calls it.
func (rw *responseWriter[T]) FlushError() error {
	if !rw.commit() {
		return rw.writeErr()
	}
	return http.NewResponseController(rw.w).Flush()
}

// Hijack commits the session, then hijacks the connection if the
// underlying writer can. Headers set by the commit (a new session's
// cookie) are not sent on a hijacked connection; the store is up to date
// all the same.
func (rw *responseWriter[T]) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !rw.commit() {
		return nil, nil, rw.writeErr()
	}
	return http.NewResponseController(rw.w).Hijack()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (rw *responseWriter[T]) Unwrap() http.ResponseWriter { return rw.w }
