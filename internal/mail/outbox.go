package mail

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outbox is the durable queue of mail jobs in the SQL table mail_outbox,
// migrated by package database; its SQL runs unchanged on SQLite and
// PostgreSQL.
type Outbox struct {
	db  *sql.DB
	max int
	now func() time.Time
	// wake tells this process's worker that a job is waiting, so that it
	// need not wait for its next poll.
	wake chan struct{}
}

// NewOutbox returns the outbox in db holding at most max jobs (more are
// refused with ErrFull). now is its clock; nil means time.Now.
func NewOutbox(db *sql.DB, max int, now func() time.Time) *Outbox {
	if now == nil {
		now = time.Now
	}
	return &Outbox{db: db, max: max, now: now, wake: make(chan struct{}, 1)}
}

// Enqueue adds a job of the given kind; payload is stored as JSON. It is
// one INSERT, whatever the job: a request that enqueues costs the same
// whether or not a mail will come of it.
func (o *Outbox) Enqueue(ctx context.Context, kind string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("mail: encode %s job: %w", kind, err)
	}
	now := o.now().UnixMilli()
	// The bound and the insert are one statement, so concurrent requests
	// cannot overshoot it by much (each sees the count before its own row).
	const q = `
		INSERT INTO mail_outbox (kind, payload, created_at, not_before)
		SELECT $1, $2, CAST($3 AS BIGINT), CAST($3 AS BIGINT)
		WHERE (SELECT COUNT(*) FROM mail_outbox) < $4`
	res, err := o.db.ExecContext(ctx, q, kind, string(b), now, o.max)
	if err != nil {
		return fmt.Errorf("mail: enqueue %s: %w", kind, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("mail: enqueue %s: %w", kind, err)
	} else if n == 0 {
		return ErrFull
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Len is the number of jobs waiting or being sent.
func (o *Outbox) Len(ctx context.Context) (int, error) {
	var n int
	if err := o.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM mail_outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("mail: outbox length: %w", err)
	}
	return n, nil
}

// job is a claimed row.
type job struct {
	id       int64
	kind     string
	payload  []byte
	created  time.Time
	attempts int // including the current one
	claim    string
}

// claim takes the oldest due job for lease, or returns nil when none is
// due. Its UPDATE re-checks not_before on the row it changes, so when two
// workers pick the same row, the second changes nothing (PostgreSQL
// re-evaluates the condition on the row the first one wrote).
func (o *Outbox) claim(ctx context.Context, lease time.Duration) (*job, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("mail: claim id: %w", err)
	}
	j := &job{claim: hex.EncodeToString(b)}
	now := o.now()
	const q = `
		UPDATE mail_outbox
		SET not_before = $1, attempts = attempts + 1, claim = $2
		WHERE id = (SELECT id FROM mail_outbox WHERE not_before <= $3 ORDER BY not_before, id LIMIT 1)
		  AND not_before <= $3
		RETURNING id, kind, payload, created_at, attempts`
	var payload string
	var created int64
	err := o.db.QueryRowContext(ctx, q, now.Add(lease).UnixMilli(), j.claim, now.UnixMilli()).
		Scan(&j.id, &j.kind, &payload, &created, &j.attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mail: claim: %w", err)
	}
	j.payload, j.created = []byte(payload), time.UnixMilli(created)
	return j, nil
}

// done deletes a job this worker still holds.
func (o *Outbox) done(ctx context.Context, j *job) error {
	if _, err := o.db.ExecContext(ctx, `DELETE FROM mail_outbox WHERE id = $1 AND claim = $2`, j.id, j.claim); err != nil {
		return fmt.Errorf("mail: delete job %d: %w", j.id, err)
	}
	return nil
}

// retry releases a job this worker holds, to be tried again at at.
func (o *Outbox) retry(ctx context.Context, j *job, at time.Time, cause error) error {
	// Kept for the operator: valid UTF-8 without NUL (PostgreSQL refuses
	// both otherwise), and short.
	msg := strings.ReplaceAll(strings.ToValidUTF8(cause.Error(), "?"), "\x00", "")
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300])
	}
	const q = `UPDATE mail_outbox SET not_before = $1, claim = '', last_error = $2 WHERE id = $3 AND claim = $4`
	if _, err := o.db.ExecContext(ctx, q, at.UnixMilli(), msg, j.id, j.claim); err != nil {
		return fmt.Errorf("mail: reschedule job %d: %w", j.id, err)
	}
	return nil
}

// nextDue returns when the earliest job becomes due (ok=false: none).
func (o *Outbox) nextDue(ctx context.Context) (at time.Time, ok bool, err error) {
	var ms sql.NullInt64
	if err := o.db.QueryRowContext(ctx, `SELECT MIN(not_before) FROM mail_outbox`).Scan(&ms); err != nil {
		return time.Time{}, false, fmt.Errorf("mail: next due: %w", err)
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ms.Int64), true, nil
}
