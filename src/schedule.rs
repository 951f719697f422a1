//! The daemon's loop: sweep on the cron schedule until shutdown, never two sweeps at once.
//!
//! Owns: deciding when to sweep. Calls only [`Sweeper::sweep`]. The next tick is always computed
//! from the current time, so ticks that pass during a long sweep are skipped (and logged), never
//! queued up to run back to back.
//!
//! The systemd watchdog is fed from this loop ([`Watchdog`]), not from a ticker of its own: while
//! it waits for the next tick it pings, and while a sweep runs it pings only when the sweep has
//! moved since the last ping (any [`SweepObserver`] hook: an API answer, bytes of a download, a
//! finished function, a `[[discover]]` listing still under way). A sweep stuck on the database
//! writer or a lock stops the pings, and `WatchdogSec=` then restarts the daemon.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;

use crate::cloud::{CloudError, Target};
use crate::config::ScheduleSettings;
use crate::observe::SweepObserver;
use crate::shutdown::Shutdown;
use crate::sweep::{FunctionResult, SweepError, SweepReport, Sweeper};

/// The watchdog as the scheduler feeds it: `ping` every `every` while idle, and during a sweep
/// only if [`SweepProgress`] moved since the previous check.
pub struct Watchdog {
    every: Duration,
    progress: Arc<SweepProgress>,
    ping: Box<dyn Fn() + Send + Sync>,
}

/// A sweep observer that only counts hooks: the watchdog's sign that a sweep is moving.
#[derive(Default)]
pub struct SweepProgress(AtomicU64);

