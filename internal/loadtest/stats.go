package loadtest

import (
	"math"
	"slices"
	"time"
)

// Result is what one timed run of a load generator measured.
type Result struct {
	// Count is the number of operations that completed as expected.
	Count int
	// Elapsed runs from the start until the last operation ended: the
	// workers stop starting operations at the deadline and finish the ones
	// in flight, which are counted, so Count/Elapsed is not biased low.
	Elapsed time.Duration
	// Latencies holds every operation's latency, sorted ascending.
	Latencies []time.Duration
	// Lags, of an open-loop run only, holds how late each operation started
	// after its scheduled time, sorted: the part of its latency spent in the
	// generator (waiting for a CPU or a free slot), not in the server.
	Lags []time.Duration
}

// Rate is operations per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Count) / r.Elapsed.Seconds()
}

// P returns the p-th percentile latency (0 < p <= 100).
func (r Result) P(p float64) time.Duration { return Percentile(r.Latencies, p) }

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It is always one of the measured values, never interpolated.
// An empty slice gives 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// rank = ceil(p/100 * n), computed in integers to avoid float rounding
	// turning, say, 99% of 100 into rank 100 instead of 99.
	perMille := int64(math.Round(p * 10)) // p to a tenth of a percent
	rank := int((perMille*int64(n) + 999) / 1000)
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// mergeSorted concatenates the workers' latency slices and sorts the result.
func mergeSorted(parts [][]time.Duration) []time.Duration {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	all := make([]time.Duration, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	slices.Sort(all)
	return all
}
