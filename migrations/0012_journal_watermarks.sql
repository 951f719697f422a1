-- fnvault schema: how far the start-up reconcile has read each journal file (issue 16), so a
-- start reads only what the journal gained since the last one instead of the whole journal.
-- Nothing of the history is changed. An upgraded database has no rows: its first writer does
-- the full reconcile once and then records them.
--   journal  'meta' (versions, configurations, layers) or 'aliases' (the alias journal)
--   file     the journal file's name (`<sha256 of the key>.jsonl`; on object storage, the
--            name standing for its folder of objects)
--   offset   bytes of the file reconciled: always the end of a complete line (a torn tail is
--            never counted, so cutting it never leaves a file below its watermark), and never
--            past a line that gave a problem (so the problem is read, and reported, again)
CREATE TABLE journal_watermarks (
    journal TEXT NOT NULL,
    file    TEXT NOT NULL,
    offset  INTEGER NOT NULL CHECK (offset >= 0),
    PRIMARY KEY (journal, file)
) WITHOUT ROWID;

-- When the database last had the full reconcile (every journal file read whole and every
-- version the database has and the journal lacks journaled). At most one row; none means the
-- next writer does the full reconcile (a new, lost or restored database, or an upgrade).
CREATE TABLE full_reconcile (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    done TEXT NOT NULL
);

-- The blobs a start must read a manifest for: every blob a version references that has no
-- `packages` row, kept by triggers as rows come and go, so a start reads this short table
-- instead of comparing every version with `packages` (most of a start's time at 1,000,000
-- versions once the journal was read from watermarks). A blob that cannot be read stays here
-- and is tried again at the next start, as before.
CREATE TABLE manifest_queue (
    sha256 TEXT PRIMARY KEY
) WITHOUT ROWID;

INSERT INTO manifest_queue (sha256)
    SELECT DISTINCT v.sha256 FROM versions v
    WHERE NOT EXISTS (SELECT 1 FROM packages p WHERE p.sha256 = v.sha256);

CREATE TRIGGER manifest_queue_version_in AFTER INSERT ON versions
WHEN NOT EXISTS (SELECT 1 FROM packages WHERE sha256 = new.sha256)
BEGIN
    INSERT OR IGNORE INTO manifest_queue (sha256) VALUES (new.sha256);
END;

CREATE TRIGGER manifest_queue_version_out AFTER DELETE ON versions
WHEN NOT EXISTS (SELECT 1 FROM versions WHERE sha256 = old.sha256)
BEGIN
    DELETE FROM manifest_queue WHERE sha256 = old.sha256;
END;

CREATE TRIGGER manifest_queue_version_moved AFTER UPDATE OF sha256 ON versions
BEGIN
    DELETE FROM manifest_queue WHERE sha256 = old.sha256
        AND NOT EXISTS (SELECT 1 FROM versions WHERE sha256 = old.sha256);
    INSERT OR IGNORE INTO manifest_queue (sha256)
        SELECT new.sha256 WHERE NOT EXISTS (SELECT 1 FROM packages WHERE sha256 = new.sha256);
END;

CREATE TRIGGER manifest_queue_package_in AFTER INSERT ON packages
BEGIN
    DELETE FROM manifest_queue WHERE sha256 = new.sha256;
END;

CREATE TRIGGER manifest_queue_package_out AFTER DELETE ON packages
WHEN EXISTS (SELECT 1 FROM versions WHERE sha256 = old.sha256)
BEGIN
    INSERT OR IGNORE INTO manifest_queue (sha256) VALUES (old.sha256);
END;
