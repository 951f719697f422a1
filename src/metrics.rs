//! Prometheus metrics of the daemon, served on their own listener (`[metrics] listen`).
//!
//! Owns: the metric registry, what each metric means, and the `/metrics` HTTP endpoint. Fed by
//! the sweep through [`SweepObserver`] (counters and gauges are atomics, so the hooks return at
//! once); the per-function and last-success gauges are loaded from the database at start so a
//! restart does not make a stale function look fresh (or a healthy one look never backed up).
//! A scrape never reads the database (issue 16: at 100,000 functions it re-read every
//! function): the daemon holds the database's lock, so only its own sweeps change what the
//! gauges show. The hooks keep the per-function gauges as each function is recorded; once a
//! sweep ends, one read brings in what no hook reports (a listing failure recorded against a
//! function, a function found gone) from the rows that sweep wrote, and the archive totals
//! from the one row migration 0006 keeps. Which functions get a series is `crate::tracked`:
//! explicit and discovered ones, except those gone from the cloud. Calls `db` (read-only),
//! `tracked`, `observe`, `sweep` (types), `cloud` (types) and `time`.
//!
//! Names follow the Prometheus conventions: `fnvault_` prefix, base units (`_seconds`,
//! `_bytes`), `_total` on counters, and bounded labels (`cloud`, `outcome`, and the tracked
//! function's canonical key — never a version or hash).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::cloud::{CloudError, ErrorKind, Target};
use crate::config::Discover;
use crate::db::Db;
use crate::observe::SweepObserver;
use crate::sweep::{FunctionResult, Outcome, SweepReport};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudLabels {
    cloud: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudOutcomeLabels {
    cloud: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    check: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MirrorLabels {
    mirror: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabels {
    function: String,
    cloud: String,
}

/// Every metric fnvault exports.
pub struct Metrics {
    registry: Registry,
    sweeps: Family<OutcomeLabels, Counter>,
    checks: Family<CloudOutcomeLabels, Counter>,
    download_bytes: Family<CloudLabels, Counter>,
    api_requests: Family<CloudOutcomeLabels, Counter>,
    retries: Family<CloudLabels, Counter>,
    sweep_duration: Histogram,
    sweep_running: Gauge,
    last_sweep: Gauge,
    last_success_sweep: Gauge,
    function_last_success: Family<FunctionLabels, Gauge>,
    function_failures: Family<FunctionLabels, Gauge>,
    archive_functions: Gauge,
    archive_versions: Gauge,
    archive_blobs: Gauge,
    archive_bytes: Gauge,
    functions_gone: Gauge,
    /// Functions by how their latest check was made (`listing`, `full`, `never`: no full
    /// check recorded yet), and the oldest full check (issue 16).
    functions_by_check: Family<CheckLabels, Gauge>,
    oldest_full_check: Gauge,
    mirror_lag_versions: Family<MirrorLabels, Gauge>,
    mirror_lag_age: Family<MirrorLabels, Gauge>,
    mirror_last_success: Family<MirrorLabels, Gauge>,
    mirror_last_error: Family<MirrorLabels, Gauge>,
    /// The configured mirrors' names (`set_mirrors`): which mirrors get series.
    mirrors: Vec<String>,
    /// Each mirror's oldest uncopied version (unix time), as last read: the age gauge is
    /// worked out from it at each scrape (an age set once would stand still), with no read.
    mirror_oldest: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    database: PathBuf,
    /// The configured functions and `[[discover]]` rules: with the database, which functions
    /// have per-function series (`crate::tracked`).
    explicit: Vec<Target>,
    rules: Vec<Discover>,
    /// Keys of the explicit functions, for the per-sweep read.
    explicit_keys: HashSet<String>,
    /// Told when a sweep ends; `serve`'s reader then reads what it recorded.
    swept: tokio::sync::Notify,
    /// Held across a read of the database, so only one runs at a time: a scrape waits for a
    /// read under way and then answers from what it read.
    refreshing: tokio::sync::Mutex<()>,
    /// Sweeps finished whose rows have not been read yet; the next read covers all of them.
    pending: std::sync::Mutex<Vec<i64>>,
    /// The tracked functions found gone (they have no per-function series).
    gone: std::sync::Mutex<HashSet<String>>,
    /// Bumped after every change of a value; the encoded text is reused while it stands still.
    changes: AtomicU64,
    /// The last encoded text and the `changes` it was encoded at. At 100,000 functions the
    /// text is about 20 MB and encoding it costs about 100 ms; between sweeps nothing changes.
    encoded: std::sync::Mutex<Option<(u64, bytes::Bytes)>>,
    /// Database reads done after sweeps (never per scrape).
    refreshes: AtomicU64,
    /// Scrapes being answered; beyond [`MAX_SCRAPES`] a scrape gets 503 at once.
    scrapes: Arc<tokio::sync::Semaphore>,
}

/// Scrapes answered at once; more get `503 Service Unavailable`.
pub const MAX_SCRAPES: usize = 4;

impl Metrics {
    /// The registry with every metric at zero; `database` is read for the archive gauges and,
    /// with `explicit` and `rules`, for the per-function ones.
    pub fn new(database: PathBuf, explicit: Vec<Target>, rules: Vec<Discover>) -> Metrics {
        let mut registry = Registry::with_prefix("fnvault");
        let sweeps = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "sweeps",
            "Sweeps finished, by outcome (ok, failed, interrupted)",
            sweeps.clone(),
        );
        let checks = Family::<CloudOutcomeLabels, Counter>::default();
        registry.register(
            "function_checks",
            "Functions checked, by cloud and outcome (new, changed, unchanged, failed, interrupted)",
            checks.clone(),
        );
        let download_bytes = Family::<CloudLabels, Counter>::default();
        registry.register_with_unit(
            "download",
            "Package bytes received from the object stores, failed tries included",
            Unit::Bytes,
            download_bytes.clone(),
        );
        let api_requests = Family::<CloudOutcomeLabels, Counter>::default();
        registry.register(
            "api_requests",
            "Cloud API calls, by cloud and outcome (ok, retryable, deploying, not_found, permanent)",
            api_requests.clone(),
        );
        let retries = Family::<CloudLabels, Counter>::default();
        registry.register(
            "retries",
            "Tries that failed and were followed by another one",
            retries.clone(),
        );
        // 0.25 s to about 2.3 h: a sweep of a few functions up to thousands of big packages.
        let sweep_duration = Histogram::new(exponential_buckets(0.25, 2.0, 16));
        registry.register_with_unit(
            "sweep_duration",
            "How long sweeps took",
            Unit::Seconds,
            sweep_duration.clone(),
        );
        let sweep_running = Gauge::default();
        registry.register(
            "sweep_running",
            "1 while a sweep runs",
            sweep_running.clone(),
        );
        let last_sweep = Gauge::default();
        registry.register_with_unit(
            "last_sweep_timestamp",
            "When the last sweep finished, whatever its outcome (unix time; 0 = never)",
            Unit::Seconds,
            last_sweep.clone(),
        );
        let last_success_sweep = Gauge::default();
        registry.register_with_unit(
            "last_success_timestamp",
            "When the last sweep in which every function succeeded finished (unix time; 0 = never)",
            Unit::Seconds,
            last_success_sweep.clone(),
        );
        let functions_by_check = Family::<CheckLabels, Gauge>::default();
        registry.register(
            "functions_by_last_check",
            "Functions (not gone) by how their latest check was made: listing (the cloud's listing showed them unchanged), full (their own API calls), never (no full check recorded yet)",
            functions_by_check.clone(),
        );
        let oldest_full_check = Gauge::default();
        registry.register_with_unit(
            "oldest_full_check_timestamp",
            "The oldest last full check among the functions that have one (unix time; 0 = none)",
            Unit::Seconds,
            oldest_full_check.clone(),
        );
        let function_last_success = Family::<FunctionLabels, Gauge>::default();
        registry.register_with_unit(
            "function_last_success_timestamp",
            "When the archive was last confirmed to hold what the cloud serves for this function (unix time; 0 = never)",
            Unit::Seconds,
            function_last_success.clone(),
        );
        let function_failures = Family::<FunctionLabels, Gauge>::default();
        registry.register(
            "function_consecutive_failures",
            "Sweeps in a row in which this function failed (0 = its last check succeeded)",
            function_failures.clone(),
        );
        let archive_functions = Gauge::default();
        registry.register(
            "archive_functions",
            "Functions with a row in the database",
            archive_functions.clone(),
        );
        let archive_versions = Gauge::default();
        registry.register(
            "archive_versions",
            "Versions recorded",
            archive_versions.clone(),
        );
        let archive_blobs = Gauge::default();
        registry.register(
            "archive_blobs",
            "Distinct packages (blobs) in the archive",
            archive_blobs.clone(),
        );
        let archive_bytes = Gauge::default();
        registry.register_with_unit(
            "archive_size",
            "Total size of the distinct packages in the archive",
            Unit::Bytes,
            archive_bytes.clone(),
        );
        let functions_gone = Gauge::default();
        registry.register(
            "functions_gone",
            "Discovered functions the cloud no longer lists (archive kept, no longer checked, no per-function series)",
            functions_gone.clone(),
        );
        let mirror_lag_versions = Family::<MirrorLabels, Gauge>::default();
        registry.register(
            "mirror_lag_versions",
            "Versions recorded since the mirror's last complete run (the ones it may lack)",
            mirror_lag_versions.clone(),
        );
        let mirror_lag_age = Family::<MirrorLabels, Gauge>::default();
        registry.register_with_unit(
            "mirror_lag_age",
            "How long the oldest version the mirror may lack has waited (0 = none waits)",
            Unit::Seconds,
            mirror_lag_age.clone(),
        );
        let mirror_last_success = Family::<MirrorLabels, Gauge>::default();
        registry.register_with_unit(
            "mirror_last_success_timestamp",
            "When the mirror's last complete run started (unix time; 0 = never)",
            Unit::Seconds,
            mirror_last_success.clone(),
        );
        let mirror_last_error = Family::<MirrorLabels, Gauge>::default();
        registry.register(
            "mirror_last_error",
            "1 when the mirror's last run failed, 0 otherwise",
            mirror_last_error.clone(),
        );
        Metrics {
            registry,
            sweeps,
            checks,
            download_bytes,
            api_requests,
            retries,
            sweep_duration,
            sweep_running,
            last_sweep,
            last_success_sweep,
            function_last_success,
            function_failures,
            archive_functions,
            archive_versions,
            archive_blobs,
            archive_bytes,
            functions_gone,
            functions_by_check,
            oldest_full_check,
            mirror_lag_versions,
            mirror_lag_age,
            mirror_last_success,
            mirror_last_error,
            mirrors: Vec::new(),
            mirror_oldest: std::sync::Mutex::new(std::collections::HashMap::new()),
            database,
            explicit_keys: explicit.iter().map(|t| t.key.clone()).collect(),
            explicit,
            rules,
            swept: tokio::sync::Notify::new(),
            refreshing: tokio::sync::Mutex::new(()),
            pending: std::sync::Mutex::new(Vec::new()),
            gone: std::sync::Mutex::new(HashSet::new()),
            changes: AtomicU64::new(0),
            encoded: std::sync::Mutex::new(None),
            refreshes: AtomicU64::new(0),
            scrapes: Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPES)),
        }
    }

    /// The `[[mirrors]]` names: each gets its four series, from `load` and every
    /// [`Metrics::load_mirrors`].
    pub fn set_mirrors(&mut self, names: Vec<String>) {
        self.mirrors = names;
    }

    /// Reads each mirror's state (after its runs: the daemon calls this once they are
    /// recorded, never per scrape).
    pub fn load_mirrors(&self, db: &Db) -> Result<(), crate::db::DbError> {
        let states = self
            .mirrors
            .iter()
            .map(|m| db.mirror_state(m))
            .collect::<Result<Vec<_>, _>>()?;
        self.set_mirror_states(&states, chrono::Utc::now().timestamp());
        Ok(())
    }

    /// Sets the mirror series from `states`, the age as at `now` (unix time).
    fn set_mirror_states(&self, states: &[crate::db::MirrorState], now: i64) {
        {
            let mut oldest = lock(&self.mirror_oldest);
            for st in states {
                let labels = MirrorLabels {
                    mirror: st.name.clone(),
                };
                self.mirror_lag_versions
                    .get_or_create(&labels)
                    .set(st.lag_versions);
                self.mirror_last_success
                    .get_or_create(&labels)
                    .set(unix(st.last_success.as_deref()));
                self.mirror_last_error
                    .get_or_create(&labels)
                    .set(i64::from(st.last_error.is_some()));
                match st.oldest_unmirrored.as_deref() {
                    Some(t) => oldest.insert(st.name.clone(), unix(Some(t))),
                    None => oldest.remove(&st.name),
                };
            }
        }
        self.set_mirror_ages(now);
        self.changed();
    }

    /// Sets each mirror's age gauge as at `now` from the times in memory; true when one
    /// changed (the text must be encoded again).
    fn set_mirror_ages(&self, now: i64) -> bool {
        let oldest = lock(&self.mirror_oldest);
        let mut moved = false;
        for name in &self.mirrors {
            let age = oldest.get(name).map_or(0, |t| (now - t).max(0));
            let gauge = self.mirror_lag_age.get_or_create(&MirrorLabels {
                mirror: name.clone(),
            });
            moved |= gauge.set(age) != age;
        }
        moved
    }

    /// How many times the database was read after sweeps since start (not `load`).
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// Sets the per-function, last-success and archive gauges from the database, so they
    /// survive a restart.
    pub fn load(&self, db: &Db) -> Result<(), crate::db::DbError> {
        self.last_success_sweep
            .set(unix(db.last_ok_sweep_finished()?.as_deref()));
        if let Some(last) = db.recent_sweeps(1)?.first() {
            self.last_sweep.set(unix(last.finished.as_deref()));
        }
        self.load_functions(db)?;
        self.load_mirrors(db)?;
        let loaded = self.load_archive(db);
        self.changed();
        loaded
    }

    /// Marks the values changed: the next scrape encodes them again.
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// Every tracked function that is not gone gets its two series (0 = never succeeded);
    /// a gone one loses them. An alert on a gone function's age would fire forever for a
    /// function deliberately deleted; `fnvault_functions_gone` counts them instead.
    fn load_functions(&self, db: &Db) -> Result<(), crate::db::DbError> {
        let tracked = crate::tracked::tracked(&self.explicit, &self.rules, Some(db))?;
        let live = crate::tracked::live_targets(&tracked);
        for h in db.function_health(&live)? {
            let labels = FunctionLabels {
                function: h.key.clone(),
                cloud: h.cloud.clone(),
            };
            self.function_last_success
                .get_or_create(&labels)
                .set(unix(h.last_success.as_deref()));
            self.function_failures
                .get_or_create(&labels)
                .set(h.consecutive_failures);
        }
        let mut gone = HashSet::new();
        for t in tracked.iter().filter(|t| t.is_gone()) {
            let labels = FunctionLabels {
                function: t.target.key.clone(),
                cloud: t.target.cloud.as_str().to_string(),
            };
            self.function_last_success.remove(&labels);
            self.function_failures.remove(&labels);
            gone.insert(t.target.key.clone());
        }
        self.functions_gone.set(gone.len() as i64);
        *lock(&self.gone) = gone;
        Ok(())
    }

    /// Brings in what the sweeps `ids` recorded: every function row they wrote (checked or
    /// found gone since the first of them started) sets its series from the database, and
    /// the archive totals come from their kept row. One pass over `functions`, once per sweep.
    fn load_swept(&self, db: &Db, ids: &[i64]) -> Result<(), crate::db::DbError> {
        let mut since: Option<String> = None;
        for id in ids {
            if let Some(s) = db.sweep(*id)? {
                since = Some(match since {
                    Some(t) if t <= s.started => t,
                    _ => s.started,
                });
            }
        }
        if let Some(since) = since {
            let mut gone = lock(&self.gone);
            for f in db.functions_touched_since(&since)? {
                let explicit = self.explicit_keys.contains(&f.target.key);
                if !explicit && !self.rules.iter().any(|r| r.covers(&f.target)) {
                    continue; // not tracked: no series
                }
                let labels = FunctionLabels {
                    function: f.target.key.clone(),
                    cloud: f.target.cloud.as_str().to_string(),
                };
                // An explicit function is checked whatever a listing says: never gone.
                if f.gone_since.is_some() && !explicit {
                    self.function_last_success.remove(&labels);
                    self.function_failures.remove(&labels);
                    gone.insert(f.target.key);
                } else {
                    self.function_last_success
                        .get_or_create(&labels)
                        .set(unix(f.last_success.as_deref()));
                    self.function_failures
                        .get_or_create(&labels)
                        .set(f.consecutive_failures);
                    gone.remove(&f.target.key);
                }
            }
            self.functions_gone.set(gone.len() as i64);
        }
        let loaded = self.load_archive(db);
        self.changed();
        loaded
    }

    fn load_archive(&self, db: &Db) -> Result<(), crate::db::DbError> {
        let t = db.archive_totals()?;
        self.archive_functions.set(t.functions);
        self.archive_versions.set(t.versions);
        self.archive_blobs.set(t.blobs);
        self.archive_bytes.set(t.blob_bytes);
        let c = db.full_check_summary()?;
        for (check, n) in [
            ("listing", c.by_listing),
            ("full", c.full),
            ("never", c.never),
        ] {
            self.functions_by_check
                .get_or_create(&CheckLabels {
                    check: check.to_string(),
                })
                .set(n);
        }
        self.oldest_full_check
            .set(unix(c.oldest_full_check.as_deref()));
        Ok(())
    }

    /// Reads what the sweeps finished since the last read recorded (nothing when none did).
    /// One read at a time; a caller arriving during one waits for it.
    pub async fn refresh(self: &Arc<Self>) {
        let _reading = self.refreshing.lock().await;
        let ids = std::mem::take(&mut *lock(&self.pending));
        if ids.is_empty() {
            return;
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let me = Arc::clone(self);
        let read = tokio::task::spawn_blocking(move || match Db::open_read_only(&me.database) {
            Ok(Some(db)) => me.load_swept(&db, &ids),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        })
        .await;
        match read {
            Ok(Ok(())) => {}
            // The gauges keep what the hooks set; the next sweep's read tries again.
            Ok(Err(e)) => tracing::warn!("metrics: reading the database failed: {e}"),
            Err(e) => tracing::warn!("metrics: reading the database failed: {e}"),
        }
    }

    /// The OpenMetrics text of every metric, from the values in memory. Only when a sweep
    /// finished and its rows are not read yet (the read starts as it ends) does a scrape wait
    /// for that read. The text is encoded again only when a value changed since the last one.
    pub async fn encoded(self: &Arc<Self>) -> Result<bytes::Bytes, std::fmt::Error> {
        self.refresh().await;
        // A lagging mirror's age grows by itself; worked out from memory, no read.
        if self.set_mirror_ages(chrono::Utc::now().timestamp()) {
            self.changed();
        }
        // Read before encoding: a change during the encoding bumps it past this, so the text
        // is never reused for values it may not show.
        let at = self.changes.load(Ordering::SeqCst);
        if let Some((when, text)) = &*lock(&self.encoded)
            && *when == at
        {
            return Ok(text.clone());
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        let text = bytes::Bytes::from(out);
        *lock(&self.encoded) = Some((at, text.clone()));
        Ok(text)
    }

    /// [`Metrics::encoded`] as a string.
    pub async fn render(self: &Arc<Self>) -> Result<String, std::fmt::Error> {
        let text = self.encoded().await?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }
}

/// Bumps `changes` when dropped, i.e. after the hook has set its values.
struct Changed<'a>(&'a Metrics);

impl Drop for Changed<'_> {
    fn drop(&mut self) {
        self.0.changed();
    }
}

