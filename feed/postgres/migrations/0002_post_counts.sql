-- post_counts keeps the number of posts, as the sum of n over its rows, so
-- that listing reads 16 small rows instead of counting the table (count(*)
-- visits every row or index entry). The statement-level triggers below
-- add what a statement inserted or deleted in that statement's transaction:
-- a rolled back write leaves the counts as they were, and a REPEATABLE READ
-- reader sees them in the same snapshot as the posts.
--
-- Why 16 slots and not one row: an UPDATE of a row holds its lock until the
-- transaction ends, so with one row every create and delete would wait for
-- the previous one to commit, its WAL flush included, and concurrent
-- writers could not share a flush (group commit); on a slow disk that caps
-- writes at one commit per fsync. Each statement adds to the slot of its
-- server process, pg_backend_pid() % 16, instead:
--   - the connections of a pool are long-lived processes with distinct
--     (usually consecutive) pids, so concurrent writers mostly hit distinct
--     rows; two that share a slot serialize as they would on one row, no
--     worse;
--   - a transaction always touches one slot, so several statements in one
--     transaction cannot deadlock with another transaction over two slots
--     (which a random slot per statement could); and the store's writes
--     take the slot lock last, after any post or user row lock;
--   - a slot may go negative (a post counted in one slot, deleted through
--     another): only the sum means anything.
-- Statement-level triggers with transition tables also make a bulk INSERT
-- ... SELECT or DELETE cost one UPDATE, not one per row; a statement that
-- changes no row (CreatePost by an unknown user) updates nothing.
--
-- The writes are assumed to run at READ COMMITTED (PostgreSQL's default, and
-- what the store's other writes assume too): there a second UPDATE of a slot
-- waits and then adds to the committed value; at REPEATABLE READ or
-- SERIALIZABLE it would fail with a serialization error instead.

-- Block writes to posts (not reads) until the migration commits, waiting for
-- those under way, e.g. by an instance still running the previous version:
-- then the count below, taken after the lock (the migration runs at READ
-- COMMITTED), sees every committed post, and every later one goes through
-- the triggers.
LOCK TABLE posts IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE post_counts (
	slot INTEGER PRIMARY KEY CHECK (slot >= 0 AND slot < 16),
	n    BIGINT NOT NULL
);

INSERT INTO post_counts (slot, n) SELECT s, 0 FROM generate_series(0, 15) AS s;
UPDATE post_counts SET n = (SELECT count(*) FROM posts) WHERE slot = 0;

-- posts_count adds the rows of the transition table "changed" (what the
-- statement inserted or deleted) to the slot of this server process.
CREATE FUNCTION posts_count() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
	delta BIGINT;
BEGIN
	SELECT count(*) INTO delta FROM changed;
	IF TG_OP = 'DELETE' THEN
		delta := -delta;
	END IF;
	IF delta <> 0 THEN
		UPDATE post_counts SET n = n + delta WHERE slot = pg_backend_pid() % 16;
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER posts_count_insert AFTER INSERT ON posts
	REFERENCING NEW TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION posts_count();

CREATE TRIGGER posts_count_delete AFTER DELETE ON posts
	REFERENCING OLD TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION posts_count();

-- TRUNCATE (of posts, or of users with CASCADE) fires no delete trigger.
CREATE FUNCTION posts_count_truncate() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
	UPDATE post_counts SET n = 0;
	RETURN NULL;
END
$$;

CREATE TRIGGER posts_count_truncate AFTER TRUNCATE ON posts
	FOR EACH STATEMENT EXECUTE FUNCTION posts_count_truncate();
