//! Queries of discovery: which functions the database knows, and marking them gone or back.
//!
//! A function discovery no longer finds in the cloud keeps its row and its versions (the
//! archive is the point); only `gone_since` records when it was found missing.

use rusqlite::params;

use super::{Db, DbError, sqlite};
use crate::cloud::Target;

/// A function row, as discovery compares it with a listing.
#[derive(Debug, Clone)]
pub struct KnownFunction {
    pub id: i64,
    pub target: Target,
    pub gone_since: Option<String>,
}

impl Db {
    /// Every function ever recorded, by key.
    pub fn known_functions(&self) -> Result<Vec<KnownFunction>, DbError> {
        self.known_functions_where(|_| true)
    }

    /// The recorded functions `keep` accepts, by key; the others are never held in memory
    /// together (a sweep of 100,000 listed functions keeps only the few unlisted or gone ones).
    pub fn known_functions_where(
        &self,
        keep: impl Fn(&KnownFunction) -> bool,
    ) -> Result<Vec<KnownFunction>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, cloud, account, region, namespace, name, qualifier, gone_since
                 FROM functions ORDER BY key",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, cloud, account, region, ns, name, qualifier, gone_since) =
                row.map_err(|e| sqlite(&self.path, e))?;
            let Some(target) =
                super::stored_target(&cloud, &account, &region, &ns, &name, qualifier.as_deref())
            else {
                continue;
            };
            let known = KnownFunction {
                id,
                target,
                gone_since,
            };
            if keep(&known) {
                out.push(known);
            }
        }
        Ok(out)
    }

    /// Marks a function gone as of `now`, unless it already is (the first miss is kept).
    pub fn mark_gone(&mut self, function_id: i64, now: &str) -> Result<bool, DbError> {
        self.conn
            .execute(
                "UPDATE functions SET gone_since = ?2 WHERE id = ?1 AND gone_since IS NULL",
                params![function_id, now],
            )
            .map(|n| n > 0)
            .map_err(|e| sqlite(&self.path, e))
    }

    /// The cloud lists the function again.
    pub fn clear_gone(&mut self, function_id: i64) -> Result<bool, DbError> {
        self.conn
            .execute(
                "UPDATE functions SET gone_since = NULL WHERE id = ?1 AND gone_since IS NOT NULL",
                [function_id],
            )
            .map(|n| n > 0)
            .map_err(|e| sqlite(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;

    #[test]
    fn gone_keeps_the_first_miss_and_clears_when_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        let t = Target::new(Cloud::Tencent, "tc", "ap-guangzhou", "default", "f", None);
        let id = db.upsert_function(&t, "t1").unwrap();
        assert!(db.mark_gone(id, "t2").unwrap());
        assert!(!db.mark_gone(id, "t3").unwrap());
        let known = db.known_functions().unwrap();
        assert_eq!(known[0].gone_since.as_deref(), Some("t2"));
        assert_eq!(known[0].target, t);
        assert!(db.clear_gone(id).unwrap());
        assert_eq!(db.known_functions().unwrap()[0].gone_since, None);
    }
}
