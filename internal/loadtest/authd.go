package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// authd is the real server binary, run as a child process.
type authd struct {
	*proc
	URL string // http://127.0.0.1:PORT
	log string // its stderr
}

// buildAuthd compiles ./cmd/authd of the module in the current directory
// into dir and returns the binary's path.
func buildAuthd(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	return goBuild(ctx, dir, "./cmd/authd", stderr)
}

// goBuild compiles the main package pkg of the module in the current
// directory into dir and returns the binary's path.
func goBuild(ctx context.Context, dir, pkg string, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s (run from the repository root, or pass -authd): %w", pkg, err)
	}
	return bin, nil
}

// authdEnv is the complete environment of every authd command: nothing is
// inherited but PATH and HOME, so settings in the caller's shell (a
// REDIS_URL pointing at the shared Redis, say) cannot leak into the run.
func authdEnv(settings map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		env = append(env, "GOMAXPROCS="+v) // the caller's choice applies to both sides
	}
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	return env
}

// addUser runs "authd user add NAME" with the password on stdin.
func addUser(ctx context.Context, bin string, env []string, name, password string) error {
	cmd := exec.CommandContext(ctx, bin, "user", "add", name)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("authd user add %s: %w\n%s", name, err, out)
	}
	return nil
}

// startAuthd runs "authd serve" listening on a kernel-chosen loopback port,
// and returns once it has printed "authd listening on http://ADDR".
func startAuthd(ctx context.Context, bin string, env []string, dir string) (*authd, error) {
	return startServer(ctx, "authd", exec.Command(bin, "serve", "-addr", "127.0.0.1:0"), env, dir)
}

// startServer runs cmd, a server that prints "NAME listening on http://ADDR"
// once it accepts connections, with its stderr in dir/NAME.log.
func startServer(ctx context.Context, name string, cmd *exec.Cmd, env []string, dir string) (*authd, error) {
	a := &authd{log: filepath.Join(dir, name+".log")}
	logf, err := os.Create(a.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd.Env = env
	cmd.Stderr = logf
	// A pipe of our own rather than cmd.StdoutPipe: the reader below
	// outlives start-up, and Wait (in startProc) must not close it under it.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	a.proc, err = startProc(cmd)
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	found := make(chan string, 1)
	go func() {
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), name+" listening on "); ok {
				found <- u
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // keep the pipe drained
	}()
	select {
	case a.URL = <-found:
		if !strings.HasPrefix(a.URL, "http://") {
			a.stop(5 * time.Second)
			return nil, fmt.Errorf("%s serves %s; the benchmark speaks plain HTTP", name, a.URL)
		}
		return a, nil
	case <-a.done:
		return nil, fmt.Errorf("%s exited at start; its log:\n%s", name, tail(a.log, 20))
	case <-time.After(30 * time.Second):
		a.stop(5 * time.Second)
		return nil, fmt.Errorf("%s did not say it was listening within 30s; its log:\n%s", name, tail(a.log, 20))
	case <-ctx.Done():
		a.stop(5 * time.Second)
		return nil, ctx.Err()
	}
}
