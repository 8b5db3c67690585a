package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
)

// The parts of the forward-auth tests: two small apps, authd with the
// README's rules, a proxy process, and a browser that reaches every host
// name through the proxy's port.

// upstream is one small app behind the proxy: it answers every request
// with what it received, so the test sees exactly which identity headers
// reached it.
type upstream struct {
	Addr string
}

// seen is an upstream's answer.
type seen struct {
	App     string              `json:"app"`
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Headers map[string][]string `json:"headers"`
}

func startUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := map[string][]string{}
		for k, v := range r.Header {
			if strings.HasPrefix(k, "Remote-") {
				h[k] = v
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{App: name, Method: r.Method, URI: r.RequestURI, Headers: h})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &upstream{Addr: ln.Addr().String()}
}

// site is the set-up of one proxy test: authd, two apps and a proxy, all
// on loopback, reached by host name through the proxy's port.
type site struct {
	t        *testing.T
	port     string // the proxy's
	authd    *authd
	settings map[string]string
}

func (s *site) url(host, path string) string {
	return "http://" + host + ".example.com:" + s.port + path
}

// newSite starts Redis and authd for a proxy that will listen on
// proxyAddr, with the README's rules, and two users: alice, and bob in the
// group admins.
func newSite(t *testing.T, proxyAddr string) *site {
	t.Helper()
	_, port, _ := net.SplitHostPort(proxyAddr)
	r := testenv.StartRedis(t)
	rules, err := filepath.Abs(filepath.Join(snippetDir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, port: port, settings: map[string]string{
		"DATABASE_URL":      "sqlite:" + filepath.Join(t.TempDir(), "authd.db"),
		"REDIS_URL":         r.URL,
		"COOKIE_DOMAIN":     "example.com",
		"PUBLIC_URL":        "http://auth.example.com:" + port,
		"TRUSTED_PROXIES":   "127.0.0.1",
		"ACCESS_RULES_FILE": rules,
	}}
	addUser(t, s.settings, "alice", userPassword)
	addUser(t, s.settings, "bob", userPassword)
	runAuthdCommand(t, s.settings, "group", "add", "admins")
	runAuthdCommand(t, s.settings, "user", "groups", "bob", "+admins")
	s.authd = startAuthd(t, s.settings)
	return s
}

// runAuthdCommand runs one authd command to its end and returns its output.
func runAuthdCommand(t *testing.T, settings map[string]string, args ...string) string {
	t.Helper()
	cmd := exec.Command(authdBin, args...)
	cmd.Env = authdEnv(settings)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("authd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// rewrite puts the test's addresses into a snippet.
func (s *site) rewrite(conf string, app1, app2 *upstream) string {
	return strings.NewReplacer(snippetAuthd, s.authd.Addr, snippetApp1, app1.Addr, snippetApp2, app2.Addr).Replace(conf)
}

// browser is a cookie-keeping client that reaches every host name through
// the proxy's port on 127.0.0.1 (no DNS) and does not follow redirects.
type browser struct {
	t    *testing.T
	http *http.Client
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	dial := &net.Dialer{Timeout: 5 * time.Second}
	return &browser{t: s.t, http: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial.DialContext(ctx, network, "127.0.0.1:"+s.port)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request; header pairs follow the body. It returns the
// response with its body read.
func (b *browser) do(method, rawURL string, body io.Reader, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(text)
}

func (b *browser) get(rawURL string, header ...string) (*http.Response, string) {
	b.t.Helper()
	return b.do(http.MethodGet, rawURL, nil, header...)
}

// app GETs a page of an app that must be served, and returns what the app saw.
func (b *browser) app(rawURL string, header ...string) seen {
	b.t.Helper()
	resp, text := b.get(rawURL, header...)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d, want 200 from the app; Location %q", rawURL, resp.StatusCode, resp.Header.Get("Location"))
	}
	var s seen
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		b.t.Fatalf("GET %s: not the app's answer: %v\n%s", rawURL, err, text)
	}
	return s
}

// signIn signs name in on authd's host with rd, and returns where the
// sign-in sent the browser.
func (b *browser) signIn(s *site, name, rd string) string {
	b.t.Helper()
	form := url.Values{"username": {name}, "password": {userPassword}, "rd": {rd}}
	resp, _ := b.do(http.MethodPost, s.url("auth", "/login"), strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign-in of %s: %d, want 303", name, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// sessionID is the public id of the browser's session, from authd's list.
func (b *browser) sessionID(s *site) string {
	b.t.Helper()
	resp, text := b.get(s.url("auth", "/api/sessions"))
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /api/sessions: %d", resp.StatusCode)
	}
	var out struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		}
	}
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		b.t.Fatal(err)
	}
	for _, e := range out.Sessions {
		if e.Current {
			return e.ID
		}
	}
	b.t.Fatalf("no current session in %s", text)
	return ""
}

func wantHeaders(t *testing.T, where string, got seen, want map[string]string) {
	t.Helper()
	for _, h := range []string{"Remote-User", "Remote-Name", "Remote-Groups", "Remote-Session"} {
		w, expected := want[h]
		v, present := got.Headers[h]
		switch {
		case !expected && present && !(len(v) == 1 && v[0] == ""):
			t.Errorf("%s: the app got %s %q, want none (F3)", where, h, v)
		case expected && !slices.Equal(v, []string{w}) && !(w == "" && !present):
			t.Errorf("%s: the app got %s %q, want exactly %q (F3)", where, h, v, w)
		}
	}
}

// findCaddy returns the caddy binary. A missing one fails the test under
// CI and skips it elsewhere.
func findCaddy(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("caddy"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("caddy is not installed; install it: %s", caddyInstall)
	}
	t.Skipf("caddy is not installed (install it: %s)", caddyInstall)
	return ""
}

// startProxy runs a proxy until the test ends (stopping it with stop) and
// waits until it serves authd's home page on the auth host.
func startProxy(t *testing.T, s *site, cmd *exec.Cmd, stop syscall.Signal, errorLog string) {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	logs := func() string {
		if errorLog == "" {
			return out.String()
		}
		b, _ := os.ReadFile(errorLog)
		return out.String() + string(b)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), logs())
		}
	})
	probe := s.browser()
	probe.http.Timeout = time.Second
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("%s exited at start:\n%s", filepath.Base(cmd.Path), logs())
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, s.url("auth", "/healthz"), nil)
		if resp, err := probe.http.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not proxy authd's /healthz within 30s:\n%s", filepath.Base(cmd.Path), logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
