//! Queries of mirrors: each `[[mirrors]]` copy's last run, and its lag (the versions recorded
//! since its last complete run).

use rusqlite::{OptionalExtension, params};

use super::{Db, DbError, sqlite};

/// One mirror's recorded state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorState {
    pub name: String,
    pub location: String,
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub copied_blobs: i64,
    pub copied_bytes: i64,
    /// Versions first seen after `last_success` (all of them before any success).
    pub lag_versions: i64,
    /// The `first_seen` of the oldest of those.
    pub oldest_unmirrored: Option<String>,
}

impl Db {
    /// Records a mirror run that started at `started`: `error` is `None` when it copied
    /// everything the archive held then.
    pub fn record_mirror_run(
        &mut self,
        name: &str,
        location: &str,
        started: &str,
        error: Option<&str>,
        copied_blobs: u64,
        copied_bytes: u64,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO mirrors (name, location, last_attempt, last_success, last_error,
                                      copied_blobs, copied_bytes)
                 VALUES (?1, ?2, ?3, CASE WHEN ?4 IS NULL THEN ?3 END, ?4, ?5, ?6)
                 ON CONFLICT(name) DO UPDATE SET
                    location = ?2,
                    last_attempt = ?3,
                    last_success = CASE WHEN ?4 IS NULL THEN ?3 ELSE last_success END,
                    last_error = ?4,
                    copied_blobs = copied_blobs + ?5,
                    copied_bytes = copied_bytes + ?6",
                params![
                    name,
                    location,
                    started,
                    error,
                    copied_blobs as i64,
                    copied_bytes as i64
                ],
            )
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(())
    }

    /// The state of mirror `name` (a default one, with the whole history as lag, when it has
    /// never run).
    pub fn mirror_state(&self, name: &str) -> Result<MirrorState, DbError> {
        let row = self
            .conn
            .query_row(
                "SELECT location, last_attempt, last_success, last_error, copied_blobs,
                        copied_bytes FROM mirrors WHERE name = ?1",
                params![name],
                |r| {
                    Ok(MirrorState {
                        name: name.to_string(),
                        location: r.get(0)?,
                        last_attempt: r.get(1)?,
                        last_success: r.get(2)?,
                        last_error: r.get(3)?,
                        copied_blobs: r.get(4)?,
                        copied_bytes: r.get(5)?,
                        ..MirrorState::default()
                    })
                },
            )
            .optional()
            .map_err(|e| sqlite(&self.path, e))?;
        let mut state = row.unwrap_or_else(|| MirrorState {
            name: name.to_string(),
            ..MirrorState::default()
        });
        let (count, oldest): (i64, Option<String>) = self
            .conn
            .query_row(
                "SELECT count(*), min(first_seen) FROM versions
                 WHERE ?1 IS NULL OR first_seen > ?1",
                params![state.last_success],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| sqlite(&self.path, e))?;
        state.lag_versions = count;
        state.oldest_unmirrored = oldest;
        Ok(state)
    }
}
