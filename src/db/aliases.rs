//! Published versions' listing records and alias histories (issue 14, migration 0010).
//!
//! An alias's history is a run of states, each with the time a sweep first saw it (`from`)
//! and the time a sweep saw the next one (`to`; `None` for the current state). A change closes
//! the current row and opens a new one in one savepoint; a deleted alias is a state with no
//! versions and `deleted`.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Db, DbError, sqlite};

/// One state of one alias.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasState {
    pub function_key: String,
    pub alias: String,
    /// (version, weight), sorted by version.
    pub versions: Vec<(String, f64)>,
    pub deleted: bool,
    pub cloud_modified: Option<String>,
    pub from: String,
    pub to: Option<String>,
}

impl AliasState {
    /// Whether `other` routes the same way (the cloud's modified time alone is no change).
    pub fn same_routing(&self, versions: &[(String, f64)], deleted: bool) -> bool {
        self.deleted == deleted && self.versions == versions
    }
}

/// A function row of a published version (`<function key>@<digits>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRow {
    pub id: i64,
    pub version: String,
    pub gone_since: Option<String>,
    /// Whether it has an archived version (a failed first archive leaves a row without).
    pub archived: bool,
}

#[derive(Serialize, Deserialize)]
struct WeightJson {
    version: String,
    weight: f64,
}

