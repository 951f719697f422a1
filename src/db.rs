//! The SQLite database: schema migrations, and every query fnvault makes.
//!
//! Owns: all SQL (architecture invariant: no other module speaks SQL). The schema lives in
//! `migrations/NNNN_name.sql`, embedded at compile time and applied in order at open, tracked in
//! `PRAGMA user_version`. WAL with `synchronous=FULL`: a committed version row survives a power
//! cut, and readers (`list`) never block the writer.
//! A sweep writes through `Writer`, one thread that group-commits: the jobs that arrive during
//! one fsync share the next one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use include_dir::{Dir, include_dir};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

use crate::cloud::Target;

mod gone;
mod mirrors;
pub use gone::KnownFunction;
pub use mirrors::MirrorState;
mod ops;
pub use ops::{ArchiveTotals, AttentionRow, FunctionHealth, SweepRow, TouchedFunction};
mod audit;
pub use audit::{Adopted, FunctionRow, PackageInfo, VersionRow};
mod merge;
pub use merge::MergedVersion;
mod layers;
pub use layers::LayerRow;
mod whole;
pub use whole::VersionConfig;
mod aliases;
pub use aliases::{AliasState, PublishedRow};
mod listing;
pub use listing::{FullCheckSummary, ListingCheck};
mod watermarks;

static MIGRATIONS_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// Inserts a function on first sight; a no-op for a known one.
const UPSERT_FUNCTION: &str =
    "INSERT INTO functions (key, cloud, account, region, namespace, name, qualifier, first_seen)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT (key) DO NOTHING";

/// A function's newest version, read by `latest_from_row`.
const LATEST_VERSION: &str =
    "SELECT id, version_no, cloud_checksum, sha256, last_seen FROM versions
     WHERE function_id = ?1 ORDER BY version_no DESC LIMIT 1";

