-- fnvault schema: what the last full check of each function saw in its cloud's listing, so
-- the sweeps between full checks can tell from `ListFunctions` alone that nothing changed
-- (issue 16). One row per function that has had a full check since this migration; a
-- function without a row gets a full check. Nothing of the history is changed.
--   fingerprint      keyed hash of the listing entry the last full check saw
--   settled          1 when that full check saw the same fingerprint as the one before it
--                    (SCF's ModTime has one-second resolution: a second deploy within the
--                    same second would not change it, so a change is confirmed by one more
--                    full check before the listing alone is trusted)
--   modified         the cloud's last-modified time in that entry, as printed
--   code_checksum    FC: the entry's codeChecksum (CRC-64, decimal)
--   code_size        FC: the entry's codeSize
--   last_full_check  when the function last had a full check (RFC 3339 UTC)
--   last_check_kind  'full' or 'listing': how the latest successful check was made
CREATE TABLE listing_checks (
    function_id     INTEGER PRIMARY KEY REFERENCES functions(id) ON DELETE CASCADE,
    fingerprint     TEXT,
    settled         INTEGER NOT NULL DEFAULT 0,
    modified        TEXT,
    code_checksum   TEXT,
    code_size       INTEGER,
    last_full_check TEXT,
    last_check_kind TEXT NOT NULL DEFAULT 'full'
);

-- How many pages the last listing of a scope of explicit `[[functions]]` took, so a sweep
-- lists a scope only when that costs fewer requests than asking each function (issue 16).
--   scope      account/region/namespace-or-service ('' for FC 3.0's region-wide listing)
--   pages      pages it took, or when it was stopped for costing too much, one more than
--              it was allowed
--   listed_at  when (RFC 3339 UTC); a day later the scope is measured again
CREATE TABLE scope_listings (
    scope     TEXT PRIMARY KEY,
    pages     INTEGER NOT NULL,
    listed_at TEXT NOT NULL
);