fn versions_json(versions: &[(String, f64)]) -> String {
    let list: Vec<WeightJson> = versions
        .iter()
        .map(|(v, w)| WeightJson {
            version: v.clone(),
            weight: *w,
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_string())
}

const COLUMNS: &str = "function_key, alias, versions, deleted, cloud_modified, from_time, to_time";

fn state_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AliasState> {
    let text: String = r.get(2)?;
    let versions: Vec<WeightJson> = serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(AliasState {
        function_key: r.get(0)?,
        alias: r.get(1)?,
        versions: versions
            .into_iter()
            .map(|w| (w.version, w.weight))
            .collect(),
        deleted: r.get::<_, i64>(3)? != 0,
        cloud_modified: r.get(4)?,
        from: r.get(5)?,
        to: r.get(6)?,
    })
}

impl Db {
    /// The current state of every alias of `function_key` (deleted ones included).
    pub fn current_aliases(&self, function_key: &str) -> Result<Vec<AliasState>, DbError> {
        self.alias_query(
            &format!(
                "SELECT {COLUMNS} FROM alias_states WHERE function_key = ?1 AND to_time IS NULL
                 ORDER BY alias"
            ),
            params![function_key],
        )
    }

    /// Every state of every alias of `function_key`, by alias, oldest first.
    pub fn alias_history(&self, function_key: &str) -> Result<Vec<AliasState>, DbError> {
        self.alias_query(
            &format!(
                "SELECT {COLUMNS} FROM alias_states WHERE function_key = ?1
                 ORDER BY alias, from_time, id"
            ),
            params![function_key],
        )
    }

    /// The state of `alias` at `time` (RFC 3339 UTC): the one that began at or before it and
    /// had not ended by then. `None`: the alias was not known then.
    pub fn alias_at(
        &self,
        function_key: &str,
        alias: &str,
        time: &str,
    ) -> Result<Option<AliasState>, DbError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alias_states
                 WHERE function_key = ?1 AND alias = ?2 AND from_time <= ?3
                   AND (to_time IS NULL OR to_time > ?3)
                 ORDER BY from_time DESC, id DESC LIMIT 1"
            ))
            .and_then(|mut s| {
                s.query_row(params![function_key, alias, time], state_from_row)
                    .optional()
            })
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Every alias state, as [`Db::replace_alias_states`] takes them (by function, alias, time).
    pub fn all_alias_states(&self) -> Result<Vec<AliasState>, DbError> {
        self.alias_query(
            &format!(
                "SELECT {COLUMNS} FROM alias_states ORDER BY function_key, alias, from_time, id"
            ),
            [],
        )
    }

    /// The names of the aliases recorded for `function_key`, sorted.
    pub fn alias_names(&self, function_key: &str) -> Result<Vec<String>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT alias FROM alias_states WHERE function_key = ?1 ORDER BY alias",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([function_key], |r| r.get(0))
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// The functions (without qualifier) that have alias history, by key.
    pub fn alias_function_keys(&self) -> Result<Vec<String>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT function_key FROM alias_states ORDER BY function_key")
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    fn alias_query(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<AliasState>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map(args, state_from_row)
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Records that a sweep at `now` saw `alias` in this state. A state equal to the current
    /// one changes nothing (`false`); a different one closes the current row at `now` and
    /// opens a new one, in one savepoint (`true`).
    pub fn record_alias_state(
        &mut self,
        function_key: &str,
        alias: &str,
        versions: &[(String, f64)],
        deleted: bool,
        cloud_modified: Option<&str>,
        now: &str,
    ) -> Result<bool, DbError> {
        let path = self.path.clone();
        let sp = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        let current = sp
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM alias_states
                     WHERE function_key = ?1 AND alias = ?2 AND to_time IS NULL"
                ),
                params![function_key, alias],
                state_from_row,
            )
            .optional()
            .map_err(|e| sqlite(&path, e))?;
        if let Some(c) = &current {
            if c.same_routing(versions, deleted) {
                return Ok(false);
            }
            sp.execute(
                "UPDATE alias_states SET to_time = ?3
                 WHERE function_key = ?1 AND alias = ?2 AND to_time IS NULL",
                params![function_key, alias, now],
            )
            .map_err(|e| sqlite(&path, e))?;
        } else if deleted {
            // Deleted before fnvault ever saw it: nothing to record.
            return Ok(false);
        }
        sp.execute(
            "INSERT INTO alias_states
             (function_key, alias, versions, deleted, cloud_modified, from_time, to_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
            params![
                function_key,
                alias,
                versions_json(versions),
                deleted as i64,
                cloud_modified,
                now
            ],
        )
        .map_err(|e| sqlite(&path, e))?;
        sp.commit().map_err(|e| sqlite(&path, e))?;
        Ok(true)
    }

    /// Replaces every alias state with `states` (a rebuild from the alias journal, which is
    /// the authority), in one savepoint.
    pub fn replace_alias_states(&mut self, states: &[AliasState]) -> Result<(), DbError> {
        let path = self.path.clone();
        let sp = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        sp.execute("DELETE FROM alias_states", [])
            .map_err(|e| sqlite(&path, e))?;
        {
            let mut insert = sp
                .prepare_cached(
                    "INSERT INTO alias_states
                     (function_key, alias, versions, deleted, cloud_modified, from_time, to_time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| sqlite(&path, e))?;
            for s in states {
                insert
                    .execute(params![
                        s.function_key,
                        s.alias,
                        versions_json(&s.versions),
                        s.deleted as i64,
                        s.cloud_modified,
                        s.from,
                        s.to
                    ])
                    .map_err(|e| sqlite(&path, e))?;
            }
        }
        sp.commit().map_err(|e| sqlite(&path, e))
    }

    /// What the last version listing said of each published version of `function_key`
    /// (version → (listed modified time, the function is absent from that version)).
    pub fn published_versions(
        &self,
        function_key: &str,
    ) -> Result<HashMap<String, (Option<String>, bool)>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT version, listed_modified, absent FROM published_versions
                 WHERE function_key = ?1",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([function_key], |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get::<_, i64>(2)? != 0)))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// The archived published versions of `function_key`: the rows keyed
    /// `<function_key>@<digits>`.
    pub fn published_rows(&self, function_key: &str) -> Result<Vec<PublishedRow>, DbError> {
        // A range on the key's unique index: every key that starts with `<key>@` sorts
        // after it and before `<key>A` (`A` follows `@`), so this reads only those rows.
        let (low, high) = (format!("{function_key}@"), format!("{function_key}A"));
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.id, f.qualifier, f.gone_since,
                        EXISTS (SELECT 1 FROM versions v WHERE v.function_id = f.id)
                 FROM functions f
                 WHERE f.key > ?1 AND f.key < ?2 AND f.qualifier IS NOT NULL",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([&low, &high], |r| {
                Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        let all: Vec<(i64, String, Option<String>, bool)> = rows
            .collect::<Result<_, _>>()
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(all
            .into_iter()
            .filter(|(_, q, _, _)| crate::cloud::versions::valid_version(q))
            .map(|(id, version, gone_since, archived)| PublishedRow {
                id,
                version,
                gone_since,
                archived,
            })
            .collect())
    }

    /// Notes that version `version` of `function_key` is archived as listed (`modified`), or
    /// (`absent`) that the function is not in that version.
    pub fn note_published(
        &mut self,
        function_key: &str,
        version: &str,
        modified: Option<&str>,
        absent: bool,
        now: &str,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO published_versions
                 (function_key, version, listed_modified, absent, first_listed, last_listed)
                 VALUES (?1, ?2, ?3, ?5, ?4, ?4)
                 ON CONFLICT (function_key, version)
                 DO UPDATE SET listed_modified = ?3, absent = ?5, last_listed = ?4",
                params![function_key, version, modified, now, absent as i64],
            )
            .map(|_| ())
            .map_err(|e| sqlite(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        (dir, db)
    }

    #[test]
    fn a_change_closes_the_current_state_and_an_equal_one_changes_nothing() {
        let (_d, mut db) = db();
        let one = vec![("1".to_string(), 1.0)];
        let split = vec![("2".to_string(), 0.9), ("3".to_string(), 0.1)];
        let t = |s: &str| format!("2026-03-0{s}T00:00:00.000Z");
        assert!(
            db.record_alias_state("k", "prod", &one, false, None, &t("1"))
                .unwrap()
        );
        assert!(
            !db.record_alias_state("k", "prod", &one, false, Some("x"), &t("2"))
                .unwrap()
        );
        assert!(
            db.record_alias_state("k", "prod", &split, false, None, &t("3"))
                .unwrap()
        );
        assert!(
            db.record_alias_state("k", "prod", &[], true, None, &t("5"))
                .unwrap()
        );
        // Deleted before it was ever seen: nothing.
        assert!(
            !db.record_alias_state("k", "gone", &[], true, None, &t("5"))
                .unwrap()
        );
        let h = db.alias_history("k").unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(
            (h[0].from.as_str(), h[0].to.as_deref()),
            (t("1").as_str(), Some(t("3").as_str()))
        );
        assert_eq!(h[1].versions, split);
        assert!(h[2].deleted && h[2].to.is_none());
        assert_eq!(
            db.alias_at("k", "prod", &t("2")).unwrap().unwrap().versions,
            one
        );
        assert_eq!(
            db.alias_at("k", "prod", &t("4")).unwrap().unwrap().versions,
            split
        );
        assert!(
            db.alias_at("k", "prod", "2026-02-01T00:00:00.000Z")
                .unwrap()
                .is_none()
        );
        assert_eq!(db.current_aliases("k").unwrap().len(), 1);
        db.replace_alias_states(&h[..2]).unwrap();
        assert_eq!(db.alias_history("k").unwrap(), h[..2].to_vec());
    }

    /// Issue 14: a database of the schema before migration 0010 upgrades in place: its
    /// functions and versions stay as they were, and alias histories can be recorded.
    #[test]
    fn a_database_from_before_0010_upgrades_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let before = crate::db::schema_version() - 1;
        {
            let mut conn = rusqlite::Connection::open(&path).unwrap();
            crate::db::migrations()
                .to_version(&mut conn, before)
                .unwrap();
            conn.execute(
                "INSERT INTO functions (key, cloud, account, region, namespace, name, first_seen)
                 VALUES ('tc/r/ns/f', 'tencent', 'tc', 'r', 'ns', 'f', 't0')",
                [],
            )
            .unwrap();
            let id = conn.last_insert_rowid();
            conn.execute(
                "INSERT INTO versions (function_id, version_no, cloud_checksum, sha256, crc64,
                                       size, first_seen, last_seen)
                 VALUES (?1, 1, 'c', ?2, '0', 10, 't0', 't1')",
                params![id, "a".repeat(64)],
            )
            .unwrap();
        }
        let mut db = Db::open(&path).unwrap();
        let version: i64 = db
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, crate::db::schema_version() as i64);
        let id: i64 = db
            .conn
            .query_row(
                "SELECT id FROM functions WHERE key = 'tc/r/ns/f'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let v = db.latest_version(id).unwrap().unwrap();
        assert_eq!(
            (v.version_no, v.sha256.as_str(), v.last_seen.as_str()),
            (1, "a".repeat(64).as_str(), "t1")
        );
        assert!(
            db.record_alias_state(
                "tc/r/ns/f",
                "prod",
                &[("1".to_string(), 1.0)],
                false,
                None,
                "t2"
            )
            .unwrap()
        );
        assert!(db.published_rows("tc/r/ns/f").unwrap().is_empty());
    }
}
