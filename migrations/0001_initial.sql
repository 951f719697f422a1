-- fnvault schema v1. Times are RFC 3339 UTC text with milliseconds ("2026-11-23T09:41:00.123Z"),
-- which sort correctly as text.

-- Every function fnvault has ever been asked to archive. Rows are never deleted: a function that
-- leaves the config keeps its history.
CREATE TABLE functions (
    id            INTEGER PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,           -- account/region/namespace/name[@qualifier]
    cloud         TEXT NOT NULL CHECK (cloud IN ('tencent', 'aliyun')),
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    namespace     TEXT NOT NULL,                  -- SCF namespace or FC service
    name          TEXT NOT NULL,
    qualifier     TEXT,
    first_seen    TEXT NOT NULL,
    last_checked  TEXT,                           -- last time a sweep asked the cloud
    last_success  TEXT,                           -- last time the archive was confirmed current
    last_status   TEXT CHECK (last_status IN ('new', 'changed', 'unchanged', 'failed')),
    last_error    TEXT,                           -- NULL unless the last check failed
    gone_since    TEXT
);

CREATE TABLE sweeps (
    id        INTEGER PRIMARY KEY,
    started   TEXT NOT NULL,
    finished  TEXT,                               -- NULL while running or if the process died
    trigger   TEXT NOT NULL,                      -- 'sync', 'daemon', 'demo'
    outcome   TEXT CHECK (outcome IN ('ok', 'failed', 'interrupted')),
    checked   INTEGER NOT NULL DEFAULT 0,
    changed   INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    bytes     INTEGER NOT NULL DEFAULT 0
);

-- One row per distinct package a function was seen to serve. A row exists only once its blob
-- is durable under blobs/<2 hex>/<sha256> and hashes to sha256. A redeploy of an older package
-- is a new version pointing at the same blob.
CREATE TABLE versions (
    id             INTEGER PRIMARY KEY,
    function_id    INTEGER NOT NULL REFERENCES functions(id),
    version_no     INTEGER NOT NULL CHECK (version_no >= 1),
    cloud_checksum TEXT NOT NULL,                 -- SCF: hex SHA-256; FC: decimal CRC-64
    sha256         TEXT NOT NULL CHECK (length(sha256) = 64),
    crc64          TEXT NOT NULL,                 -- decimal u64 (does not fit SQLite's i64)
    size           INTEGER NOT NULL CHECK (size >= 0),
    first_seen     TEXT NOT NULL,
    last_seen      TEXT NOT NULL,                 -- last sweep that found it live
    sweep_id       INTEGER REFERENCES sweeps(id),
    UNIQUE (function_id, version_no)
);

CREATE INDEX versions_sha256 ON versions (sha256);
