package mfa

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"
)

// ErrNoPasskey: the account has no passkey with that id.
var ErrNoPasskey = errors.New("mfa: no such passkey")

// MaxPasskeyName bounds a passkey's name, in characters.
const MaxPasskeyName = 64

// Passkey is one WebAuthn credential of an account.
type Passkey struct {
	// ID is the credential id, base64url: the handle in URLs.
	ID       string
	Name     string
	Created  time.Time
	LastUsed time.Time // zero until first used
	// Credential is the library's record: public key, sign count, flags.
	Credential webauthn.Credential
}

// Account is an account as WebAuthn sees it: the user handle is the
// account id (8 bytes, big-endian), never the name.
type Account struct {
	ID    int64
	Name  string
	Creds []webauthn.Credential
}

var _ webauthn.User = Account{}

// WebAuthnID implements webauthn.User.
func (a Account) WebAuthnID() []byte { return UserHandle(a.ID) }

// WebAuthnName implements webauthn.User.
func (a Account) WebAuthnName() string { return a.Name }

// WebAuthnDisplayName implements webauthn.User.
func (a Account) WebAuthnDisplayName() string { return a.Name }

// WebAuthnCredentials implements webauthn.User.
func (a Account) WebAuthnCredentials() []webauthn.Credential { return a.Creds }

// UserHandle is the WebAuthn user handle of an account id.
func UserHandle(id int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(id)) }

// UserFromHandle is the account id of a user handle, or false.
func UserFromHandle(h []byte) (int64, bool) {
	if len(h) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(h)), true
}

// CleanPasskeyName trims a name given to a passkey; "" if unusable.
func CleanPasskeyName(name string) string {
	name = strings.TrimSpace(strings.ToValidUTF8(name, ""))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if utf8.RuneCountInString(name) > MaxPasskeyName {
		return ""
	}
	return name
}

// Passkeys lists the account's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, userID int64) ([]Passkey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, credential, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("mfa: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mfa: list passkeys: %w", err)
	}
	return out, nil
}

func scanPasskey(row interface{ Scan(...any) error }) (Passkey, error) {
	var p Passkey
	var cred string
	var created, used int64
	if err := row.Scan(&p.ID, &p.Name, &cred, &created, &used); err != nil {
		return Passkey{}, fmt.Errorf("mfa: read passkey: %w", err)
	}
	if err := json.Unmarshal([]byte(cred), &p.Credential); err != nil {
		return Passkey{}, fmt.Errorf("mfa: decode passkey %s: %w", p.ID, err)
	}
	p.Created = time.UnixMilli(created)
	if used > 0 {
		p.LastUsed = time.UnixMilli(used)
	}
	return p, nil
}

// PasskeyOwner returns the account a credential id belongs to, with that
// account's passkeys (for the library's check of the assertion).
func (s *Store) PasskeyOwner(ctx context.Context, credID []byte) (int64, error) {
	var uid int64
	err := s.db.QueryRowContext(ctx, `SELECT user_id FROM passkeys WHERE id = $1`, base64.RawURLEncoding.EncodeToString(credID)).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoPasskey
	}
	if err != nil {
		return 0, fmt.Errorf("mfa: find passkey: %w", err)
	}
	return uid, nil
}

// AddPasskey stores a newly registered credential under name.
func (s *Store) AddPasskey(ctx context.Context, userID int64, name string, cred *webauthn.Credential) (Passkey, error) {
	b, err := json.Marshal(cred)
	if err != nil {
		return Passkey{}, fmt.Errorf("mfa: encode passkey: %w", err)
	}
	p := Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), Name: name, Created: s.now(), Credential: *cred}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO passkeys (id, user_id, name, credential, created_at) VALUES ($1, $2, $3, $4, $5)`,
		p.ID, userID, name, string(b), p.Created.UnixMilli()); err != nil {
		return Passkey{}, fmt.Errorf("mfa: store passkey: %w", err)
	}
	return p, nil
}

// UsedPasskey records a successful assertion: the updated sign count
// and flags, and when.
func (s *Store) UsedPasskey(ctx context.Context, userID int64, cred *webauthn.Credential) error {
	b, err := json.Marshal(cred)
	if err != nil {
		return fmt.Errorf("mfa: encode passkey: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE id = $3 AND user_id = $4`,
		string(b), s.now().UnixMilli(), base64.RawURLEncoding.EncodeToString(cred.ID), userID); err != nil {
		return fmt.Errorf("mfa: update passkey: %w", err)
	}
	return nil
}

// RenamePasskey renames one of the account's passkeys.
func (s *Store) RenamePasskey(ctx context.Context, userID int64, id, name string) error {
	return s.onePasskey(ctx, `UPDATE passkeys SET name = $1 WHERE user_id = $2 AND id = $3`, name, userID, id)
}

// RemovePasskey deletes one of the account's passkeys.
func (s *Store) RemovePasskey(ctx context.Context, userID int64, id string) error {
	return s.onePasskey(ctx, `DELETE FROM passkeys WHERE user_id = $1 AND id = $2`, userID, id)
}

func (s *Store) onePasskey(ctx context.Context, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("mfa: change passkey: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return ErrNoPasskey
	}
	return nil
}

// Account returns the WebAuthn view of an account: its handle and passkeys.
func (s *Store) Account(ctx context.Context, userID int64, name string) (Account, error) {
	keys, err := s.Passkeys(ctx, userID)
	if err != nil {
		return Account{}, err
	}
	a := Account{ID: userID, Name: name}
	for _, k := range keys {
		a.Creds = append(a.Creds, k.Credential)
	}
	return a, nil
}

// NewWebAuthn returns the WebAuthn relying party of a server reached at
// publicURL (PUBLIC_URL): its host is the RP ID, its origin the only one
// accepted. Ceremonies wait ChallengeTTL at most.
func NewWebAuthn(publicURL string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("mfa: passkeys need PUBLIC_URL as an http(s) URL, not %q", publicURL)
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "authd",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: passkeys: %w", err)
	}
	return w, nil
}
