package server

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// X-Request-Id reveals nothing: not which instance answered, nor how many
// requests it served in between. Each id is at least 96 random-looking bits,
// and consecutive ids share no prefix beyond what chance gives.
func TestRequestIDsRevealNothing(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	seen := map[string]bool{}
	var prev string
	longest := 0
	const n = 64
	for range n {
		resp := c.get("/healthz")
		wantStatus(t, resp, http.StatusOK)
		id := resp.Header.Get("X-Request-Id")
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) < 12 {
			t.Fatalf("X-Request-Id %q: want at least 12 bytes, base64url", id)
		}
		if seen[id] {
			t.Fatalf("X-Request-Id %q repeated", id)
		}
		seen[id] = true
		if prev != "" {
			common := 0
			for common < len(id) && common < len(prev) && id[common] == prev[common] {
				common++
			}
			longest = max(longest, common)
		}
		prev = id
	}
	// Each base64 character matches the previous id's by chance 1 time in
	// 64: over 63 pairs, a common prefix of 3 happens about once in 4,000 runs.
	if longest >= 3 {
		t.Errorf("consecutive request ids share a prefix of %d characters (last %q)", longest, prev)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "request_id="+prev) {
		t.Errorf("the request log does not carry the id %q", prev)
	}
}
