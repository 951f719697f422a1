//! `fnvault mirror [--name N]`, the mirroring after each sweep, and `prune --mirrors`: copying
//! the archive to its `[[mirrors]]` and recording each run (for `status`, metrics and the lag
//! alert). A mirror that fails is reported and recorded; it never changes a sweep's outcome.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::anyhow;

use super::Fatal;
use crate::archive::mirror::{MirrorReport, copy_missing, open_mirror, prune_unreferenced};
use crate::archive::{Archive, LockGuard};
use crate::config::{Config, MirrorSettings};
use crate::db::Db;

/// The local spool folder of mirror `name` (temp files of uploads to a bucket).
pub(super) fn spool(config: &Config, name: &str) -> std::path::PathBuf {
    config.archive.dir.join("mirror-spool").join(name)
}

/// Mirrors `archive` to every configured mirror (or only `only`), recording each run in the
/// database. Returns each mirror's name and outcome. Blocking: call from a blocking thread.
/// `moved` is called as the copy progresses ([`copy_missing`]).
pub(super) fn run_mirrors(
    config: &Config,
    archive: &Archive,
    lock: &LockGuard,
    only: Option<&str>,
    moved: &dyn Fn(),
) -> Vec<(String, Result<MirrorReport, String>)> {
    let mut out = Vec::new();
    for m in config
        .mirrors
        .iter()
        .filter(|m| only.is_none_or(|n| n == m.name))
    {
        let started = crate::time::now_rfc3339();
        let result = mirror_one(config, m, archive, lock, moved);
        let (blobs, bytes) = match &result {
            Ok(r) => (r.blobs_copied, r.bytes_copied),
            Err(_) => (0, 0),
        };
        match &result {
            Ok(r) => tracing::info!(
                mirror = %m.name,
                copied = r.blobs_copied,
                bytes = r.bytes_copied,
                journal_lines = r.journal_lines_copied,
                "mirror up to date"
            ),
            Err(e) => tracing::error!(mirror = %m.name, "mirroring failed: {e}"),
        }
        let recorded = Db::open(&config.database_path).and_then(|mut db| {
            db.record_mirror_run(
                &m.name,
                &m.location.describe(),
                &started,
                result.as_ref().err().map(String::as_str),
                blobs,
                bytes,
            )
        });
        if let Err(e) = recorded {
            tracing::error!(mirror = %m.name, "recording the mirror run: {e}");
        }
        out.push((m.name.clone(), result));
    }
    out
}

/// After a mirror run: alerts, through `notifier`, each mirror whose oldest uncopied version
/// is older than `[notify] mirror_lag_alert`, once per lag episode (the episode alerted is
/// recorded in the database, so a `sync` timer does not repeat it every run), and ends the
/// episode of a mirror that caught up. Failures are logged only: they never fail a sweep.
pub(super) fn check_lag(config: &Config, notifier: Option<&crate::notify::Notifier>) {
    if let Err(e) = check_lag_in(config, notifier) {
        tracing::error!("checking the mirrors' lag: {e}");
    }
}

fn check_lag_in(
    config: &Config,
    notifier: Option<&crate::notify::Notifier>,
) -> Result<(), crate::db::DbError> {
    let Some(notifier) = notifier else {
        return Ok(());
    };
    let limit = config.mirror_lag_alert();
    let now = chrono::Utc::now();
    let mut db = Db::open(&config.database_path)?;
    for m in &config.mirrors {
        let state = db.mirror_state(&m.name)?;
        if !state.lagging(now, limit) {
            if state.lag_alerted.is_some() {
                db.set_mirror_lag_alerted(&m.name, None)?;
            }
            continue;
        }
        if state.lag_alerted.as_deref() == Some(state.episode()) {
            continue;
        }
        let age = state.lag_age(now).map(|a| a.num_seconds());
        tracing::warn!(
            mirror = %m.name,
            lag_versions = state.lag_versions,
            "mirror lags past mirror_lag_alert ({})",
            humantime::format_duration(limit)
        );
        notifier.mirror_lagging(serde_json::json!({
            "event": "mirror_lagging",
            "mirror": m.name,
            "location": m.location.describe(),
            "lag_versions": state.lag_versions,
            "oldest_unmirrored": state.oldest_unmirrored,
            "lag_seconds": age,
            "mirror_lag_alert_seconds": limit.as_secs(),
            "last_success": state.last_success,
            "last_error": state.last_error,
            "time": crate::time::now_rfc3339(),
        }));
        db.set_mirror_lag_alerted(&m.name, Some(state.episode()))?;
    }
    Ok(())
}

