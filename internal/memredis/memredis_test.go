package memredis

import (
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

func TestIsURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]bool{
		"memory://":          {true, true},
		"MEMORY://":          {true, true},
		"memory://localhost": {false, true},
		"redis://h:1/0":      {false, false},
		"memory":             {false, false},
	} {
		if got := [2]bool{IsURL(in), IsMemoryScheme(in)}; got != want {
			t.Errorf("IsURL, IsMemoryScheme(%q) = %v, want %v", in, got, want)
		}
	}
}

// The store needs its password, runs Lua with absolute expiry times, and
// lets keys expire by the clock, as Redis does.
func TestStore(t *testing.T) {
	t.Parallel()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	c, err := redis.DialURL(s.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bare, err := redis.Dial("tcp", s.m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	if _, err := bare.Do("GET", "k"); err == nil {
		t.Error("the store answers a client without the password")
	}

	script := redis.NewScript(1, `redis.call("SET", KEYS[1], "v") return redis.call("PEXPIREAT", KEYS[1], ARGV[1])`)
	at := time.Now().Add(300 * time.Millisecond)
	if n, err := redis.Int(script.Do(c, "k", at.UnixMilli())); err != nil || n != 1 {
		t.Fatalf("script: %v, %v", n, err)
	}
	if v, err := redis.String(c.Do("GET", "k")); err != nil || v != "v" {
		t.Fatalf("GET before the deadline: %q, %v", v, err)
	}
	// Poll until the deadline has passed by the wall clock (the store's
	// clock): the key must then be gone.
	for time.Now().Before(at.Add(10 * time.Millisecond)) {
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := redis.Int(c.Do("EXISTS", "k")); err != nil || n != 0 {
		t.Fatalf("EXISTS after the deadline: %d, %v; want 0", n, err)
	}
}
