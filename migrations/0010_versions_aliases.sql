-- fnvault schema: published versions and aliases (issue 14).
--
-- Additive only. A published version is archived like any function, under the key
-- `<function key without qualifier>@<version>` (rows of `functions` and `versions`); this
-- table only remembers what the cloud's version listing said about it, so an immutable
-- version is not asked for again unless its listed modified time changes.
--
-- Alias history: one row per state of an alias. A sweep that sees a different state closes
-- the current row (`to_time`) and opens a new one; an alias deleted in the cloud gets a row
-- with deleted = 1 and no versions. Times are RFC 3339 UTC text, like every other time.

CREATE TABLE published_versions (
    function_key   TEXT NOT NULL,                 -- the function without qualifier
    version        TEXT NOT NULL,                 -- the cloud's version, `1`, `2`, …
    listed_modified TEXT,                         -- the listing's modified time, as sent
    absent         INTEGER NOT NULL DEFAULT 0     -- FC 2.0: the function is not in this
                   CHECK (absent IN (0, 1)),      -- service version (it came later)
    first_listed   TEXT NOT NULL,
    last_listed    TEXT NOT NULL,
    PRIMARY KEY (function_key, version)
);

CREATE TABLE alias_states (
    id             INTEGER PRIMARY KEY,
    function_key   TEXT NOT NULL,                 -- the function without qualifier
    alias          TEXT NOT NULL,
    versions       TEXT NOT NULL,                 -- JSON [{"version":"2","weight":0.9}, …]
    deleted        INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    cloud_modified TEXT,                          -- the cloud's own modified time, as sent
    from_time      TEXT NOT NULL,                 -- the sweep that first saw this state
    to_time        TEXT                           -- the sweep that saw the next one; NULL: current
);

CREATE INDEX alias_states_by_function ON alias_states (function_key, alias, from_time);
CREATE UNIQUE INDEX alias_states_current ON alias_states (function_key, alias)
    WHERE to_time IS NULL;
