package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// signIn posts the credentials to base/login as a form, the way curl would
// (no Origin, no Sec-Fetch-Site), and returns the session token from the 303's
// session_id cookie.
func signIn(t *testing.T, c *http.Client, base, name, pw string) string {
	t.Helper()
	resp, err := c.PostForm(base+"/login", url.Values{"username": {name}, "password": {pw}})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: status %d, want 303", resp.StatusCode)
	}
	token := sessionCookie(resp)
	if token == "" {
		t.Fatalf("sign in: no session_id cookie in %q", resp.Header.Values("Set-Cookie"))
	}
	return token
}

// sessionCookie returns the value of the session_id cookie resp sets.
func sessionCookie(resp *http.Response) string {
	for _, c := range resp.Cookies() {
		if c.Name == "session_id" {
			return c.Value
		}
	}
	return ""
}

// getMe GETs meURL (base/api/me, perhaps with a query string that marks the
// request in a proxy's log) with the session token, if any, and checks that
// the body matches the status: the signed-in user for 200, a JSON error for
// 401 and 503 (503 also with Retry-After). It returns the status, or an error
// for a failed exchange or a body that is not what the status promises
// (truncated, say).
func getMe(c *http.Client, meURL, token string) (int, error) {
	return getMeAs(c, meURL, token, userName)
}

// getMeAs is getMe for a session of the user called name.
func getMeAs(c *http.Client, meURL, token, name string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, meURL, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: "session_id", Value: token})
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("status %d, reading the body: %w", resp.StatusCode, err)
	}
	var body struct {
		User *struct {
			Name string `json:"name"`
		} `json:"user"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return resp.StatusCode, fmt.Errorf("status %d, body %q is not JSON: %w", resp.StatusCode, b, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if body.User == nil || body.User.Name != name {
			return resp.StatusCode, fmt.Errorf("status 200 with body %q, want user %s", b, name)
		}
	case http.StatusServiceUnavailable:
		if body.Error == "" || resp.Header.Get("Retry-After") == "" {
			return resp.StatusCode, fmt.Errorf("status 503 without an error and Retry-After: %q", b)
		}
	default:
		if body.Error == "" {
			return resp.StatusCode, fmt.Errorf("status %d without an error message: %q", resp.StatusCode, b)
		}
	}
	return resp.StatusCode, nil
}

// getHealth asks base/healthz and returns its status, or an error for a failed
// exchange or a body other than {"status":"ok"}.
func getHealth(c *http.Client, base string) (int, error) {
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("status %d, reading the body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(b)) != `{"status":"ok"}` {
		return resp.StatusCode, fmt.Errorf("healthz body %q", b)
	}
	return resp.StatusCode, nil
}
