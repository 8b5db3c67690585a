package loadtest

import (
	"math"
	"testing"
)

// From redis-server 7.0 (INFO commandstats), CRLF line ends as on the wire.
const commandStatsText = "# Commandstats\r\n" +
	"cmdstat_get:calls=21000,usec=175000,usec_per_call=8.33,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_set:calls=700,usec=7000,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_info:calls=3,usec=300,usec_per_call=100.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_client|setname:calls=2,usec=2,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_ping:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
	"\r\n"

func TestParseInfo(t *testing.T) {
	f := ParseInfo("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n# Memory\nused_memory:1048576\nused_memory_human:1.00M\nno colon here\n")
	if f["redis_version"] != "7.0.15" || f["used_memory_human"] != "1.00M" {
		t.Fatalf("fields %v", f)
	}
	if n, err := InfoInt(f, "used_memory"); err != nil || n != 1048576 {
		t.Fatalf("used_memory = %d, %v", n, err)
	}
	if _, err := InfoInt(f, "used_memory_rss"); err == nil {
		t.Fatal("missing field: no error")
	}
	if _, err := InfoInt(f, "used_memory_human"); err == nil {
		t.Fatal("non-integer field: no error")
	}
}

func TestParseCommandStats(t *testing.T) {
	c, err := ParseCommandStats(commandStatsText)
	if err != nil {
		t.Fatal(err)
	}
	want := CommandCalls{"get": 21000, "set": 700, "info": 3, "client|setname": 2, "ping": 1}
	if len(c) != len(want) {
		t.Fatalf("got %v, want %v", c, want)
	}
	for k, v := range want {
		if c[k] != v {
			t.Fatalf("%s: got %d, want %d", k, c[k], v)
		}
	}
	for _, bad := range []string{
		"cmdstat_get:calls=x,usec=1\r\n",
		"cmdstat_get:usec=1,usec_per_call=1.0\r\n",
	} {
		if _, err := ParseCommandStats(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCommandCallsSubAndPer(t *testing.T) {
	before := CommandCalls{"get": 1000, "set": 10, "ping": 5}
	after := CommandCalls{"get": 21000, "set": 710, "ping": 5, "del": 20, "client|setname": 1}
	d := after.Sub(before)
	if _, ok := d["ping"]; ok {
		t.Fatal("unchanged command kept in the delta")
	}
	p := d.Per(20000)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if !near(p.Reads, 1) || !near(p.Writes, 0.036) || !near(p.Other, 0.00005) {
		t.Fatalf("per request: reads %v writes %v other %v", p.Reads, p.Writes, p.Other)
	}
	if got, want := p.Breakdown(), "GET 1.000, SET 0.035, DEL 0.001, CLIENT|SETNAME 0.000"; got != want {
		t.Fatalf("Breakdown = %q, want %q", got, want)
	}
	if got := (CommandCalls{}).Per(0).Breakdown(); got != "none" {
		t.Fatalf("empty breakdown %q", got)
	}
}

func TestKind(t *testing.T) {
	for name, want := range map[string]string{
		"get": KindRead, "mget": KindRead, "exists": KindRead, "pttl": KindRead,
		"set": KindWrite, "del": KindWrite, "expire": KindWrite, "pexpireat": KindWrite,
		"zadd": KindWrite, "eval": KindWrite, "evalsha": KindWrite, "getex": KindWrite,
		"unlink": KindWrite, "someday_new_command": KindWrite,
		"ping": KindOther, "info": KindOther, "hello": KindOther, "client|setname": KindOther,
	} {
		if got := Kind(name); got != want {
			t.Errorf("Kind(%q) = %s, want %s", name, got, want)
		}
	}
}
