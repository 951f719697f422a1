//! One sweep: for every target, resolve → compare → fetch+verify → store → record.
//!
//! Owns: the pipeline, its concurrency, and the per-function outcomes. Calls `cloud` (where is
//! the package), `fetch` (download and verify), `archive` (make it durable) and `db` (record it)
//! — in that order, so a version row is only ever written after its blob is durable.
//!
//! Stages overlap across functions (one is downloading while others are being resolved); one
//! function's failure never stops the others: the sweep's result is the list of outcomes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Semaphore;

use crate::archive::{Archive, ArchiveError, LockGuard};
use crate::cloud::{self, Target};
use crate::config::{Config, RetrySettings};
use crate::db::{Db, DbError, LatestVersion, SweepCounts, Writer};
use crate::observe::{NoObserver, SweepObserver};
use crate::shutdown::Shutdown;

mod check;
mod layers;
mod plan;
mod stages;
pub use stages::{IMAGE_PREFIX, is_image};
pub mod versions;

/// What happened to one function in a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// First package archived for this function.
    New {
        version_no: i64,
        size: u64,
        sha256: String,
    },
    /// The cloud serves a different package than last time; archived as a new version.
    Changed {
        version_no: i64,
        size: u64,
        sha256: String,
    },
    /// The cloud's checksum equals the latest archived version: nothing downloaded.
    Unchanged,
    /// Nothing recorded; `error` says why (free of secrets).
    Failed { error: String },
    /// Shutdown came first: not checked (or its download was cancelled); nothing recorded.
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct FunctionResult {
    pub key: String,
    pub outcome: Outcome,
    /// Bytes downloaded for this function in this sweep.
    pub bytes: u64,
}

/// `work` reordered to take each account in turn (each account's own order kept). Every
/// account has its own rate limiter; in configuration order the sweep's `sync.concurrency`
/// slots could all hold one account's functions waiting for its limiter while another
/// account's calls, allowed at once, queue behind them.
fn interleave_accounts(work: Vec<Work>) -> Vec<Work> {
    let mut by_account: Vec<(String, std::collections::VecDeque<Work>)> = Vec::new();
    let total = work.len();
    for w in work {
        match by_account.iter_mut().find(|(a, _)| *a == w.target.account) {
            Some((_, queue)) => queue.push_back(w),
            None => by_account.push((w.target.account.clone(), [w].into())),
        }
    }
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        for (_, queue) in &mut by_account {
            if let Some(w) = queue.pop_front() {
                out.push(w);
            }
        }
    }
    out
}

/// A function the sweep checks with its own calls (`full_checks`).
struct Work {
    target: Target,
    function_id: i64,
    latest: Option<LatestVersion>,
    check: check::Check,
    hint: Option<crate::cloud::listed::Hint>,
}

#[derive(Debug, Clone)]
pub struct SweepReport {
    pub sweep_id: i64,
    pub results: Vec<FunctionResult>,
    pub counts: SweepCounts,
    pub duration: Duration,
}

impl SweepReport {
    pub fn all_succeeded(&self) -> bool {
        self.counts.failed == 0
    }

    /// Functions not checked because shutdown came first.
    pub fn interrupted(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Interrupted)
            .count()
    }

    /// The one-line summary every sweep ends with.
    pub fn summary_line(&self) -> String {
        let c = &self.counts;
        let interrupted = match self.interrupted() {
            0 => String::new(),
            n => format!(" (interrupted: {n} not checked)"),
        };
        format!(
            "sweep {}: {} checked, {} changed, {} unchanged, {} failed, {} downloaded in {:.1}s{interrupted}",
            self.sweep_id,
            c.checked,
            c.changed,
            c.unchanged,
            c.failed,
            human_bytes(c.bytes),
            self.duration.as_secs_f64()
        )
    }
}

/// Why a sweep could not even start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error("cannot start the database thread: {0}")]
    Thread(String),
    #[error("account `{0}` has no credentials loaded")]
    NoCredentials(String),
    #[error(transparent)]
    Recovery(#[from] crate::recovery::RecoveryError),
    #[error(
        "{0}\n  (if the database file is damaged, `fnvault reindex` rebuilds it from the archive; \
         the damaged file is kept beside it)"
    )]
    DbUnusable(#[source] DbError),
}

