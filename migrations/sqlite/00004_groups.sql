-- +goose Up
-- Groups name sets of users for the access rules of forward authentication
-- (a rule's subject "group:NAME"). Names are lower-case, checked in Go.
CREATE TABLE groups (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX group_members_group_id ON group_members (group_id);

-- +goose Down
DROP TABLE group_members;
DROP TABLE groups;
