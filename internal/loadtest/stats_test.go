package loadtest

import (
	"testing"
	"time"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	thousand := make([]int, 1000)
	for i := range thousand {
		thousand[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 1..100 is the 99th, not the max", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99.9 of 1..1000", ms(thousand...), 99.9, 999 * time.Millisecond},
		{"p99 of 10 values is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p50 of 4 values is the 2nd", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p50 of 5 values is the 3rd", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"tiny p is the min", ms(1, 2, 3), 0.1, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Fatalf("Percentile(p%g) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestResultRateAndMerge(t *testing.T) {
	r := Result{Count: 500, Elapsed: 2 * time.Second, Latencies: mergeSorted([][]time.Duration{ms(5, 1), nil, ms(3)})}
	if got := r.Rate(); got != 250 {
		t.Fatalf("Rate = %v, want 250", got)
	}
	if got := r.Latencies; len(got) != 3 || got[0] != time.Millisecond || got[2] != 5*time.Millisecond {
		t.Fatalf("merged latencies %v, want sorted 1ms 3ms 5ms", got)
	}
	if (Result{}).Rate() != 0 {
		t.Fatal("rate of an empty result is not 0")
	}
}
