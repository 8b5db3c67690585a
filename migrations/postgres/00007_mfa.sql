-- +goose Up
-- One TOTP secret per account, sealed with AES-GCM under a key derived from
-- the master key (package mfa); confirmed is 0 until the first code was
-- right. last_step is the RFC 6238 time step of the last accepted code: a
-- code is accepted only for a later step, so each works once.
CREATE TABLE mfa_totp (
    user_id    BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     TEXT    NOT NULL,
    confirmed  INTEGER NOT NULL DEFAULT 0,
    last_step  BIGINT  NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL
);

-- Recovery codes: only their keyed hash; a row is deleted when its code is used.
CREATE TABLE mfa_recovery (
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT   NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Passkeys (WebAuthn credentials): id is the credential id (base64url),
-- credential the library's JSON record (public key, sign count, flags).
CREATE TABLE passkeys (
    id           TEXT   PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    credential   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- +goose Down
DROP TABLE passkeys;
DROP TABLE mfa_recovery;
DROP TABLE mfa_totp;
