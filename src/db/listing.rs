//! Queries of list-based change detection (issue 16): what each function's last full check
//! saw in its cloud's listing (`listing_checks`, migration 0011), and the record of a check
//! made by the listing alone.

use std::collections::HashMap;

use rusqlite::params;

use super::{Db, DbError, sqlite};
use crate::cloud::listed::Hint;

/// What a function's last full check saw in the listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingCheck {
    pub fingerprint: Option<String>,
    /// The full check before it saw the same fingerprint (or the cloud's listing does not
    /// need that confirmation): the listing alone may vouch for the function.
    pub settled: bool,
    pub modified: Option<String>,
    pub code_checksum: Option<String>,
    pub code_size: Option<u64>,
    pub last_full_check: Option<String>,
}

/// How the functions (not gone) were last checked, for `status` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FullCheckSummary {
    /// Last checked by the listing alone.
    pub by_listing: i64,
    /// Last checked by a full check.
    pub full: i64,
    /// No full check recorded since migration 0011 (their next check is a full one).
    pub never: i64,
    /// The oldest `last_full_check` among them.
    pub oldest_full_check: Option<String>,
}

impl Db {
    /// How every function that is not gone was last checked. Counted over migration 0013's
    /// indexes: every check by kind, less the gone functions' (usually none); the oldest
    /// full check is the first entry of its index that is not a gone function's. At 100,000
    /// functions that is about 10 ms instead of a join of every function with its check.
    /// `CROSS JOIN` makes SQLite start from the gone functions (its planner otherwise walks
    /// every check and looks up its function: 100 ms).
    pub fn full_check_summary(&self) -> Result<FullCheckSummary, DbError> {
        let counts = self
            .conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM listing_checks WHERE last_check_kind = 'listing'),
                        (SELECT COUNT(*) FROM listing_checks WHERE last_check_kind = 'full'),
                        (SELECT COUNT(*) FROM listing_checks),
                        (SELECT COUNT(*) FROM functions),
                        (SELECT COUNT(*) FROM functions WHERE gone_since IS NOT NULL),
                        (SELECT COUNT(*) FROM functions f
                         CROSS JOIN listing_checks c ON c.function_id = f.id
                         WHERE f.gone_since IS NOT NULL AND c.last_check_kind = 'listing'),
                        (SELECT COUNT(*) FROM functions f
                         CROSS JOIN listing_checks c ON c.function_id = f.id
                         WHERE f.gone_since IS NOT NULL AND c.last_check_kind = 'full'),
                        (SELECT COUNT(*) FROM functions f
                         CROSS JOIN listing_checks c ON c.function_id = f.id
                         WHERE f.gone_since IS NOT NULL),
                        (SELECT c.last_full_check FROM listing_checks c
                         WHERE c.last_full_check IS NOT NULL
                           AND NOT EXISTS (SELECT 1 FROM functions f
                                           WHERE f.id = c.function_id
                                             AND f.gone_since IS NOT NULL)
                         ORDER BY c.last_full_check LIMIT 1)",
                [],
                |r| {
                    Ok((
                        [
                            r.get::<_, i64>(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                        ],
                        r.get::<_, Option<String>>(8)?,
                    ))
                },
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let (
            [
                listing,
                full,
                checked,
                functions,
                gone,
                gone_listing,
                gone_full,
                gone_checked,
            ],
            oldest,
        ) = counts;
        Ok(FullCheckSummary {
            by_listing: listing - gone_listing,
            full: full - gone_full,
            // `listing_checks` rows all belong to a function (ON DELETE CASCADE).
            never: (functions - gone) - (checked - gone_checked),
            oldest_full_check: oldest,
        })
    }

