package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/sessionauth/authd/internal/testenv"
)

// The README's forward-auth snippets and example rules live in
// docs/forwardauth; the tests below run exactly those files, changing only
// addresses: authd's 127.0.0.1:8080, the apps' 127.0.0.1:3001 and :3002,
// and the proxy's listening port (nginx "listen 80", Caddy's site
// addresses, which get http:// and the port, since the test has no
// certificates).
const snippetDir = "../../docs/forwardauth"

// The addresses in the snippets.
const (
	snippetAuthd = "127.0.0.1:8080"
	snippetApp1  = "127.0.0.1:3001"
	snippetApp2  = "127.0.0.1:3002"
)

// caddyInstall is what to run when Caddy is missing.
const caddyInstall = "apt-get install -y caddy"

func readSnippet(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(snippetDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README shows each snippet exactly as the file the tests run.
func TestREADMEShowsTheTestedSnippets(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, lang := range map[string]string{"nginx.conf": "nginx", "Caddyfile": "caddyfile", "rules.yaml": "yaml"} {
		if block := "```" + lang + "\n" + readSnippet(t, name) + "```\n"; !strings.Contains(string(readme), block) {
			t.Errorf("README.md does not show docs/forwardauth/%s verbatim in a ```%s block", name, lang)
		}
	}
}

// forwardAuthFlow is the whole tour, the same through every proxy: signed
// out → sign-in → back at the page on app1 → app2 signed in too → a
// group-only path → client-sent identity headers → revocation and
// sign-out ending access to both apps.
func forwardAuthFlow(t *testing.T, s *site, nginx bool) {
	alice := s.browser()

	// Signed out: a browser is sent to sign in, with the page to return to.
	page := s.url("app1", "/wiki/Main_Page?action=view")
	resp, _ := alice.get(page)
	signInURL := s.url("auth", "/login?rd="+url.QueryEscape(page))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != signInURL {
		t.Fatalf("signed-out GET %s: %d Location %q; want 302 to %s", page, resp.StatusCode, resp.Header.Get("Location"), signInURL)
	}
	resp, form := alice.get(signInURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(form, `name="rd" value="`+page+`"`) {
		t.Fatalf("sign-in page: %d, rd kept: %v", resp.StatusCode, strings.Contains(form, `name="rd"`))
	}
	if loc := alice.signIn(s, "alice", page); loc != page {
		t.Fatalf("the sign-in sent the browser to %q, want back to %q", loc, page)
	}

	// Back at the page, with authd's identity headers.
	aliceID := alice.sessionID(s)
	got := alice.app(page)
	if got.App != "app1" || got.URI != "/wiki/Main_Page?action=view" {
		t.Fatalf("app1 answered %+v", got)
	}
	aliceHeaders := map[string]string{"Remote-User": "alice", "Remote-Name": "alice", "Remote-Groups": "", "Remote-Session": aliceID}
	wantHeaders(t, "app1 as alice", got, aliceHeaders)

	// app2 is signed in too: the cookie's domain is the parent domain.
	got = alice.app(s.url("app2", "/"))
	if got.App != "app2" {
		t.Fatalf("app2 answered %+v", got)
	}
	wantHeaders(t, "app2 as alice", got, aliceHeaders)

	// The admin area is for the group admins: alice is refused, bob is not.
	if resp, _ := alice.get(s.url("app1", "/admin/users")); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice on /admin/users: %d, want 403", resp.StatusCode)
	}
	bob := s.browser()
	bob.signIn(s, "bob", "")
	got = bob.app(s.url("app1", "/admin/users"))
	wantHeaders(t, "app1 admin as bob", got, map[string]string{"Remote-User": "bob", "Remote-Name": "bob", "Remote-Groups": "admins", "Remote-Session": bob.sessionID(s)})

	// F3: identity headers a client sends never reach an app. Not on a
	// public path, signed out...
	forged := []string{"Remote-User", "admin", "Remote-Name", "Admin", "Remote-Groups", "admins", "Remote-Session", "forged"}
	anon := s.browser()
	got = anon.app(s.url("app1", "/static/app.css"), forged...)
	wantHeaders(t, "public path, signed out, forged headers", got, nil)
	// ...nor signed in, where authd's values replace them...
	got = alice.app(page, forged...)
	wantHeaders(t, "app1 as alice, forged headers", got, aliceHeaders)
	// ...and a forged group opens nothing.
	if resp, _ := alice.get(s.url("app1", "/admin/users"), forged...); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice with a forged Remote-Groups on /admin: %d, want 403", resp.StatusCode)
	}
	// Nor does a forged description of the request (X-Forwarded-* for
	// Caddy, X-Original-* for nginx) pointing at the public path.
	for _, h := range [][]string{
		{"X-Original-URL", s.url("app1", "/static/x"), "X-Original-Method", "GET"},
		{"X-Forwarded-Uri", "/static/x", "X-Forwarded-Host", "app1.example.com:" + s.port, "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http"},
	} {
		if resp, _ := anon.get(s.url("app1", "/admin/users"), h...); resp.StatusCode == http.StatusOK {
			t.Fatalf("signed-out /admin/users with forged %v: served", h)
		}
		if resp, _ := alice.get(s.url("app1", "/admin/users"), h...); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("alice's /admin/users with forged %v: %d, want 403", h, resp.StatusCode)
		}
	}
	// A path the app could read otherwise than the rules is refused.
	if resp, _ := anon.get(s.url("app1", "/static/%2e%2e/admin/users")); resp.StatusCode == http.StatusOK {
		t.Fatal("an encoded dot segment out of the public path was served")
	}

	// Clients that cannot follow a redirect to a page get 401 from
	// Caddy; nginx's snippet redirects every signed-out request.
	resp, _ = anon.get(s.url("app2", "/api/items"), "Accept", "application/json")
	if want := map[bool]int{false: http.StatusUnauthorized, true: http.StatusFound}[nginx]; resp.StatusCode != want {
		t.Fatalf("signed-out JSON request: %d, want %d", resp.StatusCode, want)
	}

	// F4: revoking alice's session at authd (from another device) ends
	// it on both apps at the next request.
	laptop := s.browser()
	laptop.signIn(s, "alice", "")
	resp, _ = laptop.do(http.MethodPost, s.url("auth", "/api/sessions/"+aliceID+"/revoke"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	for _, app := range []string{"app1", "app2"} {
		if resp, _ := alice.get(s.url(app, "/")); resp.StatusCode != http.StatusFound {
			t.Fatalf("revoked session on %s: %d, want 302 to sign in", app, resp.StatusCode)
		}
	}
	// And signing out at authd ends the laptop's on both.
	laptop.app(s.url("app2", "/"))
	resp, _ = laptop.do(http.MethodPost, s.url("auth", "/logout"), nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	for _, app := range []string{"app1", "app2"} {
		if resp, _ := laptop.get(s.url(app, "/")); resp.StatusCode != http.StatusFound {
			t.Fatalf("signed-out session on %s: %d, want 302 to sign in", app, resp.StatusCode)
		}
	}

	// The audit line of the sign-in names the app it started from.
	if !regexp.MustCompile(`msg=audit .*event=sign_in outcome=success user_id=1 .*app=app1\.example\.com:` + s.port).MatchString(s.authd.logs.String()) {
		t.Errorf("no sign_in audit line naming app1 in authd's log")
	}
}

func TestForwardAuthNginx(t *testing.T) {
	t.Parallel()
	bin := findNginx(t)
	addr := testenv.FreeAddr(t)
	s := newSite(t, addr)
	app1, app2 := startUpstream(t, "app1"), startUpstream(t, "app2")
	dir := t.TempDir()
	servers := strings.ReplaceAll(s.rewrite(readSnippet(t, "nginx.conf"), app1, app2), "listen 80;", "listen "+addr+";")
	conf := fmt.Sprintf(`master_process off;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
events { worker_connections 256; }
http {
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	access_log %[1]s/access.log;
%[2]s
}
`, dir, servers)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProxy(t, s, exec.Command(bin, "-p", dir+"/", "-c", path), syscall.SIGQUIT, filepath.Join(dir, "error.log"))
	forwardAuthFlow(t, s, true)
}

func TestForwardAuthCaddy(t *testing.T) {
	t.Parallel()
	bin := findCaddy(t)
	addr := testenv.FreeAddr(t)
	s := newSite(t, addr)
	app1, app2 := startUpstream(t, "app1"), startUpstream(t, "app2")
	dir := t.TempDir()
	sites := regexp.MustCompile(`(?m)^([a-z0-9]+\.example\.com) \{`).ReplaceAllString(
		s.rewrite(readSnippet(t, "Caddyfile"), app1, app2), "http://$1:"+s.port+" {")
	// Test-only global options: no admin endpoint (parallel tests would
	// share its port), no certificates, nothing written to $HOME.
	conf := "{\n\tadmin off\n\tauto_https off\n\tstorage file_system " + filepath.Join(dir, "data") + "\n}\n\n" + sites
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--adapter", "caddyfile", "--config", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir}
	startProxy(t, s, cmd, syscall.SIGTERM, "")
	forwardAuthFlow(t, s, false)
}
