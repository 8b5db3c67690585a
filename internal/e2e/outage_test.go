package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/cli"
	"github.com/sessionauth/authd/internal/testenv"
)

// Figures of TestRedisOutageUnderLoad.
const (
	outage          = 3 * time.Second
	maxRecovery     = 2 * time.Second // from Redis starting to the first 200
	afterRecovery   = 1500 * time.Millisecond
	goroutineMargin = 10 // growth over the pre-outage peak that still counts as no pile-up
)

// TestRedisOutageUnderLoad stops Redis for a few seconds under steady load
// and starts it again. During the outage the protected /api/me answers 503
// (never 500, never a dropped connection) and /healthz keeps answering 200;
// within two seconds of Redis returning everything is served again by the
// same server. The program runs in-process (cli.Run, as main does) so that
// its goroutines can be counted: they must not pile up during the outage
// and must return to their earlier level afterwards.
//
// The test is not parallel: it counts every goroutine of the test binary.
func TestRedisOutageUnderLoad(t *testing.T) {
	r := testenv.StartRedis(t)
	settings := map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t),
		"REDIS_URL":    r.URL,
		"BCRYPT_COST":  bcryptCost,
		"LISTEN_ADDR":  "127.0.0.1:0",
		"LOG_LEVEL":    "warn", // a line per 503, not per request
	}
	// The built binary hashes the password much faster than code built
	// with -race does.
	addUser(t, settings, userName, userPassword)
	base, logs, stopServer := serveInProcess(t, func(k string) string { return settings[k] })

	c := noRedirects()
	token := signIn(t, c, base, userName, userPassword)
	c.CloseIdleConnections()
	// This Redis keeps nothing on disk unless told to: write a snapshot now,
	// holding the session, so that the restarted Redis loads it as a Redis
	// with persistence would. Otherwise the session would be gone after the
	// outage and every later request a correct 401.
	if _, err := r.Conn(t).Do("SAVE"); err != nil {
		t.Fatalf("redis SAVE: %v", err)
	}

	g0 := settledGoroutines(0, 300*time.Millisecond)
	samples := sampleGoroutines()
	l := startLoad(base, token, 4, 2, 5*time.Millisecond)

	time.Sleep(time.Second)
	tStop := time.Now()
	r.Stop(t)
	tStopped := time.Now()
	// Readiness says what is wrong while Redis is away.
	time.Sleep(outage / 2)
	if status := getStatus(t, base+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d, want 503", status)
	}
	time.Sleep(outage - time.Since(tStopped))
	tStart := time.Now()
	r.Start(t)
	tStarted := time.Now()

	// Wait for the first 200 from /api/me that ended after Redis was started.
	var tFirst200 time.Time
	deadline := tStart.Add(maxRecovery + 3*time.Second)
	for tFirst200.IsZero() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		for _, res := range l.snapshot() {
			if res.path == "/api/me" && res.status == http.StatusOK && res.end.After(tStart) &&
				(tFirst200.IsZero() || res.end.Before(tFirst200)) {
				tFirst200 = res.end
			}
		}
	}
	if !tFirst200.IsZero() {
		time.Sleep(afterRecovery)
	}
	results := l.finish()
	gs := samples.stop()
	if status := getStatus(t, base+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz after the outage: %d, want 200", status)
	}
	gEnd := settledGoroutines(g0, 5*time.Second)
	stopServer()

	if tFirst200.IsZero() {
		t.Fatalf("no /api/me answered 200 within %v of Redis starting again", maxRecovery+3*time.Second)
	}
	recovery := tFirst200.Sub(tStart)
	t.Logf("Redis stopped for %v; first 200 %v after starting it (%v after it answered PING; redis-server took %v to start)",
		tStart.Sub(tStop).Round(time.Millisecond), recovery.Round(time.Millisecond),
		tFirst200.Sub(tStarted).Round(time.Millisecond), tStarted.Sub(tStart).Round(time.Millisecond))
	if recovery > maxRecovery {
		t.Errorf("service returned %v after Redis did, want at most %v", recovery, maxRecovery)
	}

	// Sort every request into a phase by when it ran. Requests that
	// straddle a change of phase may see either state.
	phaseOf := func(res result) string {
		switch {
		case res.end.Before(tStop):
			return "before"
		case res.start.After(tStopped) && res.end.Before(tStart):
			return "outage"
		case res.start.After(tFirst200):
			return "after"
		}
		return "transition"
	}
	phases := []string{"before", "outage", "transition", "after"}
	type key struct{ phase, path string }
	tally := map[key]map[int]int{}
	slowest := map[key]time.Duration{}
	var failures []string
	for _, res := range results {
		k := key{phaseOf(res), res.path}
		if tally[k] == nil {
			tally[k] = map[int]int{}
		}
		tally[k][res.status]++
		slowest[k] = max(slowest[k], res.end.Sub(res.start))
		if msg := judgeOutage(k.phase, res); msg != "" && len(failures) < 10 {
			failures = append(failures, fmt.Sprintf("%s %s at %+v: %s", k.phase, res.path,
				res.start.Sub(tStop).Round(time.Millisecond), msg))
		}
	}
	for _, p := range phases {
		for _, path := range []string{"/api/me", "/healthz"} {
			k := key{p, path}
			t.Logf("%-10s %-8s statuses %v, slowest %v", p, path, tally[k], slowest[k].Round(time.Millisecond))
		}
	}
	for _, f := range failures {
		t.Error(f)
	}
	for _, k := range []key{{"before", "/api/me"}, {"outage", "/api/me"}, {"after", "/api/me"},
		{"before", "/healthz"}, {"outage", "/healthz"}, {"after", "/healthz"}} {
		if len(tally[k]) == 0 {
			t.Errorf("no %s requests completed in phase %q: the load did not run", k.path, k.phase)
		}
	}
	// A 503 must come from the Redis timeouts at worst, not from a hung request.
	if d := slowest[key{"outage", "/api/me"}]; d > 2500*time.Millisecond {
		t.Errorf("slowest /api/me during the outage took %v", d)
	}

	// Goroutines: peak per phase against the peak under load before.
	peak := func(from, to time.Time) int {
		n := 0
		for _, s := range gs {
			if s.at.After(from) && s.at.Before(to) {
				n = max(n, s.n)
			}
		}
		return n
	}
	gBefore := peak(time.Time{}, tStop)
	gOutage := peak(tStopped, tStart)
	gAfter := peak(tFirst200, time.Now())
	t.Logf("goroutines: %d idle before the load; peak %d under load before, %d during the outage, %d after; %d idle after the load",
		g0, gBefore, gOutage, gAfter, gEnd)
	if gOutage > gBefore+goroutineMargin || gAfter > gBefore+goroutineMargin {
		t.Errorf("goroutines piled up: peak %d before the outage, %d during, %d after (margin %d)",
			gBefore, gOutage, gAfter, goroutineMargin)
	}
	if gEnd > g0+2 {
		t.Errorf("%d goroutines once the load stopped, %d before it started: some were left behind", gEnd, g0)
	}
	if s := logs.String(); strings.Contains(s, "level=ERROR") || strings.Contains(s, "panic") {
		t.Errorf("the server logged errors or a panic:\n%s", firstLines(s, "level=ERROR", "panic"))
	}
}

