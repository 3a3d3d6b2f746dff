// Package deadline tells whether a context's time is up, for the stores
// that classify errors by it.
package deadline

import (
	"context"
	"time"
)

// Err returns ctx.Err(), or context.DeadlineExceeded if ctx's deadline
// has passed but its timer has not fired yet: a socket or statement
// deadline set from the context's can expire a moment before the context
// itself does.
func Err(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
