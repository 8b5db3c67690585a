-- +goose Up
-- email is the account's confirmed address as the user typed it; email_key
-- its lower-case form, unique across accounts (several NULLs are allowed).
-- email_pending is an address waiting for its confirmation link; the
-- confirmed one stays in force until then.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_key TEXT;
ALTER TABLE users ADD COLUMN email_pending TEXT;
CREATE UNIQUE INDEX users_email_key ON users (email_key);

-- Tokens of e-mailed links (password reset, address confirmation). Only the
-- token's SHA-256 is kept; a row is deleted when its token is used. epoch is
-- the user's credential epoch at issue: a reset link dies with any password
-- change. Times are unix milliseconds.
CREATE TABLE email_tokens (
    token_hash TEXT    PRIMARY KEY,
    purpose    TEXT    NOT NULL,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL,
    epoch      BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expires ON email_tokens (expires_at);

-- Mails waiting to be sent. A request only inserts a row; workers (one per
-- instance) claim due rows by pushing not_before past a lease, send, and
-- delete them, or push not_before back for a retry. claim identifies the
-- worker holding a row, so that one whose lease ran out cannot delete a row
-- another worker has taken over. Times are unix milliseconds.
CREATE TABLE mail_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    not_before BIGINT  NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    claim      TEXT    NOT NULL DEFAULT '',
    last_error TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX mail_outbox_due ON mail_outbox (not_before);

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE email_tokens;
DROP INDEX users_email_key;
ALTER TABLE users DROP COLUMN email_pending;
ALTER TABLE users DROP COLUMN email_key;
ALTER TABLE users DROP COLUMN email;
