-- fnvault schema: the state of each [[mirrors]] copy of the archive, for `status`, metrics and
-- the lag alert. Keyed by the mirror's name in the config; a mirror removed from the config
-- keeps its row (it is history, and costs nothing).
--
-- Lag is derived, not stored: the versions first seen after `last_success` are the ones the
-- mirror may not have yet (a run copies everything the archive holds when it starts).
CREATE TABLE mirrors (
    name          TEXT PRIMARY KEY,
    location      TEXT NOT NULL,       -- dir path or s3://bucket/prefix (no secrets)
    last_attempt  TEXT,                -- RFC 3339, start of the latest run
    last_success  TEXT,                -- RFC 3339, start of the latest run that copied everything
    last_error    TEXT,                -- the latest run's error, NULL after a success
    copied_blobs  INTEGER NOT NULL DEFAULT 0,  -- blobs copied, over all runs
    copied_bytes  INTEGER NOT NULL DEFAULT 0
);