// judgeOutage returns what is wrong with a result in a phase, or "".
func judgeOutage(phase string, res result) string {
	switch {
	case res.err != nil:
		return res.err.Error()
	case res.path == "/healthz" && res.status != http.StatusOK:
		return fmt.Sprintf("status %d, want 200 always", res.status)
	case res.path == "/healthz":
		return ""
	case res.status != http.StatusOK && res.status != http.StatusServiceUnavailable:
		return fmt.Sprintf("status %d, want only 200 or 503", res.status)
	case phase == "before" || phase == "after":
		if res.status != http.StatusOK {
			return fmt.Sprintf("status %d while Redis was up, want 200", res.status)
		}
	case phase == "outage":
		if res.status != http.StatusServiceUnavailable {
			return fmt.Sprintf("status %d while Redis was down, want 503", res.status)
		}
	}
	return ""
}

// serveInProcess runs "authd serve" in-process with cli.Run, as main does,
// and returns its base URL, its log, and a function that stops it (also
// called when the test ends) and checks that it stopped cleanly.
func serveInProcess(t *testing.T, getenv func(string) string) (string, *lockedBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &lockedBuffer{}
	stdout, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, cli.Env{Args: []string{"serve"}, Getenv: getenv,
			Stdin: strings.NewReader(""), Stdout: w, Stderr: logs})
		w.Close()
	}()
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve printed no listen line: %v (serve: %v); log:\n%s", err, <-done, logs.String())
	}
	go io.Copy(io.Discard, br)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v, want nil after shutdown", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not shut down within 20s")
		}
		if t.Failed() {
			t.Logf("server log (last lines):\n%s", tail(logs.String(), 30))
		}
	}
	t.Cleanup(stop)
	return strings.TrimSpace(strings.TrimPrefix(line, "authd listening on ")), logs, stop
}

// getStatus GETs url with a fresh client and returns the status.
func getStatus(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// goroutineSamples records runtime.NumGoroutine every 10ms until stopped.
type goroutineSamples struct {
	done chan struct{}
	out  chan []goroutineSample
}

type goroutineSample struct {
	at time.Time
	n  int
}

func sampleGoroutines() *goroutineSamples {
	s := &goroutineSamples{done: make(chan struct{}), out: make(chan []goroutineSample, 1)}
	go func() {
		var got []goroutineSample
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.done:
				s.out <- got
				return
			case now := <-tick.C:
				got = append(got, goroutineSample{now, runtime.NumGoroutine()})
			}
		}
	}()
	return s
}

func (s *goroutineSamples) stop() []goroutineSample {
	close(s.done)
	return <-s.out
}

// settledGoroutines waits up to wait for the number of goroutines to fall to
// at most want (0: just let it settle), and returns the lowest count seen.
func settledGoroutines(want int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	low := runtime.NumGoroutine()
	for time.Now().Before(deadline) && (want == 0 || low > want) {
		time.Sleep(20 * time.Millisecond)
		low = min(low, runtime.NumGoroutine())
	}
	return low
}

// firstLines returns up to ten lines of s containing any of words.
func firstLines(s string, words ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if slices.ContainsFunc(words, func(w string) bool { return strings.Contains(line, w) }) {
			out = append(out, line)
			if len(out) == 10 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