fn latest_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LatestVersion> {
    Ok(LatestVersion {
        id: r.get(0)?,
        version_no: r.get(1)?,
        cloud_checksum: r.get(2)?,
        sha256: r.get(3)?,
        last_seen: r.get(4)?,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite found the file damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`): whatever command
    /// met it, the way out is the same.
    #[error(
        "database {path}: {source}\n  (the file is damaged: `fnvault reindex` rebuilds it from \
         the archive, keeping the damaged file beside it)"
    )]
    Damaged {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: migrating the schema failed: {source}")]
    Migration {
        path: PathBuf,
        #[source]
        source: rusqlite_migration::Error,
    },
    #[error("database {path}: {message}")]
    Other { path: PathBuf, message: String },
    /// A healthy database of another schema version than this build's: not damage, so never
    /// a reason to replace it.
    #[error(
        "database {path}: schema version {found}, this fnvault reads {expected}; {}",
        if found < expected {
            "run `fnvault sync` once to upgrade it"
        } else {
            "it was written by a newer fnvault; use that version"
        }
    )]
    SchemaMismatch {
        path: PathBuf,
        found: i64,
        expected: i64,
    },
}

/// The embedded migrations, in file-name order.
pub fn migrations() -> Migrations<'static> {
    let mut files: Vec<_> = MIGRATIONS_DIR
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort_by_key(|f| f.path());
    Migrations::new(
        files
            .into_iter()
            .filter_map(|f| f.contents_utf8())
            .map(M::up)
            .collect(),
    )
}

/// The newest schema version this build knows.
pub fn schema_version() -> usize {
    MIGRATIONS_DIR
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
        .count()
}

pub struct Db {
    conn: Connection,
    path: PathBuf,
}

/// The newest version of a function, for change detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestVersion {
    pub id: i64,
    pub version_no: i64,
    pub cloud_checksum: String,
    pub sha256: String,
    /// When a sweep last found it live (the journal notes the first sighting of each day).
    pub last_seen: String,
}

/// A package to record after its blob is durable.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub cloud_checksum: String,
    pub sha256: String,
    pub crc64: u64,
    pub size: u64,
}

/// One line of `fnvault list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSummary {
    pub key: String,
    pub cloud: String,
    pub versions: i64,
    pub latest_version: Option<i64>,
    pub latest_sha256: Option<String>,
    pub latest_size: Option<i64>,
    pub last_checked: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    /// When discovery first found the function missing from the cloud (its archive is kept).
    pub gone_since: Option<String>,
    /// When it last had a full check (its own API calls), not one by the listing alone.
    pub last_full_check: Option<String>,
    /// `full` or `listing`: how its latest successful check was made (`None`: no full check
    /// recorded since migration 0011).
    pub last_check_kind: Option<String>,
}

/// Totals of one sweep, written when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepCounts {
    pub checked: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub bytes: u64,
}

impl Db {
    /// Opens (creating, owner-only) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Other {
                path: path.to_path_buf(),
                message: format!("cannot create {}: {e}", parent.display()),
            })?;
            set_private(parent, 0o700);
        }
        let existed = path.exists();
        let mut conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
        if !existed {
            set_private(path, 0o600);
        }
        configure(&conn, path)?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|source| DbError::Migration {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Db {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing database for reading only (`list` while a daemon writes). `Ok(None)`
    /// when there is no database yet.
    pub fn open_read_only(path: &Path) -> Result<Option<Db>, DbError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sqlite(path, e))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| sqlite(path, e))?;
        // Audit commands read much of the file once: a larger cache saves re-reads.
        conn.execute_batch("PRAGMA cache_size = -32768;")
            .map_err(|e| sqlite(path, e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| sqlite(path, e))?;
        if version != schema_version() as i64 {
            return Err(DbError::SchemaMismatch {
                path: path.to_path_buf(),
                found: version,
                expected: schema_version() as i64,
            });
        }
        Ok(Some(Db {
            conn,
            path: path.to_path_buf(),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn e(&self, source: rusqlite::Error) -> DbError {
        sqlite(&self.path, source)
    }

    /// The function's row id, inserting the function on first sight.
    pub fn upsert_function(&mut self, t: &Target, now: &str) -> Result<i64, DbError> {
        let prepared = self.prepare_targets(std::slice::from_ref(t), now)?;
        prepared
            .first()
            .map(|(id, _)| *id)
            .ok_or_else(|| DbError::Other {
                path: self.path.clone(),
                message: format!("function {} was not inserted", t.key),
            })
    }

    pub fn latest_version(&self, function_id: i64) -> Result<Option<LatestVersion>, DbError> {
        self.conn
            .prepare_cached(LATEST_VERSION)
            .and_then(|mut s| s.query_row([function_id], latest_from_row).optional())
            .map_err(|e| self.e(e))
    }

    /// `upsert_function` and `latest_version` for every target at once, in one transaction:
    /// a sweep's first step, so each function's pipeline starts without a database round trip.
    pub fn prepare_targets(
        &mut self,
        targets: &[Target],
        now: &str,
    ) -> Result<Vec<(i64, Option<LatestVersion>)>, DbError> {
        let path = self.path.clone();
        let sp = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        let mut out = Vec::with_capacity(targets.len());
        {
            // One indexed lookup per known function (its latest version is kept on its row by
            // migration 0006's triggers); the insert and a second lookup only for new ones.
            let mut known = sp
                .prepare_cached(
                    "SELECT f.id, v.id, v.version_no, v.cloud_checksum, v.sha256, v.last_seen
                     FROM functions f LEFT JOIN versions v ON v.id = f.latest_version_id
                     WHERE f.key = ?1",
                )
                .map_err(|e| sqlite(&path, e))?;
            let mut insert = sp
                .prepare_cached(UPSERT_FUNCTION)
                .map_err(|e| sqlite(&path, e))?;
            for t in targets {
                let found = known
                    .query_row([&t.key], |r| {
                        let function_id: i64 = r.get(0)?;
                        let latest = match r.get::<_, Option<i64>>(1)? {
                            None => None,
                            Some(id) => Some(LatestVersion {
                                id,
                                version_no: r.get(2)?,
                                cloud_checksum: r.get(3)?,
                                sha256: r.get(4)?,
                                last_seen: r.get(5)?,
                            }),
                        };
                        Ok((function_id, latest))
                    })
                    .optional()
                    .map_err(|e| sqlite(&path, e))?;
                let entry = match found {
                    Some(entry) => entry,
                    None => {
                        let inserted = insert
                            .execute(params![
                                t.key,
                                t.cloud.as_str(),
                                t.account,
                                t.region,
                                t.namespace,
                                t.name,
                                t.qualifier,
                                now
                            ])
                            .map_err(|e| sqlite(&path, e))?;
                        // Not there a moment ago in this transaction, and this is the only
                        // writer: the insert made the row.
                        if inserted != 1 {
                            return Err(DbError::Other {
                                path: path.clone(),
                                message: format!("function `{}`: its row was not created", t.key),
                            });
                        }
                        (sp.last_insert_rowid(), None)
                    }
                };
                out.push(entry);
            }
        }
        sp.commit().map_err(|e| sqlite(&path, e))?;
        Ok(out)
    }

    /// Runs `f` in one transaction, committed once (one fsync) at the end, or rolled back
    /// whole when `f` fails: for the full reconcile's many idempotent writes (each its own
    /// commit, a `reindex` of 1,000,000 versions was 1,000,000 fsyncs). Inside a transaction
    /// already (a `Writer` job), `f` just runs in it.
    pub fn in_one_transaction<T, E: From<DbError>>(
        &mut self,
        f: impl FnOnce(&mut Db) -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.conn.is_autocommit() {
            return f(self);
        }
        let path = self.path.clone();
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sqlite(&path, e))?;
        match f(self) {
            Ok(v) => {
                if let Err(e) = self.conn.execute_batch("COMMIT") {
                    // The writes are not in the database; leave no transaction open.
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(sqlite(&path, e).into());
                }
                Ok(v)
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                Err(e)
            }
        }
    }

    /// The cloud still serves the latest archived package: note that it was seen live now.
    pub fn record_unchanged(
        &mut self,
        function_id: i64,
        version_id: i64,
        now: &str,
    ) -> Result<(), DbError> {
        // A savepoint, not a transaction: inside a `Writer` batch it nests in the batch's
        // transaction; alone it is its own transaction.
        let path = self.path.clone();
        let sp = self.conn.savepoint().map_err(|e| sqlite(&path, e))?;
        set_unchanged(&sp, &path, &[(function_id, version_id)], now)?;
        sp.commit().map_err(|e| sqlite(&path, e))
    }

    /// The check failed; `error` must already be free of secrets.
    pub fn record_failure(
        &mut self,
        function_id: i64,
        error: &str,
        now: &str,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE functions SET last_checked = ?2, last_status = 'failed', last_error = ?3
                 WHERE id = ?1",
                params![function_id, now, error],
            )
            .map(|_| ())
            .map_err(|e| self.e(e))
    }

    pub fn start_sweep(&mut self, trigger: &str, now: &str) -> Result<i64, DbError> {
        self.conn
            .execute(
                "INSERT INTO sweeps (started, trigger) VALUES (?1, ?2)",
                params![now, trigger],
            )
            .map_err(|e| self.e(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_sweep(
        &mut self,
        id: i64,
        outcome: &str,
        counts: SweepCounts,
        now: &str,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE sweeps SET finished = ?2, outcome = ?3, checked = ?4, changed = ?5,
                        unchanged = ?6, failed = ?7, bytes = ?8
                 WHERE id = ?1",
                params![
                    id,
                    now,
                    outcome,
                    counts.checked as i64,
                    counts.changed as i64,
                    counts.unchanged as i64,
                    counts.failed as i64,
                    counts.bytes as i64
                ],
            )
            .map(|_| ())
            .map_err(|e| self.e(e))
    }

    /// Sweeps that never finished belong to a process that died; call while holding the lock.
    pub fn mark_unfinished_sweeps_interrupted(&mut self, now: &str) -> Result<usize, DbError> {
        self.conn
            .execute(
                "UPDATE sweeps SET finished = ?1, outcome = 'interrupted' WHERE finished IS NULL",
                [now],
            )
            .map_err(|e| self.e(e))
    }

    /// A summary of each function in `keys` order; functions never swept get an empty summary.
    pub fn summaries(&self, targets: &[Target]) -> Result<Vec<FunctionSummary>, DbError> {
        // One pass over all functions rather than a lookup per target: with 10,000 functions
        // this is the difference between ~15 ms and ~150 ms for `list`. The count and the
        // latest version are kept on the function's row (migration 0006): no aggregation
        // over the versions; and the latest version's number, hash and size are copied there
        // too (migration 0013), so no lookup in `versions` at all.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.key, f.last_checked, f.last_status, f.last_error, f.version_count,
                        f.latest_version_no, f.latest_sha256, f.latest_size, f.gone_since,
                        c.last_full_check, c.last_check_kind
                 FROM functions f
                 LEFT JOIN listing_checks c ON c.function_id = f.id",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        type Row = (
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
            (Option<String>, Option<String>),
        );
        let mut by_key: std::collections::HashMap<String, Row> = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    (
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        (r.get(9)?, r.get(10)?),
                    ),
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(targets
            .iter()
            .map(|t| match by_key.remove(&t.key) {
                Some((
                    last_checked,
                    last_status,
                    last_error,
                    versions,
                    latest_version,
                    latest_sha256,
                    latest_size,
                    gone_since,
                    (last_full_check, last_check_kind),
                )) => FunctionSummary {
                    key: t.key.clone(),
                    cloud: t.cloud.as_str().to_string(),
                    last_checked,
                    last_status,
                    last_error,
                    versions,
                    latest_version,
                    latest_sha256,
                    latest_size,
                    gone_since,
                    last_full_check,
                    last_check_kind,
                },
                None => empty_summary(t),
            })
            .collect())
    }

    /// Every function row with its summary (the columns of [`Db::summaries`]) and its target
    /// as stored, in no particular order: `list` in one pass over `functions`, instead of
    /// one to decide which functions are tracked and another, into a map, for the figures.
    pub fn all_summaries(&self) -> Result<Vec<(Target, FunctionSummary)>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.cloud, f.account, f.region, f.namespace, f.name, f.qualifier,
                        f.last_checked, f.last_status, f.last_error, f.version_count,
                        f.latest_version_no, f.latest_sha256, f.latest_size, f.gone_since,
                        c.last_full_check, c.last_check_kind
                 FROM functions f
                 LEFT JOIN listing_checks c ON c.function_id = f.id",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                let names: [String; 5] = [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?];
                Ok((
                    names,
                    r.get::<_, Option<String>>(5)?,
                    FunctionSummary {
                        // Filled in below from the target.
                        key: String::new(),
                        cloud: String::new(),
                        last_checked: r.get(6)?,
                        last_status: r.get(7)?,
                        last_error: r.get(8)?,
                        versions: r.get(9)?,
                        latest_version: r.get(10)?,
                        latest_sha256: r.get(11)?,
                        latest_size: r.get(12)?,
                        gone_since: r.get(13)?,
                        last_full_check: r.get(14)?,
                        last_check_kind: r.get(15)?,
                    },
                ))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        let mut out = Vec::new();
        for row in rows {
            let ([cloud, account, region, namespace, name], qualifier, mut summary) =
                row.map_err(|e| sqlite(&self.path, e))?;
            let Some(target) = stored_target(
                &cloud,
                &account,
                &region,
                &namespace,
                &name,
                qualifier.as_deref(),
            ) else {
                continue;
            };
            summary.key = target.key.clone();
            summary.cloud = target.cloud.as_str().to_string();
            out.push((target, summary));
        }
        Ok(out)
    }

    /// Every version's blob hash, for consistency checks.
    pub fn all_version_hashes(&self) -> Result<Vec<(String, i64, String)>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.key, v.version_no, v.sha256 FROM versions v
                 JOIN functions f ON f.id = v.function_id ORDER BY f.key, v.version_no",
            )
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| sqlite(&self.path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlite(&self.path, e))
    }
}

