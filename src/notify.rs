//! Failure alerts (`[notify] webhook`, `command`) and healthchecks-style pings (`ping_url`).
//!
//! Owns: deciding when to alert, the JSON body, and delivering it. It watches sweeps through
//! [`SweepObserver`] and hands each event to one worker task, so deliveries never slow the
//! sweep and happen in order (`/start` is always sent before that sweep's end ping). Every
//! delivery has `notify.timeout`; a failure is logged and never changes the sweep's outcome or
//! exit code, and [`Notifier::finish`] bounds how long shutdown waits for the queue.
//!
//! A webhook or ping URL may carry a token (in its query, userinfo or even its path, as Slack's
//! do), so logs name only its scheme and host. Calls `db` (read-only: the streaks and times of
//! the failing functions), `tracked` (which functions those are: explicit and discovered),
//! `http`, `observe`, `sweep` (types) and `secret`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::cloud::Target;
use crate::config::{Discover, NotifySettings};
use crate::db::Db;
use crate::observe::SweepObserver;
use crate::secret::EndpointUrl;
use crate::sweep::{Outcome, SweepReport};

enum Event {
    Started {
        sweep_id: i64,
    },
    Finished(Box<SweepReport>),
    /// The sweep as a whole failed (the database is unusable).
    Error(String),
    /// A ready alert body (a mirror lagging past `mirror_lag_alert`).
    Alert(serde_json::Value),
    Close,
}

impl Event {
    fn describe(&self) -> String {
        match self {
            Event::Started { sweep_id } => format!("the start ping of sweep {sweep_id}"),
            Event::Finished(r) => format!("the end ping and alert of sweep {}", r.sweep_id),
            Event::Error(_) => "a sweep error alert".into(),
            Event::Alert(body) => format!("a {} alert", body["event"].as_str().unwrap_or("")),
            Event::Close => "close".into(),
        }
    }
}

/// Events queued at most: each `Finished` holds a whole sweep report (100k results at scale),
/// and a slow hook (up to 3 × `timeout` per sweep) behind a frequent schedule would otherwise
/// grow the queue, and memory, without bound.
const QUEUE_LIMIT: usize = 8;

/// The bounded queue between the observer and the worker. When full, the oldest event is
/// dropped (and logged): a stale sweep's ping matters less than the newest one's.
#[derive(Default)]
struct Queue {
    events: Mutex<VecDeque<Event>>,
    ready: tokio::sync::Notify,
}

impl Queue {
    fn push(&self, event: Event) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if events.len() >= QUEUE_LIMIT
            && let Some(stale) = events.iter().position(|e| !matches!(e, Event::Close))
            && let Some(dropped) = events.remove(stale)
        {
            tracing::warn!(
                queued = events.len(),
                "notify: deliveries are queued behind a slow webhook, command or ping; dropped {}",
                dropped.describe()
            );
        }
        events.push_back(event);
        drop(events);
        self.ready.notify_one();
    }

    async fn pop(&self) -> Event {
        loop {
            let next = self
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            if let Some(event) = next {
                return event;
            }
            // A push between the check and here leaves a permit, so no wake-up is lost.
            self.ready.notified().await;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }
}

/// The sweep observer that queues alerts and pings for the worker.
pub struct Notifier {
    queue: Arc<Queue>,
}

/// The worker delivering what the [`Notifier`] queued. Call [`NotifierWorker::finish`] before
/// exiting so queued deliveries (the last sweep's ping) go out.
pub struct NotifierWorker {
    queue: Arc<Queue>,
    handle: tokio::task::JoinHandle<()>,
    timeout: Duration,
}

struct Worker {
    settings: NotifySettings,
    http: reqwest::Client,
    database: PathBuf,
    /// The configured functions and `[[discover]]` rules: with the database, which functions
    /// the alert body describes (`crate::tracked`).
    explicit: Vec<Target>,
    rules: Vec<Discover>,
}

