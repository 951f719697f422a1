//! The writer lock of an archive on object storage: the object `lock.json` beside `blobs/`.
//!
//! A folder archive's `.lock` is an `flock` the kernel drops when the process dies; a bucket
//! shared by two machines has no such thing, and two writers would both number versions from
//! their own databases (two different "version 7" lines of one function in the journal). So a
//! writer creates `lock.json` with `If-None-Match: *` (its host, pid, start and a random id),
//! rewrites it every [`REFRESH`] while it holds it, and deletes it when done (only if it is
//! still its own). A lock is taken over only when it is stale: its holder ran on this host and
//! is no longer running, or it has not been refreshed for [`STALE`] (six missed refreshes: a
//! machine that died). Anything else refuses the writer, naming the holder.

use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ArchiveError;
use super::s3::S3;

/// The lock object's name under the archive's prefix.
pub const NAME: &str = "lock.json";
/// How often a holder rewrites the lock.
pub const REFRESH: Duration = Duration::from_secs(5 * 60);
/// How old a lock's last refresh must be before another host may take it over.
pub const STALE: Duration = Duration::from_secs(30 * 60);

/// What the lock object says (private format: read back only by this file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Holder {
    id: String,
    host: String,
    pid: u32,
    started: String,
    refreshed: String,
}

impl Holder {
    fn describe(&self) -> String {
        format!(
            "fnvault pid {} on {} since {} (last refreshed {})",
            self.pid, self.host, self.started, self.refreshed
        )
    }
}

/// A held bucket lock: refreshed by a thread of its own, released on drop.
#[derive(Debug)]
pub struct BucketLock {
    s3: S3,
    id: String,
    stop: Option<mpsc::Sender<()>>,
    refresher: Option<std::thread::JoinHandle<()>>,
}

/// This machine's name, as the lock records it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Whether `h` may be taken over: its process is gone from this host (pid not running, or
/// running something that is not fnvault), or it has not been refreshed for [`STALE`].
fn is_stale(h: &Holder, now: chrono::DateTime<chrono::Utc>) -> bool {
    if h.host == host() {
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", h.pid));
        if !comm.is_ok_and(|c| c.trim() == "fnvault") {
            return true;
        }
    }
    match chrono::DateTime::parse_from_rfc3339(&h.refreshed) {
        Ok(t) => {
            now.signed_duration_since(t.with_timezone(&chrono::Utc))
                > chrono::Duration::from_std(STALE).unwrap_or(chrono::Duration::MAX)
        }
        // A time nobody can read was not written by a live fnvault.
        Err(_) => true,
    }
}

/// Takes the writer lock of the archive in `s3`.
pub fn acquire(s3: &S3) -> Result<BucketLock, ArchiveError> {
    let now = crate::time::now_rfc3339();
    let me = Holder {
        id: format!("{:016x}", rand::random::<u64>()),
        host: host(),
        pid: std::process::id(),
        started: now.clone(),
        refreshed: now,
    };
    let body = serde_json::to_vec(&me).map_err(|e| locked_io(s3, e.to_string()))?;
    // A lock released or taken over between our tries is tried again, a few times only.
    for _ in 0..4 {
        if s3.put_bytes(NAME, body.clone(), true)? {
            return Ok(BucketLock::held(s3.clone(), me));
        }
        let Some(bytes) = s3.get_bytes(NAME)? else {
            continue;
        };
        match serde_json::from_slice::<Holder>(&bytes) {
            Ok(h) if is_stale(&h, chrono::Utc::now()) => {
                tracing::warn!(
                    lock = %s3.display(NAME),
                    "taking over a stale writer lock: {}",
                    h.describe()
                );
                s3.delete(NAME)?;
            }
            Ok(h) => {
                return Err(ArchiveError::BucketLocked {
                    location: s3.display(NAME),
                    holder: h.describe(),
                });
            }
            Err(e) => {
                return Err(locked_io(
                    s3,
                    format!(
                        "the writer lock cannot be read ({e}); if no fnvault writes this \
                         archive, delete that object"
                    ),
                ));
            }
        }
    }
    Err(locked_io(
        s3,
        "the writer lock kept changing hands; try again".to_string(),
    ))
}

