// Package secret holds the server's master key and derives one sub-key per
// purpose from it, with HKDF-SHA256 (RFC 5869), so that no two uses ever
// share key material and none of them needs a setting of its own.
//
// The master key comes from configuration (SECRET_KEY: base64 of at least 32
// random bytes) or, when none is configured, from the SQL database, where the
// first instance to start generates it. The second way needs no set-up, at a
// price: whoever holds a copy of the database (a backup, a dump) then also
// holds the key, and can forge or decrypt what it protects. Every instance
// must use the same key, however it is supplied.
//
// Each use asks for its own sub-key with Derive and a purpose string that
// names the use and its version, e.g. "device-token/v1". Purposes must be
// constants that never repeat across uses: the purpose is all that separates
// one sub-key from another. Changing the master key changes every sub-key.
package secret

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinBytes is the shortest master key accepted: 256 bits.
const MinBytes = 32

// SubKeyBytes is the length of every derived key.
const SubKeyBytes = 32

// Keys derives sub-keys from one master key. It is safe for concurrent use.
type Keys struct {
	master []byte
}

// Parse reads a master key written in base64, standard or URL-safe, with or
// without padding (as `openssl rand -base64 32` prints it). It must decode to
// at least MinBytes bytes.
func Parse(s string) (*Keys, error) {
	s = strings.TrimSpace(s)
	var (
		b   []byte
		err error
	)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("secret: the key is not base64 (make one with: openssl rand -base64 32)")
	}
	if len(b) < MinBytes {
		return nil, fmt.Errorf("secret: the key is %d bytes; it must be at least %d random bytes (make one with: openssl rand -base64 32)", len(b), MinBytes)
	}
	return &Keys{master: b}, nil
}

// Generate returns a new random master key, for tests and for FromDatabase.
func Generate() *Keys {
	b := make([]byte, MinBytes)
	rand.Read(b) // never fails since Go 1.24
	return &Keys{master: b}
}

// masterName is the row of the secrets table holding the master key.
const masterName = "master"

// FromDatabase returns the master key kept in the database's secrets table,
// generating and storing one first if there is none; created reports that
// this call stored it. Instances starting at once agree on one key: each
// inserts its own only if no row exists, then all read the row that won.
func FromDatabase(ctx context.Context, db *sql.DB) (keys *Keys, created bool, err error) {
	fresh := Generate()
	const insert = `INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`
	res, err := db.ExecContext(ctx, insert, masterName, base64.StdEncoding.EncodeToString(fresh.master), time.Now().Unix())
	if err != nil {
		return nil, false, fmt.Errorf("secret: store the generated key: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		created = true
	}
	var value string
	if err := db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, masterName).Scan(&value); err != nil {
		return nil, false, fmt.Errorf("secret: read the stored key: %w", err)
	}
	keys, err = Parse(value)
	if err != nil {
		return nil, false, fmt.Errorf("secret: the key stored in the database is unusable: %w", err)
	}
	return keys, created, nil
}

// Derive returns the sub-key for purpose: SubKeyBytes bytes, the same for
// the same master key and purpose, unrelated for any other purpose.
func (k *Keys) Derive(purpose string) []byte {
	if purpose == "" {
		panic("secret: Derive needs a purpose")
	}
	b, err := hkdf.Key(sha256.New, k.master, nil, "authd "+purpose, SubKeyBytes)
	if err != nil {
		// Only an invalid length or a master key too short for FIPS mode
		// can fail, and neither is possible here.
		panic("secret: derive: " + err.Error())
	}
	return b
}

// ID is a short fingerprint of the master key that is safe to log: it lets
// an operator check that every instance uses the same key, and reveals
// nothing about the key or any sub-key.
func (k *Keys) ID() string {
	return hex.EncodeToString(k.Derive("key-id")[:6])
}
