package mail

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
)

// startWorker runs a worker until the test ends.
func startWorker(t *testing.T, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func fastWorker(ob *Outbox, s Sender, log *slog.Logger) *Worker {
	return &Worker{
		Outbox: ob, Sender: s, Composer: echoComposer{}, Log: log,
		Backoff: func(int) time.Duration { return 20 * time.Millisecond },
		Poll:    50 * time.Millisecond, Lease: time.Minute, MaxAge: time.Hour,
	}
}

func enqueue(t *testing.T, ob *Outbox, kind string, to string, n int) {
	t.Helper()
	if err := ob.Enqueue(context.Background(), kind, map[string]any{"to": to, "n": n}); err != nil {
		t.Fatal(err)
	}
}

func waitEmpty(t *testing.T, ob *Outbox) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := ob.Len(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d jobs", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Several workers (as in several instances) on one outbox send every job
// exactly once.
func TestWorkersShareOutbox(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", testenv.SQLiteURL}, {"postgres", testenv.PostgresURL}} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.url(t))
			srv := testenv.StartSMTP(t)
			const jobs = 40
			for i := range 3 {
				ob := NewOutbox(db, 1000, nil)
				startWorker(t, fastWorker(ob, smtpSender(t, srv, TLSNone, "", ""), slog.New(slog.DiscardHandler)))
				if i == 0 {
					for n := range jobs {
						enqueue(t, ob, "echo", fmt.Sprintf("user%d@example.com", n), n)
					}
				}
			}
			mails := srv.WaitFor(t, jobs, time.Minute)
			waitEmpty(t, NewOutbox(db, 1000, nil))
			mails = srv.Mails()
			seen := map[string]int{}
			for _, m := range mails {
				seen[m.To[0]]++
			}
			if len(mails) != jobs || len(seen) != jobs {
				var dup []string
				for to, n := range seen {
					if n > 1 {
						dup = append(dup, to)
					}
				}
				sort.Strings(dup)
				t.Fatalf("%d mails to %d recipients, want %d each once; sent twice: %v", len(mails), len(seen), jobs, dup)
			}
		})
	}
}

// The mail server going away loses nothing: the job is retried until the
// server is back, then delivered once.
func TestWorkerRetriesUntilServerReturns(t *testing.T) {
	db := openDB(t, testenv.SQLiteURL(t))
	srv := testenv.StartSMTP(t)
	srv.Stop()
	var logs syncBuffer
	ob := NewOutbox(db, 100, nil)
	startWorker(t, fastWorker(ob, smtpSender(t, srv, TLSNone, "", ""), slog.New(slog.NewTextHandler(&logs, nil))))
	enqueue(t, ob, "echo", "alice@example.com", 1)

	// Wait for a few failed attempts, seen in the log and the table.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(logs.String(), "will retry") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no retries logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var attempts int
	var lastErr string
	if err := db.QueryRow(`SELECT attempts, last_error FROM mail_outbox`).Scan(&attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if attempts < 3 || lastErr == "" {
		t.Fatalf("attempts %d, last error %q", attempts, lastErr)
	}

	srv.Start(t)
	got := srv.WaitFor(t, 1, 30*time.Second)
	waitEmpty(t, ob)
	if got := srv.Mails(); len(got) != 1 {
		t.Fatalf("%d mails, want exactly 1", len(got))
	}
	if got[0].To[0] != "alice@example.com" {
		t.Fatalf("delivered to %q", got[0].To)
	}
}

// countingSender fails while failing is set and counts what it sends.
type countingSender struct {
	failing atomic.Bool
	sent    atomic.Int32
}

func (c *countingSender) Send(context.Context, Message) error {
	if c.failing.Load() {
		return errBoom
	}
	c.sent.Add(1)
	return nil
}

// A job that cannot be delivered within MaxAge is dropped with an error
// line, not retried for ever; a job that needs no mail is deleted at once.
func TestWorkerDropsOldJobsAndSkips(t *testing.T) {
	db := openDB(t, testenv.SQLiteURL(t))
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ob := NewOutbox(db, 100, clock)
	s := &countingSender{}
	s.failing.Store(true)
	var logs syncBuffer
	w := fastWorker(ob, s, slog.New(slog.NewTextHandler(&logs, nil)))
	enqueue(t, ob, "echo", "alice@example.com", 1)
	enqueue(t, ob, "skip", "bob@example.com", 2)
	// The clock moves past MaxAge: the next failure drops the job.
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	startWorker(t, w)
	waitEmpty(t, ob)
	if n := s.sent.Load(); n != 0 {
		t.Fatalf("sent %d", n)
	}
	if !strings.Contains(logs.String(), "mail dropped") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("no error line for the dropped mail:\n%s", logs.String())
	}
}

func TestOutboxIsBounded(t *testing.T) {
	db := openDB(t, testenv.SQLiteURL(t))
	ob := NewOutbox(db, 3, nil)
	for i := range 3 {
		enqueue(t, ob, "echo", "a@example.com", i)
	}
	if err := ob.Enqueue(context.Background(), "echo", map[string]any{"to": "a@example.com"}); err != ErrFull {
		t.Fatalf("fourth job: %v, want ErrFull", err)
	}
	if n, _ := ob.Len(context.Background()); n != 3 {
		t.Fatalf("outbox holds %d, want 3", n)
	}
}

// A worker stopped in the middle of an attempt puts its job back, due at
// once, for another worker: the mail is not lost with the process.
func TestWorkerShutdownReleasesJob(t *testing.T) {
	db := openDB(t, testenv.SQLiteURL(t))
	srv := testenv.StartSMTP(t)
	srv.Stall()
	ob := NewOutbox(db, 100, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w := fastWorker(ob, smtpSender(t, srv, TLSNone, "", ""), slog.New(slog.DiscardHandler))
	go func() { defer close(done); w.Run(ctx) }()
	enqueue(t, ob, "echo", "alice@example.com", 1)
	// Wait until the job is claimed (attempts 1, claim set).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var claim string
		if err := db.QueryRow(`SELECT claim FROM mail_outbox`).Scan(&claim); err == nil && claim != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job never claimed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	srv.Stop() // ends the stalled session
	srv.Release()
	<-done
	var claim string
	var notBefore int64
	if err := db.QueryRow(`SELECT claim, not_before FROM mail_outbox`).Scan(&claim, &notBefore); err != nil {
		t.Fatalf("job gone after shutdown: %v", err)
	}
	if claim != "" || time.UnixMilli(notBefore).After(time.Now()) {
		t.Fatalf("job still held (claim %q, due %v)", claim, time.UnixMilli(notBefore))
	}
	// Another worker delivers it.
	srv.Start(t)
	startWorker(t, fastWorker(NewOutbox(db, 100, nil), smtpSender(t, srv, TLSNone, "", ""), slog.New(slog.DiscardHandler)))
	srv.WaitFor(t, 1, 30*time.Second)
}
