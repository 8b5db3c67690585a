package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Store keeps users in a SQL database migrated by package database. Its SQL
// is written once for both SQLite and PostgreSQL: both accept $N
// placeholders and INSERT … ON CONFLICT … RETURNING.
type Store struct {
	db *sql.DB
}

// NewStore returns a Store backed by db.
func NewStore(db *sql.DB) *Store {
	return &Store{db: db}
}

// Create adds a user with the given name and password hash and returns it.
// It fails with an ErrInvalidName error if the name breaks the naming rules
// and with ErrDuplicateName if the name is taken in any letter case.
func (s *Store) Create(ctx context.Context, name, passwordHash string) (User, error) {
	display, key, err := NormalizeName(name)
	if err != nil {
		return User{}, err
	}
	if passwordHash == "" {
		// A caller bug, not a user error: refuse rather than store an
		// account nobody can log in to.
		return User{}, errors.New("user: create: empty password hash")
	}
	now := time.Now().Unix()

	// DO NOTHING instead of catching the unique violation keeps the error
	// handling driver-independent and the transaction healthy; a conflict
	// simply returns no row.
	const q = `
		INSERT INTO users (name, name_key, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name_key) DO NOTHING
		RETURNING id`
	var id int64
	err = s.db.QueryRowContext(ctx, q, display, key, passwordHash, now, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrDuplicateName
	}
	if err != nil {
		return User{}, fmt.Errorf("user: create: %w", err)
	}
	return User{
		ID:           id,
		Name:         display,
		PasswordHash: passwordHash,
		CreatedAt:    time.Unix(now, 0).UTC(),
		UpdatedAt:    time.Unix(now, 0).UTC(),
	}, nil
}

// ByName returns the user whose name matches name in any letter case. A name
// that breaks the naming rules cannot exist, so it yields ErrNotFound.
func (s *Store) ByName(ctx context.Context, name string) (User, error) {
	_, key, err := NormalizeName(name)
	if err != nil {
		return User{}, ErrNotFound
	}
	const q = `
		SELECT ` + userColumns + `
		FROM users
		WHERE name_key = $1`
	u, err := scanUser(s.db.QueryRowContext(ctx, q, key))
	if err != nil {
		return User{}, fmt.Errorf("user: find by name: %w", err)
	}
	return u, nil
}

// ByID returns the user with the given ID, or ErrNotFound.
func (s *Store) ByID(ctx context.Context, id int64) (User, error) {
	const q = `
		SELECT ` + userColumns + `
		FROM users
		WHERE id = $1`
	u, err := scanUser(s.db.QueryRowContext(ctx, q, id))
	if err != nil {
		return User{}, fmt.Errorf("user: find by id: %w", err)
	}
	return u, nil
}

// RehashPassword replaces the user's password hash with newHash, a hash of
// the same password at another cost, but only while the stored hash is
// still oldHash: a password change that lands while the new hash is being
// computed must win, not be overwritten with the old password. The epoch
// stays, since the credentials do not change. It reports whether it
// replaced the hash; an unknown ID or a changed hash is no error.
func (s *Store) RehashPassword(ctx context.Context, id int64, oldHash, newHash string) (bool, error) {
	if oldHash == "" || newHash == "" {
		return false, errors.New("user: rehash password: empty hash")
	}
	const q = `
		UPDATE users
		SET password_hash = $1, updated_at = $2
		WHERE id = $3 AND password_hash = $4`
	res, err := s.db.ExecContext(ctx, q, newHash, time.Now().Unix(), id, oldHash)
	if err != nil {
		return false, fmt.Errorf("user: rehash password: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("user: rehash password: %w", err)
	}
	return n == 1, nil
}

// ChangePassword stores the hash of a new password and increments the
// user's credential epoch, which it returns: sessions created before the
// change carry an older epoch and must be ended by the caller. An unknown
// ID yields ErrNotFound.
func (s *Store) ChangePassword(ctx context.Context, id int64, hash string) (epoch int64, err error) {
	if hash == "" {
		return 0, errors.New("user: change password: empty hash")
	}
	const q = `
		UPDATE users
		SET password_hash = $1, credential_epoch = credential_epoch + 1, updated_at = $2
		WHERE id = $3
		RETURNING credential_epoch`
	err = s.db.QueryRowContext(ctx, q, hash, time.Now().Unix(), id).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("user: change password: %w", err)
	}
	return epoch, nil
}

// List returns every user, oldest account (lowest ID) first.
func (s *Store) List(ctx context.Context) ([]User, error) {
	const q = `
		SELECT ` + userColumns + `
		FROM users
		ORDER BY id`
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("user: list: %w", err)
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("user: list: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("user: list: %w", err)
	}
	return users, nil
}

// userColumns are the columns scanUser reads, in its order.
const userColumns = `id, name, password_hash, credential_epoch, created_at, updated_at, email, email_pending`

// scanUser reads one row of userColumns, mapping sql.ErrNoRows to
// ErrNotFound.
func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var (
		u                User
		created, updated int64
		email, pending   sql.NullString
	)
	err := row.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Epoch, &created, &updated, &email, &pending)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	u.CreatedAt = time.Unix(created, 0).UTC()
	u.UpdatedAt = time.Unix(updated, 0).UTC()
	u.Email, u.EmailPending = email.String, pending.String
	return u, nil
}
