package session

import (
	"sync"
	"testing"
	"time"
)

func TestCapProbe(t *testing.T) {
	m, _ := newTestManager(t, Config{Lifetime: time.Hour, IdleTimeout: 10 * time.Minute, MaxSessions: 100})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 35 {
				startToken(t, m, 1)
			}
		})
	}
	wg.Wait()
	var last []TokenSession
	for range 32 {
		last = append(last, startToken(t, m, 1))
	}
	for i, ts := range last {
		if _, err := m.Live(t.Context(), ts.ID, 1); err != nil {
			t.Errorf("%d: %v", i, err)
		}
	}
}
