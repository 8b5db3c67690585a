package token

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessionauth/authd/internal/secret"
)

// Purpose is the sub-key purpose (secret.Keys.Derive) of the key that seals
// signing keys in the database.
const Purpose = "jwt-signing-key/v1"

// Key is one signing key.
type Key struct {
	ID        string
	Private   *ecdsa.PrivateKey
	CreatedAt time.Time
	RetiredAt time.Time // zero while it signs
}

// KeyStore keeps signing keys in the SQL database, private halves sealed
// with AES-256-GCM under a sub-key of the master key, so that every
// instance signs with the same keys and a database dump alone yields none.
type KeyStore struct {
	db   *sql.DB
	aead cipher.AEAD
}

// NewKeyStore returns a store of keys in db sealed under keys.
func NewKeyStore(db *sql.DB, keys *secret.Keys) (*KeyStore, error) {
	block, err := aes.NewCipher(keys.Derive(Purpose))
	if err != nil {
		return nil, fmt.Errorf("token: key store: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("token: key store: %w", err)
	}
	return &KeyStore{db: db, aead: aead}, nil
}

// List returns every stored key, newest first.
func (s *KeyStore) List(ctx context.Context) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kid, private_key, created_at, retired_at FROM signing_keys`)
	if err != nil {
		return nil, fmt.Errorf("token: list keys: %w", err)
	}
	defer rows.Close()
	var keys []Key
	for rows.Next() {
		var kid, sealed string
		var created, retired int64
		if err := rows.Scan(&kid, &sealed, &created, &retired); err != nil {
			return nil, fmt.Errorf("token: list keys: %w", err)
		}
		priv, err := s.open(kid, sealed)
		if err != nil {
			return nil, err
		}
		k := Key{ID: kid, Private: priv, CreatedAt: time.Unix(created, 0)}
		if retired > 0 {
			k.RetiredAt = time.Unix(retired, 0)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("token: list keys: %w", err)
	}
	slices.SortFunc(keys, func(a, b Key) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return keys, nil
}

// Rotate adds a new signing key and retires the ones signing until now:
// they stay published until their last token has expired.
func (s *KeyStore) Rotate(ctx context.Context, now time.Time) (Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("token: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, fmt.Errorf("token: encode key: %w", err)
	}
	kid := thumbprint(&priv.PublicKey)
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	sealed := base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, der, []byte(kid)))
	pub, err := json.Marshal(jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"})
	if err != nil {
		return Key{}, fmt.Errorf("token: encode public key: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Key{}, fmt.Errorf("token: rotate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE retired_at = 0`, now.Unix()); err != nil {
		return Key{}, fmt.Errorf("token: retire keys: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, alg, private_key, public_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, 0)`,
		kid, string(jose.ES256), sealed, string(pub), now.Unix()); err != nil {
		return Key{}, fmt.Errorf("token: store key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Key{}, fmt.Errorf("token: rotate: %w", err)
	}
	return Key{ID: kid, Private: priv, CreatedAt: time.Unix(now.Unix(), 0)}, nil
}

// Prune deletes keys retired before cutoff: no token they signed is still valid.
func (s *KeyStore) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM signing_keys WHERE retired_at > 0 AND retired_at < $1`, cutoff.Unix())
	if err != nil {
		return 0, fmt.Errorf("token: prune keys: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (s *KeyStore) open(kid, sealed string) (*ecdsa.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, fmt.Errorf("token: key %s: malformed", kid)
	}
	der, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("token: key %s does not open with this master key (SECRET_KEY differs between instances?): %w", kid, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("token: key %s: %w", kid, err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("token: key " + kid + " is not an ECDSA key")
	}
	return priv, nil
}

// thumbprint is the kid of a key: its RFC 7638 JWK thumbprint, base64url.
func thumbprint(pub *ecdsa.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		// Only an unsupported key type fails, and this is always P-256.
		panic("token: thumbprint: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}
