//! `fnvault reindex` and `fnvault prune`: the two commands that rewrite history, so both take
//! the archive's and the database's locks like a sweep.

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use super::Fatal;
use super::read_only::{print_json, print_table, short};
use crate::archive::journal::Event;
use crate::archive::{self, Archive, LockGuard};
use crate::config::{Config, RetentionPolicy};
use crate::db::{Db, FunctionRow, VersionRow};
use crate::recovery::{self, RecoveryError};

fn lock(config: &Config) -> anyhow::Result<(Archive, LockGuard)> {
    let archive = Archive::open_settings(&config.archive, &config.http)?;
    let lock = archive
        .lock()?
        .with(archive::lock_database(&config.database_path)?);
    Ok((archive, lock))
}

pub(super) fn reindex(config: &Config, force: bool) -> Result<ExitCode, Fatal> {
    let (archive, lock) = lock(config)?;
    let r = match recovery::reindex(&archive, &config.database_path, force, &lock) {
        Ok(r) => r,
        Err(RecoveryError::Refused(why)) => return Err(anyhow!(why).into()),
        Err(e) => return Err(Fatal::Failed(e.into())),
    };
    if let Some(old) = &r.moved_aside {
        eprintln!("the replaced database was moved to {}", old.display());
    }
    for p in &r.reconciled.problems {
        eprintln!("problem: {}", super::output::shown(&p.to_string()));
    }
    for m in &r.reconciled.missing_blobs {
        eprintln!("missing: {m}: its blob is not in the archive");
    }
    println!(
        "reindexed {}: {} function(s), {} version(s) from the journal, {} manifest(s) read, \
         {} unreferenced blob(s), {} missing blob(s), {} journal problem(s)",
        config.database_path.display(),
        r.functions,
        r.reconciled.adopted,
        r.manifests,
        r.unreferenced,
        r.reconciled.missing_blobs.len(),
        r.reconciled.problems.len()
    );
    Ok(
        if r.reconciled.missing_blobs.is_empty() && r.reconciled.problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// A version the policy drops.
struct Doomed<'a> {
    function: &'a FunctionRow,
    version: &'a VersionRow,
    replaced_at: &'a str,
}

/// The versions `policy` does not keep. Per function: the latest is always kept; a version is
/// kept when it is one of the newest `keep_last`, or was live within `keep_within` before
/// `reference` (it was replaced — its successor first seen — at or after `reference - window`).
fn plan<'a>(
    functions: &'a [FunctionRow],
    versions: &'a [VersionRow],
    policy: &RetentionPolicy,
    reference: DateTime<Utc>,
) -> Vec<Doomed<'a>> {
    let cutoff = policy.keep_within.map(|w| {
        let w = chrono::Duration::from_std(w).unwrap_or(chrono::Duration::MAX);
        crate::time::format_rfc3339(
            reference
                .checked_sub_signed(w)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
    });
    let mut by_function: BTreeMap<i64, Vec<&VersionRow>> = BTreeMap::new();
    for v in versions {
        by_function.entry(v.function_id).or_default().push(v);
    }
    let mut out = Vec::new();
    for f in functions {
        let Some(vs) = by_function.get_mut(&f.id) else {
            continue;
        };
        vs.sort_by_key(|v| v.version_no);
        let n = vs.len();
        for i in 0..n.saturating_sub(1) {
            let by_count = policy.keep_last.is_some_and(|k| i + (k as usize) >= n);
            let replaced_at = vs[i + 1].first_seen.as_str();
            let by_age = cutoff.as_deref().is_some_and(|c| replaced_at >= c);
            if !(by_count || by_age) {
                out.push(Doomed {
                    function: f,
                    version: vs[i],
                    replaced_at,
                });
            }
        }
    }
    out
}

fn describe(policy: &RetentionPolicy) -> String {
    let mut parts = Vec::new();
    if let Some(n) = policy.keep_last {
        parts.push(format!("the newest {n} version(s)"));
    }
    if let Some(w) = policy.keep_within {
        parts.push(format!(
            "versions live within {}",
            humantime::format_duration(Duration::from_secs(w.as_secs()))
        ));
    }
    parts.join(" and ")
}

