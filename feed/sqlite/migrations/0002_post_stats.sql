-- post_stats keeps the number of posts in its one row, so that listing
-- reads it instead of counting the table (count(*) scans all of it). The
-- triggers update it in the statement, hence the transaction, that inserts
-- or deletes a post: a rolled back write leaves it as it was, and a read
-- transaction sees it in the same snapshot as the posts.
--
-- One row is enough here: SQLite has one writer at a time (the store's
-- writes queue for its single IMMEDIATE connection), so the row adds no
-- contention. Keep writes to posts to INSERT, UPDATE and DELETE: a REPLACE
-- (INSERT OR REPLACE, REPLACE INTO) deletes the row it replaces without
-- firing the delete trigger unless recursive_triggers is on.
--
-- The migration runs in the writer's IMMEDIATE transaction, which holds the
-- write lock, so no post comes or goes between the count and the triggers.
CREATE TABLE post_stats (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	total INTEGER NOT NULL
);

INSERT INTO post_stats (id, total) SELECT 1, count(*) FROM posts;

CREATE TRIGGER posts_count_insert AFTER INSERT ON posts
BEGIN
	UPDATE post_stats SET total = total + 1 WHERE id = 1;
END;

CREATE TRIGGER posts_count_delete AFTER DELETE ON posts
BEGIN
	UPDATE post_stats SET total = total - 1 WHERE id = 1;
END;
