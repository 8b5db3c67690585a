-- +goose Up
-- name is shown to people as they typed it; name_key is its case-mapped
-- PRECIS form (RFC 8265), computed in Go so that "unique regardless of case"
-- means the same thing in SQLite and PostgreSQL. Times are unix seconds, UTC.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    name_key      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE users;
