package loadtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchHost is the protected app's host name in the rules and requests.
const benchHost = "app.bench.test"

// benchRules are the access rules of the forward-auth scenarios: a few
// rules, as a small real set-up has, the last one deciding.
const benchRules = `rules:
  - domain: ` + benchHost + `
    path_prefix: /static/
    policy: bypass
  - domain: ` + benchHost + `
    path_prefix: /admin
    subject: group:admins
    policy: signed_in
  - domain: ` + benchHost + `
    policy: signed_in
`

// nginxConf serves one upstream app twice: without authentication on the
// first port, and behind auth_request on the second, with the directives
// of the README's snippet (docs/forwardauth/nginx.conf). Both keep
// connections to their upstreams alive, as a production set-up should.
const nginxConf = `worker_processes %[1]d;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	upstream authd { server %[3]s; keepalive 16; }
	upstream app { server %[4]s; keepalive 16; }
	server {
		listen %[5]s;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $http_host;
		}
	}
	server {
		listen %[6]s;
		location / {
			auth_request /authd-verify;
			auth_request_set $authd_user $upstream_http_remote_user;
			auth_request_set $authd_name $upstream_http_remote_name;
			auth_request_set $authd_groups $upstream_http_remote_groups;
			auth_request_set $authd_session $upstream_http_remote_session;
			auth_request_set $authd_signin $upstream_http_location;
			error_page 401 =302 $authd_signin;
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $http_host;
			proxy_set_header Remote-User $authd_user;
			proxy_set_header Remote-Name $authd_name;
			proxy_set_header Remote-Groups $authd_groups;
			proxy_set_header Remote-Session $authd_session;
		}
		location = /authd-verify {
			internal;
			proxy_pass http://authd/auth/request;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
			proxy_set_header X-Original-Method $request_method;
		}
	}
}
`

// benchNginx is nginx in front of the bench's app: Plain serves it with no
// authentication, Protected behind authd.
type benchNginx struct {
	*proc
	Plain, Protected string // http://127.0.0.1:PORT
	dir              string
}

// findNginx returns bin if it runs, else Debian's /usr/sbin/nginx.
func findNginx(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	if bin == "nginx" {
		if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && fi.Mode()&0o111 != 0 {
			return "/usr/sbin/nginx", nil
		}
	}
	return "", fmt.Errorf("%s not found (install it: apt-get install nginx), or leave out scenario 7 with -only", bin)
}

// startBenchNginx starts nginx in dir, with worker processes one per CPU,
// in front of app and authd (host:port each).
func startBenchNginx(ctx context.Context, bin, dir, authd, app string) (*benchNginx, error) {
	plain, err := freePort()
	if err != nil {
		return nil, err
	}
	protected, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &benchNginx{dir: dir,
		Plain:     "http://127.0.0.1:" + strconv.Itoa(plain),
		Protected: "http://127.0.0.1:" + strconv.Itoa(protected),
	}
	conf := filepath.Join(dir, "nginx.conf")
	text := fmt.Sprintf(nginxConf, runtime.NumCPU(), dir, authd, app,
		"127.0.0.1:"+strconv.Itoa(plain), "127.0.0.1:"+strconv.Itoa(protected))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", conf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if n.proc, err = startProc(cmd); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(n.Plain + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n, nil
			}
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("nginx exited at start; its error log:\n%s", tail(filepath.Join(dir, "error.log"), 20))
		case <-ctx.Done():
			n.stopNginx()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.stopNginx()
			return nil, fmt.Errorf("nginx did not serve %s within 10s (last: %v)", n.Plain, err)
		}
	}
}

// stopNginx stops nginx gracefully (SIGQUIT), then kills it.
func (n *benchNginx) stopNginx() {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// children returns the pids of pid's child processes (nginx's workers).
func children(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// startApp serves the protected app of scenario 7 from this process: a
// short answer to every request, as a small internal tool gives.
func startApp() (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello " + r.Header.Get("Remote-User") + "\n"))
	})}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}
