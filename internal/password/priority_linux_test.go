package password

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The workers run on threads of the lowest priority, so that a flood of
// hashing yields the CPU to every other request; the caller's thread keeps
// its own priority.
func TestWorkersRunAtLowestPriority(t *testing.T) {
	h, err := NewHasher(MinCost, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	var (
		mu   sync.Mutex
		tids = map[int]bool{}
		wg   sync.WaitGroup
	)
	release := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			_ = h.run(context.Background(), func() {
				mu.Lock()
				tids[syscall.Gettid()] = true
				if len(tids) == 3 {
					close(release)
				}
				mu.Unlock()
				<-release // hold the worker so the three jobs run on three threads
			})
		})
	}
	wg.Wait()
	if len(tids) != 3 {
		t.Fatalf("3 concurrent jobs ran on %d threads", len(tids))
	}
	for tid := range tids {
		if !lowered(t, tid) {
			t.Errorf("worker thread %d runs at normal priority", tid)
		}
	}
	if lowered(t, syscall.Gettid()) {
		t.Error("the caller's thread was lowered too")
	}
}

// lowered reports whether a thread runs at nice 19, from
// /proc/self/task/TID/stat (field 19, see proc(5)).
func lowered(t *testing.T, tid int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// After the parenthesised command name come fields 3 (state) onwards.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	return f[19-3] == "19"
}
