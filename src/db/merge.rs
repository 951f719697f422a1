//! Merging the histories an older fnvault kept under a function's latest alias (`name@$LATEST`
//! on SCF, `name@LATEST` on FC) into the function's canonical key (`name`): the database half
//! of `recovery::merge_latest_aliases`, which computes the merged history and journals it
//! first.

use rusqlite::params;

use super::{Db, DbError, UPSERT_FUNCTION, sqlite};
use crate::cloud::Target;

/// Version numbers are moved through this range, so `UNIQUE(function_id, version_no)` holds
/// at every step of the renumbering.
const MOVING: i64 = 1_000_000_000;

/// One version of a merged history, numbered in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedVersion {
    pub version_no: i64,
    /// The row it was, as (function key, version number), when the database has it; `None`
    /// for a version only the journal knew (it is inserted).
    pub was: Option<(String, i64)>,
    pub cloud_checksum: String,
    pub sha256: String,
    pub crc64: u64,
    pub size: u64,
    pub first_seen: String,
    pub last_seen: String,
}

impl Db {
    /// Makes `history` the versions of `canonical`, in one transaction: rows of the function
    /// under `canonical.key` and under each of `aliases` are renumbered in place (their ids and
    /// sweep ids kept) or inserted; rows of those keys `history` leaves out (pruned ones) are
    /// deleted; the alias function rows go, one function row remains under the canonical key
    /// (the canonical one if it exists, else an alias row renamed, so its status is kept).
    pub fn replace_merged_history(
        &mut self,
        canonical: &Target,
        aliases: &[String],
        history: &[MergedVersion],
        now: &str,
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        let e = |err| sqlite(&path, err);
        let tx = self.conn.savepoint().map_err(e)?;
        let id_of = |key: &str| -> Result<Option<i64>, DbError> {
            use rusqlite::OptionalExtension;
            tx.query_row("SELECT id FROM functions WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(e)
        };
        let mut alias_ids = Vec::new();
        for a in aliases {
            if let Some(id) = id_of(a)? {
                alias_ids.push((a.clone(), id));
            }
        }
        let keep = match id_of(&canonical.key)? {
            Some(id) => id,
            None => match alias_ids.first() {
                Some((_, id)) => {
                    tx.execute(
                        "UPDATE functions SET key = ?2, qualifier = ?3 WHERE id = ?1",
                        params![id, canonical.key, canonical.qualifier],
                    )
                    .map_err(e)?;
                    *id
                }
                None => {
                    tx.execute(
                        UPSERT_FUNCTION,
                        params![
                            canonical.key,
                            canonical.cloud.as_str(),
                            canonical.account,
                            canonical.region,
                            canonical.namespace,
                            canonical.name,
                            canonical.qualifier,
                            history.first().map_or(now, |v| v.first_seen.as_str())
                        ],
                    )
                    .map_err(e)?;
                    id_of(&canonical.key)?.ok_or_else(|| DbError::Other {
                        path: path.clone(),
                        message: format!("function {} was not inserted", canonical.key),
                    })?
                }
            },
        };
        let id_by_key = |key: &str| {
            if key == canonical.key {
                Some(keep)
            } else {
                alias_ids.iter().find(|(k, _)| k == key).map(|(_, id)| *id)
            }
        };
        let mut group: Vec<i64> = alias_ids.iter().map(|(_, id)| *id).collect();
        group.push(keep);
        // 1. Every kept row moves to the canonical function, numbered above MOVING.
        for v in history {
            let Some((key, old_no)) = &v.was else {
                continue;
            };
            let Some(from) = id_by_key(key) else {
                continue;
            };
            tx.execute(
                "UPDATE versions SET function_id = ?3, version_no = ?4
                 WHERE function_id = ?1 AND version_no = ?2",
                params![from, old_no, keep, MOVING + v.version_no],
            )
            .map_err(e)?;
        }
        // 2. What the merged history leaves out (pruned versions) goes.
        for id in &group {
            tx.execute(
                "DELETE FROM versions WHERE function_id = ?1 AND version_no < ?2",
                params![id, MOVING],
            )
            .map_err(e)?;
        }
        // 3. Versions only the journal knew are inserted.
        for v in history.iter().filter(|v| v.was.is_none()) {
            tx.execute(
                "INSERT INTO versions (function_id, version_no, cloud_checksum, sha256, crc64,
                                       size, first_seen, last_seen, sweep_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
                params![
                    keep,
                    MOVING + v.version_no,
                    v.cloud_checksum,
                    v.sha256,
                    v.crc64.to_string(),
                    v.size as i64,
                    v.first_seen,
                    v.last_seen
                ],
            )
            .map_err(e)?;
        }
        // 4. Final numbers, merged first/last seen, and the alias rows removed.
        tx.execute(
            "UPDATE versions SET version_no = version_no - ?2 WHERE function_id = ?1",
            params![keep, MOVING],
        )
        .map_err(e)?;
        for v in history {
            tx.execute(
                "UPDATE versions SET last_seen = MAX(last_seen, ?3)
                 WHERE function_id = ?1 AND version_no = ?2",
                params![keep, v.version_no, v.last_seen],
            )
            .map_err(e)?;
        }
        for (_, id) in alias_ids.iter().filter(|(_, id)| *id != keep) {
            tx.execute(
                "UPDATE functions SET first_seen = MIN(first_seen,
                        (SELECT first_seen FROM functions WHERE id = ?2))
                 WHERE id = ?1",
                params![keep, id],
            )
            .map_err(e)?;
            tx.execute("DELETE FROM functions WHERE id = ?1", [id])
                .map_err(e)?;
        }
        tx.commit().map_err(e)
    }
}