impl Notifier {
    /// Starts the worker. `explicit` and `rules` are the config's functions and `[[discover]]`
    /// rules (for the alert body).
    pub fn start(
        settings: NotifySettings,
        http: reqwest::Client,
        database: PathBuf,
        explicit: Vec<Target>,
        rules: Vec<Discover>,
    ) -> (Arc<Notifier>, NotifierWorker) {
        let queue = Arc::new(Queue::default());
        let rx = Arc::clone(&queue);
        let timeout = settings.timeout;
        let worker = Worker {
            settings,
            http,
            database,
            explicit,
            rules,
        };
        let handle = tokio::spawn(async move {
            loop {
                match rx.pop().await {
                    Event::Started { sweep_id } => {
                        worker
                            .ping(Some("start"), format!("sweep {sweep_id} started\n"))
                            .await;
                    }
                    Event::Finished(report) => worker.finished(&report).await,
                    Event::Error(message) => worker.sweep_error(&message).await,
                    Event::Alert(body) => worker.alert(&body).await,
                    Event::Close => break,
                }
            }
        });
        (
            Arc::new(Notifier {
                queue: Arc::clone(&queue),
            }),
            NotifierWorker {
                queue,
                handle,
                timeout,
            },
        )
    }

    /// The sweep could not finish (database error): alert and ping `/fail`.
    pub fn sweep_error(&self, message: &str) {
        self.queue.push(Event::Error(message.to_string()));
    }

    /// A mirror lags past `[notify] mirror_lag_alert`: alert with `body` (no ping: the
    /// sweeps themselves are fine).
    pub fn mirror_lagging(&self, body: serde_json::Value) {
        self.queue.push(Event::Alert(body));
    }
}

impl NotifierWorker {
    /// Delivers what is queued, then stops. Waits at most a few `notify.timeout`s: each
    /// delivery is bounded, and what is left after that is dropped (and logged).
    pub async fn finish(self) {
        self.queue.push(Event::Close);
        let mut handle = self.handle;
        if tokio::time::timeout(self.timeout * 4, &mut handle)
            .await
            .is_err()
        {
            handle.abort();
            tracing::warn!("notify: gave up on deliveries still queued at exit");
        }
    }
}

impl SweepObserver for Notifier {
    fn sweep_started(&self, sweep_id: i64, _targets: &[Target]) {
        self.queue.push(Event::Started { sweep_id });
    }

    fn sweep_finished(&self, report: &SweepReport) {
        self.queue.push(Event::Finished(Box::new(report.clone())));
    }
}

impl Worker {
    async fn finished(&self, report: &SweepReport) {
        if report.counts.failed > 0 {
            let body = self.alert_body(report).await;
            let alerting = body["failing"].as_array().is_some_and(|a| !a.is_empty());
            if alerting {
                self.alert(&body).await;
            } else {
                tracing::debug!(
                    after_failures = self.settings.after_failures,
                    "notify: no function has failed often enough in a row to alert"
                );
            }
            self.ping(Some("fail"), format!("{}\n", report.summary_line()))
                .await;
        } else if report.interrupted() == 0 {
            self.ping(None, format!("{}\n", report.summary_line()))
                .await;
        }
        // An interrupted sweep is neither a success nor a failure: the next start pings again.
    }

    async fn sweep_error(&self, message: &str) {
        let body = json!({
            "event": "sweep_error",
            "error": message,
            "time": crate::time::now_rfc3339(),
        });
        self.alert(&body).await;
        self.ping(Some("fail"), format!("sweep failed: {message}\n"))
            .await;
    }

