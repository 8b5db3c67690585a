package pwnlist

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestShippedList(t *testing.T) {
	c := New(Options{})
	// The size the package doc and the README state.
	if got := c.Size(); got != 11611 {
		t.Fatalf("shipped list holds %d passwords of 8+ characters, want 11611 (update the docs if the list changed)", got)
	}
	for _, tc := range []struct {
		pw       string
		personal []string
		want     error
	}{
		{"password", nil, ErrCommon},
		{"12345678", nil, ErrCommon},
		{"PassWord", nil, ErrCommon}, // case does not help
		{"iloveyou", nil, ErrCommon},
		{"trustno1", nil, ErrCommon},
		{"qwertyuiop", nil, ErrCommon},
		{"correct horse battery", nil, nil},
		{"  pässwörd mit Leerzeichen 🙂 ", nil, nil},
		{"alice-the-great", []string{"Alice-The-Great"}, ErrPersonal},
		{"alice@example.com", []string{"alice", "Alice@Example.com"}, ErrPersonal},
		{"alice-the-great", []string{"alice"}, nil},
	} {
		if err := c.Check(context.Background(), tc.pw, tc.personal...); !errors.Is(err, tc.want) {
			t.Errorf("Check(%q, %q) = %v, want %v", tc.pw, tc.personal, err, tc.want)
		}
	}
}

// rangeServer speaks the documented range format: GET /range/{5 hex}, one
// SUFFIX:COUNT line per hash with that prefix, padded with count-0 lines
// when the client sends Add-Padding: true.
type rangeServer struct {
	*httptest.Server
	mu       sync.Mutex
	breached map[string]int // full upper-case SHA-1 → count
	paths    []string
	padding  []string
	down     bool
}

func newRangeServer(t *testing.T, breached ...string) *rangeServer {
	rs := &rangeServer{breached: map[string]int{}}
	for i, pw := range breached {
		rs.breached[sha1Hex(pw)] = 100 + i
	}
	rs.Server = httptest.NewServer(http.HandlerFunc(rs.serve))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *rangeServer) serve(w http.ResponseWriter, r *http.Request) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.paths = append(rs.paths, r.URL.Path)
	rs.padding = append(rs.padding, r.Header.Get("Add-Padding"))
	if rs.down {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	prefix := strings.TrimPrefix(r.URL.Path, "/range/")
	if len(prefix) != 5 {
		http.Error(w, "bad prefix", http.StatusBadRequest)
		return
	}
	var b bytes.Buffer
	for h, n := range rs.breached {
		if strings.HasPrefix(h, prefix) {
			fmt.Fprintf(&b, "%s:%d\r\n", h[5:], n)
		}
	}
	if r.Header.Get("Add-Padding") == "true" {
		for i := range 20 {
			fmt.Fprintf(&b, "%035X:0\r\n", i)
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b.Bytes())
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func TestRangeAPI(t *testing.T) {
	const leaked = "a very leaked passphrase"
	rs := newRangeServer(t, leaked)
	// A padding line that matches a hash exactly must not count: count 0.
	padded := "unlucky but never breached"
	rs.breached[sha1Hex(padded)] = 0
	c := New(Options{RangeURL: rs.URL + "/range/"})

	if err := c.Check(context.Background(), leaked); !errors.Is(err, ErrBreached) {
		t.Fatalf("breached password: %v, want ErrBreached", err)
	}
	if err := c.Check(context.Background(), "never seen anywhere at all"); err != nil {
		t.Fatalf("unknown password: %v, want nil", err)
	}
	if err := c.Check(context.Background(), padded); err != nil {
		t.Fatalf("password matching a padding line: %v, want nil", err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i, p := range rs.paths {
		// k-anonymity: only five hex digits of the hash leave the server.
		if len(p) != len("/range/")+5 || strings.Contains(p, sha1Hex(leaked)[5:]) {
			t.Errorf("request %d asked for %q: more than the 5-digit prefix", i, p)
		}
		if rs.padding[i] != "true" {
			t.Errorf("request %d sent Add-Padding %q, want true", i, rs.padding[i])
		}
	}
	if want := "/range/" + sha1Hex(leaked)[:5]; rs.paths[0] != want {
		t.Errorf("first request %q, want %q", rs.paths[0], want)
	}
}

func TestRangeAPIFailsOpen(t *testing.T) {
	rs := newRangeServer(t, "a very leaked passphrase")
	rs.down = true
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	c := New(Options{RangeURL: rs.URL + "/range/", Log: log})
	if err := c.Check(context.Background(), "a very leaked passphrase"); err != nil {
		t.Fatalf("range API answering 503: %v, want nil (fail open)", err)
	}
	rs.Close() // now the connection is refused
	if err := c.Check(context.Background(), "a very leaked passphrase"); err != nil {
		t.Fatalf("range API unreachable: %v, want nil (fail open)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "range API unreachable"); n != 2 {
		t.Fatalf("%d log lines about the range API, want 2:\n%s", n, logs.String())
	}
	// The shipped list still applies while the API is down.
	if err := c.Check(context.Background(), "password1"); !errors.Is(err, ErrCommon) {
		t.Fatalf("common password with the API down: %v, want ErrCommon", err)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
