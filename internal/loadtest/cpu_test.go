package loadtest

import (
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	const stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 9 0 100 0 0\n"
	got, err := ParseProcStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 287 * 10 * time.Millisecond; got != want {
		t.Fatalf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"no parens", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u s 0 0"} {
		if _, err := ParseProcStat(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseMachineStat(t *testing.T) {
	const stat = "cpu  100 5 40 9000 7 3 2 11 0 0\ncpu0 50 2 20 4500 3 1 1 5 0 0\nintr 1\n"
	busy, steal, err := ParseMachineStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if busy != 150*clockTick || steal != 11*clockTick {
		t.Fatalf("busy %v steal %v", busy, steal)
	}
	if _, _, err := ParseMachineStat("cpu0 1 2 3\n"); err == nil {
		t.Fatal("no total line: no error")
	}
}

func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := CPUModel(info); got != "AMD EPYC 7B13" {
		t.Fatalf("CPUModel = %q", got)
	}
	if got := CPUModel("processor: 0\n"); got != "unknown" {
		t.Fatalf("CPUModel without model name = %q", got)
	}
}

func TestCPUOthers(t *testing.T) {
	c := CPU{Authd: time.Second, Redis: time.Second, Self: time.Second, Machine: 4 * time.Second}
	if c.Others() != time.Second {
		t.Fatalf("others %v", c.Others())
	}
	// Tick rounding can make the machine total a hair below the sum.
	c.Machine = 2900 * time.Millisecond
	if c.Others() != 0 {
		t.Fatalf("others %v, want 0", c.Others())
	}
}