    /// The alert for `report`: the sweep, its counts, and the functions that failed at least
    /// `after_failures` sweeps in a row (with their error and streak). No secrets: errors are
    /// already redacted when recorded.
    async fn alert_body(&self, report: &SweepReport) -> serde_json::Value {
        let failed: Vec<(&str, &str)> = report
            .results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Failed { error } => Some((r.key.as_str(), error.as_str())),
                _ => None,
            })
            .collect();
        // Sets and maps keyed by function, not scans per function (review P2: a whole
        // account failing made this quadratic).
        let failed_keys: std::collections::HashSet<String> =
            failed.iter().map(|(k, _)| k.to_string()).collect();
        let (explicit, rules) = (self.explicit.clone(), self.rules.clone());
        let database = self.database.clone();
        let sweep_id = report.sweep_id;
        let read = tokio::task::spawn_blocking(move || {
            let db = Db::open_read_only(&database)?.ok_or_else(|| crate::db::DbError::Other {
                path: database.clone(),
                message: "does not exist".into(),
            })?;
            let targets: Vec<Target> = crate::tracked::tracked(&explicit, &rules, Some(&db))?
                .into_iter()
                .map(|t| t.target)
                .filter(|t| failed_keys.contains(&t.key))
                .collect();
            Ok::<_, crate::db::DbError>((db.sweep(sweep_id)?, db.function_health(&targets)?))
        })
        .await;
        let (sweep, health) = match read {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(
                    "notify: reading failure streaks failed, alerting on every failure: {e}"
                );
                (None, Vec::new())
            }
            Err(e) => {
                tracing::warn!(
                    "notify: reading failure streaks failed, alerting on every failure: {e}"
                );
                (None, Vec::new())
            }
        };
        let health: std::collections::HashMap<&str, &crate::db::FunctionHealth> =
            health.iter().map(|h| (h.key.as_str(), h)).collect();
        let explicit: std::collections::HashMap<&str, &Target> =
            self.explicit.iter().map(|t| (t.key.as_str(), t)).collect();
        let failing: Vec<serde_json::Value> = failed
            .iter()
            .filter_map(|(key, error)| {
                let h = health.get(key).copied();
                // Unknown streak (database unreadable): alert rather than stay silent.
                let streak = h.map(|h| h.consecutive_failures);
                if streak.is_some_and(|n| n < i64::from(self.settings.after_failures)) {
                    return None;
                }
                // The database unreadable, an explicit function's cloud is still known.
                let cloud = h
                    .map(|h| h.cloud.clone())
                    .or_else(|| explicit.get(key).map(|t| t.cloud.as_str().to_string()));
                Some(json!({
                    "function": key,
                    "cloud": cloud,
                    "error": error,
                    "consecutive_failures": streak,
                    "failing_since": h.and_then(|h| h.failing_since.clone()),
                }))
            })
            .collect();
        let c = &report.counts;
        json!({
            "event": "sweep_failed",
            "sweep_id": report.sweep_id,
            "trigger": sweep.as_ref().map(|s| s.trigger.clone()),
            "started": sweep.as_ref().map(|s| s.started.clone()),
            "finished": sweep.as_ref().and_then(|s| s.finished.clone()),
            "duration_seconds": report.duration.as_secs_f64(),
            "counts": {
                "checked": c.checked,
                "changed": c.changed,
                "unchanged": c.unchanged,
                "failed": c.failed,
                "bytes": c.bytes,
            },
            "after_failures": self.settings.after_failures,
            "failing": failing,
            "summary": report.summary_line(),
        })
    }

    async fn alert(&self, body: &serde_json::Value) {
        if let Some(webhook) = &self.settings.webhook {
            self.webhook(webhook, body).await;
        }
        if let Some(command) = &self.settings.command {
            self.run_command(command, body).await;
        }
    }

    async fn webhook(&self, url: &EndpointUrl, body: &serde_json::Value) {
        let shown = url.origin();
        let sent = self
            .http
            .post(url.expose())
            .timeout(self.settings.timeout)
            .json(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                tracing::info!(webhook = %shown, "notify: failure alert sent");
            }
            Ok(r) => tracing::warn!(
                webhook = %shown,
                "notify: the webhook answered HTTP {}; alert not delivered",
                r.status().as_u16()
            ),
            Err(e) => tracing::warn!(
                webhook = %shown,
                "notify: the webhook failed: {}; alert not delivered",
                crate::http::describe(&e.without_url())
            ),
        }
    }

    async fn run_command(&self, command: &[String], body: &serde_json::Value) {
        use tokio::io::AsyncWriteExt;
        let Some((program, args)) = command.split_first() else {
            return;
        };
        let spawned = tokio::process::Command::new(program)
            .args(args)
            // The daemon's environment may hold cloud keys (TENCENTCLOUD_SECRET_KEY, `*_env`
            // values, CREDENTIALS_DIRECTORY): a third-party notifier gets none of it.
            .env_clear()
            .envs(command_env(std::env::vars_os()))
            .env("FNVAULT_EVENT", body["event"].as_str().unwrap_or("alert"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(command = %program, "notify: cannot run the command: {e}");
                return;
            }
        };
        let input = body.to_string();
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                // A command that does not read its input is fine: ignore a broken pipe.
                let _ = stdin.write_all(input.as_bytes()).await;
                let _ = stdin.write_all(b"\n").await;
            }
            child.wait().await
        };
        match tokio::time::timeout(self.settings.timeout, run).await {
            Ok(Ok(status)) if status.success() => {
                tracing::info!(command = %program, "notify: failure alert command ran");
            }
            Ok(Ok(status)) => {
                tracing::warn!(command = %program, "notify: the command failed ({status})")
            }
            Ok(Err(e)) => {
                tracing::warn!(command = %program, "notify: waiting for the command failed: {e}")
            }
            Err(_) => tracing::warn!(
                command = %program,
                "notify: the command did not finish within {:?}; killed",
                self.settings.timeout
            ),
        }
        // kill_on_drop ends a command that overran its time.
    }

    /// `POST <ping_url>[/suffix]` with a one-line text body (healthchecks.io shows it).
    async fn ping(&self, suffix: Option<&str>, body: String) {
        let Some(base) = &self.settings.ping_url else {
            return;
        };
        let Ok(mut url) = url::Url::parse(base.expose()) else {
            return;
        };
        if let Some(s) = suffix
            && let Ok(mut segments) = url.path_segments_mut()
        {
            segments.pop_if_empty().push(s);
        }
        let shown = base.origin();
        let what = suffix.unwrap_or("success");
        let sent = self
            .http
            .post(url)
            .timeout(self.settings.timeout)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                tracing::debug!(ping = %shown, "notify: pinged {what}");
            }
            Ok(r) => tracing::warn!(
                ping = %shown,
                "notify: the {what} ping answered HTTP {}",
                r.status().as_u16()
            ),
            Err(e) => tracing::warn!(
                ping = %shown,
                "notify: the {what} ping failed: {}",
                crate::http::describe(&e.without_url())
            ),
        }
    }
}

