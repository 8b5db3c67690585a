package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/user"
)

// mailWait bounds how long a test waits for a mail: generous, since the
// machine is shared; a passing test does not wait for it.
const mailWait = time.Minute

// confirmedUser creates a user whose address is confirmed.
func (ts *testServer) confirmedUser(t testing.TB, name, pw, email string) user.User {
	t.Helper()
	u := ts.addUser(t, name, pw)
	ctx := context.Background()
	if err := ts.users.SetPendingEmail(ctx, u.ID, email); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.users.ConfirmEmail(ctx, u.ID, email); err != nil {
		t.Fatal(err)
	}
	u, err := ts.users.ByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// waitOutboxEmpty waits until every queued mail was sent or skipped.
func (ts *testServer) waitOutboxEmpty(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		n, err := ts.outbox.Len(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d jobs after %v", n, mailWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+\?token=[A-Za-z0-9_-]+`)

// linkIn returns the token of the link to path in a mail, checking that
// the link is on the configured public URL and that the HTML part carries
// the same link.
func linkIn(t testing.TB, m testenv.ReceivedMail, path string) string {
	t.Helper()
	links := linkRE.FindAllString(m.Text, -1)
	if len(links) != 1 {
		t.Fatalf("mail %q has %d links with a token, want 1:\n%s", m.Subject, len(links), m.Text)
	}
	u, err := url.Parse(links[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := testPublicURL + path; u.Scheme+"://"+u.Host+u.Path != want {
		t.Fatalf("link %q, want one on %s (the configured public URL)", links[0], want)
	}
	if !strings.Contains(m.HTML, links[0]) {
		t.Fatalf("HTML part lacks the link %q:\n%s", links[0], m.HTML)
	}
	return u.Query().Get("token")
}

// mailsTo returns the mails to addr whose subject starts with prefix.
func mailsTo(mails []testenv.ReceivedMail, addr, prefix string) []testenv.ReceivedMail {
	var out []testenv.ReceivedMail
	for _, m := range mails {
		if len(m.To) == 1 && strings.EqualFold(m.To[0], addr) && strings.HasPrefix(m.Subject, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// waitMail waits for a mail to addr with the subject prefix and returns it.
func waitMail(t testing.TB, srv *testenv.SMTPServer, addr, prefix string) testenv.ReceivedMail {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for n := 1; ; n++ {
		got := mailsTo(srv.Mails(), addr, prefix)
		if len(got) > 0 {
			return got[len(got)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s %q within %v; got %d mails", addr, prefix, mailWait, len(srv.Mails()))
		}
		srv.WaitFor(t, len(srv.Mails())+1, time.Until(deadline)+time.Second)
	}
}

// forgot posts to /forgot with a Host header of an attacker's choosing:
// the link must not use it.
func (c *client) forgot(login string, header ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+"/forgot", strings.NewReader(url.Values{"login": {login}}.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Host = "evil.example"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}
