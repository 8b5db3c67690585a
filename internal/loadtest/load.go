package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one operation of a load generator: one HTTP request, or one bcrypt
// comparison. worker numbers the goroutine (0..workers-1) and seq counts
// every operation of the run, so ops can spread over sessions or names. An
// error means the answer was wrong; it stops the run.
type Op func(ctx context.Context, worker int, seq uint64) error

// Closed runs op in a closed loop: workers goroutines each start the next
// operation as soon as the previous one ends, until d has passed. Operations
// in flight at the deadline are finished and counted (see Result.Elapsed).
func Closed(ctx context.Context, workers int, d time.Duration, op Op) (Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		seq   atomic.Uint64
		wg    sync.WaitGroup
		lats  = make([][]time.Duration, workers)
		start = time.Now()
		stop  = start.Add(d)
	)
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(stop) {
					return
				}
				if err := op(ctx, w, seq.Add(1)-1); err != nil {
					cancel(fmt.Errorf("worker %d: %w", w, err))
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return Result{}, err
	}
	all := mergeSorted(lats)
	return Result{Count: len(all), Elapsed: elapsed, Latencies: all}, nil
}

// Open runs op in an open loop at a fixed rate for d, each operation in its
// own goroutine, at most maxInFlight at once. A latency runs from the
// operation's scheduled start, not its actual start, so a server (or a
// generator) that falls behind is charged for the wait its users would see
// instead of being sampled less often ("coordinated omission").
func Open(ctx context.Context, rate float64, d time.Duration, maxInFlight int, op Op) (Result, error) {
	if rate <= 0 {
		return Result{}, errors.New("loadtest: open-loop rate must be positive")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu    sync.Mutex
		lats  []time.Duration
		lags  []time.Duration
		wg    sync.WaitGroup
		slots = make(chan struct{}, maxInFlight)
		every = time.Duration(float64(time.Second) / rate)
		start = time.Now()
	)
	n := int(d / every)
	for i := range n {
		due := start.Add(time.Duration(i) * every)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			lag := time.Since(due)
			if err := op(ctx, 0, uint64(i)); err != nil {
				cancel(fmt.Errorf("request %d: %w", i, err))
				return
			}
			lat := time.Since(due)
			mu.Lock()
			lats = append(lats, lat)
			lags = append(lags, lag)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return Result{}, err
	}
	mu.Lock()
	defer mu.Unlock()
	all := mergeSorted([][]time.Duration{lats})
	return Result{Count: len(all), Elapsed: elapsed, Latencies: all, Lags: mergeSorted([][]time.Duration{lags})}, nil
}