pub fn empty_summary(t: &Target) -> FunctionSummary {
    FunctionSummary {
        key: t.key.clone(),
        cloud: t.cloud.as_str().to_string(),
        versions: 0,
        latest_version: None,
        latest_sha256: None,
        latest_size: None,
        last_checked: None,
        last_status: None,
        last_error: None,
        gone_since: None,
        last_full_check: None,
        last_check_kind: None,
    }
}

fn sqlite(path: &Path, source: rusqlite::Error) -> DbError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    let path = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => DbError::Damaged { path, source },
        _ => DbError::Sqlite { path, source },
    }
}

fn configure(conn: &Connection, path: &Path) -> Result<(), DbError> {
    // FULL: the WAL is fsynced at every commit, so a version row, once committed, survives a
    // power cut like the blob it points at.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )
    .map_err(|e| sqlite(path, e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| sqlite(path, e))
}

#[cfg(unix)]
fn set_private(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    // Best effort: the folder may belong to someone else (e.g. /var/lib); the file's own mode
    // is what protects it, and SQLite creates -wal/-shm with the same mode as the database.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
fn set_private(_path: &Path, _mode: u32) {}

/// What a `Writer` job hands back: told how the batch's commit went, it answers its caller.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&mut Db) -> Reply + Send>;

/// Most jobs one commit covers. Bounds how long one fsync keeps the first job waiting.
const BATCH_MAX: usize = 256;

/// The sweep's one writing connection, on a thread of its own, with group commit.
///
/// Every `run` job executes on this thread. Jobs that arrive while a commit is in progress
/// are run together in one transaction and committed with one fsync (`synchronous=FULL`),
/// instead of one fsync each: with many functions in flight this is the difference between
/// being bound by the disk's fsync latency and not. Durability is unchanged: a job's caller
/// hears `Ok` only after the commit that contains its writes has returned. Each job's own
/// writes are in a savepoint (see `record_unchanged`), so one failing job rolls back alone.
#[derive(Clone)]
pub struct Writer {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Writer {
    /// Moves `db` to a new thread, which ends once every clone of the `Writer` is dropped.
    pub fn spawn(db: Db) -> std::io::Result<Writer> {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("fnvault-db".into())
            .spawn(move || writer_loop(db, rx))?;
        Ok(Writer { jobs })
    }

    /// Runs `f` on the writing connection; its result arrives once it is committed.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, DbError> + Send + 'static,
    {
        self.submit(f)?.await.map_err(|_| stopped())?
    }

    /// Queues `f` now (in submission order); the receiver gets its committed result.
    fn submit<T, F>(
        &self,
        f: F,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<T, DbError>>, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, DbError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |db: &mut Db| {
            let path = db.path.clone();
            let result = f(db);
            Box::new(move |committed: Result<(), String>| {
                let answer = match (result, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(message)) => Err(DbError::Other { path, message }),
                    (Ok(v), Ok(())) => Ok(v),
                };
                // The caller may have gone (shutdown cancelled it): nothing to tell.
                let _ = tx.send(answer);
            })
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        Ok(rx)
    }
}

fn stopped() -> DbError {
    DbError::Other {
        path: PathBuf::new(),
        message: "the database thread has stopped".into(),
    }
}

fn writer_loop(mut db: Db, rx: std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut db, batch);
    }
}

/// Runs `batch` in as few transactions as it can, and tells each job's caller the truth about
/// its writes: `Ok` only once a commit that holds them returned, `Err` only when they are not
/// in the database. The transaction state is read from SQLite (`is_autocommit`), never
/// assumed: SQLite rolls a whole transaction back by itself on some errors (`SQLITE_FULL`,
/// `IOERR`, `NOMEM`), after which later jobs would run, and commit, on their own.
fn run_batch(db: &mut Db, batch: Vec<Job>) {
    // A transaction left open (a failed COMMIT whose ROLLBACK failed too) must not swallow this
    // batch's jobs: they would hear `Ok` for writes that are never committed.
    if !db.conn.is_autocommit() {
        tracing::error!("a database transaction was left open; rolling it back");
        let _ = db.conn.execute_batch("ROLLBACK");
    }
    // Replies of jobs whose writes sit in the open transaction, waiting for its COMMIT.
    let mut pending: Vec<Reply> = Vec::new();
    let mut in_tx = begin(db);
    // A failed BEGIN is not retried within the batch (each try may wait the busy timeout).
    let mut can_batch = in_tx;
    for job in batch {
        if !in_tx && can_batch {
            in_tx = begin(db);
            can_batch = in_tx;
        }
        let reply = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(db))) {
            Ok(reply) => Some(reply),
            // The job's sender is gone with the panic: its caller hears "stopped".
            Err(_) => {
                tracing::error!("a database job panicked; its caller gets an error");
                None
            }
        };
        if in_tx {
            if db.conn.is_autocommit() {
                // SQLite rolled the transaction back during this job: every write of it so
                // far is gone. Later jobs start a new one.
                in_tx = false;
                let message = "the database rolled the transaction back (an error such as a full \
                               disk or an I/O error in another write of the same batch)"
                    .to_string();
                for r in pending.drain(..).chain(reply) {
                    r(Err(message.clone()));
                }
            } else {
                pending.extend(reply);
            }
        } else if db.conn.is_autocommit() {
            // No batch transaction: the job's own savepoint committed (or rolled back) alone.
            if let Some(r) = reply {
                r(Ok(()));
            }
        } else {
            // The job left a transaction open outside any batch: nothing of it is committed.
            let _ = db.conn.execute_batch("ROLLBACK");
            if let Some(r) = reply {
                r(Err(
                    "a write was left uncommitted and was rolled back".into()
                ));
            }
        }
    }
    if in_tx {
        let committed = if db.conn.is_autocommit() {
            Err("the database transaction ended before its commit; nothing of it was kept".into())
        } else {
            db.conn.execute_batch("COMMIT").map_err(|e| {
                let message = format!("committing failed: {e}");
                // A failed COMMIT may leave the transaction open; never let the next batch
                // nest in it (checked again at the next batch's start).
                if !db.conn.is_autocommit() {
                    let _ = db.conn.execute_batch("ROLLBACK");
                }
                message
            })
        };
        for reply in pending {
            reply(committed.clone());
        }
    }
}

