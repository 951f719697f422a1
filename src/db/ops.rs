//! Read queries for operations: `status`, `--dry-run`, metrics and alerts.
//!
//! Part of `db` (the only module that speaks SQL); kept in its own file because these queries
//! only read, and so work on the read-only connection of `Db::open_read_only` while a daemon
//! writes.

use rusqlite::{OptionalExtension, params};

use super::{Db, DbError, LatestVersion, sqlite};
use crate::cloud::{Cloud, Target};

/// One row of `sweeps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRow {
    pub id: i64,
    pub started: String,
    /// `None` while running (or when the process died and no run has cleaned up yet).
    pub finished: Option<String>,
    pub trigger: String,
    /// `ok`, `failed` or `interrupted`; `None` while running.
    pub outcome: Option<String>,
    pub checked: i64,
    pub changed: i64,
    pub unchanged: i64,
    pub failed: i64,
    pub bytes: i64,
}

/// How one function has been doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionHealth {
    pub key: String,
    pub cloud: String,
    pub last_checked: Option<String>,
    /// Last time the archive was confirmed to hold what the cloud serves.
    pub last_success: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    /// Sweeps in a row that failed for it (0 when its last check succeeded).
    pub consecutive_failures: i64,
    pub failing_since: Option<String>,
}

impl FunctionHealth {
    /// A function no sweep has checked yet.
    pub fn never_checked(t: &Target) -> FunctionHealth {
        FunctionHealth {
            key: t.key.clone(),
            cloud: t.cloud.as_str().to_string(),
            last_checked: None,
            last_success: None,
            last_status: None,
            last_error: None,
            consecutive_failures: 0,
            failing_since: None,
        }
    }
}

/// What the archive holds, according to the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveTotals {
    pub functions: i64,
    pub versions: i64,
    /// Distinct packages (blobs).
    pub blobs: i64,
    /// Sum of the sizes of the distinct packages.
    pub blob_bytes: i64,
}

/// A function row [`Db::functions_needing_attention`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionRow {
    pub target: Target,
    pub gone_since: Option<String>,
    pub health: FunctionHealth,
}

/// Up to this many targets, `function_health` asks for each by key; beyond, it reads all rows.
const POINT_LOOKUPS: usize = 64;

/// A function row a sweep wrote (see [`Db::functions_touched_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchedFunction {
    pub target: Target,
    pub gone_since: Option<String>,
    pub last_success: Option<String>,
    pub consecutive_failures: i64,
}

const SWEEP_COLUMNS: &str =
    "id, started, finished, trigger, outcome, checked, changed, unchanged, failed, bytes";

fn sweep_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SweepRow> {
    Ok(SweepRow {
        id: r.get(0)?,
        started: r.get(1)?,
        finished: r.get(2)?,
        trigger: r.get(3)?,
        outcome: r.get(4)?,
        checked: r.get(5)?,
        changed: r.get(6)?,
        unchanged: r.get(7)?,
        failed: r.get(8)?,
        bytes: r.get(9)?,
    })
}

impl Db {
    /// The newest `limit` sweeps, newest first.
    pub fn recent_sweeps(&self, limit: usize) -> Result<Vec<SweepRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {SWEEP_COLUMNS} FROM sweeps ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([limit as i64], sweep_row)
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    pub fn sweep(&self, id: i64) -> Result<Option<SweepRow>, DbError> {
        self.conn
            .query_row(
                &format!("SELECT {SWEEP_COLUMNS} FROM sweeps WHERE id = ?1"),
                [id],
                sweep_row,
            )
            .optional()
            .map_err(|e| self.e(e))
    }

    /// When the newest sweep with outcome `ok` finished.
    pub fn last_ok_sweep_finished(&self) -> Result<Option<String>, DbError> {
        self.conn
            .query_row(
                "SELECT finished FROM sweeps WHERE outcome = 'ok' ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.e(e))
    }

    /// The health of each of `targets`, in their order; a function never swept has no checks.
    /// A few targets are point lookups; many (the metrics' start, `status`) are one pass over
    /// `functions` instead of one query each.
    pub fn function_health(&self, targets: &[Target]) -> Result<Vec<FunctionHealth>, DbError> {
        const COLUMNS: &str = "last_checked, last_success, last_status, last_error,
                               consecutive_failures, failing_since";
        type Row = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            Option<String>,
        );
        let read = |r: &rusqlite::Row<'_>, at: usize| -> rusqlite::Result<Row> {
            Ok((
                r.get(at)?,
                r.get(at + 1)?,
                r.get(at + 2)?,
                r.get(at + 3)?,
                r.get(at + 4)?,
                r.get(at + 5)?,
            ))
        };
        let health = |t: &Target, row: Option<Row>| match row {
            Some((last_checked, last_success, last_status, last_error, failures, since)) => {
                FunctionHealth {
                    key: t.key.clone(),
                    cloud: t.cloud.as_str().to_string(),
                    last_checked,
                    last_success,
                    last_status,
                    last_error,
                    consecutive_failures: failures,
                    failing_since: since,
                }
            }
            None => FunctionHealth::never_checked(t),
        };
        if targets.len() <= POINT_LOOKUPS {
            let mut stmt = self
                .conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM functions WHERE key = ?1"))
                .map_err(|e| self.e(e))?;
            let mut out = Vec::with_capacity(targets.len());
            for t in targets {
                let row = stmt
                    .query_row([&t.key], |r| read(r, 0))
                    .optional()
                    .map_err(|e| sqlite(&self.path, e))?;
                out.push(health(t, row));
            }
            return Ok(out);
        }
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT key, {COLUMNS} FROM functions"))
            .map_err(|e| self.e(e))?;
        let mut by_key: std::collections::HashMap<String, Row> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, read(r, 1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(targets
            .iter()
            .map(|t| health(t, by_key.remove(&t.key)))
            .collect())
    }

