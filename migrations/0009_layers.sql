-- fnvault schema: layers (issue 13). A layer version is immutable: each one a function
-- references is archived once, under its own key `<account>/<region>/layer/<name>/<version>`,
-- its zip a blob in the same content-addressed blobs/ store as packages, verified against the
-- cloud's checksum like a package. A row exists only once its blob is durable.
--
-- Additive only: existing versions keep their rows; a version without links either uses no
-- layer or was archived before layers were (its next sweep links the layers it names).

CREATE TABLE layers (
    id             INTEGER PRIMARY KEY,
    key            TEXT NOT NULL UNIQUE,          -- account/region/layer/name/version
    cloud          TEXT NOT NULL CHECK (cloud IN ('tencent', 'aliyun')),
    account        TEXT NOT NULL,
    region         TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,                 -- as the cloud numbers it (an integer in both)
    cloud_checksum TEXT NOT NULL,                 -- SCF: hex SHA-256; FC: decimal CRC-64
    sha256         TEXT NOT NULL CHECK (length(sha256) = 64),
    crc64          TEXT NOT NULL,                 -- decimal u64
    size           INTEGER NOT NULL CHECK (size >= 0),
    first_seen     TEXT NOT NULL
);

CREATE INDEX layers_sha256 ON layers (sha256);

-- The layers of one version, in the cloud's order (`position` from 1). The order decides
-- which layer's file wins: in SCF the later one, in FC the earlier one.
CREATE TABLE version_layers (
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL CHECK (position >= 1),
    layer_id   INTEGER NOT NULL REFERENCES layers(id),
    PRIMARY KEY (version_id, position)
);

CREATE INDEX version_layers_layer ON version_layers (layer_id);