    /// [`Db::full_check_summary`] by one join of every function with its check (what the
    /// indexed counts must agree with); for tests.
    pub fn full_check_summary_counted(&self) -> Result<FullCheckSummary, DbError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(c.last_check_kind = 'listing'), 0),
                        COALESCE(SUM(c.last_check_kind = 'full'), 0),
                        COALESCE(SUM(c.function_id IS NULL), 0),
                        MIN(c.last_full_check)
                 FROM functions f LEFT JOIN listing_checks c ON c.function_id = f.id
                 WHERE f.gone_since IS NULL",
                [],
                |r| {
                    Ok(FullCheckSummary {
                        by_listing: r.get(0)?,
                        full: r.get(1)?,
                        never: r.get(2)?,
                        oldest_full_check: r.get(3)?,
                    })
                },
            )
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Each function's last full check, by key (only those that had one).
    pub fn last_full_checks(&self) -> Result<HashMap<String, String>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.key, c.last_full_check FROM listing_checks c
                 JOIN functions f ON f.id = c.function_id
                 WHERE c.last_full_check IS NOT NULL",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<HashMap<_, _>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Each explicit scope's last listing: pages and when (`scope_listings`).
    pub fn scope_listings(&self) -> Result<HashMap<String, (usize, String)>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT scope, pages, listed_at FROM scope_listings")
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    (r.get::<_, i64>(1)?.max(0) as usize, r.get::<_, String>(2)?),
                ))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<HashMap<_, _>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Records what listing `scope` took (see `scope_listings`).
    pub fn record_scope_listing(
        &mut self,
        scope: &str,
        pages: usize,
        now: &str,
    ) -> Result<(), DbError> {
        self.conn
            .prepare_cached(
                "INSERT INTO scope_listings (scope, pages, listed_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (scope) DO UPDATE SET pages = excluded.pages,
                     listed_at = excluded.listed_at",
            )
            .and_then(|mut s| s.execute(params![scope, pages.min(i64::MAX as usize) as i64, now]))
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(())
    }

    /// Every function's listing check, by function id: one pass, read once per sweep.
    pub fn listing_checks(&self) -> Result<HashMap<i64, ListingCheck>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT function_id, fingerprint, settled, modified, code_checksum, code_size,
                        last_full_check
                 FROM listing_checks",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    ListingCheck {
                        fingerprint: r.get(1)?,
                        settled: r.get::<_, i64>(2)? != 0,
                        modified: r.get(3)?,
                        code_checksum: r.get(4)?,
                        code_size: r.get::<_, Option<i64>>(5)?.map(|n| n.max(0) as u64),
                        last_full_check: r.get(6)?,
                    },
                ))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<HashMap<_, _>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// A full check of the function succeeded, having seen `hint` in this sweep's listing
    /// (`None`: no hint, so the next sweep makes a full check too). `settle_at_once`: the
    /// cloud's listing shows every change that matters without a second look (FC: the
    /// package by its checksum, the configuration by its fields); otherwise a changed
    /// fingerprint is confirmed by the next full check first.
    pub fn record_full_check(
        &mut self,
        function_id: i64,
        hint: Option<&Hint>,
        settle_at_once: bool,
        now: &str,
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        self.conn
            .prepare_cached(
                "INSERT INTO listing_checks (function_id, fingerprint, settled, modified,
                     code_checksum, code_size, last_full_check, last_check_kind)
                 VALUES (?1, ?2, ?7 AND ?2 IS NOT NULL, ?3, ?4, ?5, ?6, 'full')
                 ON CONFLICT (function_id) DO UPDATE SET
                     settled = excluded.fingerprint IS NOT NULL
                               AND (?7 OR listing_checks.fingerprint IS excluded.fingerprint),
                     fingerprint = excluded.fingerprint,
                     modified = excluded.modified,
                     code_checksum = excluded.code_checksum,
                     code_size = excluded.code_size,
                     last_full_check = excluded.last_full_check,
                     last_check_kind = 'full'",
            )
            .and_then(|mut s| {
                s.execute(params![
                    function_id,
                    hint.map(|h| &h.fingerprint),
                    hint.map(|h| &h.modified),
                    hint.and_then(|h| h.code_checksum.as_ref()),
                    hint.and_then(|h| h.code_size)
                        .map(|n| n.min(i64::MAX as u64) as i64),
                    now,
                    settle_at_once,
                ])
            })
            .map_err(|e| sqlite(&path, e))?;
        Ok(())
    }

    /// The listing vouched for these functions (function id, its latest version's id): each
    /// latest version is still live, checked now without a call of its own. Set-based
    /// statements in one savepoint, so a sweep's listing-checked functions cost one commit.
    pub fn record_listing_checks(
        &mut self,
        checked: &[(i64, i64)],
        now: &str,
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        let sp = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        sp.prepare_cached(
            "UPDATE listing_checks SET last_check_kind = 'listing'
             WHERE function_id IN (SELECT value FROM json_each(?1))
               AND last_check_kind IS NOT 'listing'",
        )
        .and_then(|mut s| s.execute([super::id_array(checked.iter().map(|c| c.0))]))
        .map_err(|e| sqlite(&path, e))?;
        super::set_unchanged(&sp, &path, checked, now)?;
        sp.commit().map_err(|e| sqlite(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(fp: &str) -> Hint {
        Hint {
            fingerprint: fp.into(),
            modified: "m".into(),
            code_checksum: Some("1".into()),
            code_size: Some(2),
        }
    }

    #[test]
    fn a_changed_fingerprint_settles_only_when_seen_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("t.db")).unwrap();
        let t = crate::cloud::Target::new(
            crate::cloud::Cloud::Tencent,
            "tc",
            "ap-guangzhou",
            "default",
            "f",
            None,
        );
        let (id, _) = db
            .prepare_targets(&[t], "2026-01-01T00:00:00.000Z")
            .unwrap()[0]
            .clone();
        db.record_full_check(id, Some(&hint("a")), false, "t1")
            .unwrap();
        assert!(!db.listing_checks().unwrap()[&id].settled);
        db.record_full_check(id, Some(&hint("a")), false, "t2")
            .unwrap();
        let c = &db.listing_checks().unwrap()[&id];
        assert!(c.settled);
        assert_eq!(c.last_full_check.as_deref(), Some("t2"));
        assert_eq!(c.code_size, Some(2));
        db.record_full_check(id, Some(&hint("b")), false, "t3")
            .unwrap();
        assert!(!db.listing_checks().unwrap()[&id].settled);
        // FC: settled at once; no hint never settles.
        db.record_full_check(id, Some(&hint("c")), true, "t4")
            .unwrap();
        assert!(db.listing_checks().unwrap()[&id].settled);
        db.record_full_check(id, None, true, "t5").unwrap();
        assert!(!db.listing_checks().unwrap()[&id].settled);
        let s = db.full_check_summary().unwrap();
        assert_eq!((s.by_listing, s.full, s.never), (0, 1, 0));
        assert_eq!(s.oldest_full_check.as_deref(), Some("t5"));
    }

    /// Issue 16: the summary counted over indexes is the one the join of every function
    /// with its check gives, with gone functions (checked by either kind, or not) left out,
    /// functions never fully checked, and a deleted function's check gone with it.
    #[test]
    fn the_indexed_summary_equals_the_full_recount() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("t.db")).unwrap();
        let targets: Vec<crate::cloud::Target> = ["a", "b", "c", "d", "e", "f", "g"]
            .iter()
            .map(|n| {
                crate::cloud::Target::new(
                    crate::cloud::Cloud::Tencent,
                    "tc",
                    "ap-guangzhou",
                    "default",
                    n,
                    None,
                )
            })
            .collect();
        let ids: Vec<i64> = db
            .prepare_targets(&targets, "2026-01-01T00:00:00.000Z")
            .unwrap()
            .iter()
            .map(|(id, _)| *id)
            .collect();
        let check = |db: &Db| {
            let s = db.full_check_summary().unwrap();
            assert_eq!(s, db.full_check_summary_counted().unwrap());
            s
        };
        assert_eq!(check(&db).never, 7);
        // a: full; b, e: listing (full first); d: full; g: full, then deleted.
        for (i, t) in [(0, "t3"), (1, "t1"), (3, "t0"), (4, "t2"), (6, "t4")] {
            db.record_full_check(ids[i], Some(&hint("x")), true, t)
                .unwrap();
        }
        for i in [1, 4] {
            db.conn
                .execute(
                    "UPDATE listing_checks SET last_check_kind = 'listing' WHERE function_id = ?1",
                    [ids[i]],
                )
                .unwrap();
        }
        let s = check(&db);
        assert_eq!((s.by_listing, s.full, s.never), (2, 3, 2));
        assert_eq!(s.oldest_full_check.as_deref(), Some("t0"));
        // d, e, f gone: their checks no longer count, nor d's oldest full check.
        for i in [3, 4, 5] {
            db.mark_gone(ids[i], "t5").unwrap();
        }
        let s = check(&db);
        assert_eq!((s.by_listing, s.full, s.never), (1, 2, 1));
        assert_eq!(s.oldest_full_check.as_deref(), Some("t1"));
        db.conn
            .execute("DELETE FROM functions WHERE id = ?1", [ids[6]])
            .unwrap();
        let s = check(&db);
        assert_eq!((s.by_listing, s.full, s.never), (1, 1, 1));
        // Back from gone: counted again.
        db.conn
            .execute(
                "UPDATE functions SET gone_since = NULL WHERE id = ?1",
                [ids[3]],
            )
            .unwrap();
        let s = check(&db);
        assert_eq!((s.by_listing, s.full, s.never), (1, 2, 1));
        assert_eq!(s.oldest_full_check.as_deref(), Some("t0"));
    }
}
