//! The operator's commands and flags: `sync --only` and `--dry-run`, the table of changes after
//! an interactive sync, `status`, `completions` and `man`.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::output::write_table;
use crate::cloud::Target;
use crate::config::Config;
use crate::db::Db;
use crate::dryrun::{Plan, PlanItem};
use crate::sweep::{Outcome, SweepReport, human_bytes};

/// The explicit targets `--only` selects (all without patterns). When no `[[discover]]` rule
/// could add functions, a pattern that matches none of them is an error: a typo must not turn
/// into a silent no-op sync. (With discovery, the sweep applies the same patterns to what the
/// listing finds.)
pub fn select_targets(
    targets: &[Target],
    only: Option<&crate::select::Only>,
    discovery: bool,
) -> anyhow::Result<Vec<Target>> {
    let Some(only) = only else {
        return Ok(targets.to_vec());
    };
    if !discovery && let Some(p) = only.unmatched(targets).first() {
        anyhow::bail!(
            "--only `{p}` matches no configured function (patterns match the canonical key, e.g. `tc-prod/ap-guangzhou/default/*`, or the function name)"
        );
    }
    Ok(only.filter(targets))
}

/// Prints the plan of `sync --dry-run` to stdout and its summary to stderr; exit 1 if a check
/// failed.
pub fn print_plan(items: &[PlanItem]) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut rows = Vec::new();
    let (mut download, mut up_to_date, mut failed, mut interrupted) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for item in items {
        match &item.plan {
            Plan::Download {
                reason,
                cloud_checksum,
            } => {
                download += 1;
                rows.push(vec![
                    item.key.clone(),
                    reason.as_str().to_string(),
                    cloud_checksum.clone(),
                ]);
            }
            Plan::UpToDate => up_to_date += 1,
            Plan::Failed { error } => {
                failed += 1;
                failures.push(format!("failed: {}: {error}", item.key));
            }
            Plan::Interrupted => interrupted += 1,
        }
    }
    if rows.is_empty() {
        writeln!(out, "nothing to download")?;
    } else {
        write_table(
            &mut out,
            &["WOULD DOWNLOAD", "REASON", "CLOUD CHECKSUM"],
            &rows,
        )?;
    }
    for f in &failures {
        writeln!(out, "{}", super::output::shown(f))?;
    }
    let interrupted = match interrupted {
        0 => String::new(),
        n => format!(" (interrupted: {n} not checked)"),
    };
    writeln!(
        out,
        "dry run: {} checked, {download} would be downloaded, {up_to_date} up to date, {failed} failed; nothing was downloaded or recorded{interrupted}",
        items.len() - items.iter().filter(|i| i.plan == Plan::Interrupted).count()
    )?;
    out.flush()?;
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The table after an interactive sync: what changed and what failed.
pub fn print_changes(out: &mut dyn Write, report: &SweepReport) -> io::Result<()> {
    let rows: Vec<Vec<String>> = report
        .results
        .iter()
        .filter_map(|r| {
            let (what, version, size) = match &r.outcome {
                Outcome::New {
                    version_no, size, ..
                } => ("new", format!("v{version_no}"), human_bytes(*size)),
                Outcome::Changed {
                    version_no, size, ..
                } => ("changed", format!("v{version_no}"), human_bytes(*size)),
                Outcome::Failed { .. } => ("FAILED", "-".into(), "-".into()),
                Outcome::Unchanged | Outcome::Interrupted => return None,
            };
            Some(vec![r.key.clone(), what.into(), version, size])
        })
        .collect();
    if rows.is_empty() {
        writeln!(out, "nothing changed")
    } else {
        write_table(out, &["FUNCTION", "RESULT", "VERSION", "SIZE"], &rows)
    }
}

