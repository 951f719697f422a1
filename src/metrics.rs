//! Prometheus metrics of the daemon, served on their own listener (`[metrics] listen`).
//!
//! Owns: the metric registry, what each metric means, and the `/metrics` HTTP endpoint. Fed by
//! the sweep through [`SweepObserver`] (counters and gauges are atomics, so the hooks return at
//! once); the per-function and last-success gauges are loaded from the database at start so a
//! restart does not make a stale function look fresh (or a healthy one look never backed up).
//! The per-function gauges and the archive gauges are read again from the database at each
//! scrape: the database is the truth (a listing failure records a failure no hook reports),
//! and discovery adds and loses functions while the daemon runs. Which functions get a series
//! is `crate::tracked`: explicit and discovered ones, except those gone from the cloud. Calls
//! `db` (read-only), `tracked`, `observe`, `sweep` (types), `cloud` (types) and `time`.
//!
//! Names follow the Prometheus conventions: `fnvault_` prefix, base units (`_seconds`,
//! `_bytes`), `_total` on counters, and bounded labels (`cloud`, `outcome`, and the tracked
//! function's canonical key — never a version or hash).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    database: PathBuf,
    /// The configured functions and `[[discover]]` rules: with the database, which functions
    /// have per-function series (`crate::tracked`).
    explicit: Vec<Target>,
    rules: Vec<Discover>,
    /// When the database gauges were last read. Held across a refresh, so only one runs at a
    /// time: concurrent scrapes wait for it and then answer from what it read.
    refreshed: tokio::sync::Mutex<Option<Instant>>,
    /// A sweep finished since the last refresh: the next scrape reads the database again.
    stale: AtomicBool,
    /// Database refreshes done (a cost an exposed port could otherwise be used to multiply).
    refreshes: AtomicU64,
    /// Scrapes being answered; beyond [`MAX_SCRAPES`] a scrape gets 503 at once.
    scrapes: Arc<tokio::sync::Semaphore>,
}

/// How long the database gauges are served from the last read (unless a sweep finished since):
/// a scrape reads about one row per tracked function plus a `GROUP BY` over all versions.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

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
            database,
            explicit,
            rules,
            refreshed: tokio::sync::Mutex::new(None),
            stale: AtomicBool::new(false),
            refreshes: AtomicU64::new(0),
            scrapes: Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPES)),
        }
    }

    /// How many times the database gauges have been read since start (not `load`).
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
        self.load_archive(db)
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
        let mut gone = 0;
        for t in tracked.iter().filter(|t| t.is_gone()) {
            gone += 1;
            let labels = FunctionLabels {
                function: t.target.key.clone(),
                cloud: t.target.cloud.as_str().to_string(),
            };
            self.function_last_success.remove(&labels);
            self.function_failures.remove(&labels);
        }
        self.functions_gone.set(gone);
        Ok(())
    }

    fn load_archive(&self, db: &Db) -> Result<(), crate::db::DbError> {
        let t = db.archive_totals()?;
        self.archive_functions.set(t.functions);
        self.archive_versions.set(t.versions);
        self.archive_blobs.set(t.blobs);
        self.archive_bytes.set(t.blob_bytes);
        Ok(())
    }

    /// The OpenMetrics text of every metric. The per-function and archive gauges are read
    /// from the database when the last read is older than [`REFRESH_EVERY`] or a sweep has
    /// finished since; one read at a time. Counters and hooks' gauges are always live.
    pub async fn render(self: &Arc<Self>) -> Result<String, std::fmt::Error> {
        {
            let mut last = self.refreshed.lock().await;
            let fresh = last.is_some_and(|t| t.elapsed() < REFRESH_EVERY)
                && !self.stale.load(Ordering::SeqCst);
            if !fresh {
                self.stale.store(false, Ordering::SeqCst);
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                let me = Arc::clone(self);
                let refreshed =
                    tokio::task::spawn_blocking(move || match Db::open_read_only(&me.database) {
                        Ok(Some(db)) => me.load_functions(&db).and_then(|()| me.load_archive(&db)),
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    })
                    .await;
                match refreshed {
                    Ok(Ok(())) => {}
                    // A scrape still gets every metric; the gauges from the database keep their
                    // last value (the hooks keep the per-function ones current meanwhile).
                    Ok(Err(e)) => tracing::warn!("metrics: reading the database failed: {e}"),
                    Err(e) => tracing::warn!("metrics: reading the database failed: {e}"),
                }
                *last = Some(Instant::now());
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
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
        self.sweep_running.set(1);
    }

    fn api_call(&self, target: &Target, result: Result<(), &CloudError>) {
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
        self.retries.get_or_create(&cloud_of(target)).inc();
    }

    fn download_received(&self, target: &Target, bytes: u64) {
        self.download_bytes
            .get_or_create(&cloud_of(target))
            .inc_by(bytes);
    }

    fn function_finished(&self, target: &Target, result: &FunctionResult) {
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
        // What the database says changed with this sweep: the next scrape reads it again.
        self.stale.store(true, Ordering::SeqCst);
        let now = now_unix();
        self.last_sweep.set(now);
        if outcome == "ok" {
            self.last_success_sweep.set(now);
        }
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
        match m.render().await {
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

    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(metrics);
    tokio::spawn(async move {
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

    fn with_database() -> (tempfile::TempDir, Arc<Metrics>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fnvault.db");
        drop(Db::open(&path).unwrap());
        let m = Arc::new(Metrics::new(path, Vec::new(), Vec::new()));
        (dir, m)
    }

    /// Review X8/P4: every scrape re-read the database, any number at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scrapes_share_one_database_read_until_it_ages_or_a_sweep_ends() {
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
        assert_eq!(m.refreshes(), 1, "one read for 16 concurrent scrapes");
        m.render().await.unwrap();
        assert_eq!(m.refreshes(), 1, "answered from the last read");
        m.sweep_finished(&SweepReport {
            sweep_id: 1,
            results: Vec::new(),
            counts: Default::default(),
            duration: Duration::from_secs(1),
        });
        m.render().await.unwrap();
        assert_eq!(
            m.refreshes(),
            2,
            "a finished sweep makes the next scrape read again"
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
}
