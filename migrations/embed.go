// Package migrations holds the database schema as numbered goose SQL files,
// one directory per dialect, embedded so the binary migrates itself at start.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

// The files live here rather than next to the database package because
// //go:embed cannot reach into parent directories.
//
//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// FS returns the migrations for dialect ("sqlite" or "postgres") as a file
// system whose root holds the numbered .sql files, as goose expects.
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case "sqlite", "postgres":
		sub, err := fs.Sub(files, dialect)
		if err != nil {
			return nil, fmt.Errorf("migrations: %s: %w", dialect, err)
		}
		return sub, nil
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q (want sqlite or postgres)", dialect)
	}
}
