-- fnvault schema v2: file manifests of archived packages.

-- One row per distinct blob whose package fnvault tried to read as a zip. No row means not read
-- yet (the next sweep or `reindex` fills it in). A package that is not a valid zip is still
-- archived: is_zip = 0, error says why, and it has no files rows.
CREATE TABLE packages (
    sha256   TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    is_zip   INTEGER NOT NULL CHECK (is_zip IN (0, 1)),
    error    TEXT,                                -- why it is not a readable zip (is_zip = 0)
    entries  INTEGER NOT NULL DEFAULT 0
);

-- The zip's central directory, one row per entry, read without decompressing anything.
-- idx keeps the archive's own order (and tells apart the rare zip with a path twice).
CREATE TABLE files (
    sha256  TEXT NOT NULL REFERENCES packages(sha256) ON DELETE CASCADE,
    idx     INTEGER NOT NULL,
    path    TEXT NOT NULL,
    size    INTEGER NOT NULL CHECK (size >= 0),  -- uncompressed
    crc32   INTEGER NOT NULL,
    is_dir  INTEGER NOT NULL CHECK (is_dir IN (0, 1)),
    PRIMARY KEY (sha256, idx)
);

CREATE INDEX versions_first_seen ON versions (function_id, first_seen);
