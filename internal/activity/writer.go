package activity

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Resolver returns the id of the account a sign-in named, or 0 when there
// is no such account.
type Resolver func(ctx context.Context, account string) (int64, error)

// Writer records events off the request path. Handlers hand an event over
// and answer at once: no answer waits for the database, so none is slower
// because an event was written (which would tell a known user name from an
// unknown one, see A3), and a slow database does not hold requests up. One
// goroutine writes the events in order; a run of failures waiting together
// is merged first, so that a flood costs a few writes, not one per attempt.
//
// The writer waits a moment (linger) after an event before it writes, unless
// a Flush asks for it sooner: the write then happens after the answer, not
// while it is being sent, where on a busy machine it would still slow the
// answers of known names a little.
//
// The queue is bounded. When it is full, events are dropped and the drop is
// logged (each event also has its audit log line, so none is lost from the
// record). Close drains what is queued.
type Writer struct {
	store   *Store
	resolve Resolver
	log     *slog.Logger

	mu     sync.RWMutex // held for reading while sending, for writing to close
	closed bool
	queue  chan item

	dropped atomic.Int64
	done    chan struct{}
}

// item is an event, or a Flush marker.
type item struct {
	event Event
	flush chan struct{}
}

// Batches and timeouts of the writing goroutine.
const (
	maxBatch     = 256
	linger       = 100 * time.Millisecond
	writeTimeout = 5 * time.Second
)

// NewWriter starts a Writer that records into store, looking up events that
// name their account with resolve, with room for size events waiting.
func NewWriter(store *Store, resolve Resolver, log *slog.Logger, size int) *Writer {
	w := &Writer{store: store, resolve: resolve, log: log, queue: make(chan item, size), done: make(chan struct{})}
	go w.run()
	return w
}

// Record queues an event without waiting. Its time is now unless set.
func (w *Writer) Record(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.log.Error("activity event after shutdown, not recorded", "user_id", e.UserID, "kind", e.Kind)
		return
	}
	select {
	case w.queue <- item{event: e}:
	default:
		if w.dropped.Add(1) == 1 {
			w.log.Warn("activity queue full: dropping events until it drains (each is in the audit log)", "queue", cap(w.queue))
		}
	}
}

// Flush waits until every event queued before it has been written (or could
// not be), or ctx ends: a page listing the activity shows what its own
// user's requests just did.
func (w *Writer) Flush(ctx context.Context) error {
	marker := make(chan struct{})
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return nil
	}
	select {
	case w.queue <- item{flush: marker}:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return fmt.Errorf("activity: flush: %w", context.Cause(ctx))
	}
	select {
	case <-marker:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("activity: flush: %w", context.Cause(ctx))
	}
}

// Close stops accepting events and waits until the queued ones are written,
// or ctx ends.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("activity: %d events still queued at shutdown: %w", len(w.queue), context.Cause(ctx))
	}
}

func (w *Writer) run() {
	defer close(w.done)
	timer := time.NewTimer(linger)
	timer.Stop()
	for {
		it, ok := <-w.queue
		if !ok {
			return
		}
		batch := []item{it}
		if it.flush == nil {
			timer.Reset(linger)
		fill:
			for len(batch) < maxBatch {
				select {
				case it, ok := <-w.queue:
					if !ok {
						break fill
					}
					batch = append(batch, it)
					if it.flush != nil {
						break fill
					}
				case <-timer.C:
					break fill
				}
			}
			timer.Stop()
		}
		w.write(batch)
		if n := w.dropped.Swap(0); n > 0 {
			w.log.Warn("activity events dropped: the queue was full", "dropped", n)
		}
	}
}

// write records a batch in order, merging runs of the same failure for the
// same account, and releases Flush markers once what came before them is
// written.
func (w *Writer) write(batch []item) {
	var pending []Event
	ids := map[string]int64{} // accounts resolved in this batch
	emit := func() {
		for _, e := range pending {
			w.writeOne(e, ids)
		}
		pending = pending[:0]
	}
	for _, it := range batch {
		if it.flush != nil {
			emit()
			close(it.flush)
			continue
		}
		e := it.event
		if n := len(pending); n > 0 && e.Kind.collapses() && sameRun(pending[n-1], e) {
			last := &pending[n-1]
			if last.First.IsZero() {
				last.First = last.At
			}
			last.Count = last.count() + e.count()
			last.At, last.ClientAddr, last.UserAgent = e.At, e.ClientAddr, e.UserAgent
			continue
		}
		pending = append(pending, e)
	}
	emit()
}

func sameRun(a, b Event) bool {
	return a.Kind == b.Kind && a.UserID == b.UserID && a.Account == b.Account
}

func (w *Writer) writeOne(e Event, ids map[string]int64) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if e.UserID == 0 && e.Account != "" {
		id, ok := ids[e.Account]
		if !ok {
			var err error
			if id, err = w.resolve(ctx, e.Account); err != nil {
				w.log.Warn("activity event not recorded: account lookup failed", "kind", e.Kind, "count", e.count(), "err", err)
				return
			}
			ids[e.Account] = id
		}
		e.UserID = id
	}
	if e.UserID == 0 {
		return // no such account: nobody to show it to
	}
	if err := w.store.Record(ctx, e); err != nil {
		w.log.Warn("activity event not recorded", "user_id", e.UserID, "kind", e.Kind, "count", e.count(), "err", err)
	}
}
