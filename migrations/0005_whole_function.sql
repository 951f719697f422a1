-- fnvault schema: the whole function. A version is what was live: its package and its
-- configuration together. Configuration documents (canonical JSON, secrets per
-- `[capture] secrets`) are blobs in the same content-addressed blobs/ store as packages.
--
-- Additive only: every existing version keeps its row. A version without a row here was
-- archived before configurations were read; the first configuration a sweep reads for it is
-- attached to it (code_changed = config_changed = 0), which is not a change.

CREATE TABLE version_configs (
    version_id     INTEGER PRIMARY KEY REFERENCES versions(id) ON DELETE CASCADE,
    config_sha256  TEXT NOT NULL CHECK (length(config_sha256) = 64),
    code_changed   INTEGER NOT NULL CHECK (code_changed IN (0, 1)),
    config_changed INTEGER NOT NULL CHECK (config_changed IN (0, 1)),
    cloud_modified TEXT,                          -- the cloud's own last-modified time, as sent
    attached       TEXT NOT NULL                  -- when this configuration was recorded
);

CREATE INDEX version_configs_sha256 ON version_configs (config_sha256);