    /// The functions that may need attention: failing, gone, never confirmed archived, or
    /// last confirmed at or before `confirmed_by` (an RFC 3339 time in the stored format),
    /// by key, each with its health and `gone_since`. What `status` lists is among these, so
    /// it reads them instead of every function: each kind is a range of one of migration
    /// 0013's indexes, and a healthy fleet of 100,000 reads no row at all.
    pub fn functions_needing_attention(
        &self,
        confirmed_by: &str,
    ) -> Result<Vec<AttentionRow>, DbError> {
        // One SELECT per index (a partial index serves only a query that names its
        // condition); the union removes the rows two of them find.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT cloud, account, region, namespace, name, qualifier, gone_since,
                        last_checked, last_success, last_status, last_error,
                        consecutive_failures, failing_since
                 FROM functions WHERE id IN (
                     SELECT id FROM functions WHERE last_status = 'failed'
                     UNION SELECT id FROM functions WHERE gone_since IS NOT NULL
                     UNION SELECT id FROM functions WHERE last_success IS NULL
                     UNION SELECT id FROM functions WHERE last_success <= ?1)
                 ORDER BY key",
            )
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([confirmed_by], |r| {
                Ok((
                    [
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ],
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    FunctionHealth {
                        // Filled in below from the row's own columns.
                        key: String::new(),
                        cloud: String::new(),
                        last_checked: r.get(7)?,
                        last_success: r.get(8)?,
                        last_status: r.get(9)?,
                        last_error: r.get(10)?,
                        consecutive_failures: r.get(11)?,
                        failing_since: r.get(12)?,
                    },
                ))
            })
            .map_err(|e| self.e(e))?;
        let mut out = Vec::new();
        for row in rows {
            let ([cloud, account, region, namespace, name], qualifier, gone_since, mut health) =
                row.map_err(|e| self.e(e))?;
            let Some(target) = super::stored_target(
                &cloud,
                &account,
                &region,
                &namespace,
                &name,
                qualifier.as_deref(),
            ) else {
                continue;
            };
            health.key = target.key.clone();
            health.cloud = target.cloud.as_str().to_string();
            out.push(AttentionRow {
                target,
                gone_since,
                health,
            });
        }
        Ok(out)
    }

    /// The functions whose status or `gone_since` a sweep that started at `since` wrote:
    /// checked at or after it, or found gone at or after it; for the metrics to follow what a
    /// sweep recorded without re-reading every function at each scrape.
    pub fn functions_touched_since(&self, since: &str) -> Result<Vec<TouchedFunction>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT cloud, account, region, namespace, name, qualifier, gone_since,
                        last_success, consecutive_failures
                 FROM functions WHERE last_checked >= ?1 OR gone_since >= ?1",
            )
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([since], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    TouchedFunction {
                        // Replaced below; the row's own columns make the target.
                        target: Target::as_named(Cloud::Tencent, "", "", "", "", None),
                        gone_since: r.get(6)?,
                        last_success: r.get(7)?,
                        consecutive_failures: r.get(8)?,
                    },
                ))
            })
            .map_err(|e| self.e(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (cloud, account, region, namespace, name, qualifier, mut f) =
                row.map_err(|e| self.e(e))?;
            let Some(target) = super::stored_target(
                &cloud,
                &account,
                &region,
                &namespace,
                &name,
                qualifier.as_deref(),
            ) else {
                continue;
            };
            f.target = target;
            out.push(f);
        }
        Ok(out)
    }

    /// Counts over every function ever archived (not only the configured ones): one row,
    /// kept current by triggers (migration 0006), not an aggregation over every version.
    pub fn archive_totals(&self) -> Result<ArchiveTotals, DbError> {
        self.conn
            .query_row(
                "SELECT functions, versions, blobs, blob_bytes FROM archive_totals WHERE id = 1",
                [],
                |r| {
                    Ok(ArchiveTotals {
                        functions: r.get(0)?,
                        versions: r.get(1)?,
                        blobs: r.get(2)?,
                        blob_bytes: r.get(3)?,
                    })
                },
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(|e| self.e(e))
    }

    /// [`Db::archive_totals`] computed from the rows themselves (what the triggers must agree
    /// with); for tests and checks, it reads every version.
    pub fn archive_totals_counted(&self) -> Result<ArchiveTotals, DbError> {
        self.conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM functions),
                        (SELECT COUNT(*) FROM versions),
                        COUNT(*), COALESCE(SUM(size), 0)
                 FROM (SELECT sha256, MAX(size) AS size FROM versions GROUP BY sha256)",
                [],
                |r| {
                    Ok(ArchiveTotals {
                        functions: r.get(0)?,
                        versions: r.get(1)?,
                        blobs: r.get(2)?,
                        blob_bytes: r.get(3)?,
                    })
                },
            )
            .map_err(|e| self.e(e))
    }

    /// The newest version of the function with canonical key `key`, if it has one.
    pub fn latest_version_by_key(&self, key: &str) -> Result<Option<LatestVersion>, DbError> {
        self.conn
            .query_row(
                "SELECT v.id, v.version_no, v.cloud_checksum, v.sha256, v.last_seen
                 FROM versions v JOIN functions f ON f.id = v.function_id
                 WHERE f.key = ?1 ORDER BY v.version_no DESC LIMIT 1",
                params![key],
                super::latest_from_row,
            )
            .optional()
            .map_err(|e| self.e(e))
    }
}

