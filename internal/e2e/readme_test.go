package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeSections are the README sections whose console blocks TestREADME
// runs, in order, in one shell: the walk-through builds on itself.
var readmeSections = []string{"## A walk through with curl", "### JSON clients", "## Command line", "## Development"}

// consoleCommand is one "$ command" line of a console block and the output
// shown under it.
type consoleCommand struct {
	cmd  string
	want []string
	line int // in README.md
}

// readmeCommands returns the commands of the console blocks in sections.
func readmeCommands(t *testing.T, readme string, sections []string) []consoleCommand {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out              []consoleCommand
		inSection, block bool
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case !block && strings.HasPrefix(line, "#"):
			inSection = false
			for _, s := range sections {
				if line == s {
					inSection = true
				}
			}
		case inSection && line == "```console":
			block = true
		case block && line == "```":
			block = false
		case block && strings.HasPrefix(line, "$ "):
			out = append(out, consoleCommand{cmd: strings.TrimPrefix(line, "$ "), line: n})
		case block && len(out) > 0:
			out[len(out)-1].want = append(out[len(out)-1].want, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// What differs from one run to the next: tokens, ids, times, versions.
var readmeVolatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`session_id=[A-Za-z0-9_-]+`), "session_id=TOKEN"},
	{regexp.MustCompile(`session_id\t[A-Za-z0-9_-]+`), "session_id\tTOKEN"},
	{regexp.MustCompile(`\t\d{10}\t`), "\tEPOCH\t"},
	{regexp.MustCompile(`"(id|device_token)":"[^"]*"`), `"$1":"ID"`},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "TIME"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d UTC`), "TIME"},
	{regexp.MustCompile(`[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT`), "DATE"},
	{regexp.MustCompile(`(Retry-After: |"retry_after":)\d+`), "${1}N"},
	{regexp.MustCompile(`curl/[0-9.]+`), "curl/V"},
	{regexp.MustCompile(`schema version \d+`), "schema version N"},
}

func normalize(s string) string {
	s = strings.TrimRight(s, "\r ")
	for _, v := range readmeVolatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// matches reports whether got is the output want shows: line for line,
// or, for "curl -i" (whose long runs of headers the README trims), with the
// lines of want appearing in got in order. A wanted line with "…" matches
// any line that starts with what precedes it and ends with what follows.
func matches(cmd string, want, got []string) bool {
	if !strings.Contains(cmd, "curl -i ") {
		for len(got) > 0 && got[len(got)-1] == "" {
			got = got[:len(got)-1]
		}
		if len(got) != len(want) {
			return false
		}
	}
	i := 0
	for _, g := range got {
		if i == len(want) {
			break
		}
		w := want[i]
		if pre, post, ok := strings.Cut(w, "…"); g == w || (ok && strings.HasPrefix(g, pre) && strings.HasSuffix(g, post)) {
			i++
		}
	}
	return i == len(want)
}

// TestREADME runs the walk-through and the command-line examples of the
// README against the built binary, in one shell, as a reader would with
// "make run" in another terminal (here on the embedded store, so it needs
// no Redis), and checks each command's output against the one shown. So the
// README cannot drift from what authd does.
func TestREADME(t *testing.T) {
	t.Parallel()
	modDir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(string(modDir))
	cmds := readmeCommands(t, filepath.Join(root, "README.md"), readmeSections)
	if len(cmds) < 20 {
		t.Fatalf("found %d commands in the README's walk-through, want at least 20", len(cmds))
	}
	for _, tool := range []string{"curl", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(authdBin, filepath.Join(dir, "bin", "authd")); err != nil {
		t.Fatal(err)
	}
	p := startAuthd(t, map[string]string{
		"DATABASE_URL": "sqlite:" + filepath.Join(dir, "authd.db"),
		"REDIS_URL":    "memory://", "LISTEN_ADDR": "localhost:0",
	})
	_, port, _ := strings.Cut(p.Addr, ":")

	// One script: each command after a marker line, all in one shell, so
	// that a variable set by one is seen by the next.
	const marker = "::readme-command::"
	var script strings.Builder
	for i, c := range cmds {
		cmd := strings.ReplaceAll(c.cmd, "localhost:8080", "localhost:"+port)
		if strings.HasPrefix(cmd, "make ") {
			cmd = fmt.Sprintf("(cd %q && %s)", root, cmd)
		}
		// stdout only, as in the README (curl's progress meter and the
		// command line's notes go to stderr).
		fmt.Fprintf(&script, "echo '%s%d'\n%s 2>>stderr.log\n", marker, i, cmd)
	}
	sh := exec.Command("bash", "-c", script.String())
	sh.Dir = dir
	sh.Env = authdEnv(map[string]string{"BCRYPT_COST": bcryptCost, "HOME": dir})
	out, err := sh.Output()
	if err != nil {
		t.Logf("the script ended with %v", err)
	}
	// README_OUTPUT=FILE keeps the raw output, to update the README from.
	if f := os.Getenv("README_OUTPUT"); f != "" {
		if err := os.WriteFile(f, out, 0o644); err != nil {
			t.Error(err)
		}
	}
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "stderr.log"))
			t.Logf("end of the commands' stderr:\n%s", tail(string(b), 20))
		}
	}()

	got := make([][]string, len(cmds))
	cur := -1
	for _, line := range strings.Split(string(out), "\n") {
		if n, ok := strings.CutPrefix(line, marker); ok {
			fmt.Sscan(n, &cur)
			continue
		}
		if cur >= 0 {
			got[cur] = append(got[cur], normalize(line))
		}
	}
	for i, c := range cmds {
		want := make([]string, len(c.want))
		for j, w := range c.want {
			want[j] = normalize(w)
		}
		shown := got[i]
		if !matches(c.cmd, want, shown) {
			t.Errorf("README.md:%d: $ %s\nshows:\n  %s\nbut prints:\n  %s", c.line, c.cmd,
				strings.Join(want, "\n  "), strings.Join(shown, "\n  "))
		}
	}
}
