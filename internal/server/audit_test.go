package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/session"
)

// logRecord is one line of the server's text log, key → value.
type logRecord map[string]string

// parseLogLine reads one slog text line: key=value pairs, values bare or
// Go-quoted.
func parseLogLine(line string) logRecord {
	rec := logRecord{}
	for s := strings.TrimSpace(line); s != ""; s = strings.TrimLeft(s, " ") {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		key := s[:eq]
		s = s[eq+1:]
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				rec[key] = s
				break
			}
			rec[key], _ = strconv.Unquote(q)
			s = s[len(q):]
			continue
		}
		if sp := strings.IndexByte(s, ' '); sp >= 0 {
			rec[key], s = s[:sp], s[sp:]
		} else {
			rec[key], s = s, ""
		}
	}
	return rec
}

// auditLines returns the audit records logged after offset bytes of the log.
func auditLines(logs string, offset int) []logRecord {
	var out []logRecord
	for _, line := range strings.Split(logs[offset:], "\n") {
		if rec := parseLogLine(line); rec["msg"] == "audit" {
			out = append(out, rec)
		}
	}
	return out
}

// wantAudit is one expected audit line: event, outcome, user id, and any
// further attributes that must be present with these values.
type wantAudit struct {
	event, outcome string
	userID         int64
	attrs          map[string]string
}

