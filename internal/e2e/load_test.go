package e2e

import (
	"net/http"
	"sync"
	"time"
)

// result is the outcome of one request of a load run.
type result struct {
	path       string // "/api/me" or "/healthz"
	start, end time.Time
	status     int   // 0 when no response came
	err        error // a failed exchange, or a body the status did not promise
}

// load keeps a steady stream of requests going against one server: workers
// that GET /api/me with a session token and workers that GET /healthz, each
// one request at a time on its own keep-alive connection, pausing briefly
// between requests.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	results []result
}

// startLoad starts meWorkers workers on base/api/me (signed in with token)
// and healthWorkers on base/healthz.
func startLoad(base, token string, meWorkers, healthWorkers int, pause time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	run := func(path string, do func(c *http.Client) (int, error)) {
		defer l.wg.Done()
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		defer c.CloseIdleConnections()
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			r := result{path: path, start: time.Now()}
			r.status, r.err = do(c)
			r.end = time.Now()
			l.mu.Lock()
			l.results = append(l.results, r)
			l.mu.Unlock()
			if r.err != nil {
				// A refused connection comes back at once: do not spin.
				time.Sleep(10 * pause)
			}
			time.Sleep(pause)
		}
	}
	for range meWorkers {
		l.wg.Add(1)
		go run("/api/me", func(c *http.Client) (int, error) { return getMe(c, base+"/api/me", token) })
	}
	for range healthWorkers {
		l.wg.Add(1)
		go run("/healthz", func(c *http.Client) (int, error) { return getHealth(c, base) })
	}
	return l
}

// snapshot returns the results so far.
func (l *load) snapshot() []result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]result(nil), l.results...)
}

// finish stops the workers, waits for their last requests and returns every
// result, in order of completion.
func (l *load) finish() []result {
	close(l.stop)
	l.wg.Wait()
	return l.snapshot()
}
