package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// bench holds what the scenarios share.
type bench struct {
	opts      Options
	base      string // authd's URL
	client    *http.Client
	pool      *redis.Pool
	procs     Procs
	minter    *minter
	tokens    []string // the sessions of scenarios 2, 6 and 7
	nginx     *benchNginx
	peer      *peerSide    // scenario 9
	peerCalls CommandCalls // its commandstats deltas so far
	progress  func(format string, a ...any)
	stderr    io.Writer
}

// newClient returns a keep-alive HTTP client that keeps up to conns idle
// connections and never follows redirects.
func newClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Measured is a Result and the CPU time each process used meanwhile.
type Measured struct {
	Result
	CPU CPU
}

// add folds another window of the same scenario into m.
func (m *Measured) add(o *Measured) {
	m.Count += o.Count
	m.Elapsed += o.Elapsed
	m.Latencies = append(m.Latencies, o.Latencies...)
	slices.Sort(m.Latencies)
	m.Lags = append(m.Lags, o.Lags...)
	slices.Sort(m.Lags)
	m.CPU = m.CPU.add(o.CPU)
}

// accumulate adds o into *m, allocating *m the first time.
func accumulate(m **Measured, o *Measured) {
	if *m == nil {
		*m = &Measured{}
	}
	(*m).add(o)
}

// measure runs fn and accounts the CPU time of authd, redis-server,
// authbench and the whole machine over it.
func (b *bench) measure(fn func() (Result, error)) (*Measured, error) {
	before, err := b.procs.snapshot()
	if err != nil {
		return nil, err
	}
	res, err := fn()
	if err != nil {
		return nil, err
	}
	after, err := b.procs.snapshot()
	if err != nil {
		return nil, err
	}
	return &Measured{Result: res, CPU: after.sub(before)}, nil
}

// window is the measured time of one round of scenarios 3 and 6: the two
// sides of each comparison run in alternating rounds, so that a change in
// the machine's background load affects both alike.
func (b *bench) window() time.Duration { return b.opts.Duration / time.Duration(b.opts.Rounds) }

// get returns an op that GETs path, with the session cookie of
// cookie(seq) when cookie is not nil, and expects status 200.
func (b *bench) get(client *http.Client, path string, cookie func(seq uint64) string) Op {
	return func(ctx context.Context, _ int, seq uint64) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
		if err != nil {
			return err
		}
		if cookie != nil {
			req.Header.Set("Cookie", "session_id="+cookie(seq))
		}
		return do(client, req, http.StatusOK)
	}
}

// signIn returns an op that POSTs the sign-in form with the user name and
// password that name and pw return, and expects status want.
func (b *bench) signIn(client *http.Client, name, pw func() string, want int) Op {
	return func(ctx context.Context, _ int, _ uint64) error {
		form := url.Values{"username": {name()}, "password": {pw()}}.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/login", strings.NewReader(form))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(client, req, want)
	}
}

// do sends req and reads the whole body, so the connection is reused.
func do(client *http.Client, req *http.Request, want int) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d", req.Method, req.URL.Path, resp.StatusCode, want)
	}
	return err
}

// quiesce waits, up to 5 s, until authd uses under a tenth of a CPU, so
// that work left over from one window (a bcrypt still running for a
// cancelled sign-in) does not spill into the next.
func (b *bench) quiesce(ctx context.Context) error {
	for range 50 {
		before, err := cpuTime(b.procs.Authd)
		if err != nil {
			return err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		after, err := cpuTime(b.procs.Authd)
		if err != nil {
			return err
		}
		if after-before < 10*time.Millisecond {
			return nil
		}
	}
	return nil
}
