package cli

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
)

// browser is one signed-in device talking to the served program.
type browser struct {
	t    *testing.T
	base string
	http *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, http: &http.Client{
		Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) login(name, pw string) int {
	b.t.Helper()
	resp, err := b.http.PostForm(b.base+"/login", url.Values{"username": {name}, "password": {pw}})
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// me returns the status of GET /api/me.
func (b *browser) me() int {
	b.t.Helper()
	resp, err := b.http.Get(b.base + "/api/me")
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// activity returns the account's activity as (kind, client, user agent)
// triples, newest first.
func (b *browser) activity() [][3]string {
	b.t.Helper()
	resp, err := b.http.Get(b.base + "/api/activity")
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Activity []struct {
			Kind       string `json:"kind"`
			ClientAddr string `json:"client_addr"`
			UserAgent  string `json:"user_agent"`
		} `json:"activity"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		b.t.Fatal(err)
	}
	var events [][3]string
	for _, e := range out.Activity {
		events = append(events, [3]string{e.Kind, e.ClientAddr, e.UserAgent})
	}
	return events
}

// sessionID returns the public id of this device's session.
func (b *browser) sessionID() string {
	b.t.Helper()
	resp, err := b.http.Get(b.base + "/api/sessions")
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /api/sessions: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		b.t.Fatal(err)
	}
	for _, s := range out.Sessions {
		if s.Current {
			return s.ID
		}
	}
	b.t.Fatal("no session marked current")
	return ""
}

// listedIDs returns the ids of "session list" output: the first column of
// every row after the header.
func listedIDs(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("session list output lacks its header:\n%s", out)
	}
	var ids []string
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 {
			ids = append(ids, f[0])
		}
	}
	slices.Sort(ids)
	return ids
}

// TestSessionCommands runs "session list", "session revoke" and "user
// passwd" in-process against a served program and checks their effect over
// HTTP (L5: an operator can list and end a user's sessions; a password
// reset ends every one of them).
func TestSessionCommands(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	env := map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t),
		"REDIS_URL":    r.URL,
		"BCRYPT_COST":  "10",
		"LISTEN_ADDR":  "127.0.0.1:0",
	}
	p := newProgram(t, env)
	run := p.run
	p.addUser("alice", "old password one")
	p.addUser("bob", "bob password one")
	base, _ := p.serve()

	// Two devices of alice, and bob's, which no command here may touch.
	laptop, phone, bobs := newBrowser(t, base), newBrowser(t, base), newBrowser(t, base)
	for _, b := range []*browser{laptop, phone} {
		if code := b.login("alice", "old password one"); code != http.StatusSeeOther {
			t.Fatalf("sign-in: status %d, want 303", code)
		}
	}
	if code := bobs.login("bob", "bob password one"); code != http.StatusSeeOther {
		t.Fatalf("bob's sign-in: status %d, want 303", code)
	}
	laptopID, phoneID := laptop.sessionID(), phone.sessionID()

	out, err := run("", "session", "list", "alice")
	if err != nil {
		t.Fatalf("session list: %v", err)
	}
	want := []string{laptopID, phoneID}
	slices.Sort(want)
	if got := listedIDs(t, out); !slices.Equal(got, want) {
		t.Fatalf("session list shows %q, want the two sessions %q:\n%s", got, want, out)
	}

	// Revoke exactly the phone's session.
	if out, err := run("", "session", "revoke", "alice", phoneID); err != nil || !strings.Contains(out, phoneID) {
		t.Fatalf("session revoke: %v, output %q", err, out)
	}
	if code := phone.me(); code != http.StatusUnauthorized {
		t.Errorf("revoked session: /api/me status %d, want 401", code)
	}
	if code := laptop.me(); code != http.StatusOK {
		t.Errorf("the other session: /api/me status %d, want 200", code)
	}
	out, err = run("", "session", "list", "alice")
	if got := listedIDs(t, out); err != nil || !slices.Equal(got, []string{laptopID}) {
		t.Fatalf("session list after revoking one: %q (%v), want only %q", got, err, laptopID)
	}

	// An unknown id (and one that already ended) is an error naming it, and
	// ends nothing.
	for _, id := range []string{"no-such-session-id", phoneID} {
		out, err := run("", "session", "revoke", "alice", id)
		if err == nil || !strings.Contains(err.Error(), id) {
			t.Errorf("session revoke of %q: error %v, output %q; want an error naming the id", id, err, out)
		}
	}
	if code := laptop.me(); code != http.StatusOK {
		t.Errorf("after a failed revoke: /api/me status %d, want 200", code)
	}

	// --all ends the rest.
	if out, err := run("", "session", "revoke", "alice", "--all"); err != nil || !strings.Contains(out, "ended 1 session") {
		t.Fatalf("session revoke --all: %v, output %q", err, out)
	}
	if code := laptop.me(); code != http.StatusUnauthorized {
		t.Errorf("after --all: /api/me status %d, want 401", code)
	}
	if out, err := run("", "session", "list", "alice"); err != nil || len(listedIDs(t, out)) != 0 {
		t.Errorf("session list after --all: %v\n%s", err, out)
	}

	// A password reset ends every session of the user.
	desk, tablet := newBrowser(t, base), newBrowser(t, base)
	for _, b := range []*browser{desk, tablet} {
		if code := b.login("alice", "old password one"); code != http.StatusSeeOther {
			t.Fatalf("sign-in: status %d, want 303", code)
		}
	}
	out, err = run("new password two\n", "user", "passwd", "alice")
	if err != nil {
		t.Fatalf("user passwd: %v, output %q", err, out)
	}
	for name, b := range map[string]*browser{"desk": desk, "tablet": tablet} {
		if code := b.me(); code != http.StatusUnauthorized {
			t.Errorf("%s after the password reset: /api/me status %d, want 401", name, code)
		}
	}
	if !strings.Contains(out, "ended 2 session(s)") {
		t.Errorf("user passwd output %q does not report the 2 sessions it ended", out)
	}
	if code := newBrowser(t, base).login("alice", "old password one"); code != http.StatusUnauthorized {
		t.Errorf("old password after the reset: status %d, want 401", code)
	}
	fresh := newBrowser(t, base)
	if code := fresh.login("alice", "new password two"); code != http.StatusSeeOther {
		t.Errorf("new password after the reset: status %d, want 303", code)
	}
	if code := fresh.me(); code != http.StatusOK {
		t.Errorf("signed in with the new password: /api/me status %d, want 200", code)
	}

	// The owner sees that an operator ended the sessions, as the audit
	// line says: client "cli".
	var byCLI [][3]string
	for _, e := range fresh.activity() {
		if e[1] == "cli" {
			byCLI = append(byCLI, e)
		}
	}
	wantCLI := [][3]string{
		{"password_changed", "cli", "authd user passwd"},
		{"session_revoked", "cli", "authd session revoke --all"},
		{"session_revoked", "cli", "authd session revoke"},
	}
	if !slices.Equal(byCLI, wantCLI) {
		t.Errorf("activity by the command line: %q, want %q", byCLI, wantCLI)
	}

	// Bob was never touched.
	if code := bobs.me(); code != http.StatusOK {
		t.Errorf("bob's session after alice's commands: /api/me status %d, want 200", code)
	}
	// A5: passwords never reach the log.
	for _, pw := range []string{"old password one", "new password two", "bob password one"} {
		if strings.Contains(p.logs.String(), pw) {
			t.Errorf("the log contains the password %q", pw)
		}
	}
}
