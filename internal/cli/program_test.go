package cli

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// program runs the whole authd program in-process, as main would, with the
// given environment; its log goes to logs.
type program struct {
	t    *testing.T
	env  map[string]string
	logs *syncLog
}

func newProgram(t *testing.T, env map[string]string) *program {
	p := &program{t: t, env: env, logs: &syncLog{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", p.logs.String())
		}
	})
	return p
}

// getenv reads the test's settings. Hashing runs at normal priority unless
// a test says otherwise: at nice 19, other processes on a busy machine
// would starve every sign-in.
func (p *program) getenv(k string) string {
	if v, ok := p.env[k]; ok || k != "HASH_LOW_PRIORITY" {
		return v
	}
	return "false"
}

// run runs one command to its end with stdin as input and returns stdout.
func (p *program) run(stdin string, args ...string) (string, error) {
	p.t.Helper()
	var out strings.Builder
	err := Run(context.Background(), Env{Args: args, Getenv: p.getenv, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: p.logs})
	return out.String(), err
}

// addUser runs "user add" and fails the test if it fails.
func (p *program) addUser(name, pw string) {
	p.t.Helper()
	if out, err := p.run(pw+"\n", "user", "add", name); err != nil || !strings.Contains(out, "created user") {
		p.t.Fatalf("user add %s: %v, output %q", name, err, out)
	}
}

// serve starts "serve" and returns its base URL and a stop function, which
// ends it as a signal would and returns what serve returned. The test's
// cleanup stops it too, and fails the test if it did not return nil.
func (p *program) serve() (base string, stop func() error) {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Env{Args: []string{"serve"}, Getenv: p.getenv, Stdin: strings.NewReader(""), Stdout: w, Stderr: p.logs})
		w.Close()
	}()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				result = context.DeadlineExceeded
			}
		})
		return result
	}
	p.t.Cleanup(func() {
		if err := stop(); err != nil {
			p.t.Errorf("serve returned %v after shutdown, want nil", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		p.t.Fatalf("reading the listen line: %v (serve: %v)", err, stop())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return strings.TrimSpace(strings.TrimPrefix(line, "authd listening on ")), stop
}

// syncLog collects log output written from several goroutines.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// signIn signs name in at base through the sign-in form, following the
// redirect, and returns the client holding the session cookie in its jar.
func signIn(t *testing.T, base, name, pw string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.PostForm(base+"/login", url.Values{"username": {name}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/account" {
		t.Fatalf("sign-in of %s ended at %s with %d", name, resp.Request.URL, resp.StatusCode)
	}
	return c
}
