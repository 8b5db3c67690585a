// Package mail delivers authd's e-mail off the request path.
//
// A request never talks to a mail server: it inserts a small job into the
// outbox, a SQL table, in the same database as the accounts (Outbox). A
// Worker in each server instance claims due jobs with a lease, so that
// several instances never send one job twice while all are healthy, turns
// each into a Message (through a Composer, which reads current state: the
// address on file, a fresh link token), and hands it to a Sender: SMTP in
// production, the log or a folder of .eml files in development. A failure
// is retried with backoff until the job is too old; a crash leaves the job
// for the next worker once its lease runs out. Nothing is lost while the
// mail server is down, and no request waits for it.
package mail

import (
	"context"
	"errors"
)

// Message is one mail ready to send: a text part and an HTML part.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers a message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Composer turns a job of the outbox into the message to send, or returns
// ErrSkip when there is nothing to send (no confirmed address, say). It is
// called on every attempt, so a message reflects the state at sending time.
type Composer interface {
	Compose(ctx context.Context, kind string, payload []byte) (Message, error)
}

// ErrSkip tells the worker that a job needs no mail: it is deleted.
var ErrSkip = errors.New("mail: nothing to send")

// ErrFull is returned by Enqueue when the outbox holds its maximum of jobs.
var ErrFull = errors.New("mail: outbox full")

var (
	_ Sender = (*SMTP)(nil)
	_ Sender = (*LogSender)(nil)
	_ Sender = (*DirSender)(nil)
)
