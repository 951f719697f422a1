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
