CREATE TABLE users (
	id         TEXT PRIMARY KEY,
	email      TEXT NOT NULL UNIQUE,
	password   TEXT NOT NULL,
	name       TEXT NOT NULL,
	status     TEXT NOT NULL DEFAULT 'I am new!',
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE posts (
	id         TEXT PRIMARY KEY,
	title      TEXT NOT NULL,
	content    TEXT NOT NULL,
	image_url  TEXT NOT NULL,
	creator_id TEXT NOT NULL REFERENCES users (id),
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX posts_newest ON posts (created_at DESC, id DESC);
CREATE INDEX posts_creator ON posts (creator_id);
