-- +goose Up
-- Keys that sign access tokens (JWTs). private_key is the PKCS #8 key
-- sealed with AES-256-GCM under a sub-key of the master key (package
-- secret, purpose "jwt-signing-key/v1"), the kid as associated data;
-- public_key is its JWK. The newest key signs; a key stays published in
-- the JWKS until retired_at (unix seconds, 0: still signing) plus the
-- longest access-token lifetime has passed.
CREATE TABLE signing_keys (
    kid         TEXT   NOT NULL PRIMARY KEY,
    alg         TEXT   NOT NULL,
    private_key TEXT   NOT NULL,
    public_key  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE signing_keys;
