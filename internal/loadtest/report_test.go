package loadtest

import (
	"strings"
	"testing"
	"time"
)

func TestNumAndDur(t *testing.T) {
	for f, want := range map[float64]string{7.94: "7.9", 99.95: "100.0", 100: "100", 1234.5: "1,235", 1234567: "1,234,567"} {
		if got := num(f); got != want {
			t.Errorf("num(%v) = %q, want %q", f, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 10: "10", 999: "999", 1000: "1,000", 100000: "100,000", -12345: "-12,345"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		850 * time.Microsecond:   "850 µs",
		1234 * time.Microsecond:  "1.23 ms",
		245 * time.Millisecond:   "245 ms",
		1500 * time.Millisecond:  "1.50 s",
		time.Millisecond:         "1.00 ms",
		12345 * time.Microsecond: "12.3 ms",
	} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %q, want %q", d, got, want)
		}
	}
}

func measured(count int, elapsed time.Duration, lat ...int) *Measured {
	return &Measured{Result: Result{Count: count, Elapsed: elapsed, Latencies: ms(lat...)}}
}

func TestReportVerdicts(t *testing.T) {
	r := &Report{
		Opts:            Options{Sessions: 10_000, Cost: 12, Workers: 32, SignInWorkers: 4, ProbeRate: 200, FloodWorkers: 64, Duration: 5 * time.Second, AgeSessions: true},
		NumCPU:          2,
		GOMAXPROCS:      2,
		RefreshInterval: time.Minute,
		Public:          measured(50_000, 5*time.Second, 1, 2),
		Protected:       measured(30_000, 5*time.Second, 2, 4), // 0.6 of (1): a miss
		Commands:        &PerRequest{Reads: 1, Writes: 0.03, ByCommand: map[string]float64{"get": 1, "set": 0.03}},
		Bcrypt:          measured(40, 5*time.Second, 250),
		SignIn:          measured(38, 5*time.Second, 500), // 0.95: a pass
		Memory:          &MemoryResult{Sessions: 100_000, Users: 100_000, Before: 1_000_000, After: 31_000_000},
		Calm:            measured(1000, 5*time.Second, 1, 3),
		Flood:           measured(1000, 5*time.Second, 5, 9), // 3× calm p99: a miss
		FloodRate:       7.9,
		NginxPlain:      measured(40_000, 5*time.Second, 1, 2),
		NginxProtected:  measured(22_000, 5*time.Second, 2, 5), // 0.55 of (7u): a pass
		NginxCommands:   &PerRequest{Reads: 1, Writes: 0.02, ByCommand: map[string]float64{"get": 1, "set": 0.02}},
		Verify:          measured(35_000, 5*time.Second, 1, 3),
		VerifyCommands:  &PerRequest{Reads: 1, Writes: 0.001, ByCommand: map[string]float64{"get": 1, "evalsha": 0.001}}, // a write: a miss
	}
	var b strings.Builder
	r.Write(&b)
	out := b.String()
	rows := map[string]string{}
	main, _, _ := strings.Cut(out, "CPU use over")
	for line := range strings.Lines(main) {
		if f := strings.Split(line, "|"); len(f) == 10 { // the main table's rows
			rows[strings.TrimSpace(f[1])] = strings.TrimSpace(f[8])
		}
	}
	for n, want := range map[string]string{"2": "**MISS**", "3": "PASS", "4": "PASS", "5": "**MISS**", "6f": "**MISS**", "7p": "PASS", "7c": "PASS", "8": "**MISS**"} {
		if rows[n] != want {
			t.Errorf("row %s: %q, want %q\n%s", n, rows[n], want, out)
		}
	}
	for _, want := range []string{"0.60 × (1)", "0.95 × raw bcrypt", "300 B/session", "p99 3.0 × calm", "0.55 × (7u); p99 2.5 × (7u)", "Redis per verify: 1.000 reads, 0.001 writes (GET 1.000, EVALSHA 0.001)", "| 7p | 0.00 | 0.00 | 0.00 | 0.00 |", "10,000 sessions ÷ (6,000 req/s × 1m0s) = 0.028 writes"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestReportFlagsVerdictsOfABusyMachine(t *testing.T) {
	calm := measured(1000, 5*time.Second, 1, 3)
	flood := measured(1000, 5*time.Second, 2, 5)
	flood.CPU = CPU{Authd: 5 * time.Second, Machine: 8 * time.Second} // others: 0.6 CPUs
	r := &Report{Opts: Options{ProbeRate: 200}, NumCPU: 2, Calm: calm, Flood: flood}
	var b strings.Builder
	r.Write(&b)
	if !strings.Contains(b.String(), "| p99 1.7 × calm | p99 ≤ 2 × calm | PASS (busy machine) |") {
		t.Fatalf("verdict of a disturbed window not flagged:\n%s", b.String())
	}
}

func TestReportOfAPartialRun(t *testing.T) {
	// Only scenario 2 ran: no ratio to (1) can be given, and nothing panics.
	r := &Report{Opts: Options{Sessions: 10}, NumCPU: 2, RefreshInterval: time.Minute,
		Protected: measured(10, time.Second, 1), Commands: &PerRequest{ByCommand: map[string]float64{}}}
	var b strings.Builder
	r.Write(&b)
	if !strings.Contains(b.String(), "| 2 | protected page, GET /api/me over 10 sessions | 10.0 | 1.00 ms | 1.00 ms | — | ≥ 0.7 × (1) | — |") {
		t.Fatalf("unexpected row 2:\n%s", b.String())
	}
}