fn locked_io(s3: &S3, why: String) -> ArchiveError {
    ArchiveError::Io {
        path: std::path::PathBuf::from(s3.display(NAME)),
        source: std::io::Error::other(why),
    }
}

impl BucketLock {
    fn held(s3: S3, me: Holder) -> BucketLock {
        let (stop, stopped) = mpsc::channel::<()>();
        let id = me.id.clone();
        let client = s3.clone();
        let refresher = std::thread::Builder::new()
            .name("fnvault-bucket-lock".into())
            .spawn(move || refresh_until_stopped(&client, me, &stopped))
            .ok();
        if refresher.is_none() {
            tracing::error!(
                "could not start the bucket lock's refresher: the lock may be taken over after {} min",
                STALE.as_secs() / 60
            );
        }
        BucketLock {
            s3,
            id,
            stop: Some(stop),
            refresher,
        }
    }
}

/// Rewrites the lock every [`REFRESH`] while it is still ours; a lock found taken over is
/// reported loudly (the writer that took it saw ours stale) and no longer refreshed.
fn refresh_until_stopped(s3: &S3, mut me: Holder, stopped: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(REFRESH) {
        match s3.get_bytes(NAME) {
            Ok(Some(bytes))
                if serde_json::from_slice::<Holder>(&bytes).is_ok_and(|h| h.id == me.id) => {}
            Ok(_) => {
                tracing::error!(
                    lock = %s3.display(NAME),
                    "this process's writer lock was taken over by another fnvault (it judged ours stale); two writers may now be writing this archive"
                );
                return;
            }
            Err(e) => {
                tracing::warn!("refreshing the bucket's writer lock: {e}");
                continue;
            }
        }
        me.refreshed = crate::time::now_rfc3339();
        match serde_json::to_vec(&me) {
            Ok(body) => {
                if let Err(e) = s3.put_bytes(NAME, body, false) {
                    tracing::warn!("refreshing the bucket's writer lock: {e}");
                }
            }
            Err(e) => tracing::warn!("refreshing the bucket's writer lock: {e}"),
        }
    }
}

impl Drop for BucketLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.refresher.take() {
            let _ = t.join();
        }
        // Deleted only while it is still ours: a lock another writer took over stays theirs.
        match self.s3.get_bytes(NAME) {
            Ok(Some(bytes))
                if serde_json::from_slice::<Holder>(&bytes).is_ok_and(|h| h.id == self.id) =>
            {
                if let Err(e) = self.s3.delete(NAME) {
                    tracing::warn!("releasing the bucket's writer lock: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("releasing the bucket's writer lock: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: String, pid: u32, refreshed: &str) -> Holder {
        Holder {
            id: "1".into(),
            host,
            pid,
            started: refreshed.into(),
            refreshed: refreshed.into(),
        }
    }

    #[test]
    fn a_lock_is_stale_when_its_holder_is_gone_from_this_host_or_long_unrefreshed() {
        let now = chrono::Utc::now();
        let fresh = crate::time::format_rfc3339(now);
        let old = crate::time::format_rfc3339(now - chrono::Duration::minutes(31));
        let other = "another-machine".to_string();
        // Another host, refreshed just now: held.
        assert!(!is_stale(&holder(other.clone(), 1, &fresh), now));
        // Another host, 31 minutes without a refresh: a machine that died.
        assert!(is_stale(&holder(other, 1, &old), now));
        // This host, a pid that runs something else (this test binary is not `fnvault`).
        assert!(is_stale(&holder(host(), std::process::id(), &fresh), now));
        // An unreadable time was not written by a live fnvault.
        assert!(is_stale(
            &holder("another-machine".into(), 1, "yesterday"),
            now
        ));
    }
}