/// A failure of the sweep as a whole (the database is unusable), as opposed to one function's.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("database task failed: {0}")]
    Task(String),
    /// `--only` patterns that selected no function, even among the discovered ones.
    #[error(
        "--only {0} matches no function (configured or discovered); patterns match the canonical key or the function name"
    )]
    NothingSelected(String),
}

/// Runs sweeps over one archive and database. Cheap to share: everything inside is shared.
#[derive(Clone)]
pub struct Sweeper {
    http: reqwest::Client,
    clients: Arc<cloud::Clients>,
    archive: Archive,
    db: Writer,
    concurrency: usize,
    retry: RetrySettings,
    downloads: Arc<Semaphore>,
    max_package_size: u64,
    /// `[[discover]]` rules, listed at the start of every sweep (`plan.rs`).
    discover: Arc<Vec<crate::config::Discover>>,
    /// Told what happens, for metrics, progress and alerts.
    observer: Arc<dyn SweepObserver>,
    /// `--only`: applied to discovered functions too (explicit ones come filtered).
    only: Option<Arc<crate::select::Only>>,
    /// A version was journaled but its row could not be written: adopt it before the next
    /// sweep numbers that function's next version (or the number would be used twice).
    journal_ahead: Arc<std::sync::atomic::AtomicBool>,
    /// `versions` / `aliases` of the `[[functions]]` entries, by key (`versions.rs`).
    follow: Arc<HashMap<String, crate::model::Follow>>,
    /// `[capture] secrets`: how configuration snapshots keep secret values.
    capture: crate::config::SecretsMode,
    /// The archive's key for `hash` mode (`capture.key`); zeros in `plain` mode (unused).
    /// Also keys the listing fingerprints (`cloud::listed`).
    capture_key: Arc<[u8; 32]>,
    /// One lock per layer key being archived, so functions sharing a new layer download it
    /// once (`layers.rs`).
    layer_locks: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// `[capture] age_recipients` (`encrypt` mode).
    age_recipients: Arc<Vec<age::x25519::Recipient>>,
    /// `encrypt` mode: each configuration document's comparable SHA-256
    /// (`capture::comparable_sha256`), by its blob name, so a document is read once.
    comparable: Arc<std::sync::Mutex<HashMap<String, String>>>,
    /// `[sync] full_check_interval` (`sweep/check.rs`).
    full_check_interval: Duration,
}

