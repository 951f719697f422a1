-- fnvault schema: what the read-side commands need at 100,000 functions (issue 16): indexes,
-- and a copy of each function's latest version on its row. No row of history is changed: an
-- existing database gets the indexes built and the copies filled from the rows it holds.
--
-- A bare name (`history order-api`) and the trailing parts of a key name a function by its
-- `name` column: one lookup here instead of a search of every key.
CREATE INDEX functions_by_name ON functions (name);

-- `status` lists only the functions that need attention: failing, gone, or not confirmed
-- archived for a day. Each kind is a range of one of these, so it reads those rows and not
-- every function. Times are RFC 3339 UTC text with milliseconds (0001), so "confirmed before
-- T" is a range of `last_success`; a function never confirmed has NULL, which sorts first.
CREATE INDEX functions_by_last_success ON functions (last_success);
CREATE INDEX functions_failing ON functions (key) WHERE last_status = 'failed';
CREATE INDEX functions_gone ON functions (key) WHERE gone_since IS NOT NULL;

-- `status`'s full-check summary counts the functions by how their last check was made and
-- finds the oldest full check: a count over this index and the first entry of the next one,
-- instead of a join of every function with its check.
CREATE INDEX listing_checks_by_kind ON listing_checks (last_check_kind);
CREATE INDEX listing_checks_by_full_check ON listing_checks (last_full_check);

-- `list` shows each function's latest version number, hash and size. Reading them through
-- `latest_version_id` (0006) is one lookup in `versions` per function, each on its own page of
-- a table ten times larger (≈ 0.4 s at 100,000 functions); kept on the function's row
-- instead, copied whenever `latest_version_id` is written (every trigger of 0006 that moves
-- it writes it) and whenever that version's own columns change. Existing rows are filled in
-- from their latest version; `versions` itself is not changed.
ALTER TABLE functions ADD COLUMN latest_version_no INTEGER;   -- NULL while it has no version
ALTER TABLE functions ADD COLUMN latest_sha256 TEXT;
ALTER TABLE functions ADD COLUMN latest_size INTEGER;

UPDATE functions SET (latest_version_no, latest_sha256, latest_size) =
    (SELECT version_no, sha256, size FROM versions WHERE id = functions.latest_version_id);

CREATE TRIGGER functions_latest_copied AFTER UPDATE OF latest_version_id ON functions
BEGIN
    UPDATE functions SET (latest_version_no, latest_sha256, latest_size) =
        (SELECT version_no, sha256, size FROM versions WHERE id = NEW.latest_version_id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER versions_latest_rewritten AFTER UPDATE OF version_no, sha256, size ON versions
BEGIN
    UPDATE functions SET (latest_version_no, latest_sha256, latest_size) =
        (NEW.version_no, NEW.sha256, NEW.size)
    WHERE id = NEW.function_id AND latest_version_id = NEW.id;
END;
