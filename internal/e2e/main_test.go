package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// authdBin is the authd binary TestMain builds for the tests that run it as
// a process.
var authdBin string

// TestMain builds cmd/authd once, into a directory removed afterwards.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	authdBin = filepath.Join(dir, "authd")
	if err := build(authdBin); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build authd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles ./cmd/authd of this module to out.
func build(out string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not in PATH: %w", err)
	}
	modDir, err := exec.Command(goCmd, "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return fmt.Errorf("go list -m: %w", err)
	}
	cmd := exec.Command(goCmd, "build", "-o", out, "./cmd/authd")
	cmd.Dir = strings.TrimSpace(string(modDir))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, b)
	}
	return nil
}

// Settings every authd process and in-process run gets. BCRYPT_COST is the
// lowest allowed, to keep sign-ins fast.
const (
	userName     = "alice"
	userPassword = "correct horse battery"
	bcryptCost   = "10"
)

// authdEnv returns a process environment holding only PATH and the given
// settings, so that nothing in the caller's environment (a REDIS_URL, say)
// can leak into the server under test.
//
// Hashing runs at normal priority unless a test says otherwise: at nice 19,
// other processes on a busy machine would starve every sign-in.
func authdEnv(settings map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	if _, ok := settings["HASH_LOW_PRIORITY"]; !ok {
		env = append(env, "HASH_LOW_PRIORITY=false")
	}
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	return env
}

// addUser runs "authd user add" with the password on stdin.
func addUser(t *testing.T, settings map[string]string, name, pw string) {
	t.Helper()
	cmd := exec.Command(authdBin, "user", "add", name)
	cmd.Env = authdEnv(settings)
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "created user") {
		t.Fatalf("authd user add %s: %v\n%s", name, err, out)
	}
}

// authd is one "authd serve" process.
type authd struct {
	// URL is http://host:port, from the line the server prints when it listens.
	URL  string
	Addr string

	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before exited is closed
}

// startAuthd starts "authd serve" with the given settings (LISTEN_ADDR
// defaults to a port the kernel picks) and waits for its listen line. The
// process is killed when the test ends, if it is still running; its log is
// shown when the test failed.
func startAuthd(t *testing.T, settings map[string]string) *authd {
	t.Helper()
	s := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "BCRYPT_COST": bcryptCost}
	for k, v := range settings {
		s[k] = v
	}
	p := &authd{logs: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(authdBin, "serve")
	p.cmd.Env = authdEnv(s)
	p.cmd.Stderr = p.logs
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start authd: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("log of authd %s:\n%s", p.Addr, p.logs.String())
		}
	})

	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		lines <- line
		io.Copy(io.Discard, br)
	}()
	select {
	case line := <-lines:
		const prefix = "authd listening on "
		if !strings.HasPrefix(line, prefix) {
			<-p.exited
			t.Fatalf("authd did not start: stdout %q, %v; log:\n%s", line, p.err, p.logs.String())
		}
		p.URL = strings.TrimSpace(strings.TrimPrefix(line, prefix))
		p.Addr = strings.TrimPrefix(p.URL, "http://")
	case <-time.After(30 * time.Second):
		t.Fatalf("authd printed no listen line within 30s; log:\n%s", p.logs.String())
	}
	return p
}

// signal sends sig to the process.
func (p *authd) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal authd: %v", err)
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// noRedirects is an HTTP client that returns redirects instead of following
// them, so that a sign-in's 303 and its cookie can be checked.
func noRedirects() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 16},
	}
}
