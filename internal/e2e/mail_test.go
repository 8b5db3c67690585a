package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
)

// publicURL is the PUBLIC_URL of these tests: the links must carry it,
// and the test follows them by swapping in the address the server really
// listens on, as a proxy in front would.
const publicURL = "https://auth.example.test"

var tokenLink = regexp.MustCompile(`https?://[^\s"<>\\]+\?token=[A-Za-z0-9_-]+`)

// follow maps a link from a mail onto the server's real address, after
// checking it is on PUBLIC_URL.
func follow(t *testing.T, link, path, base string) string {
	t.Helper()
	if !strings.HasPrefix(link, publicURL+path+"?token=") {
		t.Fatalf("link %q is not %s%s?token=…", link, publicURL, path)
	}
	return base + strings.TrimPrefix(link, publicURL)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, cookie string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "session_id", Value: cookie})
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func wantCode(t *testing.T, what string, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d", what, resp.StatusCode, want)
	}
}

// TestPasswordResetThroughBinary runs the built binary against a real SMTP
// server: confirm an address, ask for a reset, follow the link, and the old
// password and the old session are gone.
func TestPasswordResetThroughBinary(t *testing.T) {
	t.Parallel()
	smtp := testenv.StartSMTP(t)
	r := testenv.StartRedis(t)
	settings := map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t),
		"REDIS_URL":    r.URL,
		"PUBLIC_URL":   publicURL,
		"SMTP_HOST":    smtp.Host,
		"SMTP_PORT":    strconv.Itoa(smtp.Port),
		"SMTP_TLS":     "none",
		"MAIL_FROM":    "authd <no-reply@auth.example.test>",
	}
	addUser(t, settings, userName, userPassword)
	p := startAuthd(t, settings)
	c := noRedirects()
	old := signIn(t, c, p.URL, userName, userPassword)

	wantCode(t, "add address", post(t, c, p.URL+"/account/email", url.Values{"email": {"alice@example.com"}, "current_password": {userPassword}}, old), http.StatusOK)
	m := smtp.WaitFor(t, 1, time.Minute)[0]
	if m.To[0] != "alice@example.com" || !strings.HasPrefix(m.Subject, "Confirm your e-mail address") {
		t.Fatalf("first mail to %q: %q", m.To, m.Subject)
	}
	verify := follow(t, tokenLink.FindString(m.Text), "/email/verify", p.URL)
	vu, _ := url.Parse(verify)
	wantCode(t, "confirm", post(t, c, p.URL+"/email/verify", url.Values{"token": {vu.Query().Get("token")}}, ""), http.StatusOK)

	resp, err := c.PostForm(p.URL+"/forgot", url.Values{"login": {"alice@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantCode(t, "forgot", resp, http.StatusOK)
	var reset testenv.ReceivedMail
	for _, m := range smtp.WaitFor(t, 2, time.Minute) {
		if strings.HasPrefix(m.Subject, "Reset your password") {
			reset = m
		}
	}
	link := follow(t, tokenLink.FindString(reset.Text), "/reset", p.URL)
	resp, err = c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantCode(t, "reset page", resp, http.StatusOK)
	lu, _ := url.Parse(link)
	resp = post(t, c, p.URL+"/reset", url.Values{"token": {lu.Query().Get("token")}, "new_password": {"a brand new passphrase"}}, "")
	wantCode(t, "reset", resp, http.StatusSeeOther)
	if sessionCookie(resp) == "" {
		t.Fatal("the reset did not sign this browser in")
	}
	if code, err := getMe(c, p.URL+"/api/me", old); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("old session after the reset: %d, %v; want 401", code, err)
	}
	signIn(t, c, p.URL, userName, "a brand new passphrase")
	resp, err = c.PostForm(p.URL+"/login", url.Values{"username": {userName}, "password": {userPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantCode(t, "old password", resp, http.StatusUnauthorized)
	// The reset notice arrives too.
	for deadline := time.Now().Add(time.Minute); ; {
		found := false
		for _, m := range smtp.Mails() {
			found = found || m.Subject == "Your password was reset"
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reset notice")
		}
		smtp.WaitFor(t, len(smtp.Mails())+1, time.Until(deadline)+time.Second)
	}
}

// TestMailWithoutSMTPGoesToTheLog is make run's setting: no SMTP_HOST. The
// confirmation link is in the log, clearly marked as not sent, and works.
func TestMailWithoutSMTPGoesToTheLog(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	settings := map[string]string{
		"DATABASE_URL": testenv.SQLiteURL(t),
		"REDIS_URL":    r.URL,
		"PUBLIC_URL":   publicURL,
		"LOG_FORMAT":   "json",
	}
	addUser(t, settings, userName, userPassword)
	p := startAuthd(t, settings)
	c := noRedirects()
	token := signIn(t, c, p.URL, userName, userPassword)
	wantCode(t, "add address", post(t, c, p.URL+"/account/email", url.Values{"email": {"alice@example.com"}, "current_password": {userPassword}}, token), http.StatusOK)

	var link string
	for deadline := time.Now().Add(time.Minute); link == ""; time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(p.logs.String(), "\n") {
			var entry struct {
				Msg, To, Text string
			}
			if json.Unmarshal([]byte(line), &entry) == nil && strings.Contains(entry.Msg, "no SMTP_HOST configured") && entry.To == "alice@example.com" {
				link = tokenLink.FindString(entry.Text)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail in the log:\n%s", p.logs.String())
		}
	}
	u, _ := url.Parse(follow(t, link, "/email/verify", p.URL))
	wantCode(t, "confirm from the log", post(t, c, p.URL+"/email/verify", url.Values{"token": {u.Query().Get("token")}}, ""), http.StatusOK)
}