// The audit trail (U1): each security event logs exactly the expected
// lines, each with the user id, the client address and the outcome; no log
// line holds a password or a session token.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *testOptions) {
		o.limits = Limits{AccountFailures: 2, Signups: 1, Window: time.Minute}
	})
	const (
		pw1      = "first secret pass"
		pw2      = "second secret pass"
		pw3      = "third secret pass"
		bobPw    = "bob's secret pass"
		wrong    = "wrong guess pass"
		ghostPw  = "ghost secret pass"
		carolPw  = "carol secret pass"
		guessPw  = "guessed current pass"
		signupPw = "another signup pass"
	)
	alice := ts.addUser(t, "alice", pw1)
	ts.addUser(t, "bob", bobPw)
	var tokens []string
	keep := func(c *client) {
		if tok := c.sessionCookie(); tok != "" {
			tokens = append(tokens, tok)
		}
	}

	// check compares the audit lines logged since mark with want.
	check := func(name string, mark int, want ...wantAudit) {
		t.Helper()
		got := auditLines(ts.logs.String(), mark)
		if len(got) != len(want) {
			t.Errorf("%s: %d audit lines, want %d: %v", name, len(got), len(want), got)
			return
		}
		for i, w := range want {
			g := got[i]
			if g["event"] != w.event || g["outcome"] != w.outcome || g["user_id"] != strconv.FormatInt(w.userID, 10) || g["client"] != "127.0.0.1" {
				t.Errorf("%s: audit line %d = %v, want event=%s outcome=%s user_id=%d client=127.0.0.1",
					name, i, g, w.event, w.outcome, w.userID)
			}
			for k, v := range w.attrs {
				if g[k] != v {
					t.Errorf("%s: audit line %d has %s=%q, want %q (%v)", name, i, k, g[k], v, g)
				}
			}
		}
	}
	// step runs one action and checks the audit lines it logged.
	step := func(name string, action func(), want ...wantAudit) {
		t.Helper()
		mark := len(ts.logs.String())
		action()
		check(name, mark, want...)
	}

	step("sign-in, wrong password", func() {
		wantStatus(t, ts.client(t).login("alice", wrong), http.StatusUnauthorized)
	}, wantAudit{"sign_in", "failure", alice.ID, nil})
	step("sign-in, unknown user", func() {
		wantStatus(t, ts.client(t).login("ghost", ghostPw), http.StatusUnauthorized)
	}, wantAudit{"sign_in", "failure", 0, nil})

	laptop, phone, tablet := ts.client(t), ts.client(t), ts.client(t)
	step("sign-in", func() {
		wantStatus(t, laptop.login("alice", pw1), http.StatusSeeOther)
	}, wantAudit{"sign_in", "success", alice.ID, map[string]string{"remember": "false"}})
	step("sign-in, remembered", func() {
		wantStatus(t, phone.postForm("/login", url.Values{"username": {"alice"}, "password": {pw1}, "remember": {"on"}}), http.StatusSeeOther)
	}, wantAudit{"sign_in", "success", alice.ID, map[string]string{"remember": "true"}})
	step("sign-in, JSON", func() {
		resp := tablet.do(http.MethodPost, "/login", strings.NewReader(fmt.Sprintf(`{"username":"alice","password":%q}`, pw1)), "Content-Type", "application/json")
		wantStatus(t, resp, http.StatusOK)
	}, wantAudit{"sign_in", "success", alice.ID, map[string]string{"remember": "false"}})
	keep(laptop)
	keep(phone)
	keep(tablet)

	// Revoke the phone's session from the laptop, by its listed id.
	var phoneID string
	for _, s := range phone.sessions() {
		if s.Current {
			phoneID = s.ID
		}
	}
	if phoneID == "" {
		t.Fatal("the phone's session is not marked current in its list")
	}
	step("revoke one session", func() {
		wantStatus(t, laptop.postForm("/account/sessions/"+phoneID+"/revoke", nil), http.StatusSeeOther)
	}, wantAudit{"session_revoke", "success", alice.ID, map[string]string{"sessions": "1", "current": "false"}})
	wantStatus(t, phone.get("/api/me"), http.StatusUnauthorized)
	step("revoke others", func() {
		wantStatus(t, laptop.postForm("/account/sessions/revoke-others", nil), http.StatusSeeOther)
	}, wantAudit{"session_revoke", "success", alice.ID, map[string]string{"sessions": "1", "scope": "others"}})
	wantStatus(t, tablet.get("/api/me"), http.StatusUnauthorized)

	// Password change: refused, then done (HTML), then done again (JSON).
	// A change ends the other sessions and renews this one's token.
	other := ts.loginAs(t, "alice", pw1)
	keep(other)
	step("password change, wrong current password", func() {
		wantStatus(t, laptop.postForm("/account/password", url.Values{"current_password": {guessPw}, "new_password": {pw2}}), http.StatusUnauthorized)
	}, wantAudit{"password_change", "failure", alice.ID, nil})
	step("password change", func() {
		wantStatus(t, laptop.postForm("/account/password", url.Values{"current_password": {pw1}, "new_password": {pw2}, "confirm_password": {pw2}}), http.StatusSeeOther)
	},
		wantAudit{"password_change", "success", alice.ID, nil},
		wantAudit{"session_revoke", "success", alice.ID, map[string]string{"sessions": "2", "reason": "password change"}},
		wantAudit{"sign_in", "success", alice.ID, nil},
	)
	keep(laptop)
	wantStatus(t, other.get("/api/me"), http.StatusUnauthorized)
	step("password change, JSON", func() {
		resp := laptop.do(http.MethodPost, "/api/password", strings.NewReader(fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, pw2, pw3)), "Content-Type", "application/json")
		wantStatus(t, resp, http.StatusOK)
	},
		wantAudit{"password_change", "success", alice.ID, nil},
		wantAudit{"session_revoke", "success", alice.ID, map[string]string{"sessions": "1", "reason": "password change"}},
		wantAudit{"sign_in", "success", alice.ID, nil},
	)
	keep(laptop)

	step("sign-out", func() {
		wantStatus(t, laptop.postForm("/logout", nil), http.StatusSeeOther)
	}, wantAudit{"sign_out", "success", alice.ID, nil})
	step("sign-out without a session", func() {
		wantStatus(t, ts.client(t).postForm("/logout", nil), http.StatusSeeOther)
	})

	// Throttling: the account is not looked up, so user_id is 0 and the
	// line names the scope.
	for range 2 {
		wantStatus(t, ts.client(t).login("bob", wrong), http.StatusUnauthorized)
	}
	step("sign-in, throttled", func() {
		wantStatus(t, ts.client(t).login("bob", bobPw), http.StatusTooManyRequests)
	}, wantAudit{"sign_in", "throttled", 0, map[string]string{"scope": "account"}})

	carol := ts.client(t)
	mark := len(ts.logs.String())
	wantStatus(t, carol.postForm("/signup", url.Values{"username": {"carol"}, "password": {carolPw}}), http.StatusSeeOther)
	carolUser, err := ts.users.ByName(t.Context(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	check("sign-up", mark, wantAudit{"sign_up", "success", carolUser.ID, nil}, wantAudit{"sign_in", "success", carolUser.ID, nil})
	keep(carol)
	step("sign-up, throttled", func() {
		wantStatus(t, ts.client(t).postForm("/signup", url.Values{"username": {"dave"}, "password": {signupPw}}), http.StatusTooManyRequests)
	}, wantAudit{"sign_up", "throttled", 0, map[string]string{"scope": "signup"}})

	// A5, S3: no line of the whole log holds a password or a token, in any
	// encoding it travelled in, nor the Redis key of a token.
	logs := ts.logs.String()
	for _, pw := range []string{pw1, pw2, pw3, bobPw, wrong, ghostPw, carolPw, guessPw, signupPw} {
		js, _ := json.Marshal(pw)
		for _, form := range []string{pw, url.QueryEscape(pw), string(js[1 : len(js)-1])} {
			if strings.Contains(logs, form) {
				t.Errorf("the log contains the password %q (as %q)", pw, form)
			}
		}
	}
	if len(tokens) < 7 {
		t.Fatalf("collected %d tokens, want at least 7", len(tokens))
	}
	for _, tok := range tokens {
		if strings.Contains(logs, tok) || strings.Contains(logs, session.RecordKey(ts.prefix, tok)) {
			t.Errorf("the log contains a session token or its record key (%.8s…)", tok)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}