/// The guarded value even if a holder panicked (the sets stay usable: each update is whole).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// RFC 3339 text from the database as unix seconds; 0 for none (or unreadable).
fn unix(t: Option<&str>) -> i64 {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn cloud_of(t: &Target) -> CloudLabels {
    CloudLabels {
        cloud: t.cloud.as_str().to_string(),
    }
}

impl SweepObserver for Metrics {
    fn sweep_started(&self, _sweep_id: i64, _targets: &[Target]) {
        let _changed = Changed(self);
        self.sweep_running.set(1);
    }

    fn api_call(&self, target: &Target, result: Result<(), &CloudError>) {
        let _changed = Changed(self);
        let outcome = match result {
            Ok(()) => "ok",
            Err(e) => match e.kind {
                ErrorKind::Retryable => "retryable",
                ErrorKind::Deploying => "deploying",
                ErrorKind::NotFound => "not_found",
                ErrorKind::Permanent => "permanent",
            },
        };
        self.api_requests
            .get_or_create(&CloudOutcomeLabels {
                cloud: target.cloud.as_str().to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    fn retry(&self, target: &Target) {
        let _changed = Changed(self);
        self.retries.get_or_create(&cloud_of(target)).inc();
    }

    fn download_received(&self, target: &Target, bytes: u64) {
        let _changed = Changed(self);
        self.download_bytes
            .get_or_create(&cloud_of(target))
            .inc_by(bytes);
    }

    fn function_finished(&self, target: &Target, result: &FunctionResult) {
        let _changed = Changed(self);
        let outcome = match result.outcome {
            Outcome::New { .. } => "new",
            Outcome::Changed { .. } => "changed",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed { .. } => "failed",
            Outcome::Interrupted => "interrupted",
        };
        self.checks
            .get_or_create(&CloudOutcomeLabels {
                cloud: target.cloud.as_str().to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        let labels = FunctionLabels {
            function: target.key.clone(),
            cloud: target.cloud.as_str().to_string(),
        };
        // Mirrors what the database records (see migrations/0004_failure_streaks.sql).
        match result.outcome {
            Outcome::New { .. } | Outcome::Changed { .. } | Outcome::Unchanged => {
                self.function_last_success
                    .get_or_create(&labels)
                    .set(now_unix());
                self.function_failures.get_or_create(&labels).set(0);
            }
            Outcome::Failed { .. } => {
                self.function_failures.get_or_create(&labels).inc();
                // A function that never succeeded has a last-success series too (at 0), so
                // an alert on its age can fire; one that did keeps its time.
                let _ = self.function_last_success.get_or_create(&labels);
            }
            Outcome::Interrupted => {}
        }
    }

    fn sweep_finished(&self, report: &SweepReport) {
        let _changed = Changed(self);
        let outcome = if report.interrupted() > 0 {
            "interrupted"
        } else if report.all_succeeded() {
            "ok"
        } else {
            "failed"
        };
        self.sweeps
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
        self.sweep_duration.observe(report.duration.as_secs_f64());
        self.sweep_running.set(0);
        // What no hook saw (listing failures, gone functions) and the totals: read the rows
        // this sweep wrote, now, off the sweep's path; a scrape meanwhile waits for it.
        lock(&self.pending).push(report.sweep_id);
        self.swept.notify_one();
        let now = now_unix();
        self.last_sweep.set(now);
        if outcome == "ok" {
            self.last_success_sweep.set(now);
        }
    }
}

/// Ends the reader task with the server.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` stops the daemon.
pub fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: crate::shutdown::Shutdown,
) -> tokio::task::JoinHandle<()> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    async fn scrape(
        axum::extract::State(m): axum::extract::State<Arc<Metrics>>,
    ) -> axum::response::Response {
        // Bounded: a flood of scrapes on an exposed port queues nothing.
        let Ok(_permit) = Arc::clone(&m.scrapes).try_acquire_owned() else {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "too many scrapes at once\n",
            )
                .into_response();
        };
        match m.encoded().await {
            Ok(body) => (
                [(
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                body,
            )
                .into_response(),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n").into_response(),
        }
    }

    // Reads what each sweep recorded as it ends, so a scrape finds it read already.
    let reader = {
        let metrics = Arc::clone(&metrics);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = metrics.swept.notified() => metrics.refresh().await,
                    _ = shutdown.stopped() => break,
                }
            }
        })
    };
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(metrics);
    tokio::spawn(async move {
        let _reader = AbortOnDrop(reader);
        let stopped = async move { shutdown.stopped().await };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!("metrics endpoint failed: {e}");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;
    use std::time::Duration;

    fn with_database() -> (tempfile::TempDir, Arc<Metrics>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fnvault.db");
        drop(Db::open(&path).unwrap());
        let m = Arc::new(Metrics::new(path, Vec::new(), Vec::new()));
        (dir, m)
    }

    fn report(sweep_id: i64) -> SweepReport {
        SweepReport {
            sweep_id,
            results: Vec::new(),
            counts: Default::default(),
            duration: std::time::Duration::from_secs(1),
        }
    }

    /// Review X8/P4, issue 16: every scrape re-read the database (at 100,000 functions, every
    /// function). Now no scrape reads it; each finished sweep is read once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scrapes_never_read_the_database_and_a_finished_sweep_is_read_once() {
        let (_dir, m) = with_database();
        let scrapes: Vec<_> = (0..16)
            .map(|_| {
                let m = Arc::clone(&m);
                tokio::spawn(async move { m.render().await.unwrap() })
            })
            .collect();
        for s in scrapes {
            assert!(s.await.unwrap().contains("fnvault_archive_versions 0"));
        }
        assert_eq!(m.refreshes(), 0, "no scrape reads the database");
        m.sweep_finished(&report(1));
        m.sweep_finished(&report(2));
        m.render().await.unwrap();
        assert_eq!(m.refreshes(), 1, "two finished sweeps, one read");
        m.render().await.unwrap();
        assert_eq!(m.refreshes(), 1, "answered from memory");
    }

    /// The encoded text is reused only while no value changed: every hook's change shows in
    /// the next scrape.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scrape_after_any_change_shows_it() {
        let (_dir, m) = with_database();
        let t = Target::new(Cloud::Tencent, "tc", "ap-guangzhou", "default", "f", None);
        let first = m.render().await.unwrap();
        assert_eq!(m.render().await.unwrap(), first, "nothing changed");
        m.retry(&t);
        assert!(
            m.render()
                .await
                .unwrap()
                .contains("fnvault_retries_total{cloud=\"tencent\"} 1")
        );
        m.download_received(&t, 7);
        assert!(
            m.render()
                .await
                .unwrap()
                .contains("fnvault_download_bytes_total{cloud=\"tencent\"} 7")
        );
        m.sweep_started(1, std::slice::from_ref(&t));
        assert!(
            m.render()
                .await
                .unwrap()
                .contains("fnvault_sweep_running 1")
        );
    }

    /// The lines of the series the database decides (per-function, gone, archive totals).
    fn from_database(text: &str) -> Vec<String> {
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| {
                [
                    "fnvault_function_last_success",
                    "fnvault_function_consecutive_failures",
                    "fnvault_functions_gone",
                    "fnvault_archive_",
                ]
                .iter()
                .any(|p| l.starts_with(p))
            })
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    /// Issue 16: what the hooks and the one read after a sweep keep in memory equals what a
    /// fresh start would load from the database: new versions, a failure only a listing
    /// recorded (no hook sees it), a function found gone, and the archive totals.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_sweep_the_gauges_equal_a_fresh_load_from_the_database() {
        use crate::db::NewVersion;
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.toml");
        std::fs::write(
            &config_path,
            "[archive]\ndir = \"archive\"\n[database]\npath = \"db\"\n\
             [[accounts]]\nname = \"tc\"\ncloud = \"tencent\"\n\
             [[functions]]\naccount = \"tc\"\nregion = \"ap-shanghai\"\nname = \"e\"\n\
             [[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\n",
        )
        .unwrap();
        let config = crate::config::Config::load_without_credentials(&config_path).unwrap();
        let t = |region: &str, name: &str| {
            Target::new(Cloud::Tencent, "tc", region, "default", name, None)
        };
        let (e, d1, d2, d3) = (
            config.functions[0].clone(),
            t("ap-guangzhou", "d1"),
            t("ap-guangzhou", "d2"),
            t("ap-guangzhou", "d3"),
        );
        let version = |c: char, size: u64| NewVersion {
            cloud_checksum: c.to_string().repeat(64),
            sha256: c.to_string().repeat(64),
            crc64: 0,
            size,
        };
        let mut db = Db::open(&config.database_path).unwrap();
        let now = crate::time::now_rfc3339;
        let mut ids = std::collections::HashMap::new();
        for (i, f) in [&e, &d1, &d2, &d3].into_iter().enumerate() {
            let id = db.upsert_function(f, &now()).unwrap();
            db.record_journaled_version(
                id,
                1,
                &version((b'a' + i as u8) as char, 10),
                None,
                &now(),
            )
            .unwrap();
            ids.insert(f.key.clone(), id);
        }
        let m = Arc::new(Metrics::new(
            config.database_path.clone(),
            config.functions.clone(),
            config.discover.clone(),
        ));
        m.load(&db).unwrap();

        // One sweep: e unchanged, d1 changed (to a package e already has), d2's scope failed
        // to list, d3 no longer listed.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let sweep = db.start_sweep("daemon", &now()).unwrap();
        db.record_failure(
            ids[&d2.key],
            "listing tc/ap-guangzhou/* failed: boom",
            &now(),
        )
        .unwrap();
        db.mark_gone(ids[&d3.key], &now()).unwrap();
        let latest = db.latest_version(ids[&e.key]).unwrap().unwrap();
        db.record_unchanged(ids[&e.key], latest.id, &now()).unwrap();
        db.record_journaled_version(ids[&d1.key], 2, &version('a', 10), Some(sweep), &now())
            .unwrap();
        db.finish_sweep(sweep, "failed", Default::default(), &now())
            .unwrap();
        for (f, outcome) in [
            (&e, Outcome::Unchanged),
            (
                &d1,
                Outcome::Changed {
                    version_no: 2,
                    size: 10,
                    sha256: "a".repeat(64),
                },
            ),
        ] {
            m.function_finished(
                f,
                &FunctionResult {
                    key: f.key.clone(),
                    outcome,
                    bytes: 10,
                },
            );
        }
        m.sweep_finished(&report(sweep));
        let kept = m.render().await.unwrap();

        let fresh = Arc::new(Metrics::new(
            config.database_path.clone(),
            config.functions.clone(),
            config.discover.clone(),
        ));
        fresh.load(&db).unwrap();
        let loaded = fresh.render().await.unwrap();
        assert_eq!(from_database(&kept), from_database(&loaded));
        // And the figures are the ones this sweep made.
        for line in [
            "fnvault_functions_gone 1",
            "fnvault_archive_versions 5",
            "fnvault_archive_blobs 4",
            "fnvault_function_consecutive_failures{function=\"tc/ap-guangzhou/default/d2\",cloud=\"tencent\"} 1",
        ] {
            assert!(kept.contains(line), "missing `{line}` in\n{kept}");
        }
        assert!(
            !kept.contains("default/d3\""),
            "a gone function has no series:\n{kept}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scrapes_beyond_the_cap_get_503_at_once() {
        let (_dir, m) = with_database();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let shutdown = crate::shutdown::Shutdown::new();
        let server = serve(listener, Arc::clone(&m), shutdown.clone());
        let client = crate::http::client(&crate::config::HttpSettings {
            connect_timeout: Duration::from_secs(5),
            api_timeout: Duration::from_secs(5),
            download_idle_timeout: Duration::from_secs(5),
            allow_http_downloads: false,
        })
        .unwrap();
        let busy = Arc::clone(&m.scrapes)
            .acquire_many_owned(MAX_SCRAPES as u32)
            .await
            .unwrap();
        let refused = client.get(&url).send().await.unwrap();
        assert_eq!(refused.status().as_u16(), 503);
        drop(busy);
        let ok = client.get(&url).send().await.unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        shutdown.stop();
        server.await.unwrap();
    }

    #[test]
    fn names_follow_the_prometheus_conventions() {
        let m = Arc::new(Metrics::new(
            PathBuf::from("/nonexistent/db"),
            Vec::new(),
            Vec::new(),
        ));
        let t = Target::new(Cloud::Aliyun, "ali", "cn-hangzhou", "svc", "f", None);
        m.download_received(&t, 10);
        m.retry(&t);
        m.function_finished(
            &t,
            &FunctionResult {
                key: t.key.clone(),
                outcome: Outcome::Failed { error: "x".into() },
                bytes: 0,
            },
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        for line in [
            "fnvault_download_bytes_total{cloud=\"aliyun\"} 10",
            "fnvault_retries_total{cloud=\"aliyun\"} 1",
            "fnvault_function_checks_total{cloud=\"aliyun\",outcome=\"failed\"} 1",
            "fnvault_function_consecutive_failures{function=\"ali/cn-hangzhou/svc/f\",cloud=\"aliyun\"} 1",
            "fnvault_function_last_success_timestamp_seconds{function=\"ali/cn-hangzhou/svc/f\",cloud=\"aliyun\"} 0",
            "# TYPE fnvault_sweep_duration_seconds histogram",
            "# UNIT fnvault_archive_size_bytes bytes",
            "fnvault_last_success_timestamp_seconds 0",
        ] {
            assert!(out.contains(line), "missing `{line}` in\n{out}");
        }
    }

    /// Issue 17: each mirror's lag, age, last success and last error, exact; the age grows
    /// from memory between reads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_mirror_has_its_lag_age_last_success_and_last_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Metrics::new(dir.path().join("fnvault.db"), Vec::new(), Vec::new());
        m.set_mirrors(vec!["usb".into(), "offsite".into()]);
        let m = Arc::new(m);
        let states = [
            crate::db::MirrorState {
                name: "usb".into(),
                last_success: Some("2026-01-01T00:00:00Z".into()),
                last_error: Some("the disk is gone".into()),
                lag_versions: 3,
                oldest_unmirrored: Some("2026-01-02T00:00:00Z".into()),
                ..Default::default()
            },
            crate::db::MirrorState {
                name: "offsite".into(),
                last_success: Some("2026-01-02T12:00:00Z".into()),
                ..Default::default()
            },
        ];
        let day2 = 1_767_312_000; // 2026-01-02T00:00:00Z
        m.set_mirror_states(&states, day2 + 90);
        let age = |name: &str| {
            m.mirror_lag_age
                .get_or_create(&MirrorLabels {
                    mirror: name.into(),
                })
                .get()
        };
        assert_eq!((age("usb"), age("offsite")), (90, 0));
        assert!(m.set_mirror_ages(day2 + 150), "the age moved");
        assert_eq!((age("usb"), age("offsite")), (150, 0));
        assert!(!m.set_mirror_ages(day2 + 150), "nothing moved");

        let text = m.render().await.unwrap();
        for line in [
            "fnvault_mirror_lag_versions{mirror=\"usb\"} 3",
            "fnvault_mirror_lag_versions{mirror=\"offsite\"} 0",
            "fnvault_mirror_last_success_timestamp_seconds{mirror=\"usb\"} 1767225600",
            "fnvault_mirror_last_success_timestamp_seconds{mirror=\"offsite\"} 1767355200",
            "fnvault_mirror_last_error{mirror=\"usb\"} 1",
            "fnvault_mirror_last_error{mirror=\"offsite\"} 0",
            "fnvault_mirror_lag_age_seconds{mirror=\"offsite\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        // The scrape worked the age out at its own time: now, long after day 2.
        let usb_age: i64 = text
            .lines()
            .find_map(|l| l.strip_prefix("fnvault_mirror_lag_age_seconds{mirror=\"usb\"} "))
            .expect("the usb age series")
            .parse()
            .unwrap();
        assert!(usb_age > 150, "{usb_age}");
        assert!(!text.contains("disk is gone"), "errors are not labels");
    }
}
