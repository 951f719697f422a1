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
    /// The lag episode already alerted (see migration 0008), `None` when none stands.
    pub lag_alerted: Option<String>,
}

impl MirrorState {
    /// The name of the lag episode this state is in: the success it began after.
    pub fn episode(&self) -> &str {
        self.last_success.as_deref().unwrap_or("never")
    }

    /// How long the oldest uncopied version has waited at `now` (`None`: nothing waits, or
    /// its time is unreadable).
    pub fn lag_age(&self, now: chrono::DateTime<chrono::Utc>) -> Option<chrono::TimeDelta> {
        let oldest =
            chrono::DateTime::parse_from_rfc3339(self.oldest_unmirrored.as_deref()?).ok()?;
        Some(now.signed_duration_since(oldest))
    }

    /// Lagging past `limit` at `now`.
    pub fn lagging(&self, now: chrono::DateTime<chrono::Utc>, limit: std::time::Duration) -> bool {
        let limit = chrono::TimeDelta::from_std(limit).unwrap_or(chrono::TimeDelta::MAX);
        self.lag_age(now).is_some_and(|age| age > limit)
    }
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
                        copied_bytes, lag_alerted FROM mirrors WHERE name = ?1",
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
                        lag_alerted: r.get(6)?,
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

    /// Marks lag episode `episode` of mirror `name` as alerted (`None`: no alert stands).
    /// A mirror that never ran has no row and nothing to mark.
    pub fn set_mirror_lag_alerted(
        &mut self,
        name: &str,
        episode: Option<&str>,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE mirrors SET lag_alerted = ?2 WHERE name = ?1",
                params![name, episode],
            )
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(())
    }
}
