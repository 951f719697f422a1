//! The queries of the audit and recovery commands (history, show, at, diff, verify, restore,
//! export, reindex, prune), of the journal reconciliation, and of file manifests
//! (`packages`, `files`, migration 0002). Kept apart from the sweep's queries in `db.rs`.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, DbError, NewVersion, sqlite};
use crate::archive::journal::{Sighting, VersionRecord};
use crate::cloud::{Cloud, Target};
use crate::manifest::{Entry, Package};

/// A function the database knows, in config or not any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRow {
    pub id: i64,
    pub target: Target,
    pub first_seen: String,
}

/// One archived version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub id: i64,
    pub function_id: i64,
    pub version_no: i64,
    pub cloud_checksum: String,
    pub sha256: String,
    /// Decimal text: a u64 does not fit SQLite's integer.
    pub crc64: String,
    pub size: i64,
    pub first_seen: String,
    pub last_seen: String,
}

/// What is known about a blob's package format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    pub is_zip: bool,
    pub error: Option<String>,
    pub files: Vec<Entry>,
}

/// What [`Db::adopt_version`] did with a journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adopted {
    Inserted,
    AlreadyThere,
    /// The database has this version number with other content; the database is kept.
    Conflict {
        db_sha256: String,
    },
}

const VERSION_COLUMNS: &str = "v.id, v.function_id, v.version_no, v.cloud_checksum, v.sha256, \
                               v.crc64, v.size, v.first_seen, v.last_seen";

fn version_row(r: &Row<'_>) -> rusqlite::Result<VersionRow> {
    version_row_from(r, 0)
}

/// A `VersionRow` from the `VERSION_COLUMNS` that start at column `at`.
fn version_row_from(r: &Row<'_>, at: usize) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        id: r.get(at)?,
        function_id: r.get(at + 1)?,
        version_no: r.get(at + 2)?,
        cloud_checksum: r.get(at + 3)?,
        sha256: r.get(at + 4)?,
        crc64: r.get(at + 5)?,
        size: r.get(at + 6)?,
        first_seen: r.get(at + 7)?,
        last_seen: r.get(at + 8)?,
    })
}

/// A `FunctionRow` from columns `id, cloud, account, region, namespace, name, qualifier,
/// first_seen` (0 to 7).
fn function_row(r: &Row<'_>) -> rusqlite::Result<FunctionRow> {
    let cloud: String = r.get(1)?;
    let account: String = r.get(2)?;
    let region: String = r.get(3)?;
    let namespace: String = r.get(4)?;
    let name: String = r.get(5)?;
    let qualifier: Option<String> = r.get(6)?;
    // The schema's CHECK allows only these two.
    let cloud = Cloud::parse(&cloud).unwrap_or(Cloud::Tencent);
    Ok(FunctionRow {
        id: r.get(0)?,
        // As stored: an older fnvault's latest-alias key stays what it is until `recovery`
        // merges it.
        target: Target::as_named(
            cloud,
            &account,
            &region,
            &namespace,
            &name,
            qualifier.as_deref(),
        ),
        first_seen: r.get(7)?,
    })
}

/// The least byte string greater than every string that starts with `prefix` (keys compare
/// byte by byte, SQLite's BINARY collation): `prefix` with its last byte below 0xFF raised
/// by one and what follows it dropped. `None` when there is no such byte (no upper bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|b| *b != 0xFF)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

impl Db {
    /// Every function the database knows, by key.
    pub fn functions(&self) -> Result<Vec<FunctionRow>, DbError> {
        self.function_rows("", [])
    }

    /// The function whose canonical key is exactly `key` (an index lookup).
    pub fn function_by_key(&self, key: &str) -> Result<Option<FunctionRow>, DbError> {
        Ok(self.function_rows("WHERE key = ?1", [key])?.pop())
    }

