package server

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// Behind a trusted proxy, X-Forwarded-For entries written as ip:port or
// [v6]:port (as some load balancers do) name the client, in the session
// list and in the per-address limit; anything else is still refused and
// the proxy's own address used.
func TestForwardedForWithPorts(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *testOptions) {
		o.proxies = []string{"127.0.0.1"}
		o.limits = Limits{AddrFailures: 2, Window: time.Minute}
	})
	ts.addUser(t, "alice", "password one")
	for xff, want := range map[string]string{
		"203.0.113.7:4711":            "203.0.113.7",
		"[2001:db8::7]:443":           "2001:db8::7",
		"198.51.100.1, 203.0.113.8:1": "203.0.113.8",
		"2001:db8::9":                 "2001:db8::9",
		"203.0.113.9:":                "127.0.0.1", // no port after the colon
		"[2001:db8::10]":              "127.0.0.1", // brackets without a port
		"203.0.113.10:99999":          "127.0.0.1", // not a port
		"host.example:80":             "127.0.0.1",
	} {
		c := ts.client(t)
		wantStatus(t, c.login("alice", "password one", "X-Forwarded-For", xff), http.StatusSeeOther)
		resp := c.get("/api/sessions")
		wantStatus(t, resp, http.StatusOK)
		var out struct {
			Sessions []struct {
				ClientAddr string `json:"client_addr"`
				Current    bool   `json:"current"`
			} `json:"sessions"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, s := range out.Sessions {
			if s.Current {
				got = s.ClientAddr
			}
		}
		if got != want {
			t.Errorf("X-Forwarded-For %q: session address %q, want %q", xff, got, want)
		}
	}
	// The per-address limit counts the client, not the proxy: the port does
	// not matter, and another client behind the proxy is unaffected.
	for _, xff := range []string{"192.0.2.50:1000", "192.0.2.50:2000"} {
		wantStatus(t, ts.client(t).login("nobody", cheapWrong, "X-Forwarded-For", xff), http.StatusUnauthorized)
	}
	wantStatus(t, ts.client(t).login("alice", "password one", "X-Forwarded-For", "192.0.2.50:3000"), http.StatusTooManyRequests)
	wantStatus(t, ts.client(t).login("alice", "password one", "X-Forwarded-For", "192.0.2.51:1000"), http.StatusSeeOther)
}
