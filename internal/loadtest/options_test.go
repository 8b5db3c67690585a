package loadtest

import (
	"io"
	"runtime"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Cost != 12 || o.Duration != 5*time.Second || o.Sessions != 10_000 || o.MemSessions != 100_000 {
		t.Fatalf("defaults %+v", o)
	}
	if o.MemUsers != o.MemSessions || o.SignInWorkers != 2*runtime.GOMAXPROCS(0) || !o.AgeSessions {
		t.Fatalf("derived defaults %+v", o)
	}
	if !o.runs(4) || !o.runs(6) || !o.runs(7) || !o.runs(8) || !o.runs(9) || !o.runs(10) || !o.runs(11) || !o.runs(12) {
		t.Fatal("a default run leaves out a scenario")
	}
	o, err = parseFlags([]string{"-only", "2", "-mem-users", "10"}, io.Discard)
	if err != nil || !o.runs(4) || o.runs(1) || o.MemUsers != 10 {
		t.Fatalf("-only 2: %+v %v", o, err)
	}
	for _, bad := range [][]string{{"-only", "13"}, {"-only", "0"}, {"-cost", "4"}, {"-duration", "0s"}, {"-workers", "0"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
