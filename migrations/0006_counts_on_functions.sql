-- fnvault schema: what `list`, `at`, `status` and the metrics used to aggregate over every
-- version is kept up to date instead, so they read it with index lookups (issue 16):
--   functions.version_count      how many versions the function has
--   functions.latest_version_id  the id of its version with the highest version_no
--   archive_totals               one row: functions, versions, distinct blobs and their bytes
--
-- Triggers keep them current for every writer (sweeps, reindex, the latest-alias merge, prune,
-- and whatever writes versions later), so no code path can forget them. Existing databases are
-- filled in below from the rows they hold; no row of history is changed.

ALTER TABLE functions ADD COLUMN version_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE functions ADD COLUMN latest_version_id INTEGER;   -- NULL while it has no version

UPDATE functions SET
    version_count = (SELECT COUNT(*) FROM versions WHERE function_id = functions.id),
    latest_version_id = (SELECT id FROM versions WHERE function_id = functions.id
                         ORDER BY version_no DESC LIMIT 1);

-- A blob's bytes are counted once, with the size of the versions that reference it (one blob,
-- one content, one size).
CREATE TABLE archive_totals (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    functions  INTEGER NOT NULL,
    versions   INTEGER NOT NULL,
    blobs      INTEGER NOT NULL,
    blob_bytes INTEGER NOT NULL
);

INSERT INTO archive_totals (id, functions, versions, blobs, blob_bytes)
SELECT 1, (SELECT COUNT(*) FROM functions), (SELECT COUNT(*) FROM versions),
       COUNT(*), COALESCE(SUM(size), 0)
FROM (SELECT sha256, MAX(size) AS size FROM versions GROUP BY sha256);

CREATE TRIGGER functions_counted_insert AFTER INSERT ON functions
BEGIN
    UPDATE archive_totals SET functions = functions + 1 WHERE id = 1;
END;

CREATE TRIGGER functions_counted_delete AFTER DELETE ON functions
BEGIN
    UPDATE archive_totals SET functions = functions - 1 WHERE id = 1;
END;

-- The latest version is looked up again (one step down the (function_id, version_no) index)
-- rather than compared with the new row: a version is never numbered below the latest by the
-- sweep, but reindex and the merge insert histories in any order.
CREATE TRIGGER versions_counted_insert AFTER INSERT ON versions
BEGIN
    UPDATE functions SET
        version_count = version_count + 1,
        latest_version_id = (SELECT id FROM versions WHERE function_id = NEW.function_id
                             ORDER BY version_no DESC LIMIT 1)
    WHERE id = NEW.function_id;
    UPDATE archive_totals SET
        versions = versions + 1,
        blobs = blobs + NOT EXISTS (SELECT 1 FROM versions
                                    WHERE sha256 = NEW.sha256 AND id <> NEW.id),
        blob_bytes = blob_bytes + CASE WHEN EXISTS (SELECT 1 FROM versions
                                                    WHERE sha256 = NEW.sha256 AND id <> NEW.id)
                                       THEN 0 ELSE NEW.size END
    WHERE id = 1;
END;

CREATE TRIGGER versions_counted_delete AFTER DELETE ON versions
BEGIN
    UPDATE functions SET
        version_count = version_count - 1,
        latest_version_id = (SELECT id FROM versions WHERE function_id = OLD.function_id
                             ORDER BY version_no DESC LIMIT 1)
    WHERE id = OLD.function_id;
    UPDATE archive_totals SET
        versions = versions - 1,
        blobs = blobs - NOT EXISTS (SELECT 1 FROM versions WHERE sha256 = OLD.sha256),
        blob_bytes = blob_bytes - CASE WHEN EXISTS (SELECT 1 FROM versions
                                                    WHERE sha256 = OLD.sha256)
                                       THEN 0 ELSE OLD.size END
    WHERE id = 1;
END;

-- The latest-alias merge moves rows between functions and renumbers them.
CREATE TRIGGER versions_counted_move AFTER UPDATE OF function_id, version_no ON versions
BEGIN
    UPDATE functions SET version_count = version_count - 1
    WHERE id = OLD.function_id AND OLD.function_id <> NEW.function_id;
    UPDATE functions SET version_count = version_count + 1
    WHERE id = NEW.function_id AND OLD.function_id <> NEW.function_id;
    UPDATE functions SET
        latest_version_id = (SELECT id FROM versions WHERE function_id = functions.id
                             ORDER BY version_no DESC LIMIT 1)
    WHERE id IN (OLD.function_id, NEW.function_id);
END;

-- Nothing rewrites a version's content today; should anything, the blob totals follow it.
CREATE TRIGGER versions_counted_rewrite AFTER UPDATE OF sha256 ON versions
WHEN OLD.sha256 <> NEW.sha256
BEGIN
    UPDATE archive_totals SET
        blobs = blobs - NOT EXISTS (SELECT 1 FROM versions
                                    WHERE sha256 = OLD.sha256)
                      + NOT EXISTS (SELECT 1 FROM versions
                                    WHERE sha256 = NEW.sha256 AND id <> NEW.id),
        blob_bytes = blob_bytes
            - CASE WHEN EXISTS (SELECT 1 FROM versions WHERE sha256 = OLD.sha256)
                   THEN 0 ELSE OLD.size END
            + CASE WHEN EXISTS (SELECT 1 FROM versions WHERE sha256 = NEW.sha256 AND id <> NEW.id)
                   THEN 0 ELSE NEW.size END
    WHERE id = 1;
END;