pub(super) fn prune(
    config: &Config,
    dry_run: bool,
    json: bool,
    force: bool,
    mirrors: bool,
) -> Result<ExitCode, Fatal> {
    // A dry run changes nothing, so it reads like the other audit commands, lock-free.
    let (db, archive, lock, problems) = if dry_run {
        let ro = super::read_only::open_read_only(config)?;
        let problems = ro
            .archive
            .journal()
            .read_all()
            .map_err(anyhow::Error::from)?
            .problems;
        (ro.db, ro.archive, None, problems)
    } else {
        let (archive, lock) = lock(config)?;
        let mut db = Db::open(&config.database_path).map_err(anyhow::Error::from)?;
        let reconciled =
            crate::sweep::catch_up(&archive, &mut db, &lock).map_err(anyhow::Error::from)?;
        (db, archive, Some(lock), reconciled.problems)
    };
    // A journal line that cannot be read (written by a newer fnvault, damaged, or disagreeing
    // with the database) may be the only description of a blob: deleting what no readable line
    // or row references could delete the only copy of a version.
    if !problems.is_empty() && !force {
        for p in &problems {
            eprintln!("problem: {}", super::output::shown(&p.to_string()));
        }
        return Err(Fatal::Failed(anyhow!(
            "refusing to prune: {} journal problem(s) (listed above); a blob described only by \
             such a line would be deleted. Repair or remove those lines (`fnvault verify` lists \
             them), or run `fnvault prune --force` to delete anyway",
            problems.len()
        )));
    }
    let mut db = db;
    let functions = db.functions().map_err(anyhow::Error::from)?;
    let versions = db.all_versions().map_err(anyhow::Error::from)?;

    // "Now" for keep_within is the wall clock, but never later than the newest time a sweep
    // recorded: a clock that jumped ahead cannot age every version out of the window.
    let now = Utc::now();
    let newest_recorded = versions
        .iter()
        .filter_map(|v| DateTime::parse_from_rfc3339(&v.last_seen).ok())
        .map(|t| t.with_timezone(&Utc))
        .max();
    let reference = newest_recorded.map_or(now, |t| t.min(now));

    let doomed = match &config.retention {
        Some(policy) => plan(&functions, &versions, policy, reference),
        None => Vec::new(),
    };
    let doomed_ids: HashSet<i64> = doomed.iter().map(|d| d.version.id).collect();
    // A kept version keeps its package and its configuration document.
    let configs = db
        .config_hash_by_version_id()
        .map_err(anyhow::Error::from)?;
    // Every archived layer version's zip is kept (a layer is kept while its row is; prune
    // removes no layer row: README "Not done yet"), so the layers kept versions link stay.
    let layers = db.all_layers().map_err(anyhow::Error::from)?;
    let kept_shas: HashSet<&str> = versions
        .iter()
        .filter(|v| !doomed_ids.contains(&v.id))
        .flat_map(|v| {
            std::iter::once(v.sha256.as_str()).chain(configs.get(&v.id).map(String::as_str))
        })
        .chain(layers.iter().map(|l| l.sha256.as_str()))
        .collect();
    let blobs = archive.list_blobs().map_err(anyhow::Error::from)?;
    if versions.is_empty() && !blobs.is_empty() {
        return Err(Fatal::Failed(anyhow!(
            "the database records no version but the archive holds {} blob(s) and no journal \
             describes them; refusing to delete them. If the database was lost, `fnvault reindex` \
             rebuilds what the journal knows",
            blobs.len()
        )));
    }
    // Only files named like a blob are fnvault's to delete; anything else under blobs/ was put
    // there by someone else (`verify` reports it) and is left alone.
    let unreferenced: Vec<&archive::BlobFile> = blobs
        .iter()
        .filter(|b| b.well_formed && !kept_shas.contains(b.name.as_str()))
        .collect();
    for stray in blobs.iter().filter(|b| !b.well_formed) {
        tracing::warn!(
            path = %stray.path.display(),
            "not named like a blob: left alone (`fnvault verify` lists it)"
        );
    }

    if let Some(lock) = &lock {
        // Rows first (with a journal line each, so a rebuild does not bring them back), files
        // after: a kill in between leaves unreferenced blobs, which the next prune removes.
        let journal = archive.journal();
        let now_text = crate::time::now_rfc3339();
        for d in &doomed {
            journal
                .append(&Event::Pruned {
                    key: d.function.target.key.clone(),
                    version_no: d.version.version_no,
                    time: now_text.clone(),
                })
                .map_err(|e| Fatal::Failed(e.into()))?;
        }
        let ids: Vec<i64> = doomed.iter().map(|d| d.version.id).collect();
        db.delete_versions(&ids)
            .map_err(|e| Fatal::Failed(e.into()))?;
        for b in &unreferenced {
            archive
                .remove_blob(lock, b)
                .map_err(|e| Fatal::Failed(e.into()))?;
        }
        if mirrors {
            for (name, removed) in
                super::mirror::prune_mirrors(config, &archive, &db, lock).map_err(Fatal::Failed)?
            {
                eprintln!("mirror {name}: up to date, {removed} unreferenced blob(s) removed");
            }
        }
    }

    let verb = if dry_run { "would prune" } else { "pruned" };
    if json {
        print_json(&serde_json::json!({
            "dry_run": dry_run,
            "policy": config.retention.map(|p| serde_json::json!({
                "keep_last": p.keep_last,
                "keep_within_seconds": p.keep_within.map(|d| d.as_secs()),
            })),
            "reference_time": crate::time::format_rfc3339(reference),
            "pruned": doomed.iter().map(|d| serde_json::json!({
                "function": d.function.target.key,
                "version": d.version.version_no,
                "first_seen": d.version.first_seen,
                "replaced_at": d.replaced_at,
                "sha256": d.version.sha256,
            })).collect::<Vec<_>>(),
            "removed_blobs": unreferenced.iter().map(|b| b.path.display().to_string()).collect::<Vec<_>>(),
            "kept_versions": versions.len() - doomed.len(),
        }))?;
    } else {
        match &config.retention {
            None => println!(
                "no [retention] policy: every version is kept; only blobs no version references are removed"
            ),
            Some(p) => println!(
                "policy: keep {} (and always the latest), measured back from {}",
                describe(p),
                crate::time::format_rfc3339(reference)
            ),
        }
        if !doomed.is_empty() {
            let rows: Vec<Vec<String>> = doomed
                .iter()
                .map(|d| {
                    vec![
                        d.function.target.key.clone(),
                        d.version.version_no.to_string(),
                        d.version.first_seen.clone(),
                        d.replaced_at.to_string(),
                        short(&d.version.sha256),
                    ]
                })
                .collect();
            print_table(
                &["FUNCTION", "VERSION", "FIRST SEEN", "REPLACED", "SHA256"],
                &rows,
            )?;
        }
        println!(
            "{verb} {} version(s), kept {}; {} {} blob(s)",
            doomed.len(),
            versions.len() - doomed.len(),
            if dry_run { "would remove" } else { "removed" },
            unreferenced.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Cloud, Target};

    fn f() -> FunctionRow {
        FunctionRow {
            id: 1,
            target: Target::new(Cloud::Tencent, "tc", "r", "default", "f", None),
            first_seen: String::new(),
        }
    }

    fn v(no: i64, first_seen: &str) -> VersionRow {
        VersionRow {
            id: no,
            function_id: 1,
            version_no: no,
            cloud_checksum: String::new(),
            sha256: format!("{no}"),
            crc64: "0".into(),
            size: 1,
            first_seen: first_seen.into(),
            last_seen: first_seen.into(),
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn pruned(policy: RetentionPolicy, reference: &str) -> Vec<i64> {
        let fs = [f()];
        let vs = [
            v(1, "2024-01-01T00:00:00.000Z"),
            v(2, "2025-01-01T00:00:00.000Z"),
            v(3, "2025-06-01T00:00:00.000Z"),
            v(4, "2025-12-01T00:00:00.000Z"),
        ];
        plan(&fs, &vs, &policy, t(reference))
            .iter()
            .map(|d| d.version.version_no)
            .collect()
    }

    #[test]
    fn keep_last_keeps_exactly_the_newest_n() {
        let p = RetentionPolicy {
            keep_last: Some(2),
            keep_within: None,
        };
        assert_eq!(pruned(p, "2026-01-01T00:00:00Z"), vec![1, 2]);
    }

    #[test]
    fn keep_within_keeps_versions_replaced_inside_the_window() {
        let p = RetentionPolicy {
            keep_last: None,
            keep_within: Some(Duration::from_secs(200 * 86_400)),
        };
        // Window starts 2025-06-15: v3 was replaced 2025-12-01 (kept), v2 on 2025-06-01 (not).
        assert_eq!(pruned(p, "2026-01-01T00:00:00Z"), vec![1, 2]);
    }

    #[test]
    fn either_rule_keeps_a_version_and_the_latest_is_never_pruned() {
        let p = RetentionPolicy {
            keep_last: Some(1),
            keep_within: Some(Duration::from_secs(86_400)),
        };
        assert_eq!(pruned(p, "2030-01-01T00:00:00Z"), vec![1, 2, 3]);
        let p = RetentionPolicy {
            keep_last: Some(3),
            keep_within: Some(Duration::from_secs(400 * 86_400)),
        };
        assert_eq!(pruned(p, "2026-01-01T00:00:00Z"), Vec::<i64>::new());
    }
}