#[cfg(test)]
mod tests {
    use crate::cloud::{Cloud, Target};
    use crate::db::{Db, NewVersion};

    fn target(name: &str) -> Target {
        Target::new(Cloud::Tencent, "tc", "ap-guangzhou", "default", name, None)
    }

    fn version(sha: char, size: u64) -> NewVersion {
        NewVersion {
            cloud_checksum: sha.to_string().repeat(64),
            sha256: sha.to_string().repeat(64),
            crc64: 1,
            size,
        }
    }

    #[test]
    fn failures_in_a_row_are_counted_from_the_first_and_reset_by_a_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        let id = db.upsert_function(&target("f"), "t0").unwrap();
        db.record_failure(id, "boom", "t1").unwrap();
        db.record_failure(id, "boom again", "t2").unwrap();
        let h = &db.function_health(&[target("f")]).unwrap()[0];
        assert_eq!(h.consecutive_failures, 2);
        assert_eq!(h.failing_since.as_deref(), Some("t1"));
        assert_eq!(h.last_error.as_deref(), Some("boom again"));

        db.record_journaled_version(id, 1, &version('a', 5), None, "t3")
            .unwrap();
        let h = &db.function_health(&[target("f")]).unwrap()[0];
        assert_eq!((h.consecutive_failures, h.failing_since.clone()), (0, None));

        db.record_failure(id, "again", "t4").unwrap();
        let h = &db.function_health(&[target("f")]).unwrap()[0];
        assert_eq!(h.consecutive_failures, 1);
        assert_eq!(h.failing_since.as_deref(), Some("t4"));
    }

    #[test]
    fn totals_count_a_package_shared_by_two_functions_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        let f = db.upsert_function(&target("f"), "t0").unwrap();
        let g = db.upsert_function(&target("g"), "t0").unwrap();
        db.record_journaled_version(f, 1, &version('a', 100), None, "t1")
            .unwrap();
        db.record_journaled_version(g, 1, &version('a', 100), None, "t1")
            .unwrap();
        db.record_journaled_version(g, 2, &version('b', 7), None, "t2")
            .unwrap();
        let t = db.archive_totals().unwrap();
        assert_eq!(
            (t.functions, t.versions, t.blobs, t.blob_bytes),
            (2, 3, 2, 107)
        );
        assert_eq!(
            db.latest_version_by_key(&target("g").key)
                .unwrap()
                .unwrap()
                .version_no,
            2
        );
        assert_eq!(db.latest_version_by_key("nope").unwrap(), None);
    }

    #[test]
    fn recent_sweeps_come_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        let a = db.start_sweep("sync", "t0").unwrap();
        db.finish_sweep(a, "ok", Default::default(), "t1").unwrap();
        let b = db.start_sweep("daemon", "t2").unwrap();
        let rows = db.recent_sweeps(10).unwrap();
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![b, a]);
        assert_eq!(rows[1].outcome.as_deref(), Some("ok"));
        assert_eq!(db.last_ok_sweep_finished().unwrap().as_deref(), Some("t1"));
        assert_eq!(db.sweep(b).unwrap().unwrap().finished, None);
    }
}
