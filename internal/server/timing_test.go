package server

import (
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/password"
)

// A3: a failed sign-in takes as long for a name that exists as for one that
// does not, with a normal password and with one over bcrypt's 72 bytes (which
// once skipped bcrypt for both, while writing an activity row for the known
// name only: ~2 ms more).
//
// Known and unknown attempts are sent in pairs, in random order within each
// pair, so that whatever else the machine does hits both alike. The sign test
// then asks in how many pairs the known name was slower: about half of them if
// the two paths cost the same, whatever the load, since load only adds noise
// to both. A systematic difference pushes the count towards all or none. The
// bound is four standard deviations of the binomial, so an honest server
// fails it about once in 16,000 runs, on any machine.
func TestSignInTimingSameForKnownAndUnknown(t *testing.T) {
	// Not parallel: it measures time, so it runs alone among this package's
	// tests.
	ts := newTestServer(t, func(o *testOptions) {
		// A real cost: what is compared is the time bcrypt takes.
		o.cost = password.MinCost
		// Limits that are never reached keep the throttle's work in the path.
		o.limits = Limits{AccountFailures: 100000, AddrFailures: 100000, DeviceFailures: 100000, Window: time.Hour}
	})
	ts.addUser(t, "alice", "password one")
	c := ts.client(t) // one keep-alive connection for every sample

	for _, tc := range []struct {
		name     string
		password string
		pairs    int
	}{
		{"over 72 bytes", strings.Repeat("w", 73), 80},
		{"normal password", "wrong password", 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attempt := func(name string) time.Duration {
				t.Helper()
				form := url.Values{"username": {name}, "password": {tc.password}}
				start := time.Now()
				resp := c.postForm("/login", form)
				b := body(t, resp)
				took := time.Since(start)
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(b, msgInvalidCredentials) {
					t.Fatalf("sign-in as %q: status %d, want 401 with the one message", name, resp.StatusCode)
				}
				// Whatever the server does after answering (the activity
				// row, and the garbage it leaves) is done before the next
				// sample starts, and given a moment to settle (a write to
				// the SQLite file slows the next few milliseconds a little),
				// so that no sample pays for the one before it. That
				// carry-over is not what this test looks for: it would
				// favour whichever name comes second in a pair.
				ts.flushActivity(t)
				runtime.GC()
				time.Sleep(20 * time.Millisecond)
				return took
			}
			attempt("alice") // warm up the connection, caches and the hasher
			attempt("nobody")
			var known, unknown []time.Duration
			slower := 0
			for range tc.pairs {
				var k, u time.Duration
				if rand.IntN(2) == 0 {
					k, u = attempt("alice"), attempt("nobody")
				} else {
					u, k = attempt("nobody"), attempt("alice")
				}
				known, unknown = append(known, k), append(unknown, u)
				if k > u {
					slower++
				}
			}
			n := float64(tc.pairs)
			bound := 4 * math.Sqrt(n) / 2
			t.Logf("%d pairs: known name slower in %d (expected %.0f ± %.1f); medians known %v, unknown %v",
				tc.pairs, slower, n/2, bound, median(known), median(unknown))
			if math.Abs(float64(slower)-n/2) > bound {
				t.Errorf("the known name was slower in %d of %d pairs (medians %v vs %v): "+
					"timing tells which names exist", slower, tc.pairs, median(known), median(unknown))
			}
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