impl Sweeper {
    /// Opens the archive (taking its lock, cleaning what a killed run left in `tmp/`) and the
    /// database (marking sweeps a killed run left unfinished), ready to sweep. The lock is held
    /// until the returned guard is dropped.
    pub fn open(config: &Config) -> Result<(Sweeper, LockGuard), SetupError> {
        let archive = Archive::open_settings(&config.archive, &config.http)?;
        // The database gets its own lock: two configs may name different archives but the
        // same database.
        let lock = archive
            .lock()?
            .with(crate::archive::lock_database(&config.database_path)?);
        let removed = archive.clean_tmp(&lock)?;
        if removed > 0 {
            tracing::warn!(removed, "removed temp files left by an interrupted run");
        }
        let mut db = Db::open(&config.database_path).map_err(|e| match e {
            // Already says so.
            DbError::Damaged { .. } => SetupError::Db(e),
            e => SetupError::DbUnusable(e),
        })?;
        let interrupted = db.mark_unfinished_sweeps_interrupted(&crate::time::now_rfc3339())?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "marked sweeps of an earlier run that died as interrupted"
            );
        }
        catch_up(&archive, &mut db, &lock)?;
        let capture = config.capture.secrets;
        let capture_key = match capture {
            crate::config::SecretsMode::Hash | crate::config::SecretsMode::Encrypt => {
                archive.capture_key(&lock)?
            }
            crate::config::SecretsMode::Plain => [0; 32],
        };
        let http =
            crate::http::client(&config.http).map_err(|e| SetupError::Http(e.to_string()))?;
        let clients = cloud::Clients::new(&http, &config.accounts, &config.http)
            .map_err(SetupError::NoCredentials)?;
        let sweeper = Sweeper {
            http,
            clients: Arc::new(clients),
            archive,
            db: Writer::spawn(db).map_err(|e| SetupError::Thread(e.to_string()))?,
            concurrency: config.sync.concurrency,
            retry: config.retry.clone(),
            downloads: Arc::new(Semaphore::new(config.sync.downloads)),
            max_package_size: config.archive.max_package_size,
            discover: Arc::new(config.discover.clone()),
            observer: Arc::new(NoObserver),
            only: None,
            journal_ahead: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            follow: Arc::new(config.follow.clone()),
            capture,
            capture_key: Arc::new(capture_key),
            layer_locks: Arc::default(),
            age_recipients: Arc::new(config.capture.age_recipients.clone()),
            comparable: Arc::default(),
            full_check_interval: config.sync.full_check_interval,
        };
        Ok((sweeper, lock))
    }

    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// Limits the sweeps to the functions `only` selects, discovered ones included.
    pub fn set_only(&mut self, only: Option<crate::select::Only>) {
        self.only = only.map(Arc::new);
    }

    /// Who hears about this sweeper's sweeps from now on (replacing any earlier observer).
    pub fn set_observer(&mut self, observer: Arc<dyn SweepObserver>) {
        self.observer = observer;
    }

    /// Runs `f` on the database thread; the answer comes once its writes are committed.
    pub(crate) async fn db<T, F>(&self, f: F) -> Result<T, SweepError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, DbError> + Send + 'static,
    {
        self.db.run(f).await.map_err(SweepError::Db)
    }

    /// One sweep over `targets` plus what `[[discover]]` lists, recorded as a row in `sweeps`.
    pub async fn sweep(
        &self,
        targets: &[Target],
        trigger: &str,
        shutdown: &Shutdown,
    ) -> Result<SweepReport, SweepError> {
        let started = Instant::now();
        if self
            .journal_ahead
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            let archive = self.archive.clone();
            let adopted = self
                .db(move |db| {
                    crate::recovery::reconcile_held(&archive, db).map_err(|e| DbError::Other {
                        path: db.path().to_path_buf(),
                        message: format!("adopting journaled versions: {e}"),
                    })
                })
                .await;
            match adopted {
                Ok(r) => tracing::warn!(
                    adopted = r.adopted,
                    "recorded journaled versions whose rows had failed"
                ),
                Err(e) => {
                    self.journal_ahead
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        let trigger = trigger.to_string();
        let sweep_id = self
            .db(move |db| db.start_sweep(&trigger, &crate::time::now_rfc3339()))
            .await?;
        let (planned, listing_failures, mut hints) = match self.plan(targets, shutdown).await {
            Ok(p) => p,
            Err(e) => {
                // The sweep row exists: close it, so it is not later taken for a killed run.
                let counts = SweepCounts::default();
                let closed = self
                    .db(move |db| {
                        db.finish_sweep(sweep_id, "failed", counts, &crate::time::now_rfc3339())
                    })
                    .await;
                if let Err(c) = closed {
                    tracing::error!(sweep = sweep_id, "closing the sweep failed: {c}");
                }
                return Err(e);
            }
        };
        // Published versions and aliases of the functions that ask (issue 14).
        let followed = match self.follow_stage(&planned, shutdown).await {
            Ok(f) => f,
            Err(e) => {
                let counts = SweepCounts::default();
                let closed = self
                    .db(move |db| {
                        db.finish_sweep(sweep_id, "failed", counts, &crate::time::now_rfc3339())
                    })
                    .await;
                if let Err(c) = closed {
                    tracing::error!(sweep = sweep_id, "closing the sweep failed: {c}");
                }
                return Err(e);
            }
        };
        let mut planned = planned;
        planned.extend(followed.targets);
        let mut listing_failures = listing_failures;
        listing_failures.extend(followed.failures);
        // Shared with the database job rather than copied: at 100,000 functions a copy is
        // tens of MiB.
        let planned = Arc::new(planned);
        let targets: &[Target] = &planned;
        tracing::info!(sweep = sweep_id, functions = targets.len(), "sweep started");
        self.observer.sweep_started(sweep_id, targets);

        let all = Arc::clone(&planned);
        let (known, mut listing_checks) = self
            .db(move |db| {
                let known = db.prepare_targets(&all, &crate::time::now_rfc3339())?;
                Ok((known, db.listing_checks()?))
            })
            .await?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let interval = self.full_check_interval;
        let mut vouched = Vec::new();
        let mut full = Vec::new();
        for (t, (function_id, latest)) in targets.iter().zip(known) {
            let hint = hints.remove(&t.key);
            let state = listing_checks.remove(&function_id);
            let check = check::decide(
                t,
                hint.as_ref(),
                state.as_ref(),
                latest.as_ref(),
                interval,
                now_ms,
            );
            match (check, latest) {
                (check::Check::Listing, Some(latest)) => vouched.push(check::Vouched {
                    target: t,
                    function_id,
                    latest,
                    hint,
                }),
                (check, latest) => full.push(Work {
                    target: t.clone(),
                    function_id,
                    latest,
                    check,
                    hint,
                }),
            }
        }
        // Whatever the listing did not name (removed functions) is no longer needed.
        drop((hints, listing_checks));
        let (mut results, missing) = self.check_by_listing(vouched, shutdown).await;
        full.extend(missing);
        results.extend(self.full_checks(full, sweep_id, shutdown).await);
        self.settle_published(followed.published, &results).await?;
        results.extend(listing_failures);

        let counts = count(&results);
        let outcome = if shutdown.is_stopping() {
            "interrupted"
        } else if counts.failed == 0 {
            "ok"
        } else {
            "failed"
        };
        self.db(move |db| db.finish_sweep(sweep_id, outcome, counts, &crate::time::now_rfc3339()))
            .await?;
        self.write_sightings().await;
        // Keep the configured order in the report, whatever order the work finished in.
        let order: HashMap<&str, usize> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.key.as_str(), i))
            .collect();
        results.sort_by_key(|r| order.get(r.key.as_str()).copied().unwrap_or(usize::MAX));
        let report = SweepReport {
            sweep_id,
            results,
            counts,
            duration: started.elapsed(),
        };
        tracing::info!(sweep = sweep_id, "{}", report.summary_line());
        self.observer.sweep_finished(&report);
        Ok(report)
    }

    /// The functions that need their own calls, one task each (bounded by `sync.concurrency`),
    /// so the sweep's CPU work (signing, hashing, parsing) spreads over every core. A task
    /// outlives nothing: dropping the sweep aborts the ones still running, as dropping their
    /// futures did when they ran inside the sweep's own task.
    async fn full_checks(
        &self,
        work: Vec<Work>,
        sweep_id: i64,
        shutdown: &Shutdown,
    ) -> Vec<FunctionResult> {
        futures_util::stream::iter(interleave_accounts(work))
            .map(|w| {
                let key = w.target.key.clone();
                let (sweeper, shutdown) = (self.clone(), shutdown.clone());
                let task = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
                    let Work {
                        target,
                        function_id,
                        latest,
                        check,
                        hint,
                    } = w;
                    sweeper
                        .process(
                            &target,
                            function_id,
                            latest,
                            sweep_id,
                            &shutdown,
                            (check, hint),
                        )
                        .await
                }));
                async move {
                    task.await.unwrap_or_else(|e| FunctionResult {
                        key,
                        outcome: Outcome::Failed {
                            error: format!("internal: the function's task failed: {e}"),
                        },
                        bytes: 0,
                    })
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await
    }

    async fn process(
        &self,
        target: &Target,
        function_id: i64,
        latest: Option<LatestVersion>,
        sweep_id: i64,
        shutdown: &Shutdown,
        check: (check::Check, Option<crate::cloud::listed::Hint>),
    ) -> FunctionResult {
        let result = self
            .process_inner(target, function_id, latest, sweep_id, shutdown, check)
            .await;
        self.observer.function_finished(target, &result);
        result
    }

    async fn process_inner(
        &self,
        target: &Target,
        function_id: i64,
        latest: Option<LatestVersion>,
        sweep_id: i64,
        shutdown: &Shutdown,
        (check, hint): (check::Check, Option<crate::cloud::listed::Hint>),
    ) -> FunctionResult {
        let mut bytes = 0;
        if shutdown.is_stopping() {
            return FunctionResult {
                key: target.key.clone(),
                outcome: Outcome::Interrupted,
                bytes,
            };
        }
        let outcome = match tokio::select! {
            // A pipeline that finished at the moment of the abort (its version recorded) is
            // reported as such, not as interrupted.
            biased;
            r = self.checked_process(target, function_id, latest, sweep_id, shutdown, &mut bytes, check, hint) => r,
            // Dropping the pipeline's future cancels its download; the temp file goes with it.
            _ = shutdown.aborted() => Ok(Outcome::Interrupted),
        } {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(function = %target.key, "{error}");
                let message = error.clone();
                let recorded = self
                    .db(move |db| {
                        db.record_failure(function_id, &message, &crate::time::now_rfc3339())
                    })
                    .await;
                if let Err(e) = recorded {
                    tracing::error!(function = %target.key, "recording the failure failed: {e}");
                }
                Outcome::Failed { error }
            }
        };
        FunctionResult {
            key: target.key.clone(),
            outcome,
            bytes,
        }
    }
}