/// What the alert command inherits: `PATH` and `HOME` (to find and run programs), `LANG` and
/// fnvault's own `FNVAULT_*` variables; nothing else of the daemon's environment.
fn command_env(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    vars.filter(|(name, _)| {
        name.to_str()
            .is_some_and(|n| matches!(n, "PATH" | "HOME" | "LANG") || n.starts_with("FNVAULT_"))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review A3: the queue was unbounded, each event holding a whole sweep report.
    #[tokio::test]
    async fn the_queue_keeps_the_newest_events_and_never_grows_past_its_limit() {
        let q = Queue::default();
        for sweep_id in 0..100 {
            q.push(Event::Started { sweep_id });
            assert!(q.len() <= QUEUE_LIMIT);
        }
        q.push(Event::Close);
        assert_eq!(q.len(), QUEUE_LIMIT);
        let mut left = Vec::new();
        loop {
            match q.pop().await {
                Event::Started { sweep_id } => left.push(sweep_id),
                Event::Close => break,
                _ => unreachable!(),
            }
        }
        assert_eq!(left, (93..100).collect::<Vec<_>>());
    }

    #[test]
    fn only_the_scheme_and_host_of_a_hook_are_shown() {
        let u = EndpointUrl::new("https://u:pw@hooks.example:8443/services/T0/B0/s3cret?token=x");
        assert_eq!(u.origin(), "https://hooks.example:8443/…");
    }
}
