//! The daemon's loop: sweep on the cron schedule until shutdown, never two sweeps at once.
//!
//! Owns: deciding when to sweep. Calls only [`Sweeper::sweep`]. The next tick is always computed
//! from the current time, so ticks that pass during a long sweep are skipped (and logged), never
//! queued up to run back to back.

use chrono::Utc;

use crate::cloud::Target;
use crate::config::ScheduleSettings;
use crate::shutdown::Shutdown;
use crate::sweep::{SweepError, SweepReport, Sweeper};

/// Runs until `shutdown` stops it; `after_sweep` sees every report (status line, metrics).
pub async fn run(
    sweeper: &Sweeper,
    targets: &[Target],
    settings: &ScheduleSettings,
    shutdown: &Shutdown,
    mut after_sweep: impl FnMut(&SweepReport),
) -> Result<(), SweepError> {
    tracing::info!(
        cron = %settings.cron,
        timezone = %settings.timezone,
        functions = targets.len(),
        "daemon started"
    );
    if settings.run_on_start && !shutdown.is_stopping() {
        let report = sweeper.sweep(targets, "daemon", shutdown).await?;
        after_sweep(&report);
    }
    while !shutdown.is_stopping() {
        let now = Utc::now().with_timezone(&settings.timezone);
        let Some(next) = settings.schedule.after(&now).next() else {
            tracing::warn!(cron = %settings.cron, "the schedule has no future tick; idle until stopped");
            shutdown.stopped().await;
            break;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tracing::debug!(next = %next, "next sweep");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.stopped() => break,
        }
        let report = sweeper.sweep(targets, "daemon", shutdown).await?;
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
