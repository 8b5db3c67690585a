package secret_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"testing"

	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/secret"
	"github.com/sessionauth/authd/internal/testenv"
)

func TestParse(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb, 0xff, 0x01}, 11) // 33 bytes; + and / in standard base64
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
		" " + base64.StdEncoding.EncodeToString(raw) + "\n", // pasted from a file
	} {
		k, err := secret.Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if want := derive(raw, "x"); !bytes.Equal(k.Derive("x"), want) {
			t.Fatalf("Parse(%q) read another key", s)
		}
	}
	for s, want := range map[string]string{
		"":          "0 bytes",
		"not a key": "not base64",
		base64.StdEncoding.EncodeToString(make([]byte, 31)): "31 bytes",
	} {
		if _, err := secret.Parse(s); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("Parse(%q) = %v, want an error saying %q and how to make a key", s, err, want)
		}
	}
}

// derive is HKDF-SHA256 (RFC 5869) written out with HMAC, independently of
// the package: extract with an empty salt, then one block of expand.
func derive(master []byte, purpose string) []byte {
	ext := hmac.New(sha256.New, make([]byte, sha256.Size))
	ext.Write(master)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write([]byte("authd " + purpose))
	exp.Write([]byte{1})
	return exp.Sum(nil)
}

func TestDerive(t *testing.T) {
	k := secret.Generate()
	a, b := k.Derive("device-token/v1"), k.Derive("jwt-signing/v1")
	if len(a) != secret.SubKeyBytes || len(b) != secret.SubKeyBytes {
		t.Fatalf("sub-key lengths %d, %d", len(a), len(b))
	}
	if bytes.Equal(a, b) {
		t.Fatal("two purposes got the same sub-key")
	}
	if !bytes.Equal(a, k.Derive("device-token/v1")) {
		t.Fatal("Derive is not deterministic")
	}
	if bytes.Equal(a, secret.Generate().Derive("device-token/v1")) {
		t.Fatal("two master keys gave the same sub-key")
	}
	// It is HKDF-SHA256, checked against an independent implementation.
	master := bytes.Repeat([]byte{7}, 32)
	k2, err := secret.Parse(base64.StdEncoding.EncodeToString(master))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k2.Derive("device-token/v1"), derive(master, "device-token/v1"); !bytes.Equal(got, want) {
		t.Fatalf("Derive = %x, want HKDF-SHA256 %x", got, want)
	}
	if id := k2.ID(); len(id) != 12 || id != k2.ID() || id == secret.Generate().ID() ||
		strings.Contains(base64.StdEncoding.EncodeToString(master), id) {
		t.Errorf("ID %q: want a stable 12-character fingerprint", id)
	}
}

// Instances starting at once against one database end up with one key.
func TestFromDatabaseAgreesAcrossInstances(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", testenv.SQLiteURL}, {"postgres", testenv.PostgresURL}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			ctx := context.Background()
			const instances = 6
			first, d, err := database.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { first.Close() })
			if _, err := database.Migrate(ctx, first, d); err != nil {
				t.Fatal(err)
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				ids     = map[string]int{}
				created int
			)
			start := make(chan struct{})
			for range instances {
				db, _, err := database.Open(ctx, url) // a pool of its own, as another process would have
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				wg.Go(func() {
					<-start
					k, c, err := secret.FromDatabase(ctx, db)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						t.Errorf("FromDatabase: %v", err)
						return
					}
					ids[k.ID()]++
					if c {
						created++
					}
				})
			}
			close(start)
			wg.Wait()
			if len(ids) != 1 || created != 1 {
				t.Fatalf("%d instances got keys %v, %d of them stored one; want one key, stored once", instances, ids, created)
			}
			// A later start reads the same key and stores nothing.
			k, c, err := secret.FromDatabase(ctx, first)
			if err != nil || c || ids[k.ID()] != instances {
				t.Fatalf("restart: key %v created %v err %v; want the stored key", k.ID(), c, err)
			}
		})
	}
}
