package activity_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/user"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func byName(users *user.Store) activity.Resolver {
	return func(ctx context.Context, name string) (int64, error) {
		u, err := users.ByName(ctx, name)
		if errors.Is(err, user.ErrNotFound) {
			return 0, nil
		}
		return u.ID, err
	}
}

func TestWriterRecordsOffThePathAndCollapsesFailures(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *sql.DB, users *user.Store) {
		ctx := t.Context()
		alice, _ := users.Create(ctx, "alice", "h")
		store := activity.NewStore(db, time.Hour, 5)
		logs := &syncBuffer{}
		w := activity.NewWriter(store, byName(users), slog.New(slog.NewTextHandler(logs, nil)), 4096)
		t.Cleanup(func() { _ = w.Close(context.Background()) })

		w.Record(activity.Event{UserID: alice.ID, Kind: activity.SignIn, ClientAddr: "192.0.2.1"})
		// A flood of failures by strangers, named by account (as typed) or
		// by id, from many addresses, mixed with refused attempts: it
		// cannot push the sign-in out of the 5-event window.
		for i := range 300 {
			e := activity.Event{Kind: activity.SignInFailed, ClientAddr: "203.0.113.1", UserAgent: "bot"}
			switch {
			case i%3 == 0:
				e.Account = "ALICE"
			case i%3 == 1:
				e.UserID = alice.ID
			default:
				e.Kind, e.Account = activity.SignInThrottled, "alice"
			}
			if i == 299 {
				e.ClientAddr = "203.0.113.99"
			}
			w.Record(e)
			w.Record(activity.Event{Kind: activity.SignInFailed, Account: "nobody"}) // no such account: dropped
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := store.List(ctx, alice.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[2].Kind != activity.SignIn {
			t.Fatalf("after a flood: %+v; want the failures in two rows above the sign-in", got)
		}
		counts := map[activity.Kind]int64{}
		for _, e := range got[:2] {
			counts[e.Kind] = e.Count
			if e.First.IsZero() || !e.First.Before(e.At) && !e.First.Equal(e.At) {
				t.Errorf("collapsed row %+v: want its first and latest times", e)
			}
		}
		if counts[activity.SignInFailed] != 200 || counts[activity.SignInThrottled] != 100 {
			t.Fatalf("collapsed counts %v, want 200 failed and 100 refused", counts)
		}
		if got[0].ClientAddr != "203.0.113.99" {
			t.Errorf("the newest row shows address %q, want the latest attempt's", got[0].ClientAddr)
		}

		// Any other event ends the run: the next failure starts a row.
		w.Record(activity.Event{UserID: alice.ID, Kind: activity.SignIn})
		w.Record(activity.Event{UserID: alice.ID, Kind: activity.SignInFailed})
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ = store.List(ctx, alice.ID, 10)
		if len(got) != 5 || got[0].Kind != activity.SignInFailed || got[0].Count != 1 || !got[0].First.IsZero() || got[1].Kind != activity.SignIn {
			t.Fatalf("after a sign-in and one more failure: %+v", got)
		}
		// Close drains the queue.
		w.Record(activity.Event{UserID: alice.ID, Kind: activity.SignOut})
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ = store.List(ctx, alice.ID, 10)
		if got[0].Kind != activity.SignOut {
			t.Fatalf("the event queued before Close was not written: %+v", got[0])
		}
		w.Record(activity.Event{UserID: alice.ID, Kind: activity.SignIn})
		if !strings.Contains(logs.String(), "after shutdown") {
			t.Error("an event after Close was dropped without a log line")
		}
	})
}

// A full queue drops events, and says so in the log: never silently.
func TestWriterLogsWhenFull(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *sql.DB, users *user.Store) {
		alice, _ := users.Create(t.Context(), "alice", "h")
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		blocking := func(ctx context.Context, name string) (int64, error) {
			entered <- struct{}{}
			<-release
			return alice.ID, nil
		}
		logs := &syncBuffer{}
		w := activity.NewWriter(activity.NewStore(db, time.Hour, 100), blocking, slog.New(slog.NewTextHandler(logs, nil)), 2)
		w.Record(activity.Event{Account: "alice", Kind: activity.SignInFailed})
		<-entered // the writer holds the first event; the queue is empty
		for range 5 {
			w.Record(activity.Event{UserID: alice.ID, Kind: activity.SignOut})
		}
		if !strings.Contains(logs.String(), "activity queue full") {
			t.Fatalf("no log line when the queue filled:\n%s", logs)
		}
		close(release)
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "dropped=3") {
			t.Errorf("the log does not count the 3 dropped events:\n%s", logs)
		}
		got, _ := activity.NewStore(db, time.Hour, 100).List(t.Context(), alice.ID, 10)
		if len(got) != 3 {
			t.Errorf("%d events written, want the held one and the 2 queued: %+v", len(got), got)
		}
	})
}
