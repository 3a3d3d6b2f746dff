package deadline

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestErr(t *testing.T) {
	if err := Err(context.Background()); err != nil {
		t.Errorf("no deadline: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Err(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// A deadline in the past whose timer may not have fired yet.
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := Err(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("past deadline: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := Err(ctx); err != nil {
		t.Errorf("future deadline: %v", err)
	}
}