    /// The functions `text` (what precedes the first `@` of a FUNCTION argument) can name,
    /// by key: those whose key starts with `text` (an exact key, a prefix, a key with a
    /// qualifier) and those whose name is its last `/` part (a bare name, trailing parts of
    /// a key). That is every function any rule of `cli::resolve` can match, since a function
    /// name holds neither `/` nor `@` (both clouds' naming rules, and config validation).
    /// Two index lookups (the key's, and `functions_by_name` of migration 0013), so naming
    /// one function among 100,000 reads only the rows that can match.
    pub fn functions_containing(&self, text: &str) -> Result<Vec<FunctionRow>, DbError> {
        let name = text.rsplit('/').next().unwrap_or(text);
        match prefix_end(text.as_bytes()) {
            Some(end) => self.function_rows(
                "WHERE (key >= ?1 AND key < ?2) OR name = ?3",
                params![
                    text,
                    // Bytes, not a `str`: the bound need not be UTF-8.
                    rusqlite::types::ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(&end)),
                    name
                ],
            ),
            // An empty text (or one of 0xFF bytes, impossible in UTF-8) is a prefix of all.
            None => self.function_rows("WHERE key >= ?1 OR name = ?2", params![text, name]),
        }
    }

    fn function_rows<P: rusqlite::Params>(
        &self,
        filter: &str,
        params: P,
    ) -> Result<Vec<FunctionRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, cloud, account, region, namespace, name, qualifier, first_seen
                 FROM functions {filter} ORDER BY key"
            ))
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map(params, function_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.e(e))?;
        Ok(rows)
    }

    /// A function's versions, oldest first.
    pub fn versions_of(&self, function_id: i64) -> Result<Vec<VersionRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions v WHERE v.function_id = ?1
                 ORDER BY v.version_no"
            ))
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([function_id], version_row)
            .map_err(|e| self.e(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    /// Every version of every function, by function id and version number.
    pub fn all_versions(&self) -> Result<Vec<VersionRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions v ORDER BY v.function_id, v.version_no"
            ))
            .map_err(|e| self.e(e))?;
        let rows = stmt.query_map([], version_row).map_err(|e| self.e(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    /// The version live at `at` as far as the sweeps saw: the newest one first seen at or
    /// before it. `at` must be in the stored format (`time::format_rfc3339`).
    pub fn version_at(&self, function_id: i64, at: &str) -> Result<Option<VersionRow>, DbError> {
        // Cached: `at` asks this once per function.
        self.conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions v
                 WHERE v.function_id = ?1 AND v.first_seen <= ?2
                 ORDER BY v.version_no DESC LIMIT 1"
            ))
            .and_then(|mut s| {
                s.query_row(params![function_id, at], version_row)
                    .optional()
            })
            .map_err(|e| self.e(e))
    }

    /// `version_at` for every function at once, keyed by function id: one statement, so `at`
    /// over 10,000 functions is one pass and not 10,000 queries (each of which sorted). A
    /// function whose latest version (`functions.latest_version_id`, migration 0006) was
    /// already live at `at` is answered by that one row; only the others walk their history.
    pub fn versions_at(
        &self,
        at: &str,
    ) -> Result<std::collections::HashMap<i64, VersionRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM functions f
                 JOIN versions l ON l.id = f.latest_version_id
                 JOIN versions v ON v.id = CASE WHEN l.first_seen <= ?1 THEN l.id ELSE (
                     SELECT id FROM versions WHERE function_id = f.id AND first_seen <= ?1
                     ORDER BY version_no DESC LIMIT 1) END"
            ))
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map(params![at], version_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.e(e))?;
        Ok(rows.into_iter().map(|v| (v.function_id, v)).collect())
    }

    /// Every function, by key, with the version live at `at` (`None`: none archived by
    /// then): [`Db::versions_at`] and [`Db::functions`] in one statement, for `at`, so
    /// 100,000 functions are one pass and no map from id to version.
    pub fn functions_at(
        &self,
        at: &str,
    ) -> Result<Vec<(FunctionRow, Option<VersionRow>)>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT f.id, f.cloud, f.account, f.region, f.namespace, f.name, f.qualifier,
                        f.first_seen, {VERSION_COLUMNS}
                 FROM functions f
                 LEFT JOIN versions l ON l.id = f.latest_version_id
                 LEFT JOIN versions v ON v.id = CASE WHEN l.first_seen <= ?1 THEN l.id ELSE (
                     SELECT id FROM versions WHERE function_id = f.id AND first_seen <= ?1
                     ORDER BY version_no DESC LIMIT 1) END"
            ))
            .map_err(|e| self.e(e))?;
        let mut rows = stmt
            .query_map(params![at], |r| {
                let version = match r.get::<_, Option<i64>>(8)? {
                    Some(_) => Some(version_row_from(r, 8)?),
                    None => None,
                };
                Ok((function_row(r)?, version))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.e(e))?;
        // Sorted here rather than by `ORDER BY key`: reading the rows in their own order
        // instead of the key index's is ≈ 20 % faster at 100,000 functions, and keys compare
        // the same way in both (bytes; keys are unique).
        rows.sort_unstable_by(|a, b| a.0.target.key.cmp(&b.0.target.key));
        Ok(rows)
    }

    /// Every function's latest version, keyed by function id (one row each, by
    /// `functions.latest_version_id`).
    pub fn latest_versions(&self) -> Result<std::collections::HashMap<i64, VersionRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM functions f
                 JOIN versions v ON v.id = f.latest_version_id"
            ))
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([], version_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.e(e))?;
        Ok(rows.into_iter().map(|v| (v.function_id, v)).collect())
    }

    /// How many versions a function has (kept on its row).
    pub fn version_count_of(&self, function_id: i64) -> Result<i64, DbError> {
        self.conn
            .prepare_cached("SELECT version_count FROM functions WHERE id = ?1")
            .and_then(|mut s| s.query_row([function_id], |r| r.get(0)).optional())
            .map(Option::unwrap_or_default)
            .map_err(|e| self.e(e))
    }

    /// Records a new version under the number the journal already has for it (the sweep
    /// journals first, so it chooses the number). One transaction with the function's status.
    pub fn record_journaled_version(
        &mut self,
        function_id: i64,
        version_no: i64,
        v: &NewVersion,
        sweep_id: Option<i64>,
        now: &str,
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        let tx = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        tx.execute(
            "INSERT INTO versions (function_id, version_no, cloud_checksum, sha256, crc64, size,
                                   first_seen, last_seen, sweep_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
            params![
                function_id,
                version_no,
                v.cloud_checksum,
                v.sha256,
                v.crc64.to_string(),
                v.size as i64,
                now,
                sweep_id
            ],
        )
        .map_err(|e| sqlite(&path, e))?;
        tx.execute(
            "UPDATE functions SET last_checked = ?2, last_success = ?2,
                    last_status = CASE WHEN ?3 = 1 THEN 'new' ELSE 'changed' END,
                    last_error = NULL, gone_since = NULL
             WHERE id = ?1",
            params![function_id, now, version_no],
        )
        .map_err(|e| sqlite(&path, e))?;
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// Inserts a version the journal has and the database lacks (a kill between the two, or
    /// a rebuild). The function row is created on first sight.
    pub fn adopt_version(&mut self, rec: &VersionRecord) -> Result<Adopted, DbError> {
        let path = self.path.clone();
        let tx = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        let t = &rec.target;
        tx.execute(
            "INSERT INTO functions (key, cloud, account, region, namespace, name, qualifier, first_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (key) DO UPDATE SET first_seen = MIN(first_seen, excluded.first_seen)",
            params![
                t.key,
                t.cloud.as_str(),
                t.account,
                t.region,
                t.namespace,
                t.name,
                t.qualifier,
                rec.first_seen
            ],
        )
        .map_err(|e| sqlite(&path, e))?;
        let function_id: i64 = tx
            .query_row("SELECT id FROM functions WHERE key = ?1", [&t.key], |r| {
                r.get(0)
            })
            .map_err(|e| sqlite(&path, e))?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT sha256 FROM versions WHERE function_id = ?1 AND version_no = ?2",
                params![function_id, rec.version_no],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sqlite(&path, e))?;
        let result = match existing {
            Some(sha) if sha == rec.sha256 => Adopted::AlreadyThere,
            Some(sha) => Adopted::Conflict { db_sha256: sha },
            None => {
                tx.execute(
                    "INSERT INTO versions (function_id, version_no, cloud_checksum, sha256, crc64,
                                           size, first_seen, last_seen, sweep_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, NULL)",
                    params![
                        function_id,
                        rec.version_no,
                        rec.cloud_checksum,
                        rec.sha256,
                        rec.crc64.to_string(),
                        rec.size as i64,
                        rec.first_seen
                    ],
                )
                .map_err(|e| sqlite(&path, e))?;
                Adopted::Inserted
            }
        };
        tx.commit().map_err(|e| sqlite(&path, e))?;
        Ok(result)
    }

    /// Moves a version's `last_seen` forward to `time` (never back).
    pub fn note_seen(&mut self, key: &str, version_no: i64, time: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE versions SET last_seen = ?3
                 WHERE version_no = ?2 AND last_seen < ?3
                   AND function_id = (SELECT id FROM functions WHERE key = ?1)",
                params![key, version_no, time],
            )
            .map(|_| ())
            .map_err(|e| self.e(e))
    }

    /// The function rows of every version, for the journal: (function, version).
    pub fn versions_with_functions(&self) -> Result<Vec<(FunctionRow, VersionRow)>, DbError> {
        let functions = self.functions()?;
        let by_id: std::collections::HashMap<i64, &FunctionRow> =
            functions.iter().map(|f| (f.id, f)).collect();
        let mut out = Vec::new();
        for v in self.all_versions()? {
            if let Some(f) = by_id.get(&v.function_id) {
                out.push(((*f).clone(), v));
            }
        }
        Ok(out)
    }

    /// Every version's function key, number, blob and row id, handed to `each` one row at a
    /// time: what the full reconcile compares with the journal, without holding every version
    /// and a copy of its function (≈ 1 KiB a version, a GiB at 1,000,000).
    pub fn for_each_version_key(
        &self,
        mut each: impl FnMut(String, i64, String, i64),
    ) -> Result<(), DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.id, f.cloud, f.account, f.region, f.namespace, f.name, f.qualifier,
                        f.first_seen, v.version_no, v.sha256, v.id
                 FROM versions v JOIN functions f ON f.id = v.function_id
                 ORDER BY v.function_id, v.version_no",
            )
            .map_err(|e| self.e(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.e(e))?;
        while let Some(r) = rows.next().map_err(|e| self.e(e))? {
            let f = function_row(r).map_err(|e| self.e(e))?;
            let (version_no, sha256, id) = (|| Ok((r.get(8)?, r.get(9)?, r.get(10)?)))()
                .map_err(|e: rusqlite::Error| self.e(e))?;
            each(f.target.key, version_no, sha256, id);
        }
        Ok(())
    }

    /// The versions with row ids `ids`, with their functions, as `versions_with_functions`
    /// gives them (in one statement each for the versions and their functions).
    pub fn versions_with_functions_by_ids(
        &self,
        ids: &[i64],
    ) -> Result<Vec<(FunctionRow, VersionRow)>, DbError> {
        let list = super::id_array(ids.iter().copied());
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions v
                 WHERE v.id IN (SELECT value FROM json_each(?1))
                 ORDER BY v.function_id, v.version_no"
            ))
            .map_err(|e| self.e(e))?;
        let versions = stmt
            .query_map([&list], version_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.e(e))?;
        let function_ids = super::id_array(versions.iter().map(|v| v.function_id));
        let functions = self.function_rows(
            "WHERE id IN (SELECT value FROM json_each(?1))",
            [&function_ids],
        )?;
        let by_id: std::collections::HashMap<i64, &FunctionRow> =
            functions.iter().map(|f| (f.id, f)).collect();
        Ok(versions
            .into_iter()
            .filter_map(|v| by_id.get(&v.function_id).map(|f| ((*f).clone(), v)))
            .collect())
    }

    /// Each function's newest version and when it was last seen live.
    pub fn latest_sightings(&self) -> Result<Vec<Sighting>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.key, v.version_no, v.last_seen FROM functions f
                 JOIN versions v ON v.id = f.latest_version_id
                 ORDER BY f.key",
            )
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Sighting {
                    key: r.get(0)?,
                    version_no: r.get(1)?,
                    last_seen: r.get(2)?,
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    /// Number of version rows.
    pub fn version_count(&self) -> Result<i64, DbError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM versions", [], |r| r.get(0))
            .map_err(|e| self.e(e))
    }

    /// SQLite's own consistency check (`PRAGMA quick_check`); `Err` names the first problem.
    pub fn quick_check(&self) -> Result<(), DbError> {
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| self.e(e))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(DbError::Other {
                path: self.path.clone(),
                message: format!("integrity check failed: {result}"),
            })
        }
    }

    /// Folds the WAL into the database file and empties it, so the file alone holds every
    /// committed row (`reindex` builds a database beside the target and renames the file in).
    pub fn checkpoint_into_file(&self) -> Result<(), DbError> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(|e| self.e(e))?;
        if busy == 0 {
            Ok(())
        } else {
            Err(DbError::Other {
                path: self.path.clone(),
                message: "the write-ahead log could not be folded into the file (busy)".into(),
            })
        }
    }

    // --- manifests ---------------------------------------------------------------------------

    /// Blobs referenced by a version whose package has not been read yet.
    pub fn blobs_without_manifest(&self) -> Result<Vec<String>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT v.sha256 FROM versions v
                 WHERE NOT EXISTS (SELECT 1 FROM packages p WHERE p.sha256 = v.sha256)
                 ORDER BY v.sha256",
            )
            .map_err(|e| self.e(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.e(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    pub fn has_manifest(&self, sha256: &str) -> Result<bool, DbError> {
        self.conn
            .query_row("SELECT 1 FROM packages WHERE sha256 = ?1", [sha256], |_| {
                Ok(())
            })
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.e(e))
    }

    /// Whether blob `sha256`'s package was read as a zip; `None` when it has not been read.
    /// (Without the file list `manifest` loads: `export` asks this once per function.)
    pub fn is_zip(&self, sha256: &str) -> Result<Option<bool>, DbError> {
        self.conn
            .prepare_cached("SELECT is_zip FROM packages WHERE sha256 = ?1")
            .and_then(|mut s| {
                s.query_row([sha256], |r| Ok(r.get::<_, i64>(0)? == 1))
                    .optional()
            })
            .map_err(|e| self.e(e))
    }

    /// [`Db::is_zip`] of each of `sha256s` that has been read, in one statement (`export`
    /// asks it for every function it writes).
    pub fn zip_flags(
        &self,
        sha256s: &[&str],
    ) -> Result<std::collections::HashMap<String, bool>, DbError> {
        // One JSON array parameter (`json_each`): no statement per hash, no SQL built by text.
        let list = serde_json::json!(sha256s).to_string();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT sha256, is_zip FROM packages
                 WHERE sha256 IN (SELECT value FROM json_each(?1))",
            )
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([list], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? == 1))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.e(e))?;
        Ok(rows)
    }

    /// [`Db::config_of_version`] of each of `version_ids` that has one, in one statement.
    pub fn configs_of_versions(
        &self,
        version_ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, super::VersionConfig>, DbError> {
        let list = serde_json::json!(version_ids).to_string();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT version_id, config_sha256, code_changed, config_changed, cloud_modified
                 FROM version_configs WHERE version_id IN (SELECT value FROM json_each(?1))",
            )
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([list], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    super::VersionConfig {
                        config_sha256: r.get(1)?,
                        code_changed: r.get(2)?,
                        config_changed: r.get(3)?,
                        cloud_modified: r.get(4)?,
                    },
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.e(e))?;
        Ok(rows)
    }

    /// Stores what the package of blob `sha256` is (replacing what was stored).
    pub fn save_manifest(&mut self, sha256: &str, package: &Package) -> Result<(), DbError> {
        let path = self.path.clone();
        let tx = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        tx.execute("DELETE FROM packages WHERE sha256 = ?1", [sha256])
            .map_err(|e| sqlite(&path, e))?;
        match package {
            Package::NotZip(reason) => {
                tx.execute(
                    "INSERT INTO packages (sha256, is_zip, error, entries) VALUES (?1, 0, ?2, 0)",
                    params![sha256, reason],
                )
                .map_err(|e| sqlite(&path, e))?;
            }
            Package::Zip(entries) => {
                tx.execute(
                    "INSERT INTO packages (sha256, is_zip, error, entries) VALUES (?1, 1, NULL, ?2)",
                    params![sha256, entries.len() as i64],
                )
                .map_err(|e| sqlite(&path, e))?;
                let mut stmt = tx
                    .prepare(
                        "INSERT INTO files (sha256, idx, path, size, crc32, is_dir)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(|e| sqlite(&path, e))?;
                for (i, e) in entries.iter().enumerate() {
                    stmt.execute(params![
                        sha256,
                        i as i64,
                        e.path,
                        e.size as i64,
                        e.crc32 as i64,
                        e.is_dir as i64
                    ])
                    .map_err(|e| sqlite(&path, e))?;
                }
            }
        }
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// The manifest of blob `sha256`, if it has been read.
    pub fn manifest(&self, sha256: &str) -> Result<Option<PackageInfo>, DbError> {
        let head: Option<(bool, Option<String>)> = self
            .conn
            .query_row(
                "SELECT is_zip, error FROM packages WHERE sha256 = ?1",
                [sha256],
                |r| Ok((r.get::<_, i64>(0)? == 1, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.e(e))?;
        let Some((is_zip, error)) = head else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT path, size, crc32, is_dir FROM files WHERE sha256 = ?1 ORDER BY idx",
            )
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([sha256], |r| {
                Ok(Entry {
                    path: r.get(0)?,
                    size: r.get::<_, i64>(1)?.max(0) as u64,
                    crc32: r.get::<_, i64>(2)? as u32,
                    is_dir: r.get::<_, i64>(3)? == 1,
                })
            })
            .map_err(|e| self.e(e))?;
        let files = rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.e(e))?;
        Ok(Some(PackageInfo {
            is_zip,
            error,
            files,
        }))
    }

    // --- prune -------------------------------------------------------------------------------

    /// Deletes these version rows, and the manifests of blobs no version references any more,
    /// in one transaction. Returns the blobs that became unreferenced.
    pub fn delete_versions(&mut self, ids: &[i64]) -> Result<Vec<String>, DbError> {
        let path = self.path.clone();
        let tx = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        let mut touched = HashSet::new();
        for id in ids {
            let sha: Option<String> = tx
                .query_row("SELECT sha256 FROM versions WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| sqlite(&path, e))?;
            if let Some(sha) = sha {
                touched.insert(sha);
            }
            // Its configuration document goes with it (ON DELETE CASCADE) and may be freed too.
            let config: Option<String> = tx
                .query_row(
                    "SELECT config_sha256 FROM version_configs WHERE version_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| sqlite(&path, e))?;
            if let Some(sha) = config {
                touched.insert(sha);
            }
            tx.execute("DELETE FROM versions WHERE id = ?1", [id])
                .map_err(|e| sqlite(&path, e))?;
        }
        let mut freed = Vec::new();
        for sha in touched {
            let still: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM versions WHERE sha256 = ?1)
                         OR EXISTS (SELECT 1 FROM version_configs WHERE config_sha256 = ?1)",
                    [&sha],
                    |r| r.get(0),
                )
                .map_err(|e| sqlite(&path, e))?;
            if !still {
                tx.execute("DELETE FROM files WHERE sha256 = ?1", [&sha])
                    .map_err(|e| sqlite(&path, e))?;
                tx.execute("DELETE FROM packages WHERE sha256 = ?1", [&sha])
                    .map_err(|e| sqlite(&path, e))?;
                freed.push(sha);
            }
        }
        tx.commit().map_err(|e| sqlite(&path, e))?;
        freed.sort();
        Ok(freed)
    }
}