impl Sweeper {
    /// Reads the new package's file manifest from its durable blob (never a second download).
    /// A package that is not a zip is recorded as such; a failure here is only logged: it must
    /// never turn a successful archive into a failure (the next sweep's catch-up retries it).
    async fn read_manifest(&self, target: &Target, sha256: &str) {
        let sha = sha256.to_string();
        let known = self.db(move |db| db.has_manifest(&sha)).await;
        if matches!(known, Ok(true)) {
            return;
        }
        let (archive, sha) = (self.archive.clone(), sha256.to_string());
        let read = tokio::task::spawn_blocking(move || {
            // In place: on object storage Range GETs of the zip's directory, not a second
            // download of the whole package.
            let location = std::path::PathBuf::from(archive.blob_location(&sha));
            let blob =
                archive
                    .blob_reader(&sha)
                    .map_err(|e| crate::manifest::ManifestError::Io {
                        path: location.clone(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
            crate::manifest::read_from(blob, &location)
        })
        .await;
        let package = match read {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(function = %target.key, "reading the package's manifest: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!(function = %target.key, "reading the package's manifest: {e}");
                return;
            }
        };
        if let crate::manifest::Package::NotZip(why) = &package {
            tracing::info!(function = %target.key, sha256, "the package is not a zip ({why}); archived without a file manifest");
        }
        let sha = sha256.to_string();
        if let Err(e) = self.db(move |db| db.save_manifest(&sha, &package)).await {
            tracing::warn!(function = %target.key, "saving the package's manifest: {e}");
        }
    }

    /// Saves every function's current version's `last_seen` beside the journal, so a rebuilt
    /// database has it exactly: one bounded file rewritten per sweep, in place of the `seen`
    /// journal line per function per day that fnvault wrote before (issue 16; old lines are
    /// still read). Losing it costs precision, not data (a rebuild falls back to the newest
    /// `seen` line or the version's `first_seen`): failures are logged.
    async fn write_sightings(&self) {
        let sightings = match self.db(|db| db.latest_sightings()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("journal sightings: {e}");
                return;
            }
        };
        let archive = self.archive.clone();
        match tokio::task::spawn_blocking(move || archive.journal().write_sightings(&sightings))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("journal sightings: {e}"),
            Err(e) => tracing::warn!("journal sightings: {e}"),
        }
    }
}

/// The one allocator of version numbers: one more than the highest number the function has in
/// the journal or the database, whichever is higher. The journal counts because an append
/// that reported an error may have reached the file (its line is adopted later); the database
/// counts for archives older than the journal. Called by the only writer (the locks), from the
/// function's only task, between storing the blob and appending its line, so nothing else can
/// take the number meanwhile. A number is given again only when its line never reached the
/// file (a torn tail is cut before the next append), so nothing holds it.
pub fn next_version_no(
    archive: &Archive,
    key: &str,
    db_latest: Option<i64>,
) -> Result<i64, ArchiveError> {
    let journaled = archive.journal().max_version_no(key)?;
    Ok(journaled.max(db_latest).unwrap_or(0) + 1)
}

/// What every writer does once it holds the locks, before anything else: adopt versions the
/// journal has and the database lacks (a kill between the two, or a lost database: this is an
/// automatic reindex), journal versions the database has and the journal lacks (archives older
/// than the journal), and read missing manifests. `reconcile` reads only what the journal
/// gained since the last writer's (its watermarks), so a start costs what changed, not the
/// archive's size.
///
/// Blobs nothing references are not counted here any more: that lists every blob and loads
/// every version, which was a sixth of a start at 1,000,000 versions, to print a number. A
/// sweep never deletes one; `verify` lists them and `prune` removes them (README, CLI
/// reference, "Before each sweep").
/// Returns what `reconcile` did (its journal problems: `prune` refuses to delete while any).
pub fn catch_up(
    archive: &Archive,
    db: &mut Db,
    lock: &LockGuard,
) -> Result<crate::recovery::Reconciled, SetupError> {
    let r = crate::recovery::reconcile(archive, db, lock)?;
    if r.full {
        tracing::info!(
            files = r.files_read,
            "reconciled the whole journal with the database (the full reconcile)"
        );
    } else {
        tracing::info!(
            files = r.files_read,
            "reconciled the journal files that grew since the last reconcile"
        );
    }
    if r.adopted > 0 {
        tracing::warn!(
            adopted = r.adopted,
            "recorded versions found in the archive's journal but not in the database"
        );
    }
    if r.journaled > 0 {
        tracing::info!(
            journaled = r.journaled,
            "wrote journal lines for versions recorded before the journal existed"
        );
    }
    if r.alias_states > 0 {
        tracing::warn!(
            states = r.alias_states,
            "alias states rebuilt from the archive's alias journal (the database's differed)"
        );
    }
    for m in &r.missing_blobs {
        tracing::warn!("{m}: its blob is missing from the archive (see `fnvault verify`)");
    }
    for p in &r.problems {
        tracing::warn!("journal: {p}");
    }
    let (read, _) = crate::recovery::fill_manifests(archive, db)?;
    if read > 0 {
        tracing::info!(read, "read file manifests of archived packages");
    }
    Ok(r)
}

impl Sweeper {
    /// Waits before try `attempt + 1` (`retry::backoff_delay`), telling the observers.
    /// Returns false when shutdown stopped the wait: the caller gives up without a failure.
    async fn backoff(
        &self,
        target: &Target,
        attempt: u32,
        asked: Option<Duration>,
        why: &str,
        shutdown: &Shutdown,
    ) -> bool {
        let delay = backoff_delay(&self.retry, attempt, asked);
        self.observer.retry(target);
        tracing::info!(function = %target.key, attempt, delay_ms = delay.as_millis() as u64, "retrying: {why}");
        crate::retry::wait(delay, shutdown).await
    }
}

pub use crate::retry::backoff_delay;
use crate::retry::with_attempts;

/// The sweep's figures, as its `sweeps` row, the summary line and the metrics give them. A
/// function shutdown kept from being checked is in none of them (it was not checked).
fn count(results: &[FunctionResult]) -> SweepCounts {
    let mut counts = SweepCounts::default();
    for r in results {
        counts.bytes += r.bytes;
        match r.outcome {
            Outcome::New { .. } | Outcome::Changed { .. } => counts.changed += 1,
            Outcome::Unchanged => counts.unchanged += 1,
            Outcome::Failed { .. } => counts.failed += 1,
            Outcome::Interrupted => continue,
        }
        counts.checked += 1;
    }
    counts
}

/// `1.5 MiB`: sizes for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;

    fn work(account: &str, name: &str) -> Work {
        Work {
            target: Target::new(Cloud::Tencent, account, "ap-guangzhou", "ns", name, None),
            function_id: 0,
            latest: None,
            check: check::Check::Full(check::PackageHint::Unknown),
            hint: None,
        }
    }

    #[test]
    fn full_checks_take_each_account_in_turn_keeping_each_ones_order() {
        let queue = vec![
            work("scf", "a1"),
            work("scf", "a2"),
            work("scf", "a3"),
            work("fc", "b1"),
            work("other", "c1"),
            work("fc", "b2"),
        ];
        let names: Vec<String> = interleave_accounts(queue)
            .into_iter()
            .map(|w| w.target.name)
            .collect();
        assert_eq!(names, ["a1", "b1", "c1", "a2", "b2", "a3"]);
        assert!(interleave_accounts(Vec::new()).is_empty());
    }
}
