package loadtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClosedCountsEveryOperation(t *testing.T) {
	var calls atomic.Int64
	var mu sync.Mutex
	seen := map[uint64]bool{}
	res, err := Closed(context.Background(), 4, 100*time.Millisecond, func(ctx context.Context, w int, seq uint64) error {
		calls.Add(1)
		mu.Lock()
		dup := seen[seq]
		seen[seq] = true
		mu.Unlock()
		if dup {
			return errors.New("sequence number handed out twice")
		}
		time.Sleep(time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if int64(res.Count) != calls.Load() || len(res.Latencies) != res.Count {
		t.Fatalf("count %d, calls %d, latencies %d", res.Count, calls.Load(), len(res.Latencies))
	}
	if res.Elapsed < 100*time.Millisecond || res.Count < 4 {
		t.Fatalf("elapsed %v count %d", res.Elapsed, res.Count)
	}
	if res.P(50) < time.Millisecond {
		t.Fatalf("p50 %v below the op's 1ms", res.P(50))
	}
}

func TestClosedStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	start := time.Now()
	_, err := Closed(context.Background(), 8, 10*time.Second, func(ctx context.Context, w int, seq uint64) error {
		if seq == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("an error did not stop the run")
	}
}

func TestOpenKeepsRateAndChargesQueueing(t *testing.T) {
	// 100/s for 300 ms is 30 operations, whatever each one costs.
	res, err := Open(context.Background(), 100, 300*time.Millisecond, 100, func(ctx context.Context, w int, seq uint64) error {
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 30 {
		t.Fatalf("count %d, want 30", res.Count)
	}

	// With one slot and 20 ms operations at 100/s, the generator falls
	// behind: later operations wait, and their latency must show it.
	res, err = Open(context.Background(), 100, 200*time.Millisecond, 1, func(ctx context.Context, w int, seq uint64) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if max := res.P(100); max < 150*time.Millisecond {
		t.Fatalf("worst latency %v: queueing behind the slow operations was not charged", max)
	}
	if len(res.Lags) != res.Count || Percentile(res.Lags, 100) < 130*time.Millisecond {
		t.Fatalf("%d lags for %d operations, worst %v: the wait for a slot was not recorded as lag", len(res.Lags), res.Count, Percentile(res.Lags, 100))
	}
	if _, err := Open(context.Background(), 0, time.Second, 1, nil); err == nil {
		t.Fatal("rate 0: no error")
	}
}
