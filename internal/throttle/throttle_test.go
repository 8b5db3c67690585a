package throttle_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/throttle"
)

func TestTakeNeverExceedsLimitUnderRace(t *testing.T) {
	r := testenv.StartRedis(t)
	l := throttle.New(redispool.Single(r.Pool(t)), "t:")
	acct := throttle.Counter{Scope: "account", Key: throttle.AccountKey("alice"), Limit: 5, Window: time.Minute}
	addr := throttle.Counter{Scope: "address", Key: throttle.AddressKey("192.0.2.1"), Limit: 100, Window: time.Minute}

	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			tk, err := l.Take(t.Context(), acct, addr)
			ref := tk.Refused
			switch {
			case err != nil:
				t.Error(err)
			case ref == nil:
				allowed.Add(1)
			default:
				if ref.Scope != "account" || ref.RetryAfter <= 0 || ref.RetryAfter > time.Minute {
					t.Errorf("refused: %+v", ref)
				}
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 5 || refused.Load() != 59 {
		t.Fatalf("allowed %d, refused %d of 64 concurrent attempts; want 5 and 59", allowed.Load(), refused.Load())
	}
	// Refused attempts are not counted: the address saw only the five.
	c := r.Conn(t)
	if n, _ := redis.Int(c.Do("GET", "t:{throttle}address:192.0.2.1")); n != 5 {
		t.Errorf("address counter = %d, want 5", n)
	}
	if ttl, _ := redis.Int64(c.Do("PTTL", "t:{throttle}address:192.0.2.1")); ttl <= 0 || ttl > 60000 {
		t.Errorf("address counter TTL = %d ms, want within the window", ttl)
	}
}

func TestSuccessResetsAccountAndRefundsAddress(t *testing.T) {
	r := testenv.StartRedis(t)
	l := throttle.New(redispool.Single(r.Pool(t)), "t:")
	acct := throttle.Counter{Scope: "account", Key: "k", Limit: 3, Window: time.Minute}
	addr := throttle.Counter{Scope: "address", Key: "a", Limit: 10, Window: time.Minute}
	for range 3 {
		if tk, err := l.Take(t.Context(), acct, addr); tk.Refused != nil || err != nil {
			t.Fatalf("Take = %+v, %v", tk, err)
		}
	}
	if tk, _ := l.Take(t.Context(), acct, addr); tk.Refused == nil {
		t.Fatal("fourth attempt allowed")
	}
	if err := l.Succeeded(t.Context(), acct, addr); err != nil {
		t.Fatal(err)
	}
	c := r.Conn(t)
	if n, _ := redis.Int(c.Do("EXISTS", "t:{throttle}account:k")); n != 0 {
		t.Error("account counter survived a success")
	}
	if n, _ := redis.Int(c.Do("GET", "t:{throttle}address:a")); n != 2 {
		t.Errorf("address counter after a success = %d, want 2", n)
	}
	if tk, _ := l.Take(t.Context(), acct, addr); tk.Refused != nil {
		t.Errorf("attempt after a success refused: %+v", tk.Refused)
	}
}

func TestLimitExpires(t *testing.T) {
	r := testenv.StartRedis(t)
	l := throttle.New(redispool.Single(r.Pool(t)), "t:")
	c := throttle.Counter{Scope: "account", Key: "k", Limit: 1, Window: 300 * time.Millisecond}
	if tk, _ := l.Take(t.Context(), c); tk.Refused != nil {
		t.Fatal("first attempt refused")
	}
	tk, _ := l.Take(t.Context(), c)
	if tk.Refused == nil {
		t.Fatal("second attempt allowed")
	}
	time.Sleep(tk.Refused.RetryAfter + 50*time.Millisecond)
	if tk, _ := l.Take(t.Context(), c); tk.Refused != nil {
		t.Errorf("attempt after the window refused: %+v", tk.Refused)
	}
}

func TestDisabledCountersAndRedisDown(t *testing.T) {
	r := testenv.StartRedis(t)
	l := throttle.New(redispool.Single(r.Pool(t)), "t:")
	off := throttle.Counter{Scope: "account", Key: "k", Limit: 0, Window: time.Minute}
	for range 10 {
		if tk, err := l.Take(t.Context(), off); tk.Refused != nil || tk.Left != -1 || err != nil {
			t.Fatalf("disabled counter: %+v, %v", tk, err)
		}
	}
	r.Stop(t)
	on := throttle.Counter{Scope: "account", Key: "k", Limit: 5, Window: time.Minute}
	if _, err := l.Take(t.Context(), on); !errors.Is(err, throttle.ErrUnavailable) {
		t.Errorf("Take with Redis down = %v, want ErrUnavailable", err)
	}
}

func TestKeys(t *testing.T) {
	if a, b := throttle.AccountKey("alice"), throttle.AccountKey("bob"); a == b || len(a) != 24 {
		t.Errorf("account keys %q %q", a, b)
	}
	for in, want := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"2001:db8:1:2:3:4:5:6": "2001_db8_1_2__/64",
		"2001:db8:1:2:ffff::1": "2001_db8_1_2__/64",
		"2001:db8:1:3::1":      "2001_db8_1_3__/64",
	} {
		if got := throttle.AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
	if got := throttle.AddressKey("not an ip"); len(got) > 40 {
		t.Errorf("AddressKey of junk = %q", got)
	}
}

func TestRefundGivesSlotsBack(t *testing.T) {
	r := testenv.StartRedis(t)
	l := throttle.New(redispool.Single(r.Pool(t)), "t:")
	acct := throttle.Counter{Scope: "account", Key: "k", Limit: 2, Window: time.Minute}
	addr := throttle.Counter{Scope: "address", Key: "a", Limit: 10, Window: time.Minute}
	for range 2 {
		if tk, err := l.Take(t.Context(), acct, addr); tk.Refused != nil || err != nil {
			t.Fatalf("Take = %+v, %v", tk, err)
		}
	}
	if err := l.Refund(t.Context(), acct, addr); err != nil {
		t.Fatal(err)
	}
	c := r.Conn(t)
	for key, want := range map[string]int{"t:{throttle}account:k": 1, "t:{throttle}address:a": 1} {
		if n, _ := redis.Int(c.Do("GET", key)); n != want {
			t.Errorf("%s = %d after a refund, want %d", key, n, want)
		}
	}
	if tk, _ := l.Take(t.Context(), acct, addr); tk.Refused != nil {
		t.Errorf("attempt after a refund refused: %+v", tk.Refused)
	}
	// Refunds never go below zero.
	for range 5 {
		_ = l.Refund(t.Context(), acct, addr)
	}
	if n, _ := redis.Int(c.Do("GET", "t:{throttle}account:k")); n != 0 {
		t.Errorf("account counter after many refunds = %d, want 0", n)
	}
}

// Take says how many attempts the tightest counter has left, the same
// whatever the key (an account that exists or not), and Succeeded resets
// only the counter it is given.
func TestLeftAndOwnBudgets(t *testing.T) {
	r := testenv.StartRedis(t)
	l := throttle.New(redispool.Single(r.Pool(t)), "t:")
	acct := throttle.Counter{Scope: "account", Key: "k", Limit: 3, Window: time.Minute}
	addr := throttle.Counter{Scope: "address", Key: "a", Limit: 5, Window: time.Minute}
	dev := throttle.Counter{Scope: "device", Key: "d", Limit: 2, Window: time.Minute}
	for i, want := range []int{2, 1, 0} {
		tk, err := l.Take(t.Context(), acct, addr)
		if err != nil || tk.Refused != nil || tk.Left != want {
			t.Fatalf("attempt %d: %+v, %v; want %d left", i+1, tk, err, want)
		}
	}
	if tk, _ := l.Take(t.Context(), acct, addr); tk.Refused == nil || tk.Refused.Scope != "account" {
		t.Fatalf("fourth attempt: %+v, want refused by the account", tk)
	}
	// The device's own budget is untouched by the account's lock.
	for i, want := range []int{1, 0} {
		if tk, _ := l.Take(t.Context(), dev); tk.Refused != nil || tk.Left != want {
			t.Fatalf("device attempt %d: %+v, want %d left", i+1, tk, want)
		}
	}
	if tk, _ := l.Take(t.Context(), dev); tk.Refused == nil || tk.Refused.Scope != "device" {
		t.Fatalf("third device attempt: %+v, want refused", tk)
	}
	// A device's success resets the device alone: the account stays locked.
	if err := l.Succeeded(t.Context(), dev); err != nil {
		t.Fatal(err)
	}
	if tk, _ := l.Take(t.Context(), dev); tk.Refused != nil {
		t.Fatalf("device after its success: %+v", tk)
	}
	if tk, _ := l.Take(t.Context(), acct, addr); tk.Refused == nil {
		t.Fatal("a device's success unlocked the account for strangers")
	}
	// Left is the tightest counter's.
	other := throttle.Counter{Scope: "account", Key: "other", Limit: 3, Window: time.Minute}
	if tk, _ := l.Take(t.Context(), other, addr); tk.Left != 1 {
		t.Fatalf("left %d, want the address's 1 (5 minus its 4 attempts)", tk.Left)
	}
}
