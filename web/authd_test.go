package web_test

import (
	"bufio"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/cli"
	"github.com/sessionauth/authd/internal/testenv"
)

// startAuthd runs the whole program in-process, "authd serve" as main
// would, on a free loopback port over a private redis-server and a fresh
// SQLite file, and returns its base URL. env adds or overrides settings.
// It stops when the test ends; its log is shown if the test failed.
func startAuthd(t *testing.T, env map[string]string) string {
	t.Helper()
	settings := map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t),
		"REDIS_URL":    testenv.StartRedis(t).URL,
		"BCRYPT_COST":  "10", // the cost is not under test here
		"LISTEN_ADDR":  "127.0.0.1:0",
		// At nice 19 the hashing threads starve when other processes keep
		// the machine busy, and every sign-in would take seconds.
		"HASH_LOW_PRIORITY": "false",
	}
	for k, v := range env {
		settings[k] = v
	}
	logs := &syncLog{}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, cli.Env{
			Args: []string{"serve"}, Getenv: func(k string) string { return settings[k] },
			Stdin: strings.NewReader(""), Stdout: w, Stderr: logs,
		})
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("authd serve returned %v after shutdown, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("authd serve did not stop within 30s of shutdown")
		}
		if t.Failed() {
			t.Logf("authd log:\n%s", logs.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading authd's listen line: %v\nlog:\n%s", err, logs.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return strings.TrimSpace(strings.TrimPrefix(line, "authd listening on "))
}

// syncLog collects log output written from several goroutines.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