/// After a mirror run in the daemon: the mirror series of `/metrics` from what it recorded
/// (one read per run, none per scrape). A failed read is logged; the series keep their values.
pub(super) fn load_metrics(config: &Config, metrics: &crate::metrics::Metrics) {
    let read = Db::open_read_only(&config.database_path)
        .and_then(|db| db.map_or(Ok(()), |db| metrics.load_mirrors(&db)));
    if let Err(e) = read {
        tracing::warn!("metrics: reading the mirrors' state failed: {e}");
    }
}

fn mirror_one(
    config: &Config,
    m: &MirrorSettings,
    archive: &Archive,
    lock: &LockGuard,
    moved: &dyn Fn(),
) -> Result<MirrorReport, String> {
    let dest = open_mirror(&m.location, &spool(config, &m.name), &config.http)
        .map_err(|e| e.to_string())?;
    copy_missing(archive, &dest, lock, moved).map_err(|e| e.to_string())
}

/// `fnvault mirror [--name N]`: exit 0 when every mirror is up to date, 1 when one failed.
pub(super) fn command(config: &Config, name: Option<&str>) -> Result<ExitCode, Fatal> {
    if config.mirrors.is_empty() {
        return Err(anyhow!("{}: no [[mirrors]] configured", config.file.display()).into());
    }
    if let Some(n) = name
        && !config.mirrors.iter().any(|m| m.name == n)
    {
        let names: Vec<&str> = config.mirrors.iter().map(|m| m.name.as_str()).collect();
        return Err(anyhow!("no mirror named `{n}` (configured: {})", names.join(", ")).into());
    }
    let archive =
        Archive::open_settings(&config.archive, &config.http).map_err(anyhow::Error::from)?;
    let lock = archive
        .lock()
        .and_then(|l| Ok(l.with(crate::archive::lock_database(&config.database_path)?)))
        .map_err(anyhow::Error::from)?;
    // The lag alert goes out from here too, not only after sweeps: a `mirror` timer of its
    // own (or an operator catching up by hand) must not leave a lagging mirror unannounced.
    // This runs on a blocking section of the command runtime: the notifier's worker is
    // spawned on it and waited for through its handle.
    let runtime = tokio::runtime::Handle::current();
    let notifier = config.notify.clone().map(|settings| {
        let _entered = runtime.enter();
        let http = crate::http::client(&config.http)
            .map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
        Ok::<_, anyhow::Error>(crate::notify::Notifier::start(
            settings,
            http,
            config.database_path.clone(),
            config.functions.clone(),
            config.discover.clone(),
        ))
    });
    let notifier = notifier.transpose()?;
    let results = run_mirrors(config, &archive, &lock, name, &|| {});
    check_lag(config, notifier.as_ref().map(|(n, _)| n.as_ref()));
    if let Some((_, worker)) = notifier {
        runtime.block_on(worker.finish());
    }
    let mut failed = false;
    for (name, result) in results {
        match result {
            Ok(r) => println!(
                "{name}: up to date ({} blob(s), {} copied now, {} journal line(s) copied)",
                r.blobs_present + r.blobs_copied,
                crate::sweep::human_bytes(r.bytes_copied),
                r.journal_lines_copied
            ),
            Err(e) => {
                failed = true;
                println!("{name}: failed: {e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `prune --mirrors`: bring each mirror up to date (so it holds the `pruned` journal lines),
/// then delete there the blobs no remaining version references.
pub(super) fn prune_mirrors(
    config: &Config,
    archive: &Archive,
    db: &Db,
    lock: &LockGuard,
) -> anyhow::Result<Vec<(String, usize)>> {
    // Packages, configuration documents and layer zips: every blob the database references.
    let mut keep: BTreeSet<String> = db.all_versions()?.into_iter().map(|v| v.sha256).collect();
    keep.extend(db.config_hashes()?);
    keep.extend(db.all_layers()?.into_iter().map(|l| l.sha256));
    let mut out = Vec::new();
    for (name, result) in run_mirrors(config, archive, lock, None, &|| {}) {
        result.map_err(|e| anyhow!("mirror {name}: {e}; nothing was deleted there"))?;
        let m = config
            .mirrors
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| anyhow!("mirror {name} vanished from the config"))?;
        let dest = open_mirror(&m.location, &spool(config, &name), &config.http)?;
        let removed = prune_unreferenced(&dest, &keep, lock)?;
        out.push((name, removed.len()));
    }
    Ok(out)
}