/// `BEGIN IMMEDIATE`: take the write lock now, so no job fails half-way on a busy database.
/// False when it failed: then each job runs as its own transaction (its savepoint).
fn begin(db: &mut Db) -> bool {
    match db.conn.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => !db.conn.is_autocommit(),
        Err(e) => {
            tracing::warn!("database: BEGIN failed ({e}); running jobs one transaction each");
            false
        }
    }
}

/// The rows of unchanged checks (function id, its latest version's id): each latest version
/// seen live now, each function checked and healthy. Set-based (the ids passed as one JSON
/// array each), so a sweep's 100,000 listing-checked functions are two statements, not
/// 200,000. Shared by a full check's record and the listing's batch.
pub(crate) fn set_unchanged(
    conn: &rusqlite::Connection,
    path: &std::path::Path,
    checked: &[(i64, i64)],
    now: &str,
) -> Result<(), DbError> {
    let functions = id_array(checked.iter().map(|c| c.0));
    let versions = id_array(checked.iter().map(|c| c.1));
    conn.prepare_cached(
        "UPDATE versions SET last_seen = ?2 WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .and_then(|mut s| s.execute(params![versions, now]))
    .map_err(|e| sqlite(path, e))?;
    conn.prepare_cached(
        "UPDATE functions SET last_checked = ?2, last_success = ?2
         WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .and_then(|mut s| s.execute(params![functions, now]))
    .map_err(|e| sqlite(path, e))?;
    // Apart, and only where something differs: setting `last_status` runs the failure-streak
    // trigger (migration 0004) for each row, and `last_status`/`gone_since` have partial
    // indexes (migration 0013); in a steady fleet no row needs it.
    conn.prepare_cached(
        "UPDATE functions SET last_status = 'unchanged', last_error = NULL, gone_since = NULL
         WHERE id IN (SELECT value FROM json_each(?1))
           AND (last_status IS NOT 'unchanged' OR last_error IS NOT NULL
                OR gone_since IS NOT NULL)",
    )
    .and_then(|mut s| s.execute([&functions]))
    .map_err(|e| sqlite(path, e))?;
    Ok(())
}

/// Row ids as a JSON array, for `json_each` (integers only: nothing to escape).
pub(crate) fn id_array(ids: impl Iterator<Item = i64>) -> String {
    let mut out = String::from("[");
    for (i, id) in ids.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push(']');
    out
}

/// A function's target from its stored columns, as stored: an older fnvault's latest-alias
/// key stays what it is until `recovery` merges it. `None` for a cloud other than the two the
/// schema's CHECK allows (not ours to judge: the row is skipped).
pub(crate) fn stored_target(
    cloud: &str,
    account: &str,
    region: &str,
    namespace: &str,
    name: &str,
    qualifier: Option<&str>,
) -> Option<Target> {
    let cloud = crate::cloud::Cloud::parse(cloud)?;
    Some(Target::as_named(
        cloud, account, region, namespace, name, qualifier,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;

    fn target() -> Target {
        Target::new(Cloud::Tencent, "tc", "ap-guangzhou", "default", "f", None)
    }

    fn version(sha: char) -> NewVersion {
        NewVersion {
            cloud_checksum: sha.to_string().repeat(64),
            sha256: sha.to_string().repeat(64),
            crc64: u64::MAX,
            size: 7,
        }
    }

    /// A job that writes function `name` in its own savepoint (as every real job does), and
    /// fails after writing when `fail` is set.
    fn insert_job(name: String, fail: bool) -> impl FnOnce(&mut Db) -> Result<String, DbError> {
        move |db: &mut Db| {
            let path = db.path.clone();
            let sp = db.conn.savepoint().map_err(|e| sqlite(&path, e))?;
            sp.execute(
                UPSERT_FUNCTION,
                params![
                    format!("tc/r/ns/{name}"),
                    "tencent",
                    "tc",
                    "r",
                    "ns",
                    name,
                    None::<String>,
                    "now"
                ],
            )
            .map_err(|e| sqlite(&path, e))?;
            if fail {
                // Fails after writing: the savepoint must undo the row.
                sp.execute("INSERT INTO no_such_table VALUES (1)", [])
                    .map_err(|e| sqlite(&path, e))?;
            }
            sp.commit().map_err(|e| sqlite(&path, e))?;
            Ok(name)
        }
    }

    /// Holds the writer thread inside a first job (which writes `gate` and counts every
    /// commit from then on) until the returned sender is dropped, so the jobs submitted
    /// meanwhile are all queued when it lets go.
    fn hold_writer(
        writer: &Writer,
    ) -> (
        std::sync::mpsc::Sender<()>,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
        tokio::sync::oneshot::Receiver<Result<String, DbError>>,
    ) {
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = commits.clone();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let held = writer
            .submit(move |db: &mut Db| {
                db.conn
                    .commit_hook(Some(move || {
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        false
                    }))
                    .map_err(|e| sqlite(&db.path, e))?;
                let _ = started_tx.send(());
                let _ = gate.recv();
                insert_job("gate".into(), false)(db)
            })
            .unwrap();
        // Once the writer is inside this job, its batch is closed: what comes next queues.
        started.recv().unwrap();
        (release, commits, held)
    }

    fn names(path: &Path) -> Vec<String> {
        let reader = Db::open_read_only(path).unwrap().unwrap();
        let mut stmt = reader
            .conn
            .prepare("SELECT name FROM functions ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// Jobs queued together share one commit (counted: group commit is the point), yet each
    /// one's failure is its own: the failing job's writes roll back, the others' are committed
    /// before their callers hear `Ok`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writer_batches_jobs_into_one_commit_and_a_failing_job_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = Writer::spawn(Db::open(&path).unwrap()).unwrap();
        let (release, commits, held) = hold_writer(&writer);
        let calls: Vec<_> = (0..40)
            .map(|i| {
                writer
                    .submit(insert_job(format!("f{i:02}"), i == 7))
                    .unwrap()
            })
            .collect();
        drop(release);
        assert_eq!(held.await.unwrap().unwrap(), "gate");
        for (i, c) in calls.into_iter().enumerate() {
            match c.await.unwrap() {
                Ok(n) => assert_eq!(n, format!("f{i:02}")),
                Err(e) => {
                    assert_eq!(i, 7, "only job 7 fails: {e}");
                    assert!(e.to_string().contains("no_such_table"), "{e}");
                }
            }
        }
        // The gate's transaction, then one for all 40 queued jobs.
        assert_eq!(commits.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Every Ok was durable when it was answered: a fresh connection sees exactly those rows.
        let mut want: Vec<String> = (0..40)
            .filter(|i| *i != 7)
            .map(|i| format!("f{i:02}"))
            .collect();
        want.push("gate".into());
        want.sort();
        assert_eq!(names(&path), want);
    }

    /// When SQLite rolls a whole transaction back by itself (a full disk, an I/O error), the
    /// jobs before it in the batch lost their writes and must hear so; the jobs after it run
    /// in a new transaction and must hear `Ok` once it is committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writer_never_says_recorded_for_a_lost_write_nor_failed_for_a_committed_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = Writer::spawn(Db::open(&path).unwrap()).unwrap();
        let (release, _commits, held) = hold_writer(&writer);
        let before = writer.submit(insert_job("before".into(), false)).unwrap();
        let rolled_back = writer
            .submit(|db: &mut Db| {
                insert_job("doomed".into(), false)(db)?;
                // What SQLite does on SQLITE_FULL or IOERR in the middle of a transaction.
                db.conn
                    .execute_batch("ROLLBACK")
                    .map_err(|e| sqlite(&db.path, e))?;
                Err::<String, _>(DbError::Other {
                    path: db.path.clone(),
                    message: "database or disk is full".into(),
                })
            })
            .unwrap();
        let after = writer.submit(insert_job("after".into(), false)).unwrap();
        drop(release);
        held.await.unwrap().unwrap();
        assert!(before.await.unwrap().is_err(), "its write was rolled back");
        assert!(rolled_back.await.unwrap().is_err());
        assert_eq!(after.await.unwrap().unwrap(), "after");
        assert_eq!(names(&path), vec!["after".to_string(), "gate".to_string()]);
    }

    #[test]
    fn prepare_targets_inserts_new_functions_and_finds_the_latest_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        let known = target();
        let id = db.upsert_function(&known, "t0").unwrap();
        db.record_journaled_version(id, 1, &version('a'), None, "t1")
            .unwrap();
        db.record_journaled_version(id, 2, &version('b'), None, "t2")
            .unwrap();
        let fresh = Target::new(Cloud::Aliyun, "ali", "cn-shanghai", "svc", "g", None);
        let got = db.prepare_targets(&[known, fresh.clone()], "t3").unwrap();
        assert_eq!(got[0].0, id);
        let latest = got[0].1.as_ref().unwrap();
        assert_eq!(
            (latest.version_no, latest.sha256.as_str()),
            (2, "b".repeat(64).as_str())
        );
        assert_eq!(got[1].1, None);
        assert_eq!(
            db.upsert_function(&fresh, "t4").unwrap(),
            got[1].0,
            "inserted once"
        );
    }

    /// What `list`, `at` and the totals said before migration 0006, by aggregating every
    /// version (the queries of schema 3, verbatim): the reference the kept counts must match.
    fn aggregated(conn: &Connection, at: &[&str]) -> String {
        let mut out = String::new();
        let mut list = conn
            .prepare(
                "SELECT f.key, COALESCE(c.n, 0), l.version_no, l.sha256, l.size
                 FROM functions f
                 LEFT JOIN (SELECT function_id, COUNT(*) AS n, MAX(version_no) AS latest
                            FROM versions GROUP BY function_id) c ON c.function_id = f.id
                 LEFT JOIN versions l ON l.function_id = f.id AND l.version_no = c.latest
                 ORDER BY f.key",
            )
            .unwrap();
        let rows = list
            .query_map([], |r| {
                Ok(format!(
                    "{} n={} latest={:?} {:?} {:?}",
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?
                ))
            })
            .unwrap();
        for r in rows {
            out.push_str(&r.unwrap());
            out.push('\n');
        }
        for t in at {
            let mut stmt = conn
                .prepare(
                    "SELECT f.key, v.version_no FROM functions f
                     JOIN versions v ON v.id = (
                         SELECT id FROM versions WHERE function_id = f.id AND first_seen <= ?1
                         ORDER BY version_no DESC LIMIT 1)
                     ORDER BY f.key",
                )
                .unwrap();
            let rows = stmt
                .query_map([t], |r| {
                    Ok(format!(
                        "at {t}: {} v{}",
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?
                    ))
                })
                .unwrap();
            for r in rows {
                out.push_str(&r.unwrap());
                out.push('\n');
            }
        }
        let totals: (i64, i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM functions), (SELECT COUNT(*) FROM versions),
                        COUNT(*), COALESCE(SUM(size), 0)
                 FROM (SELECT sha256, MAX(size) AS size FROM versions GROUP BY sha256)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        out.push_str(&format!("totals {totals:?}\n"));
        out
    }

    /// The same answers from the kept counts (`summaries`, `versions_at`, `archive_totals`).
    fn kept(db: &Db, at: &[&str]) -> String {
        let mut out = String::new();
        let targets: Vec<Target> = db
            .functions()
            .unwrap()
            .into_iter()
            .map(|f| f.target)
            .collect();
        for s in db.summaries(&targets).unwrap() {
            out.push_str(&format!(
                "{} n={} latest={:?} {:?} {:?}\n",
                s.key, s.versions, s.latest_version, s.latest_sha256, s.latest_size
            ));
        }
        let keys: std::collections::HashMap<i64, String> = db
            .functions()
            .unwrap()
            .into_iter()
            .map(|f| (f.id, f.target.key))
            .collect();
        for t in at {
            // `functions_at` (the `at` command) is `functions` with `versions_at`.
            let mut live = db.versions_at(t).unwrap();
            let zipped: Vec<_> = db
                .functions()
                .unwrap()
                .into_iter()
                .map(|f| {
                    let v = live.remove(&f.id);
                    (f, v)
                })
                .collect();
            assert_eq!(db.functions_at(t).unwrap(), zipped, "at {t}");
            let mut rows: Vec<(String, i64)> = db
                .versions_at(t)
                .unwrap()
                .into_values()
                .map(|v| (keys[&v.function_id].clone(), v.version_no))
                .collect();
            rows.sort();
            for (k, n) in rows {
                out.push_str(&format!("at {t}: {k} v{n}\n"));
            }
        }
        let t = db.archive_totals().unwrap();
        out.push_str(&format!(
            "totals {:?}\n",
            (t.functions, t.versions, t.blobs, t.blob_bytes)
        ));
        out
    }

    const TIMES: [&str; 4] = ["t0", "t2", "t5", "t9"];

    /// Issue 16: migration 0006 fills the kept counts from an existing database, and the
    /// answers of `list`, `at` and the totals are those the aggregating queries gave; then
    /// every kind of write keeps them equal.
    #[test]
    fn a_migrated_database_answers_list_and_at_as_before_and_writes_keep_the_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            // A database as fnvault left it before 0006: schema version 3.
            let mut conn = Connection::open(&path).unwrap();
            migrations().to_version(&mut conn, 3).unwrap();
            let f = |key: &str| {
                conn.execute(
                    "INSERT INTO functions (key, cloud, account, region, namespace, name,
                                            first_seen)
                     VALUES (?1, 'tencent', 'tc', 'r', 'ns', ?2, 't0')",
                    [format!("tc/r/ns/{key}"), key.to_string()],
                )
                .unwrap();
                conn.last_insert_rowid()
            };
            let (a, b, c) = (f("a"), f("b"), f("never-archived"));
            let _ = c;
            let v = |fid: i64, no: i64, sha: char, size: i64, first: &str| {
                conn.execute(
                    "INSERT INTO versions (function_id, version_no, cloud_checksum, sha256,
                                           crc64, size, first_seen, last_seen)
                     VALUES (?1, ?2, 'c', ?3, '0', ?4, ?5, ?5)",
                    params![fid, no, sha.to_string().repeat(64), size, first],
                )
                .unwrap();
            };
            // Inserted out of order (as reindex may), a revert sharing a blob, a blob shared
            // by two functions, and a gap left by prune.
            v(a, 3, 'c', 30, "t5");
            v(a, 1, 'a', 10, "t1");
            v(a, 2, 'b', 20, "t3");
            v(a, 5, 'a', 10, "t8");
            v(b, 1, 'b', 20, "t2");
        }
        let before = {
            let conn = Connection::open(&path).unwrap();
            aggregated(&conn, &TIMES)
        };
        let mut db = Db::open(&path).unwrap();
        assert_eq!(kept(&db, &TIMES), before, "the migration kept every answer");
        assert_eq!(kept(&db, &TIMES), aggregated(&db.conn, &TIMES));

        // A sweep's new version, reindex's adoption, prune's deletion, the merge's move.
        let b = db.function_by_key("tc/r/ns/b").unwrap().unwrap().id;
        db.record_journaled_version(b, 2, &version('d'), None, "t6")
            .unwrap();
        assert_eq!(kept(&db, &TIMES), aggregated(&db.conn, &TIMES));
        let ids: Vec<i64> = db
            .versions_of(db.function_by_key("tc/r/ns/a").unwrap().unwrap().id)
            .unwrap()
            .iter()
            .filter(|v| v.version_no == 5 || v.version_no == 2)
            .map(|v| v.id)
            .collect();
        db.delete_versions(&ids).unwrap();
        assert_eq!(kept(&db, &TIMES), aggregated(&db.conn, &TIMES));
        let c = db
            .function_by_key("tc/r/ns/never-archived")
            .unwrap()
            .unwrap()
            .id;
        db.conn
            .execute(
                "UPDATE versions SET function_id = ?1, version_no = 9
                 WHERE function_id = ?2 AND version_no = 1",
                params![c, b],
            )
            .unwrap();
        assert_eq!(kept(&db, &TIMES), aggregated(&db.conn, &TIMES));
        // A latest version's own columns rewritten (nothing does today): the copy on its
        // function's row (migration 0013) follows.
        db.conn
            .execute(
                "UPDATE versions SET sha256 = ?1, size = 77 WHERE function_id = ?2 AND version_no = 2",
                params!["e".repeat(64), b],
            )
            .unwrap();
        assert_eq!(kept(&db, &TIMES), aggregated(&db.conn, &TIMES));
        db.conn
            .execute("DELETE FROM versions WHERE function_id = ?1", [c])
            .unwrap();
        db.conn
            .execute("DELETE FROM functions WHERE id = ?1", [c])
            .unwrap();
        assert_eq!(kept(&db, &TIMES), aggregated(&db.conn, &TIMES));
        assert_eq!(
            db.archive_totals().unwrap(),
            db.archive_totals_counted().unwrap()
        );
    }

    #[test]
    fn the_migrations_are_valid() {
        migrations().validate().unwrap();
    }

    /// The database never numbers a version itself (the sweep's `next_version_no` does, from
    /// the journal and the database): a number already taken is refused, not shifted.
    #[test]
    fn a_version_number_is_taken_once_and_crc64_keeps_all_64_bits() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        let id = db
            .upsert_function(&target(), "2026-01-01T00:00:00.000Z")
            .unwrap();
        assert_eq!(db.upsert_function(&target(), "later").unwrap(), id);
        db.record_journaled_version(id, 1, &version('a'), None, "t1")
            .unwrap();
        db.record_journaled_version(id, 2, &version('b'), None, "t2")
            .unwrap();
        assert!(
            db.record_journaled_version(id, 2, &version('c'), None, "t3")
                .is_err()
        );
        let latest = db.latest_version(id).unwrap().unwrap();
        assert_eq!(
            (latest.version_no, latest.sha256.as_str()),
            (2, "b".repeat(64).as_str())
        );
        let crc: String = db
            .conn
            .query_row(
                "SELECT crc64 FROM versions WHERE id = ?1",
                [latest.id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(crc, u64::MAX.to_string());
    }

    #[test]
    fn a_failure_keeps_the_versions_and_records_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        let id = db.upsert_function(&target(), "t0").unwrap();
        db.record_journaled_version(id, 1, &version('a'), None, "t1")
            .unwrap();
        db.record_failure(id, "SCF ResourceNotFound.Function: gone", "t2")
            .unwrap();
        let s = &db.summaries(&[target()]).unwrap()[0];
        assert_eq!(s.versions, 1);
        assert_eq!(s.last_status.as_deref(), Some("failed"));
        assert_eq!(
            s.last_error.as_deref(),
            Some("SCF ResourceNotFound.Function: gone")
        );
    }

    #[test]
    fn a_function_never_swept_has_an_empty_summary() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        assert_eq!(
            db.summaries(&[target()]).unwrap(),
            vec![empty_summary(&target())]
        );
    }

    #[test]
    fn unfinished_sweeps_are_marked_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        db.start_sweep("sync", "t0").unwrap();
        assert_eq!(db.mark_unfinished_sweeps_interrupted("t1").unwrap(), 1);
        assert_eq!(db.mark_unfinished_sweeps_interrupted("t2").unwrap(), 0);
    }

    #[test]
    fn the_database_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        Db::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
