package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/user"
)

// cheapWrong is a wrong password that costs no bcrypt time: over 72 bytes,
// it is refused before hashing (A2), yet it is a failed sign-in like any
// other and counts against the limits. Tests whose clocks are shorter than a
// bcrypt comparison under -race use it.
var cheapWrong = strings.Repeat("w", 73)

// retryAfter returns the Retry-After of a 429, which must be whole seconds > 0.
func retryAfter(t testing.TB, resp *http.Response) int {
	t.Helper()
	v := resp.Header.Get("Retry-After")
	secs, err := strconv.Atoi(v)
	if err != nil || secs <= 0 {
		t.Fatalf("%s %s: Retry-After %q, want whole seconds > 0", resp.Request.Method, resp.Request.URL.Path, v)
	}
	return secs
}

// throttledJSON checks a 429 JSON answer: {"error": msg, "retry_after": n}
// with n equal to the Retry-After header, and returns n.
func throttledJSON(t testing.TB, resp *http.Response) int {
	t.Helper()
	wantStatus(t, resp, http.StatusTooManyRequests)
	secs := retryAfter(t, resp)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("429 for a JSON client has Content-Type %q", ct)
	}
	var out struct {
		Error      string `json:"error"`
		RetryAfter *int   `json:"retry_after"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("429 JSON body: %v", err)
	}
	if out.Error == "" || out.RetryAfter == nil || *out.RetryAfter != secs {
		t.Fatalf("429 JSON body %+v: want an error and retry_after = Retry-After (%d)", out, secs)
	}
	return secs
}

// throttledHTML checks a 429 error page and returns its Retry-After.
func throttledHTML(t testing.TB, resp *http.Response) int {
	t.Helper()
	wantStatus(t, resp, http.StatusTooManyRequests)
	secs := retryAfter(t, resp)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("429 for a browser has Content-Type %q, want an error page", ct)
	}
	if b := body(t, resp); !strings.Contains(b, "Too many attempts") {
		t.Fatalf("429 page does not say what happened:\n%.500s", b)
	}
	return secs
}

// noSessionStarted fails when a refused sign-in set a session cookie.
func noSessionStarted(t testing.TB, c *client, resp *http.Response) {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == "session_id" && ck.Value != "" && ck.MaxAge >= 0 {
			t.Fatalf("a refused sign-in set the session cookie %q", ck.Value)
		}
	}
	if c.sessionCookie() != "" {
		t.Fatal("a refused sign-in left a session cookie in the jar")
	}
}

// rawPost sends one request with its own connection, safe from any
// goroutine (the harness client may call t.Fatal), and returns its status
// and Retry-After.
func rawPost(ctx context.Context, hc *http.Client, target, contentType, payload string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(payload))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

func noRedirects(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// B1: per account, in HTML and JSON; the correct password during the lock
// does not sign in.
func TestSignInThrottledPerAccount(t *testing.T) {
	t.Parallel()
	const limit = 3
	ts := newTestServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: limit, Window: time.Minute} })
	ts.addUser(t, "alice", "password one")
	ts.addUser(t, "bob", "password two")

	for i := range limit {
		resp := ts.client(t).login("alice", "wrong password")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d of %d: status %d, want 401 (the limit allows %d)", i+1, limit, resp.StatusCode, limit)
		}
	}

	// HTML.
	secs := throttledHTML(t, ts.client(t).login("alice", "wrong password"))
	if secs > 60 {
		t.Errorf("Retry-After %d s exceeds the 60 s window", secs)
	}
	// JSON, asked for by Accept and by sending JSON.
	throttledJSON(t, ts.client(t).login("alice", "wrong password", "Accept", "application/json"))
	c := ts.client(t)
	resp := c.do(http.MethodPost, "/login", strings.NewReader(`{"username":"alice","password":"password one"}`), "Content-Type", "application/json")
	throttledJSON(t, resp)
	noSessionStarted(t, c, resp)

	// The correct password during the lock, under any spelling of the name,
	// starts no session.
	for _, name := range []string{"alice", "ALICE", " Alice"} {
		c := ts.client(t)
		resp := c.login(name, "password one")
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("correct password for %q during the lock: status %d, want 429", name, resp.StatusCode)
		}
		noSessionStarted(t, c, resp)
		wantStatus(t, c.get("/api/me"), http.StatusUnauthorized)
	}
	if keys := ts.sessionKeys(t); len(keys) != 0 {
		t.Fatalf("session records in Redis after refused sign-ins: %q", keys)
	}

	// Another account is not affected.
	wantStatus(t, ts.client(t).login("bob", "password two"), http.StatusSeeOther)
}

// B2: a lock ends when its window does, and a success resets the account
// counter.
func TestThrottleExpiresAndSuccessResets(t *testing.T) {
	t.Parallel()
	t.Run("lock expires", func(t *testing.T) {
		t.Parallel()
		const limit = 2
		ts := newTestServer(t, func(o *testOptions) {
			o.limits = Limits{AccountFailures: limit, AddrFailures: limit + 1, Window: 2 * time.Second}
		})
		ts.addUser(t, "alice", "password one")
		for range limit {
			wantStatus(t, ts.client(t).login("alice", cheapWrong), http.StatusUnauthorized)
		}
		c := ts.client(t)
		resp := c.login("alice", "password one")
		secs := throttledHTML(t, resp)
		noSessionStarted(t, c, resp)
		if secs > 2 {
			t.Errorf("Retry-After %d s exceeds the 2 s window", secs)
		}
		// Waiting as told is enough: the correct password then signs in.
		time.Sleep(time.Duration(secs)*time.Second + 200*time.Millisecond)
		c = ts.client(t)
		wantStatus(t, c.login("alice", "password one"), http.StatusSeeOther)
		wantStatus(t, c.get("/api/me"), http.StatusOK)
	})

	t.Run("success resets the account counter", func(t *testing.T) {
		t.Parallel()
		const limit = 3
		ts := newTestServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: limit, Window: time.Minute} })
		ts.addUser(t, "alice", "password one")
		fail := func(n int, when string) {
			t.Helper()
			for i := range n {
				if resp := ts.client(t).login("alice", cheapWrong); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s: failure %d: status %d, want 401", when, i+1, resp.StatusCode)
				}
			}
		}
		fail(limit-1, "before the success")
		wantStatus(t, ts.client(t).login("alice", "password one"), http.StatusSeeOther)
		// Without the reset the counter would now be at the limit.
		fail(limit, "after the success")
		throttledHTML(t, ts.client(t).login("alice", cheapWrong))
	})
}

// B1: per client address, across user names; the address comes from
// X-Forwarded-For only behind a trusted proxy.
func TestSignInThrottledPerAddress(t *testing.T) {
	t.Parallel()
	const limit = 3

	t.Run("behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(o *testOptions) {
			o.limits = Limits{AddrFailures: limit, Window: time.Minute}
			o.proxies = []string{"127.0.0.1"}
		})
		ts.addUser(t, "alice", "password one")
		from := func(addr string) []string { return []string{"X-Forwarded-For", addr} }

		// Guessing across many names from one address.
		for i := range limit {
			resp := ts.client(t).login(fmt.Sprintf("user%d", i), cheapWrong, from("203.0.113.7")...)
			wantStatus(t, resp, http.StatusUnauthorized)
		}
		throttledHTML(t, ts.client(t).login("someone-else", cheapWrong, from("203.0.113.7")...))
		throttledJSON(t, ts.client(t).login("alice", "password one", append(from("203.0.113.7"), "Accept", "application/json")...))
		// A client that prepends its own hop is still known by the address
		// the proxy saw.
		c := ts.client(t)
		resp := c.login("alice", "password one", from("198.51.100.200, 203.0.113.7")...)
		wantStatus(t, resp, http.StatusTooManyRequests)
		noSessionStarted(t, c, resp)
		if !strings.Contains(ts.logs.String(), "scope=address") {
			t.Error("no audit line names the address scope")
		}

		// Another client behind the same proxy is not affected.
		wantStatus(t, ts.client(t).login("alice", "password one", from("198.51.100.9")...), http.StatusSeeOther)
		wantStatus(t, ts.client(t).login("user0", cheapWrong, from("198.51.100.9")...), http.StatusUnauthorized)

		// IPv6 clients count per /64: hopping inside one block does not help.
		for i := range limit {
			wantStatus(t, ts.client(t).login("user0", cheapWrong, from(fmt.Sprintf("2001:db8:1:2::%x", i+1))...), http.StatusUnauthorized)
		}
		wantStatus(t, ts.client(t).login("alice", "password one", from("2001:db8:1:2:ffff::99")...), http.StatusTooManyRequests)
		wantStatus(t, ts.client(t).login("alice", "password one", from("2001:db8:1:3::1")...), http.StatusSeeOther)
	})

	t.Run("X-Forwarded-For without a trusted proxy", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(o *testOptions) { o.limits = Limits{AddrFailures: limit, Window: time.Minute} })
		ts.addUser(t, "alice", "password one")
		for i := range limit {
			resp := ts.client(t).login(fmt.Sprintf("user%d", i), cheapWrong, "X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i+1))
			wantStatus(t, resp, http.StatusUnauthorized)
		}
		// A new spoofed address each time escapes nothing.
		for i, xff := range []string{"192.0.2.200", "198.51.100.1", "2001:db8::1", "garbage"} {
			c := ts.client(t)
			resp := c.login("alice", "password one", "X-Forwarded-For", xff)
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("attempt %d with X-Forwarded-For %q: status %d, want 429 (the header must be ignored)", i, xff, resp.StatusCode)
			}
			noSessionStarted(t, c, resp)
		}
		if logs := ts.logs.String(); strings.Contains(logs, "client=192.0.2.") || !strings.Contains(logs, "client=127.0.0.1") {
			t.Error("the log names the spoofed address as the client")
		}
	})
}

// B1: the count is reserved before bcrypt runs, so concurrent attempts
// cannot exceed it.
func TestConcurrentSignInsCannotExceedLimit(t *testing.T) {
	t.Parallel()
	const (
		limit    = 5
		attempts = 30
	)
	ts := newTestServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: limit, Window: 5 * time.Minute} })
	ts.addUser(t, "alice", "password one")
	form := url.Values{"username": {"alice"}, "password": {"wrong password"}}.Encode()

	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		mu       sync.Mutex
		statuses = map[int]int{}
		errs     []error
	)
	hc := noRedirects(5 * time.Minute)
	for range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, ra, err := rawPost(context.Background(), hc, ts.URL+"/login", "application/x-www-form-urlencoded", form)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && status == http.StatusTooManyRequests {
				if n, convErr := strconv.Atoi(ra); convErr != nil || n <= 0 {
					err = fmt.Errorf("429 with Retry-After %q", ra)
				}
			}
			if err != nil {
				errs = append(errs, err)
				return
			}
			statuses[status]++
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d requests failed: %v", len(errs), errors.Join(errs...))
	}
	if statuses[http.StatusUnauthorized] != limit || statuses[http.StatusTooManyRequests] != attempts-limit {
		t.Fatalf("%d concurrent wrong passwords with a limit of %d: statuses %v, want exactly %d×401 and %d×429",
			attempts, limit, statuses, limit, attempts-limit)
	}
	// Still locked afterwards.
	wantStatus(t, ts.client(t).login("alice", "password one"), http.StatusTooManyRequests)
}

// B1: the counters live in Redis, so failures on one instance lock the
// account on the other.
func TestThrottleSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	const limit = 2
	a := newTestServer(t, func(o *testOptions) { o.limits = Limits{AccountFailures: limit, Window: time.Minute} })
	b := a.sibling(t)
	a.addUser(t, "alice", "password one")
	a.addUser(t, "bob", "password two")
	for range limit {
		wantStatus(t, a.client(t).login("alice", "wrong password"), http.StatusUnauthorized)
	}
	throttledHTML(t, b.client(t).login("alice", "wrong password"))
	c := b.client(t)
	resp := c.login("alice", "password one", "Accept", "application/json")
	throttledJSON(t, resp)
	noSessionStarted(t, c, resp)
	if keys := a.sessionKeys(t); len(keys) != 0 {
		t.Fatalf("session records after refused sign-ins: %q", keys)
	}
	// And the other way round.
	for range limit {
		wantStatus(t, b.client(t).login("bob", cheapWrong), http.StatusUnauthorized)
	}
	wantStatus(t, a.client(t).login("bob", "password two"), http.StatusTooManyRequests)
}

// A4: sign-up says "name taken", so it is limited per address like sign-in.
func TestSignupThrottledPerAddress(t *testing.T) {
	t.Parallel()
	const limit = 3
	ts := newTestServer(t, func(o *testOptions) {
		o.limits = Limits{Signups: limit, Window: time.Minute}
		o.proxies = []string{"127.0.0.1"}
	})
	signup := func(name, addr string, header ...string) *http.Response {
		t.Helper()
		return ts.client(t).postForm("/signup", url.Values{"username": {name}, "password": {"password one"}},
			append([]string{"X-Forwarded-For", addr}, header...)...)
	}
	wantStatus(t, signup("carol", "203.0.113.7"), http.StatusSeeOther)
	wantStatus(t, signup("carol", "203.0.113.7"), http.StatusConflict) // name taken: counts too
	wantStatus(t, signup("dave", "203.0.113.7"), http.StatusSeeOther)

	// The next attempt, even with a fresh name, is refused and creates nothing.
	throttledHTML(t, signup("erin", "203.0.113.7"))
	throttledJSON(t, signup("frank", "203.0.113.7", "Accept", "application/json"))
	for _, name := range []string{"erin", "frank"} {
		if _, err := ts.users.ByName(t.Context(), name); !errors.Is(err, user.ErrNotFound) {
			t.Errorf("throttled sign-up of %q: user lookup %v, want not found", name, err)
		}
	}
	// Another address may still sign up.
	wantStatus(t, signup("erin", "198.51.100.9"), http.StatusSeeOther)
}

// B3: bcrypt work is bounded, so a flood of sign-in attempts at a real cost
// leaves other requests answering. Timings are deliberately loose: each
// probe must answer within a second while the flood is still going on.
func TestHashingFloodDoesNotStarveOtherRequests(t *testing.T) {
	// Not parallel: it measures latency, so it runs alone among this
	// package's tests.
	const cost12Hash = "$2a$12$8vJBzVVwu7LftG8hr8Tp4eGT0an5NLsbM3QoTEYtUPAPcXm7NqZVa" // "password one"
	// The probing session is signed in on an instance with the cheap test
	// hasher, so that only the flood runs cost-12 bcrypt at nice 19 (a
	// cost-12 sign-in at nice 19 can take many seconds on a busy machine);
	// the flooded instance, sharing Redis and the database, serves it.
	signer := newTestServer(t)
	signer.addUser(t, "alice", "password one")
	if _, err := signer.users.Create(t.Context(), "bob", cost12Hash); err != nil {
		t.Fatal(err)
	}
	first := signer.client(t)
	wantStatus(t, first.login("alice", "password one"), http.StatusSeeOther)
	ts := signer.sibling(t, func(o *testOptions) { o.cost, o.lowPriority = 12, true })
	me := ts.client(t)
	me.setCookie(first.sessionCookie())
	wantStatus(t, me.get("/api/me"), http.StatusOK)

	// Enough rounds of hashing for the hasher's workers to outlast the
	// probes with or without -race (which makes bcrypt ~10x slower); the
	// attempts still queued at the end give up when ctx is cancelled.
	slots := ts.hasher.Concurrency()
	flood := 40 * slots
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		finished atomic.Int64
	)
	hc := noRedirects(10 * time.Minute)
	form := url.Values{"username": {"bob"}, "password": {"wrong password"}}.Encode()
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = rawPost(ctx, hc, ts.URL+"/login", "application/x-www-form-urlencoded", form)
			finished.Add(1)
		}()
	}
	t.Cleanup(func() {
		cancel() // the queued attempts give up their wait for a slot
		wg.Wait()
	})
	time.Sleep(300 * time.Millisecond) // the flood has reached the hasher

	probe := func(path string, header ...string) time.Duration {
		t.Helper()
		start := time.Now()
		resp := me.get(path, header...)
		wantStatus(t, resp, http.StatusOK)
		return time.Since(start)
	}
	var slowest time.Duration
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		for _, path := range []string{"/healthz", "/api/me"} {
			d := probe(path)
			slowest = max(slowest, d)
			if d > time.Second {
				t.Errorf("GET %s took %v during a flood of %d sign-ins", path, d, flood)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := finished.Load(); n >= int64(flood) {
		t.Fatalf("the flood (%d attempts) was over before the probes ended; nothing was measured", flood)
	}
	t.Logf("slowest probe %v; %d of %d flood attempts done meanwhile", slowest, finished.Load(), flood)
}

// B3, the cap itself: hashing runs at most Concurrency() at a time, so a
// flood of 4× that many attempts is answered in waves, the first one long
// before the last. Without the cap every attempt would share the CPUs and
// all would finish together, at the end. Only a ratio is asserted.
func TestHashingFloodIsAnsweredInWaves(t *testing.T) {
	// Not parallel: it measures time, so it runs alone among this
	// package's tests.
	ts := newTestServer(t)
	ts.addUser(t, "alice", "password one")
	slots := ts.hasher.Concurrency()
	n := 4 * slots
	form := url.Values{"username": {"alice"}, "password": {"wrong password"}}.Encode()
	hc := noRedirects(10 * time.Minute)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		took  []time.Duration
		errs  []error
		start = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			begin := time.Now()
			status, _, err := rawPost(context.Background(), hc, ts.URL+"/login", "application/x-www-form-urlencoded", form)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && status != http.StatusUnauthorized {
				err = fmt.Errorf("status %d, want 401", status)
			}
			if err != nil {
				errs = append(errs, err)
			}
			took = append(took, time.Since(begin))
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("flood attempts failed: %v", errors.Join(errs...))
	}
	slices.Sort(took)
	first, last := took[0], took[len(took)-1]
	t.Logf("%d attempts, %d hashing slots: first answered after %v, last after %v", n, slots, first, last)
	if first > last/2 {
		t.Errorf("the first of %d concurrent attempts was answered after %v and the last after %v: "+
			"hashing ran all at once instead of %d at a time", n, first, last, slots)
	}
}
