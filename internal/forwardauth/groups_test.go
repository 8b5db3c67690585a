package forwardauth_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/forwardauth"
	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/user"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// A change of groups applies once the cached copy is GroupsTTL old, and
// not before: the verify path reads no database meanwhile.
func TestGroupsCache(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	groups := group.NewStore(db)
	u, err := user.NewStore(db).Create(ctx, "alice", "hash")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.Create(ctx, "admins"); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	g, err := forwardauth.New(forwardauth.Config{GroupsTTL: time.Minute, Now: clock.now}, groups)
	if err != nil {
		t.Fatal(err)
	}
	check := func(want ...string) {
		t.Helper()
		got, err := g.Groups(ctx, u.ID)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Groups = %v, %v; want %v", got, err, want)
		}
	}
	check()
	if _, err := groups.Change(ctx, u.ID, []string{"admins"}, nil); err != nil {
		t.Fatal(err)
	}
	clock.add(59 * time.Second)
	check() // still the cached copy
	clock.add(time.Second)
	check("admins")

	// With no TTL every call reads the database.
	g0, err := forwardauth.New(forwardauth.Config{}, groups)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.Change(ctx, u.ID, nil, []string{"admins"}); err != nil {
		t.Fatal(err)
	}
	if got, err := g0.Groups(ctx, u.ID); err != nil || len(got) != 0 {
		t.Fatalf("uncached Groups = %v, %v; want none", got, err)
	}
}
