package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
)

// nginxInstall is what to run when nginx is missing.
const nginxInstall = "apt-get install -y nginx"

// findNginx returns the nginx binary: from PATH, or from /usr/sbin where
// Debian puts it (outside the PATH of many non-root shells and CI runners).
// A missing nginx fails the test rather than skipping it: scale-out is not
// tested otherwise.
func findNginx(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("nginx is not installed (not in PATH, /usr/sbin or /usr/local/sbin); install it: %s", nginxInstall)
	return ""
}

// nginx is a reverse proxy owned by one test, with every file it writes in
// its own directory.
type nginx struct {
	URL       string // http://127.0.0.1:port
	dir       string
	accessLog string
	errorLog  string
}

// nginxConf proxies to the upstreams in round robin. One process
// (master_process off) so the test stops it with one signal and the round
// robin is one sequence; proxy_next_upstream off so that a failing instance
// shows as a 502 instead of being retried on the other one unnoticed. Every
// access log line names the instance that answered.
const nginxConf = `
master_process off;
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
	log_format e2e '$request_method $request_uri $status $upstream_addr';
	access_log %[1]s/access.log e2e;
	upstream authd {
%[3]s	}
	server {
		listen %[2]s;
		location / {
			proxy_pass http://authd;
			proxy_http_version 1.1;
			proxy_next_upstream off;
			proxy_set_header Host $http_host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto $scheme;
		}
	}
}
`

// startNginx starts nginx in the foreground on a free loopback port, in front
// of upstreams (host:port), waits until it proxies /healthz, and stops it
// when the test ends.
func startNginx(t *testing.T, bin string, upstreams ...string) *nginx {
	t.Helper()
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "\t\tserver %s;\n", u)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, addr, servers.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &nginx{URL: "http://" + addr, dir: dir,
		accessLog: filepath.Join(dir, "access.log"), errorLog: filepath.Join(dir, "error.log")}

	out := &lockedBuffer{}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful stop
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			errLog, _ := os.ReadFile(n.errorLog)
			t.Logf("nginx output:\n%s\nnginx error log:\n%s", out.String(), errLog)
		}
	})

	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			errLog, _ := os.ReadFile(n.errorLog)
			t.Fatalf("nginx exited at start:\n%s\n%s", out.String(), errLog)
		default:
		}
		resp, err := c.Get(n.URL + "/healthz?nginx-ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx on %s did not proxy /healthz within 10s (last: %v)", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logEntry is one access log line.
type logEntry struct {
	Method, URI, Status, Upstream string
}

// waitLog returns the access log once it has a line for uri: nginx writes a
// line after the response has gone out, so it may lag the client slightly.
func (n *nginx) waitLog(t *testing.T, uri string) []logEntry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(n.accessLog)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var entries []logEntry
		found := false
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			if len(f) != 4 {
				continue
			}
			e := logEntry{f[0], f[1], f[2], f[3]}
			entries = append(entries, e)
			found = found || e.URI == uri
		}
		if found {
			return entries
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx access log has no line for %s after 5s:\n%s", uri, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// errors returns the lines of nginx's error log at level error or worse.
func (n *nginx) errors(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(n.errorLog)
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, level := range []string{"[error]", "[crit]", "[alert]", "[emerg]"} {
			if strings.Contains(line, level) {
				bad = append(bad, line)
			}
		}
	}
	return bad
}
