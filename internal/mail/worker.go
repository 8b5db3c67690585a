package mail

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Worker drains the outbox: it claims due jobs, composes and sends them,
// and reschedules failures. Run one per server instance; any number may
// share an outbox.
type Worker struct {
	Outbox   *Outbox
	Sender   Sender
	Composer Composer
	Log      *slog.Logger
	// Backoff is the wait after a job's attempts-th failed attempt; nil
	// means DefaultBackoff. Tests pass a short one.
	Backoff func(attempts int) time.Duration
	// MaxAge is how long a job is retried: one still undelivered this long
	// after it was enqueued is dropped, with an error line in the log.
	MaxAge time.Duration
	// Lease is how long a claim lasts, and so how long one attempt may
	// take; a job held by a worker that died is taken up by another once
	// its lease ends. It must exceed the sender's timeout.
	Lease time.Duration
	// Poll is how often the worker looks for jobs it was not told about:
	// those other instances enqueued, and retries falling due.
	Poll time.Duration
}

// DefaultBackoff waits 10 s after the first failure, doubling up to 10
// minutes, each wait shortened by up to a fifth at random so that jobs that
// failed together do not retry together.
func DefaultBackoff(attempts int) time.Duration {
	d := 10 * time.Second << min(max(attempts-1, 0), 6)
	d = min(d, 10*time.Minute)
	return d - time.Duration(rand.Int64N(int64(d/5)))
}

// Run sends mail until ctx ends. A job being sent then is put back, due at
// once, for the next worker to take up.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	for ctx.Err() == nil {
		w.drain(ctx)
		wait := w.Poll
		if at, ok, err := w.Outbox.nextDue(ctx); err == nil && ok {
			wait = min(wait, max(at.Sub(w.Outbox.now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-w.Outbox.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (w *Worker) defaults() {
	if w.Backoff == nil {
		w.Backoff = DefaultBackoff
	}
	if w.MaxAge <= 0 {
		w.MaxAge = 24 * time.Hour
	}
	if w.Lease <= 0 {
		w.Lease = time.Minute
	}
	if w.Poll <= 0 {
		w.Poll = 5 * time.Second
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
}

// drain processes due jobs until none is left or the database fails.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		j, err := w.Outbox.claim(ctx, w.Lease)
		if err != nil {
			if ctx.Err() == nil {
				w.Log.Warn("mail outbox unavailable; will try again", "err", err)
			}
			return
		}
		if j == nil {
			return
		}
		w.process(ctx, j)
	}
}

func (w *Worker) process(ctx context.Context, j *job) {
	log := w.Log.With("job_id", j.id, "kind", j.kind, "attempt", j.attempts)
	attemptCtx, cancel := context.WithTimeout(ctx, w.Lease)
	defer cancel()
	m, err := w.Composer.Compose(attemptCtx, j.kind, j.payload)
	if errors.Is(err, ErrSkip) {
		log.Debug("mail job needs no mail", "reason", err)
		if err := w.Outbox.done(ctx, j); err != nil {
			log.Warn("mail job needs no mail but could not be deleted", "err", err)
		}
		return
	}
	if err == nil {
		err = w.Sender.Send(attemptCtx, m)
	}
	if err == nil {
		if err := w.Outbox.done(ctx, j); err != nil {
			// It will be sent again once the lease ends: twice beats never.
			log.Warn("mail sent but its job could not be deleted", "err", err)
		}
		log.Info("mail sent")
		return
	}

	// Bookkeeping must happen even when ctx ended (shutdown) mid-attempt.
	bg, cancelBG := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelBG()
	now := w.Outbox.now()
	switch {
	case ctx.Err() != nil:
		if err := w.Outbox.retry(bg, j, now, errors.New("interrupted by shutdown")); err != nil {
			log.Warn("release mail job at shutdown", "err", err)
		}
	case now.Sub(j.created) >= w.MaxAge:
		log.Error("mail dropped: not delivered within its maximum age", "max_age", w.MaxAge, "err", err)
		if err := w.Outbox.done(bg, j); err != nil {
			log.Warn("delete dropped mail job", "err", err)
		}
	default:
		wait := w.Backoff(j.attempts)
		log.Warn("mail not delivered; will retry", "retry_in", wait, "err", err)
		if err := w.Outbox.retry(bg, j, now.Add(wait), err); err != nil {
			log.Warn("reschedule mail job; its lease will release it", "err", err)
		}
	}
}
