//! `fnvault verify`: re-read blobs, recompute SHA-256, compare with the database; report
//! missing, corrupt and unreferenced blobs. Read-only: it takes no lock and changes nothing.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

use super::Fatal;
use super::read_only::{open_read_only, print_json, print_table, short};
use crate::config::Config;
use crate::sweep::human_bytes;

/// A blob the database expects: its size and the versions that point at it.
struct Expected {
    size: i64,
    versions: Vec<String>,
}

enum Problem {
    Missing,
    Corrupt(String),
    Unreferenced,
    /// The journal and the database disagree (or the journal cannot be read): a rebuild
    /// would not reproduce the database.
    Journal(String),
}

pub(super) fn run(
    config: &Config,
    mirror: Option<&str>,
    sample: Option<&str>,
    json: bool,
) -> Result<ExitCode, Fatal> {
    let percent = sample.map(parse_percent).transpose()?;
    let mut ro = open_read_only(config)?;
    if let Some(name) = mirror {
        let m = config
            .mirrors
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| anyhow!("no mirror named `{name}` in {}", config.file.display()))?;
        ro.archive = crate::archive::mirror::mirror_at(
            &m.location,
            &super::mirror::spool(config, name),
            &config.http,
        )
        .map_err(anyhow::Error::from)?;
    }
    let keys: BTreeMap<i64, String> = ro
        .functions()?
        .iter()
        .map(|f| (f.id, f.target.key.clone()))
        .collect();
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    let configs = ro
        .db
        .config_hash_by_version_id()
        .map_err(anyhow::Error::from)?;
    for v in ro.db.all_versions().map_err(anyhow::Error::from)? {
        let key = keys.get(&v.function_id).cloned().unwrap_or_default();
        let e = expected.entry(v.sha256.clone()).or_insert(Expected {
            size: v.size,
            versions: Vec::new(),
        });
        e.versions.push(format!("{key}@{}", v.version_no));
        // Its configuration document is a blob too; its size is not recorded (-1: the hash
        // alone is checked).
        if let Some(config) = configs.get(&v.id) {
            let e = expected.entry(config.clone()).or_insert(Expected {
                size: -1,
                versions: Vec::new(),
            });
            e.versions
                .push(format!("{key}@{} (configuration)", v.version_no));
        }
    }
    // Layer versions' zips are blobs too, with their recorded size.
    for l in ro.db.all_layers().map_err(anyhow::Error::from)? {
        let e = expected.entry(l.sha256.clone()).or_insert(Expected {
            size: l.size as i64,
            versions: Vec::new(),
        });
        e.versions.push(format!("{} (layer)", l.key));
    }
    let on_disk = ro.archive.list_blobs().map_err(anyhow::Error::from)?;

    let mut problems: Vec<(String, Problem)> = Vec::new();
    let mut to_hash: Vec<(&String, &Expected)> = Vec::new();
    for (sha, e) in &expected {
        match ro.archive.blob_len(sha) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                problems.push((sha.clone(), Problem::Missing))
            }
            Err(err) => {
                problems.push((sha.clone(), Problem::Corrupt(format!("unreadable: {err}"))))
            }
            Ok(len) if e.size >= 0 && len as i64 != e.size => problems.push((
                sha.clone(),
                Problem::Corrupt(format!("{len} bytes, the database says {}", e.size)),
            )),
            Ok(_) => to_hash.push((sha, e)),
        }
    }
    for b in &on_disk {
        if !(b.well_formed && expected.contains_key(&b.name)) {
            problems.push((b.path.display().to_string(), Problem::Unreferenced));
        }
    }
    journal_problems(&ro, &keys, &mut problems)?;
    let present = to_hash.len();
    if let Some(p) = percent {
        to_hash.shuffle(&mut rand::rng());
        let n = ((present as f64) * p / 100.0).ceil() as usize;
        to_hash.truncate(n.min(present));
    }
    let total: u64 = to_hash.iter().map(|(_, e)| e.size.max(0) as u64).sum();
    let bar = if std::io::stderr().is_terminal() && !json {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} verifying {bytes}/{total_bytes} [{bar:30}] {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Some(bar)
    } else {
        None
    };
    for (sha, _) in &to_hash {
        let hashed = ro
            .archive
            .local_copy(sha)
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|path| hash_file(&path, bar.as_ref()));
        match hashed {
            Ok(actual) if actual == **sha => {}
            Ok(actual) => problems.push((
                (*sha).clone(),
                Problem::Corrupt(format!("content hashes to {actual}")),
            )),
            Err(e) => problems.push(((*sha).clone(), Problem::Corrupt(format!("unreadable: {e}")))),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let count = |f: fn(&Problem) -> bool| problems.iter().filter(|(_, p)| f(p)).count();
    let missing = count(|p| matches!(p, Problem::Missing));
    let corrupt = count(|p| matches!(p, Problem::Corrupt(_)));
    let unreferenced = count(|p| matches!(p, Problem::Unreferenced));
    let journal = count(|p| matches!(p, Problem::Journal(_)));
    let versions_of = |id: &str| {
        expected
            .get(id)
            .map(|e| e.versions.clone())
            .unwrap_or_default()
    };
    if json {
        let list = |want: fn(&Problem) -> bool| -> Vec<serde_json::Value> {
            problems
                .iter()
                .filter(|(_, p)| want(p))
                .map(|(id, p)| match p {
                    Problem::Unreferenced => serde_json::json!({ "path": id }),
                    Problem::Missing => {
                        serde_json::json!({ "sha256": id, "versions": versions_of(id) })
                    }
                    Problem::Corrupt(why) => serde_json::json!({
                        "sha256": id, "versions": versions_of(id), "reason": why,
                    }),
                    Problem::Journal(why) => serde_json::json!({ "what": id, "reason": why }),
                })
                .collect()
        };
        print_json(&serde_json::json!({
            "ok": problems.is_empty(),
            "blobs": expected.len(),
            "hashed": to_hash.len(),
            "hashed_bytes": total,
            "sampled": percent.is_some(),
            "missing": list(|p| matches!(p, Problem::Missing)),
            "corrupt": list(|p| matches!(p, Problem::Corrupt(_))),
            "unreferenced": list(|p| matches!(p, Problem::Unreferenced)),
            "journal": list(|p| matches!(p, Problem::Journal(_))),
        }))?;
    } else {
        if !problems.is_empty() {
            let rows: Vec<Vec<String>> = problems
                .iter()
                .map(|(id, p)| match p {
                    Problem::Missing => {
                        vec!["missing".into(), short(id), versions_of(id).join(", ")]
                    }
                    Problem::Corrupt(why) => vec![
                        "corrupt".into(),
                        short(id),
                        format!(
                            "{} ({why}; delete {} and a sweep downloads it again if the cloud still serves it)",
                            versions_of(id).join(", "),
                            ro.archive.blob_location(id)
                        ),
                    ],
                    Problem::Unreferenced => vec![
                        "unreferenced".into(),
                        id.clone(),
                        "no version points at it (`fnvault prune` removes it)".into(),
                    ],
                    Problem::Journal(why) => vec!["journal".into(), id.clone(), why.clone()],
                })
                .collect();
            print_table(&["PROBLEM", "BLOB", "VERSIONS"], &rows)?;
        }
        let scope = match percent {
            Some(p) => format!(" (a {p}% sample)"),
            None => String::new(),
        };
        println!(
            "{} blob(s) referenced, {} hashed{scope} ({}): {missing} missing, {corrupt} corrupt, {unreferenced} unreferenced, {journal} journal problem(s)",
            expected.len(),
            to_hash.len(),
            human_bytes(total)
        );
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Compares the journal with the database: every row needs its journal line (or a rebuild
/// loses it), and every journaled, unpruned version its row.
fn journal_problems(
    ro: &super::read_only::ReadOnly,
    keys: &BTreeMap<i64, String>,
    problems: &mut Vec<(String, Problem)>,
) -> Result<(), Fatal> {
    use crate::archive::journal::Event;
    let contents = ro
        .archive
        .journal()
        .read_all()
        .map_err(anyhow::Error::from)?;
    for p in contents.problems {
        problems.push(("meta/".into(), Problem::Journal(p)));
    }
    let mut journaled: BTreeMap<(String, i64), String> = BTreeMap::new();
    let mut pruned = std::collections::HashSet::new();
    for e in contents.events {
        match e {
            Event::Version(v) => {
                journaled
                    .entry((v.target.key.clone(), v.version_no))
                    .or_insert(v.sha256);
            }
            Event::Pruned {
                key, version_no, ..
            } => {
                pruned.insert((key, version_no));
            }
            // A merge restates the history after it; the lines it supersedes are dropped.
            Event::Seen { .. }
            | Event::Merged { .. }
            | Event::Config(_)
            | Event::Layer(_)
            | Event::Layers { .. } => {}
        }
    }
    let mut in_db = std::collections::HashSet::new();
    for v in ro.db.all_versions().map_err(anyhow::Error::from)? {
        let key = keys.get(&v.function_id).cloned().unwrap_or_default();
        let id = (key, v.version_no);
        let name = format!("{}@{}", id.0, id.1);
        match journaled.get(&id) {
            None => problems.push((
                name,
                Problem::Journal(
                    "not in the archive's journal, so a rebuild would lose it (the next sync writes it)"
                        .into(),
                ),
            )),
            Some(sha) if *sha != v.sha256 => problems.push((
                name,
                Problem::Journal(format!(
                    "the journal says blob {sha}, the database {}",
                    v.sha256
                )),
            )),
            Some(_) => {}
        }
        in_db.insert(id);
    }
    for (id, _) in journaled {
        if !in_db.contains(&id) && !pruned.contains(&id) {
            problems.push((
                format!("{}@{}", id.0, id.1),
                Problem::Journal(
                    "journaled but not in the database (the next sync records it)".into(),
                ),
            ));
        }
    }
    Ok(())
}

fn parse_percent(s: &str) -> anyhow::Result<f64> {
    let n: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| anyhow!("--sample `{s}`: give a percentage such as 10%"))?;
    if !(n > 0.0 && n <= 100.0) {
        bail!("--sample `{s}`: must be more than 0% and at most 100%");
    }
    Ok(n)
}

fn hash_file(
    path: &std::path::Path,
    bar: Option<&indicatif::ProgressBar>,
) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(bar) = bar {
            bar.inc(n as u64);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}
