-- +goose Up
-- credential_epoch counts password changes and resets. Each session keeps
-- the value it was created with; a change revokes the user's sessions and
-- refuses new ones made with the old password.
ALTER TABLE users ADD COLUMN credential_epoch BIGINT NOT NULL DEFAULT 0;

-- What the user can see of their own account's security events. Rows are
-- pruned by age and by count per user when new ones are written.
CREATE TABLE activity (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at         BIGINT  NOT NULL,
    kind       TEXT    NOT NULL,
    client     TEXT    NOT NULL,
    user_agent TEXT    NOT NULL
);
CREATE INDEX activity_user_id ON activity (user_id, id);

-- +goose Down
DROP TABLE activity;
ALTER TABLE users DROP COLUMN credential_epoch;