impl SweepProgress {
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn value(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl SweepObserver for SweepProgress {
    fn listing(&self) {
        self.bump()
    }
    fn sweep_started(&self, _sweep_id: i64, _targets: &[Target]) {
        self.bump()
    }
    fn api_call(&self, _target: &Target, _result: Result<(), &CloudError>) {
        self.bump()
    }
    fn retry(&self, _target: &Target) {
        self.bump()
    }
    fn download_started(&self, _target: &Target, _expected: Option<u64>) {
        self.bump()
    }
    fn download_received(&self, _target: &Target, _bytes: u64) {
        self.bump()
    }
    fn download_ended(&self, _target: &Target) {
        self.bump()
    }
    fn function_finished(&self, _target: &Target, _result: &FunctionResult) {
        self.bump()
    }
    fn sweep_finished(&self, _report: &SweepReport) {
        self.bump()
    }
}

impl Watchdog {
    /// A watchdog that calls `ping` (sd_notify `WATCHDOG=1`) at half of `interval` (systemd's
    /// `WatchdogSec`); the returned observer must watch the sweeps.
    pub fn new(
        interval: Duration,
        ping: impl Fn() + Send + Sync + 'static,
    ) -> (Watchdog, Arc<SweepProgress>) {
        let progress = Arc::new(SweepProgress::default());
        (
            Watchdog {
                // Half the interval leaves room for one late check.
                every: (interval / 2).max(Duration::from_millis(1)),
                progress: Arc::clone(&progress),
                ping: Box::new(ping),
            },
            progress,
        )
    }

    /// Waits for `work` (a sweep), pinging at each check at which the sweep has moved since
    /// the one before. No move for a whole interval: no ping, and systemd steps in.
    pub async fn watch<F: Future>(&self, work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        let mut seen = self.progress.value();
        let mut every = tokio::time::interval(self.every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = every.tick() => {
                    let now = self.progress.value();
                    if now != seen {
                        seen = now;
                        (self.ping)();
                    } else {
                        tracing::debug!("watchdog: the sweep has not moved since the last check");
                    }
                }
            }
        }
    }

    /// Waits for `idle` (the wait for the next tick), pinging all along.
    pub async fn idle<F: Future>(&self, idle: F) -> F::Output {
        let mut idle = std::pin::pin!(idle);
        (self.ping)();
        let mut every = tokio::time::interval(self.every);
        every.tick().await;
        loop {
            tokio::select! {
                out = &mut idle => return out,
                _ = every.tick() => (self.ping)(),
            }
        }
    }
}

/// Runs `work` under `watchdog`'s sweep rule, or plainly without one.
async fn watched<F: Future>(watchdog: Option<&Watchdog>, work: F) -> F::Output {
    match watchdog {
        Some(w) => w.watch(work).await,
        None => work.await,
    }
}

/// Runs `wait` under `watchdog`'s idle rule, or plainly without one.
async fn idle<F: Future>(watchdog: Option<&Watchdog>, wait: F) -> F::Output {
    match watchdog {
        Some(w) => w.idle(wait).await,
        None => wait.await,
    }
}

/// Runs until `shutdown` stops it; `after_sweep` sees every report (status line, metrics).
/// With a `watchdog`, this loop is what feeds it.
pub async fn run(
    sweeper: &Sweeper,
    targets: &[Target],
    settings: &ScheduleSettings,
    shutdown: &Shutdown,
    watchdog: Option<&Watchdog>,
    mut after_sweep: impl FnMut(&SweepReport),
) -> Result<(), SweepError> {
    tracing::info!(
        cron = %settings.cron,
        timezone = %settings.timezone,
        functions = targets.len(),
        "daemon started"
    );
    if settings.run_on_start && !shutdown.is_stopping() {
        let report = watched(watchdog, sweeper.sweep(targets, "daemon", shutdown)).await?;
        after_sweep(&report);
    }
    while !shutdown.is_stopping() {
        let now = Utc::now().with_timezone(&settings.timezone);
        let Some(next) = settings.schedule.after(&now).next() else {
            tracing::warn!(cron = %settings.cron, "the schedule has no future tick; idle until stopped");
            idle(watchdog, shutdown.stopped()).await;
            break;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tracing::debug!(next = %next, "next sweep");
        let woke = idle(watchdog, async {
            tokio::select! {
                _ = tokio::time::sleep(wait) => true,
                _ = shutdown.stopped() => false,
            }
        })
        .await;
        if !woke {
            break;
        }
        let report = watched(watchdog, sweeper.sweep(targets, "daemon", shutdown)).await?;
        after_sweep(&report);
        let finished = Utc::now().with_timezone(&settings.timezone);
        let skipped = settings
            .schedule
            .after(&next)
            .take_while(|t| *t <= finished)
            .count();
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "the sweep took longer than the schedule's interval; skipped ticks that passed"
            );
        }
    }
    tracing::info!("daemon stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting() -> (Watchdog, Arc<SweepProgress>, Arc<AtomicUsize>) {
        let pings = Arc::new(AtomicUsize::new(0));
        let p = Arc::clone(&pings);
        let (w, progress) = Watchdog::new(Duration::from_secs(10), move || {
            p.fetch_add(1, Ordering::SeqCst);
        });
        (w, progress, pings)
    }

    /// Review A4: the watchdog came from an independent ticker, so a stuck sweep never
    /// tripped it.
    #[tokio::test(start_paused = true)]
    async fn a_sweep_that_does_not_move_stops_the_pings() {
        let (w, _progress, pings) = counting();
        let stuck = tokio::time::timeout(
            Duration::from_secs(60),
            w.watch(std::future::pending::<()>()),
        )
        .await;
        assert!(stuck.is_err());
        assert_eq!(pings.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_moving_sweep_and_an_idle_wait_keep_pinging() {
        let (w, progress, pings) = counting();
        let moving = async {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_secs(3)).await;
                progress.bump();
            }
        };
        w.watch(moving).await;
        let during_sweep = pings.load(Ordering::SeqCst);
        assert!(
            during_sweep >= 10,
            "{during_sweep} pings in 60 s of progress"
        );
        w.idle(tokio::time::sleep(Duration::from_secs(60))).await;
        assert!(pings.load(Ordering::SeqCst) >= during_sweep + 12);
    }
}
