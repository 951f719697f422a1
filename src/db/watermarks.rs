//! Queries of the start-up reconcile (issue 16): how far each journal file was reconciled
//! (`journal_watermarks`, migration 0012), whether this database has had the full reconcile,
//! and the single-row lookups the reconcile of a journal's new lines makes instead of loading
//! every version.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Db, DbError, sqlite};

impl Db {
    /// Each file of `journal` (`meta`, `aliases`) and the byte offset it was reconciled up to.
    pub fn watermarks(&self, journal: &str) -> Result<HashMap<String, u64>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT file, offset FROM journal_watermarks WHERE journal = ?1")
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([journal], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        let mut out = HashMap::new();
        for row in rows {
            let (file, offset) = row.map_err(|e| sqlite(&self.path, e))?;
            out.insert(file, offset.max(0) as u64);
        }
        Ok(out)
    }

    /// [`Db::watermarks`] in file-name order (byte order, as `str` compares), for walking
    /// beside a sorted listing without hashing 100,000 names.
    pub fn watermarks_sorted(&self, journal: &str) -> Result<Vec<(String, u64)>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT file, offset FROM journal_watermarks WHERE journal = ?1
                 ORDER BY file COLLATE BINARY",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([journal], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Sets the watermarks of `journal`'s files in `set` and removes those in `remove`, in
    /// one transaction.
    pub fn record_watermarks(
        &mut self,
        journal: &str,
        set: &[(String, u64)],
        remove: &[String],
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        let tx = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        {
            let mut upsert = tx
                .prepare(
                    "INSERT INTO journal_watermarks (journal, file, offset) VALUES (?1, ?2, ?3)
                     ON CONFLICT (journal, file) DO UPDATE SET offset = excluded.offset",
                )
                .map_err(|e| sqlite(&path, e))?;
            for (file, offset) in set {
                upsert
                    .execute(params![journal, file, *offset as i64])
                    .map_err(|e| sqlite(&path, e))?;
            }
            let mut delete = tx
                .prepare("DELETE FROM journal_watermarks WHERE journal = ?1 AND file = ?2")
                .map_err(|e| sqlite(&path, e))?;
            for file in remove {
                delete
                    .execute(params![journal, file])
                    .map_err(|e| sqlite(&path, e))?;
            }
        }
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// Replaces every watermark of `journal` with `set` (after a full read of it).
    pub fn replace_watermarks(
        &mut self,
        journal: &str,
        set: &[(String, u64)],
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        let tx = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        tx.execute(
            "DELETE FROM journal_watermarks WHERE journal = ?1",
            [journal],
        )
        .map_err(|e| sqlite(&path, e))?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO journal_watermarks (journal, file, offset) VALUES (?1, ?2, ?3)",
                )
                .map_err(|e| sqlite(&path, e))?;
            for (file, offset) in set {
                insert
                    .execute(params![journal, file, *offset as i64])
                    .map_err(|e| sqlite(&path, e))?;
            }
        }
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// When this database last had the full reconcile (`None`: never, so the next writer
    /// does it).
    pub fn full_reconcile_done(&self) -> Result<Option<String>, DbError> {
        self.conn
            .query_row("SELECT done FROM full_reconcile WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Records that the full reconcile finished at `now`.
    pub fn mark_full_reconcile(&mut self, now: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO full_reconcile (id, done) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET done = excluded.done",
                [now],
            )
            .map(|_| ())
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Blobs a version references whose package has not been read yet: the same set as
    /// [`Db::blobs_without_manifest`], kept by triggers (migration 0012) so that reading it
    /// costs what it holds, not a pass over every version.
    pub fn manifest_queue(&self) -> Result<Vec<String>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT sha256 FROM manifest_queue ORDER BY sha256")
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// The blob (SHA-256) of version `version_no` of function `key`, if recorded.
    pub fn version_sha256(&self, key: &str, version_no: i64) -> Result<Option<String>, DbError> {
        self.conn
            .query_row(
                "SELECT v.sha256 FROM versions v JOIN functions f ON f.id = v.function_id
                 WHERE f.key = ?1 AND v.version_no = ?2",
                params![key, version_no],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sqlite(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use crate::archive::journal::VersionRecord;
    use crate::cloud::{Cloud, Target};
    use crate::db::Db;

    fn record(name: &str, sha: char) -> VersionRecord {
        VersionRecord {
            target: Target::new(Cloud::Tencent, "tc", "ap-guangzhou", "default", name, None),
            version_no: 1,
            cloud_checksum: "x".into(),
            sha256: sha.to_string().repeat(64),
            crc64: 1,
            size: 1,
            first_seen: "2026-01-01T00:00:00.000Z".into(),
            previous_last_seen: None,
        }
    }

    /// The queue the triggers keep is exactly the blobs without a manifest, through every
    /// change that touches either table (insert, manifest saved, manifest replaced, version
    /// deleted), and the watermark tables round-trip.
    #[test]
    fn the_manifest_queue_is_the_set_of_blobs_without_a_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        let agree = |db: &Db| {
            assert_eq!(
                db.manifest_queue().unwrap(),
                db.blobs_without_manifest().unwrap()
            );
        };
        db.adopt_version(&record("a", 'a')).unwrap();
        db.adopt_version(&record("b", 'a')).unwrap();
        db.adopt_version(&record("c", 'c')).unwrap();
        agree(&db);
        assert_eq!(db.manifest_queue().unwrap().len(), 2);
        let not_zip = crate::manifest::Package::NotZip("test".into());
        db.save_manifest(&"a".repeat(64), &not_zip).unwrap();
        agree(&db);
        db.save_manifest(&"a".repeat(64), &not_zip).unwrap();
        agree(&db);
        assert_eq!(db.manifest_queue().unwrap(), vec!["c".repeat(64)]);
        db.conn
            .execute("DELETE FROM versions WHERE sha256 = ?1", ["c".repeat(64)])
            .unwrap();
        agree(&db);
        assert!(db.manifest_queue().unwrap().is_empty());
        db.conn
            .execute("DELETE FROM packages WHERE sha256 = ?1", ["a".repeat(64)])
            .unwrap();
        agree(&db);
        assert_eq!(db.manifest_queue().unwrap().len(), 1);

        assert_eq!(db.full_reconcile_done().unwrap(), None);
        db.mark_full_reconcile("t1").unwrap();
        assert_eq!(db.full_reconcile_done().unwrap().as_deref(), Some("t1"));
        db.replace_watermarks("meta", &[("x.jsonl".into(), 10), ("y.jsonl".into(), 5)])
            .unwrap();
        db.record_watermarks("meta", &[("x.jsonl".into(), 20)], &["y.jsonl".into()])
            .unwrap();
        let marks = db.watermarks("meta").unwrap();
        assert_eq!(marks.len(), 1);
        assert_eq!(marks["x.jsonl"], 20);
        assert!(db.watermarks("aliases").unwrap().is_empty());
    }
}
