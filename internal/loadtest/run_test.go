package loadtest

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunEndToEnd runs the whole benchmark, briefly, against the real
// authd binary and a private redis-server.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds authd and runs every scenario")
	}
	bin := filepath.Join(t.TempDir(), "authd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/authd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	peer := filepath.Join(t.TempDir(), "peer")
	if out, err := exec.Command("go", "build", "-o", peer, "../../cmd/authbench/peer").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), []string{
		"-authd", bin, "-peer", peer, "-cost", "10", "-duration", "300ms", "-warmup", "100ms",
		"-workers", "4", "-sessions", "200", "-mem-sessions", "2000", "-mem-users", "100",
		"-probe-rate", "50", "-flood-workers", "4",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("Run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, row := range []string{"| 1 |", "| 2 |", "| 3 |", "| 3r |", "| 4 |", "| 5 |", "| 6c |", "| 6f |", "| 9 |", "| 9c |", "| 9m |", "| 10 |", "| 10r |", "| 11 |", "| 12c |", "| 12j |", "2,000 sessions of 100 users"} {
		if !strings.Contains(out, row) {
			t.Errorf("report lacks %q:\n%s", row, out)
		}
	}
	// Every protected request was read with one GET.
	if !strings.Contains(out, "1.000 reads") {
		t.Errorf("scenario 4 is not one read per request:\n%s", out)
	}
}
