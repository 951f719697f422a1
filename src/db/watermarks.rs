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
