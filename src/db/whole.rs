//! Queries of the whole function: each version's configuration document (a blob), and
//! whether the package and/or the configuration changed with it (`version_configs`,
//! migration 0005).
//!
//! A version without a `version_configs` row was archived before configurations were read;
//! the first configuration read for it is attached, which is not a change.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Db, DbError, NewVersion, sqlite};

/// The configuration of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConfig {
    /// SHA-256 of the canonical configuration document, a blob under `blobs/`.
    pub config_sha256: String,
    pub code_changed: bool,
    pub config_changed: bool,
    /// The cloud's own last-modified time of the function, as sent.
    pub cloud_modified: Option<String>,
}

impl Db {
    /// The configuration of version `version_id`, if it has one.
    pub fn config_of_version(&self, version_id: i64) -> Result<Option<VersionConfig>, DbError> {
        self.conn
            .query_row(
                "SELECT config_sha256, code_changed, config_changed, cloud_modified
                 FROM version_configs WHERE version_id = ?1",
                [version_id],
                |r| {
                    Ok(VersionConfig {
                        config_sha256: r.get(0)?,
                        code_changed: r.get(1)?,
                        config_changed: r.get(2)?,
                        cloud_modified: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// The package of version `version_id`, for a new version that keeps it (only the
    /// configuration changed).
    pub fn package_of_version(&self, version_id: i64) -> Result<Option<NewVersion>, DbError> {
        let row: Option<(String, String, String, i64)> = self
            .conn
            .query_row(
                "SELECT cloud_checksum, sha256, crc64, size FROM versions WHERE id = ?1",
                [version_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| sqlite(&self.path, e))?;
        let Some((cloud_checksum, sha256, crc64, size)) = row else {
            return Ok(None);
        };
        let crc64 = crc64.parse::<u64>().map_err(|_| DbError::Other {
            path: self.path.clone(),
            message: format!("version {version_id}: crc64 `{crc64}` is not a decimal u64"),
        })?;
        Ok(Some(NewVersion {
            cloud_checksum,
            sha256,
            crc64,
            size: size.max(0) as u64,
        }))
    }

    /// Records a new version (as [`Db::record_journaled_version`]) and its configuration, in
    /// one savepoint: both or neither.
    pub fn record_version_with_config(
        &mut self,
        function_id: i64,
        version_no: i64,
        v: &NewVersion,
        config: &VersionConfig,
        sweep_id: Option<i64>,
        now: &str,
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        self.conn
            .execute_batch("SAVEPOINT whole_version")
            .map_err(|e| sqlite(&path, e))?;
        let result = self
            .record_journaled_version(function_id, version_no, v, sweep_id, now)
            .and_then(|()| {
                self.attach_config(function_id, version_no, config, now)
                    .map(|_| ())
            });
        let end = match &result {
            Ok(()) => "RELEASE whole_version",
            Err(_) => "ROLLBACK TO whole_version; RELEASE whole_version",
        };
        self.conn.execute_batch(end).map_err(|e| sqlite(&path, e))?;
        result
    }

    /// Attaches `config` to version `version_no` of `function_id` unless it has one already.
    /// Returns whether it was attached (false: it had one, or there is no such version).
    pub fn attach_config(
        &mut self,
        function_id: i64,
        version_no: i64,
        config: &VersionConfig,
        now: &str,
    ) -> Result<bool, DbError> {
        let n = self
            .conn
            .execute(
                "INSERT INTO version_configs (version_id, config_sha256, code_changed,
                                              config_changed, cloud_modified, attached)
                 SELECT id, ?3, ?4, ?5, ?6, ?7 FROM versions
                 WHERE function_id = ?1 AND version_no = ?2
                 ON CONFLICT (version_id) DO NOTHING",
                params![
                    function_id,
                    version_no,
                    config.config_sha256,
                    config.code_changed,
                    config.config_changed,
                    config.cloud_modified,
                    now
                ],
            )
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(n > 0)
    }

    /// [`Db::attach_config`] by function key (for `reconcile`, which reads keys from the
    /// journal).
    pub fn attach_config_by_key(
        &mut self,
        key: &str,
        version_no: i64,
        config: &VersionConfig,
        now: &str,
    ) -> Result<bool, DbError> {
        let id: Option<i64> = self
            .conn
            .query_row("SELECT id FROM functions WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| sqlite(&self.path, e))?;
        match id {
            Some(id) => self.attach_config(id, version_no, config, now),
            None => Ok(false),
        }
    }

    /// Every version's configuration, by (function key, version number).
    pub fn all_configs(&self) -> Result<HashMap<(String, i64), VersionConfig>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.key, v.version_no, c.config_sha256, c.code_changed, c.config_changed,
                        c.cloud_modified
                 FROM version_configs c JOIN versions v ON v.id = c.version_id
                 JOIN functions f ON f.id = v.function_id",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, i64>(1)?),
                    VersionConfig {
                        config_sha256: r.get(2)?,
                        code_changed: r.get(3)?,
                        config_changed: r.get(4)?,
                        cloud_modified: r.get(5)?,
                    },
                ))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<HashMap<_, _>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// The configuration of each version of `function_id`, by version number.
    pub fn configs_of(&self, function_id: i64) -> Result<HashMap<i64, VersionConfig>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT v.version_no, c.config_sha256, c.code_changed, c.config_changed,
                        c.cloud_modified
                 FROM version_configs c JOIN versions v ON v.id = c.version_id
                 WHERE v.function_id = ?1",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([function_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    VersionConfig {
                        config_sha256: r.get(1)?,
                        code_changed: r.get(2)?,
                        config_changed: r.get(3)?,
                        cloud_modified: r.get(4)?,
                    },
                ))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<HashMap<_, _>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Every configuration document a version references (blobs `prune` must keep).
    pub fn config_hashes(&self) -> Result<Vec<String>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT config_sha256 FROM version_configs")
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Each version's configuration document, by version id (for `prune`'s kept blobs).
    pub fn config_hash_by_version_id(&self) -> Result<HashMap<i64, String>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT version_id, config_sha256 FROM version_configs")
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<HashMap<i64, String>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }
}
