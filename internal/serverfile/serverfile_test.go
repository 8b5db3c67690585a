package serverfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestPath(t *testing.T) {
	t.Parallel()
	abs, _ := filepath.Abs("authd.db")
	for in, want := range map[string]string{
		"sqlite:authd.db":              abs + "-server.json",
		"sqlite:///var/lib/a/authd.db": "/var/lib/a/authd.db-server.json",
		"postgres://u@h/db":            "",
		"sqlite::memory:":              "",
		"sqlite:a.db?x=1":              "",
	} {
		got, ok := Path(in)
		if got != want || ok != (want != "") {
			t.Errorf("Path(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestWriteReadRemove(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authd.db-server.json")
	if _, err := Read(path); !errors.Is(err, ErrNone) {
		t.Fatalf("Read of a missing file: %v, want ErrNone", err)
	}
	me := Info{PID: os.Getpid(), RedisURL: "redis://:pw@127.0.0.1:1/0", Memory: true}
	if err := Write(path, me); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v; want 0600 (it holds a password)", st.Mode(), err)
	}
	got, err := Read(path)
	if err != nil || got != me {
		t.Fatalf("Read = %+v, %v; want %+v", got, err, me)
	}
	// Another process's file is not removed.
	if err := Remove(path, me.PID+1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Remove with another pid removed the file: %v", err)
	}
	if err := Remove(path, me.PID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("file still there after Remove: %v", err)
	}
}

// The file of a server that was killed names a process that has ended.
func TestStaleFileIsNone(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true command:", err)
	}
	path := filepath.Join(t.TempDir(), "authd.db-server.json")
	if err := Write(path, Info{PID: cmd.Process.Pid, RedisURL: "redis://127.0.0.1:1/0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); !errors.Is(err, ErrNone) {
		t.Fatalf("Read of a dead server's file: %v, want ErrNone", err)
	}
}

func TestForeignFileIsAnError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authd.db-server.json")
	if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || errors.Is(err, ErrNone) {
		t.Fatalf("Read of a file authd did not write: %v, want an error", err)
	}
}