/// A function counts as stale when it has not been confirmed archived for this long.
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// `fnvault status`: read-only, works while a daemon runs. Exit 1 when a function is failing
/// or stale, so a script can use it as a health check. Covers every tracked function
/// (`crate::tracked`: explicit and discovered); a gone one is listed as gone, never as failing
/// or stale: the cloud no longer serves it, so there is nothing left to back up.
pub fn status(config: &Config, sweeps: usize, json_out: bool) -> anyhow::Result<ExitCode> {
    let db = Db::open_read_only(&config.database_path)?;
    if db.is_none() {
        super::no_database_note(config);
    }
    let now = chrono::Utc::now();
    // Only the rows that can be failing, stale or gone are read (review §6: building every
    // tracked function cost 4 µs each); the stale judgement below is still made on each.
    let confirmed_by = crate::time::format_rfc3339(now - STALE_AFTER);
    let full_checks = match &db {
        Some(db) => db.full_check_summary()?,
        None => Default::default(),
    };
    let (recent, health, gone, totals) = match &db {
        Some(db) => {
            let attention = crate::tracked::needing_attention(config, db, &confirmed_by)?;
            (
                db.recent_sweeps(sweeps)?,
                attention.live,
                attention.gone,
                db.archive_totals()?,
            )
        }
        None => (
            Vec::new(),
            config
                .functions
                .iter()
                .map(crate::db::FunctionHealth::never_checked)
                .collect(),
            Vec::new(),
            Default::default(),
        ),
    };
    let disk =
        crate::archive::usage(&config.archive, &config.http).with_context(|| {
            match &config.archive.remote {
                Some(r) => format!("listing {}", r.url),
                None => format!("reading {}", config.archive.dir.display()),
            }
        })?;
    // Each mirror's last run and lag (versions recorded since its last complete run).
    let mirrors: Vec<crate::db::MirrorState> = config
        .mirrors
        .iter()
        .map(|m| match &db {
            Some(db) => db.mirror_state(&m.name),
            None => Ok(crate::db::MirrorState {
                name: m.name.clone(),
                ..Default::default()
            }),
        })
        .collect::<Result<_, _>>()?;
    // A mirror whose oldest uncopied version is older than `[notify] mirror_lag_alert` makes
    // `status` exit 1: the same judgement as the alert's.
    let lagging: Vec<&crate::db::MirrorState> = mirrors
        .iter()
        .filter(|m| m.lagging(now, config.mirror_lag_alert()))
        .collect();
    let failing: Vec<_> = health
        .iter()
        .filter(|h| h.last_status.as_deref() == Some("failed"))
        .collect();
    let stale: Vec<_> = health
        .iter()
        .filter(|h| {
            h.last_success
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_none_or(|t| now.signed_duration_since(t) > STALE_AFTER)
        })
        .collect();
    let duration = |s: &crate::db::SweepRow| -> Option<f64> {
        let start = chrono::DateTime::parse_from_rfc3339(&s.started).ok()?;
        let end = chrono::DateTime::parse_from_rfc3339(s.finished.as_deref()?).ok()?;
        Some(end.signed_duration_since(start).num_milliseconds() as f64 / 1000.0)
    };

    let stdout = io::stdout();
    let mut out = stdout.lock();
    if json_out {
        let value = json!({
            "sweeps": recent.iter().map(|s| json!({
                "id": s.id,
                "started": s.started,
                "finished": s.finished,
                "trigger": s.trigger,
                "outcome": s.outcome,
                "checked": s.checked,
                "changed": s.changed,
                "unchanged": s.unchanged,
                "failed": s.failed,
                "bytes": s.bytes,
                "duration_seconds": duration(s),
            })).collect::<Vec<_>>(),
            "failing": failing.iter().map(|h| json!({
                "function": h.key,
                "cloud": h.cloud,
                "error": h.last_error,
                "consecutive_failures": h.consecutive_failures,
                "failing_since": h.failing_since,
                "last_checked": h.last_checked,
            })).collect::<Vec<_>>(),
            "stale": stale.iter().map(|h| json!({
                "function": h.key,
                "cloud": h.cloud,
                "last_success": h.last_success,
            })).collect::<Vec<_>>(),
            "gone": gone.iter().map(|(t, h)| json!({
                "function": h.key,
                "cloud": h.cloud,
                "gone_since": t.gone_since,
                "last_success": h.last_success,
            })).collect::<Vec<_>>(),
            "full_checks": {
                "last_by_listing": full_checks.by_listing,
                "last_full": full_checks.full,
                "never": full_checks.never,
                "oldest_full_check": full_checks.oldest_full_check,
                "interval_seconds": config.sync.full_check_interval.as_secs(),
            },
            "archive": {
                "functions": totals.functions,
                "versions": totals.versions,
                "blobs": totals.blobs,
                "bytes": totals.blob_bytes,
                "blobs_on_disk": disk.blobs,
                "bytes_on_disk": disk.bytes,
            },
            "mirrors": mirrors.iter().zip(&config.mirrors).map(|(m, c)| json!({
                "name": m.name,
                "location": c.location.describe(),
                "last_attempt": m.last_attempt,
                "last_success": m.last_success,
                "last_error": m.last_error,
                "lag_versions": m.lag_versions,
                "oldest_unmirrored": m.oldest_unmirrored,
                "copied_blobs": m.copied_blobs,
                "copied_bytes": m.copied_bytes,
                "lagging": lagging.iter().any(|l| l.name == m.name),
            })).collect::<Vec<_>>(),
        });
        // Through a String, so a closed pipe is an io::Error (exit 0), not a serde error.
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(out, "Last sweeps:")?;
        if recent.is_empty() {
            writeln!(out, "  none yet")?;
        } else {
            let rows: Vec<Vec<String>> = recent
                .iter()
                .map(|s| {
                    vec![
                        s.id.to_string(),
                        s.started.clone(),
                        s.trigger.clone(),
                        s.outcome.clone().unwrap_or_else(|| "running".into()),
                        s.checked.to_string(),
                        s.changed.to_string(),
                        s.failed.to_string(),
                        human_bytes(s.bytes.max(0) as u64),
                        duration(s)
                            .map(|d| format!("{d:.1}s"))
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            let mut table = Vec::new();
            write_table(
                &mut table,
                &[
                    "SWEEP",
                    "STARTED",
                    "TRIGGER",
                    "OUTCOME",
                    "CHECKED",
                    "CHANGED",
                    "FAILED",
                    "DOWNLOADED",
                    "DURATION",
                ],
                &rows,
            )?;
            indent(&mut out, &table)?;
        }
        writeln!(out, "Failing functions:")?;
        if failing.is_empty() {
            writeln!(out, "  none")?;
        }
        for h in &failing {
            writeln!(
                out,
                "  {}: {} ({} sweep(s) in a row, since {})",
                h.key,
                super::output::shown(h.last_error.as_deref().unwrap_or("unknown error")),
                h.consecutive_failures,
                h.failing_since.as_deref().unwrap_or("?")
            )?;
        }
        writeln!(out, "Not successfully checked for more than 1 day:")?;
        if stale.is_empty() {
            writeln!(out, "  none")?;
        }
        for h in &stale {
            writeln!(
                out,
                "  {} (last success: {})",
                h.key,
                h.last_success.as_deref().unwrap_or("never")
            )?;
        }
        // Only with discovery can a function be gone: no section line for everyone else.
        if !gone.is_empty() {
            writeln!(
                out,
                "Gone from the cloud (archive kept, no longer checked):"
            )?;
            for (t, h) in &gone {
                writeln!(
                    out,
                    "  {} (gone since {}, last success: {})",
                    h.key,
                    t.gone_since.as_deref().unwrap_or("?"),
                    h.last_success.as_deref().unwrap_or("never")
                )?;
            }
        }
        writeln!(
            out,
            "Checks: {} last by the listing alone, {} last by a full check, {} without a full \
             check yet; oldest full check: {} (full_check_interval {})",
            full_checks.by_listing,
            full_checks.full,
            full_checks.never,
            full_checks.oldest_full_check.as_deref().unwrap_or("none"),
            humantime::format_duration(config.sync.full_check_interval)
        )?;
        writeln!(
            out,
            "Archive: {} functions, {} versions, {} blobs ({}); on disk: {} blobs, {}",
            totals.functions,
            totals.versions,
            totals.blobs,
            human_bytes(totals.blob_bytes.max(0) as u64),
            disk.blobs,
            human_bytes(disk.bytes)
        )?;
        if !mirrors.is_empty() {
            writeln!(out, "Mirrors:")?;
        }
        for (m, c) in mirrors.iter().zip(&config.mirrors) {
            let lag = match &m.oldest_unmirrored {
                None => "up to date".to_string(),
                Some(t) => format!("{} version(s) not copied yet, oldest {t}", m.lag_versions),
            };
            writeln!(
                out,
                "  {} ({}): {lag}; last success: {}{}",
                m.name,
                c.location.describe(),
                m.last_success.as_deref().unwrap_or("never"),
                match &m.last_error {
                    Some(e) => format!("; last error: {}", super::output::shown(e)),
                    None => String::new(),
                }
            )?;
        }
    }
    out.flush()?;
    Ok(
        if failing.is_empty() && stale.is_empty() && lagging.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

fn indent(out: &mut dyn Write, text: &[u8]) -> io::Result<()> {
    for line in String::from_utf8_lossy(text).lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}
