package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
)

// shutdownTimeout is the SHUTDOWN_TIMEOUT of TestGracefulRestart's servers.
const shutdownTimeout = 10 * time.Second

// TestGracefulRestart sends SIGTERM to a server under load while a slow
// sign-in is still uploading its body. Every request that got a response
// got a complete and correct one (no 5xx, no truncated body); the only
// failures allowed are refused connections once the listener has closed.
// The slow sign-in completes normally after the signal, the process exits
// with status 0 within the shutdown timeout, and a new process on the same
// Redis and database honours the sessions of the old one.
func TestGracefulRestart(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	settings := map[string]string{
		"DATABASE_URL":     testenv.SQLiteURL(t),
		"REDIS_URL":        r.URL,
		"BCRYPT_COST":      bcryptCost,
		"SHUTDOWN_TIMEOUT": shutdownTimeout.String(),
	}
	addUser(t, settings, userName, userPassword)
	old := startAuthd(t, settings)
	c := noRedirects()
	token := signIn(t, c, old.URL, userName, userPassword)

	l := startLoad(old.URL, token, 4, 2, 5*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	inFlight, slow := slowSignIn(old.Addr, userName, userPassword, 10, 100*time.Millisecond)
	<-inFlight
	tTerm := time.Now()
	old.signal(t, syscall.SIGTERM)

	select {
	case <-old.exited:
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("authd did not exit within %v of SIGTERM", shutdownTimeout+5*time.Second)
	}
	exitedAfter := time.Since(tTerm)
	time.Sleep(200 * time.Millisecond) // the load meets a closed port for a while
	results := l.finish()
	s := <-slow

	if old.err != nil {
		t.Errorf("authd exited with %v after SIGTERM, want status 0", old.err)
	}
	if exitedAfter > shutdownTimeout {
		t.Errorf("authd took %v to exit, longer than its shutdown timeout %v", exitedAfter, shutdownTimeout)
	}

	// The slow sign-in was in flight when the signal came, and still gets
	// a complete, normal answer.
	var slowToken string
	switch {
	case s.err != nil:
		t.Errorf("slow sign-in in flight during SIGTERM: %v", s.err)
	case s.resp.StatusCode != http.StatusSeeOther || s.resp.Header.Get("Location") != "/account":
		t.Errorf("slow sign-in: status %d to %q, want 303 to /account", s.resp.StatusCode, s.resp.Header.Get("Location"))
	default:
		slowToken = sessionCookie(s.resp)
		if slowToken == "" {
			t.Errorf("slow sign-in: no session cookie in %q", s.resp.Header.Values("Set-Cookie"))
		}
		t.Logf("slow sign-in answered %d, %v after SIGTERM; the process exited %v after SIGTERM",
			s.resp.StatusCode, s.end.Sub(tTerm).Round(time.Millisecond), exitedAfter.Round(time.Millisecond))
	}

	// Every response was complete and correct; refused connections are
	// the only failures, and only after the signal.
	var before, during, refused int
	var failures []string
	for _, res := range results {
		switch {
		case res.err == nil && res.status == http.StatusOK:
			if res.end.Before(tTerm) {
				before++
			} else {
				during++
			}
		case res.status == 0 && errors.Is(res.err, syscall.ECONNREFUSED) && res.end.After(tTerm):
			refused++
		default:
			if len(failures) < 10 {
				failures = append(failures, fmt.Sprintf("%s at %+v from SIGTERM: status %d, %v",
					res.path, res.start.Sub(tTerm).Round(time.Millisecond), res.status, res.err))
			}
		}
	}
	t.Logf("load: %d answered 200 before SIGTERM, %d after it; %d refused once the listener closed", before, during, refused)
	for _, f := range failures {
		t.Error(f)
	}
	if before == 0 || refused == 0 {
		t.Errorf("the load did not span the shutdown: %d answered before SIGTERM, %d refused after", before, refused)
	}
	if strings.Contains(old.logs.String(), "level=ERROR") {
		t.Errorf("the old process logged errors:\n%s", firstLines(old.logs.String(), "level=ERROR"))
	}

	// A new process on the same Redis and database: the sessions live on.
	fresh := startAuthd(t, settings)
	for _, tok := range []string{token, slowToken} {
		if tok == "" {
			continue
		}
		if status, err := getMe(c, fresh.URL+"/api/me", tok); status != http.StatusOK || err != nil {
			t.Errorf("session from before the restart on the new process: status %d, %v; want 200", status, err)
		}
	}
}

// slowResult is the outcome of slowSignIn.
type slowResult struct {
	resp *http.Response // body already read and closed
	end  time.Time
	err  error
}

// slowSignIn posts a sign-in form to addr over a raw connection: the headers
// with "Expect: 100-continue" first, then, once the server's handler has
// started reading the body (it answers "100 Continue"), the body in pieces
// parts, one every gap. inFlight is closed when the handler is running, so
// the request is in flight whatever the machine's speed; done receives the
// response.
func slowSignIn(addr, name, pw string, pieces int, gap time.Duration) (inFlight <-chan struct{}, done <-chan slowResult) {
	sent := make(chan struct{})
	out := make(chan slowResult, 1)
	go func() {
		res := slowResult{}
		defer func() {
			res.end = time.Now()
			out <- res
		}()
		var once sync.Once
		inFlight := func() { once.Do(func() { close(sent) }) }
		defer inFlight()
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			res.err = err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(time.Duration(pieces)*gap + 30*time.Second))
		body := url.Values{"username": {name}, "password": {pw}}.Encode()
		head := fmt.Sprintf("POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Length: %d\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n", addr, len(body))
		if _, err := io.WriteString(conn, head); err != nil {
			res.err = fmt.Errorf("writing the request head: %w", err)
			return
		}
		br := bufio.NewReader(conn)
		if err := readContinue(br); err != nil {
			res.err = err
			return
		}
		inFlight()
		size := (len(body) + pieces - 1) / pieces
		for rest := body; err == nil && rest != ""; rest = rest[min(size, len(rest)):] {
			time.Sleep(gap)
			_, err = io.WriteString(conn, rest[:min(size, len(rest))])
		}
		if err != nil {
			res.err = fmt.Errorf("writing the request: %w", err)
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			res.err = fmt.Errorf("reading the response: %w", err)
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			res.err = fmt.Errorf("reading the response body: %w", err)
			return
		}
		res.resp = resp
	}()
	return sent, out
}

// readContinue reads the interim "100 Continue" response that the server
// sends when the handler first reads the body.
func readContinue(br *bufio.Reader) error {
	status, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("waiting for 100 Continue: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 100 ") {
		return fmt.Errorf("waiting for 100 Continue: got %q", strings.TrimSpace(status))
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reading the 100 Continue: %w", err)
		}
		if line == "\r\n" {
			return nil
		}
	}
}
