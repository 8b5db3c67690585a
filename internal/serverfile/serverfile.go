// Package serverfile lets the authd command line find the Redis of the
// server that runs on the same database. "authd serve" writes a small file
// next to its SQLite database (authd.db-server.json for authd.db) naming its
// process and the Redis it uses; "authd session list" and the other
// commands that touch sessions read it, so that they act on the sessions of
// that server (a private Redis that "make run" picked, or the embedded
// store of REDIS_URL=memory://) instead of a default Redis on 6379.
//
// The file may hold a Redis password, so it is written with mode 0600; it
// is removed when the server stops. Only SQLite databases get one: a
// PostgreSQL database has no local directory that its servers share.
package serverfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Info is what a running server records.
type Info struct {
	PID      int    `json:"pid"`
	RedisURL string `json:"redis_url"`
	// Memory is set when RedisURL is the server's embedded store.
	Memory bool `json:"memory,omitempty"`
}

// Path returns the server file of the database at databaseURL, and false
// when the database is not a SQLite file.
func Path(databaseURL string) (string, bool) {
	scheme, rest, ok := strings.Cut(databaseURL, ":")
	if !ok || !strings.EqualFold(scheme, "sqlite") {
		return "", false
	}
	p := strings.TrimPrefix(rest, "//")
	if p == "" || strings.ContainsAny(p, "?#") || p == ":memory:" {
		return "", false
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", false
	}
	return abs + "-server.json", true
}

// Write records info at path, replacing any file there, readable by its
// owner only.
func Write(path string, info Info) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("server file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("server file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("server file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("server file: %w", err)
	}
	return nil
}

// Remove deletes the file at path if it still names process pid: a second
// server that took the database over keeps its own file.
func Remove(path string, pid int) error {
	info, err := read(path)
	if err != nil || info.PID != pid {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("server file: %w", err)
	}
	return nil
}

// ErrNone means no running server recorded itself at the path.
var ErrNone = errors.New("no running authd serve recorded itself")

// Read returns what the server recorded at path, or ErrNone when there is no
// file or the process it names has ended (the file of a server that was
// killed stays behind).
func Read(path string) (Info, error) {
	info, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, ErrNone
	}
	if err != nil {
		return Info{}, err
	}
	if !alive(info.PID) {
		return Info{}, ErrNone
	}
	return info, nil
}

func read(path string) (Info, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Info{}, err
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil || info.PID <= 0 || info.RedisURL == "" {
		return Info{}, fmt.Errorf("server file %s is not one authd wrote", path)
	}
	return info, nil
}

// alive reports whether process pid exists (EPERM: it does, as another user).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
