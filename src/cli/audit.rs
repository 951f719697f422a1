//! The audit and recovery commands: `history`, `show`, `at`, `diff` (here), `verify`,
//! `restore`, `export`, `reindex` and `prune` (their own files). The read-only ones open the
//! database read-only and take no lock, so they work while a daemon runs. What they share
//! (opening read-only, picking a version, printing) is in `read_only.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::Subcommand;

use super::Fatal;
use super::config_view;
use super::layers_view::{self, LayerChange};
use super::read_only::{
    ReadOnly, manifest_of, open_read_only, pick_version, print_json, print_table, short,
    version_range,
};
use super::resolve;
use crate::config::Config;
use crate::db::{FunctionRow, VersionRow};
use crate::manifest::{self, Entry};
use crate::sweep::human_bytes;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Every archived version of one function: number, first and last seen live, size,
    /// SHA-256 and the cloud's checksum.
    ///
    /// FUNCTION is the canonical key (account/region/namespace/name[@qualifier]), a unique
    /// prefix of one, or a unique bare name.
    ///
    /// Example: fnvault history order-api
    History {
        /// The function (see above). FUNCTION@<published version> is that published
        /// version's history; FUNCTION@<alias> is that alias's history.
        function: String,
        /// A JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// One timeline: the function's versions, its published versions being archived (or
        /// deleted) and its alias moves, oldest first.
        #[arg(long)]
        aliases: bool,
    },
    /// Each alias of a function (`aliases = true`) with its history, newest first: the
    /// version(s) and weights it routed to, from when to when (RFC 3339, as the sweeps saw it),
    /// and the cloud's own modified time.
    ///
    /// Example: fnvault aliases order-api --json
    Aliases {
        /// The function: canonical key, unique prefix or unique bare name.
        function: String,
        /// A JSON array of {alias, history: [{from, to, versions: [{version, weight}]}]}.
        #[arg(long)]
        json: bool,
    },
    /// One version in full, with its file manifest (default: the latest version).
    ///
    /// Example: fnvault show order-api@3
    Show {
        /// FUNCTION or FUNCTION@VERSION; FUNCTION@<published version>, FUNCTION@<alias>.
        #[arg(value_name = "FUNCTION[@VERSION]")]
        function: String,
        /// A JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// The version live at this time (for FUNCTION@<alias>: what the alias pointed at
        /// then) instead of the latest.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// The version of every function that was live at TIME, as far as the sweeps saw.
    ///
    /// TIME is RFC 3339 (2026-03-03T09:30:00Z) or a date (2026-03-03 = the end of that day, UTC).
    ///
    /// Example: fnvault at 2026-03-03
    At {
        /// RFC 3339 time or a date (see above).
        time: String,
        /// A JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Files added, removed and changed between two versions of a function; with --content,
    /// a unified diff of one text file.
    ///
    /// Example: fnvault diff checkout 2 3 --content index.js
    Diff {
        /// The function: canonical key, unique prefix or unique bare name.
        function: String,
        /// The older version number.
        from: i64,
        /// The newer version number.
        to: i64,
        /// A path inside the packages: print a unified diff of that file.
        #[arg(long, value_name = "PATH")]
        content: Option<String>,
        /// A JSON object instead of text (not with --content).
        #[arg(long, conflicts_with = "content")]
        json: bool,
    },
    /// Re-read every blob, recompute its SHA-256 and compare with the database; report
    /// missing, corrupt and unreferenced blobs. Exit status 1 when anything is wrong.
    ///
    /// Example: fnvault verify --sample 10%
    Verify {
        /// Verify the `[[mirrors]]` copy of this name instead of the archive (against the
        /// database: a mirror that lags reports what it lacks as missing).
        #[arg(long, value_name = "NAME")]
        mirror: Option<String>,
        /// Hash only this share of the blobs, picked at random (every blob is still checked
        /// for presence and size).
        #[arg(long, value_name = "N%")]
        sample: Option<String>,
        /// A JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write one archived package to a file, verifying its SHA-256 on the way out
    /// (default: the latest version). Nothing is left behind if the blob is corrupt.
    ///
    /// Example: fnvault restore order-api --at 2026-03-03 --to /tmp/order-api.zip
    Restore {
        /// The function, optionally with a version number (default: the latest);
        /// FUNCTION@<published version>; FUNCTION@<alias> (what it pointed at, at --at).
        #[arg(value_name = "FUNCTION[@VERSION]")]
        function: String,
        /// The file to write.
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
        /// The version live at this time instead of the latest.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
        /// The whole function: --to is then a folder (new or empty) that gets the package
        /// and function.json, the version's configuration document (see README).
        #[arg(long)]
        with_config: bool,
        /// With --with-config: an age identity file whose key decrypts the secrets of an
        /// `encrypt`-mode configuration into function.json (without it they stay ciphertext).
        #[arg(long, value_name = "FILE", requires = "with_config")]
        identity: Option<PathBuf>,
    },
    /// Write the package of every function (latest, or live at --at) into a readable tree
    /// DIR/<account>/<region>/<namespace or service>/<name>[@qualifier].zip, plus
    /// DIR/manifest.json with checksums. DIR must be new or empty.
    ///
    /// Example: fnvault export --to /srv/restore --at 2026-03-03
    Export {
        /// The folder to write into; it must be new or empty.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The versions live at this time instead of the latest.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Also write each version's configuration document beside its package, as
        /// <name>[@qualifier].function.json.
        #[arg(long)]
        with_config: bool,
    },
    /// Rebuild the database from the archive alone (its journal and blobs). Refuses to
    /// replace a healthy database unless --force; a replaced one is kept beside it.
    ///
    /// Example: fnvault reindex
    Reindex {
        /// Replace a database that opens and holds versions (it is renamed, not deleted).
        #[arg(long)]
        force: bool,
    },
    /// Apply [retention]: delete versions the policy does not keep (rows first, files
    /// after) and blobs no version references. A function's latest version is never pruned.
    ///
    /// Example: fnvault prune --dry-run
    Prune {
        /// Show what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// A JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Delete even while some journal line cannot be read (such a line may be the only
        /// description of a blob: a newer fnvault's, or a damaged one).
        #[arg(long)]
        force: bool,
        /// Then bring every `[[mirrors]]` copy up to date and delete there the blobs no
        /// remaining version references (mirrors never delete otherwise).
        #[arg(long)]
        mirrors: bool,
    },
    /// Copy to the `[[mirrors]]` (all, or one) every blob and journal line they lack,
    /// verified on the way. A sweep does this after it ends; this catches up by hand.
    /// Exit 0: every mirror is up to date; 1: one failed.
    Mirror {
        /// Only the mirror of this name.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
}

pub(super) async fn run(cmd: AuditCommand, config_path: &Path) -> Result<ExitCode, Fatal> {
    let config = Config::load_without_credentials(config_path)?;
    // SQLite and file reads block; none of these commands has other work to overlap.
    tokio::task::block_in_place(move || match cmd {
        AuditCommand::History {
            function,
            json,
            aliases,
        } => history(&config, &function, json, aliases),
        AuditCommand::Aliases { function, json } => {
            let ro = open_read_only(&config)?;
            let key = resolve::function_key(&ro, &function)?;
            super::aliases::aliases(&ro, &key, None, json)
        }
        AuditCommand::Show { function, json, at } => show(&config, &function, json, at.as_deref()),
        AuditCommand::At { time, json } => at(&config, &time, json),
        AuditCommand::Diff {
            function,
            from,
            to,
            content,
            json,
        } => diff(&config, &function, from, to, content.as_deref(), json),
        AuditCommand::Verify {
            mirror,
            sample,
            json,
        } => super::verify::run(&config, mirror.as_deref(), sample.as_deref(), json),
        AuditCommand::Mirror { name } => super::mirror::command(&config, name.as_deref()),
        AuditCommand::Restore {
            function,
            to,
            at,
            force,
            with_config,
            identity,
        } => {
            if with_config {
                super::restore::restore_whole(
                    &config,
                    &function,
                    &to,
                    at.as_deref(),
                    identity.as_deref(),
                )
            } else {
                super::restore::restore(&config, &function, &to, at.as_deref(), force)
            }
        }
        AuditCommand::Export {
            to,
            at,
            with_config,
        } => super::restore::export(&config, &to, at.as_deref(), with_config),
        AuditCommand::Reindex { force } => super::prune::reindex(&config, force),
        AuditCommand::Prune {
            dry_run,
            json,
            force,
            mirrors,
        } => super::prune::prune(&config, dry_run, json, force, mirrors),
    })
}

fn version_json(v: &VersionRow) -> serde_json::Value {
    serde_json::json!({
        "version": v.version_no,
        "first_seen": v.first_seen,
        "last_seen": v.last_seen,
        "size": v.size,
        "sha256": v.sha256,
        "crc64": v.crc64,
        "cloud_checksum": v.cloud_checksum,
    })
}

fn function_json(f: &FunctionRow) -> serde_json::Map<String, serde_json::Value> {
    let t = &f.target;
    let mut m = serde_json::Map::new();
    m.insert("function".into(), t.key.clone().into());
    m.insert("cloud".into(), t.cloud.as_str().into());
    m.insert("account".into(), t.account.clone().into());
    m.insert("region".into(), t.region.clone().into());
    m.insert("namespace".into(), t.namespace.clone().into());
    m.insert("name".into(), t.name.clone().into());
    m.insert("qualifier".into(), t.qualifier.clone().into());
    m
}

fn history(config: &Config, function: &str, json: bool, aliases: bool) -> Result<ExitCode, Fatal> {
    let ro = open_read_only(config)?;
    let f = match resolve::named(&ro, function)? {
        resolve::Named::Alias { function, alias } => {
            return super::aliases::aliases(&ro, &function, Some(&alias), json);
        }
        // FUNCTION@N without a published version N: still the function's whole history.
        resolve::Named::Function(f, _) => f,
    };
    if aliases {
        return super::aliases::timeline(&ro, &f, json);
    }
    let f = &f;
    let versions = ro.db.versions_of(f.id).map_err(anyhow::Error::from)?;
    let configs = ro.db.configs_of(f.id).map_err(anyhow::Error::from)?;
    // A version archived before configurations were read was made by a package change; its
    // configuration is unknown, so it is not said to have changed.
    let changed = |v: &VersionRow| match configs.get(&v.version_no) {
        Some(c) => (c.code_changed, c.config_changed),
        None => (true, false),
    };
    if json {
        let mut m = function_json(f);
        m.insert(
            "versions".into(),
            versions
                .iter()
                .map(|v| {
                    let mut j = version_json(v);
                    let (code, conf) = changed(v);
                    let c = configs.get(&v.version_no);
                    j["code_changed"] = code.into();
                    j["config_changed"] = conf.into();
                    j["config_sha256"] = c.map(|c| c.config_sha256.clone()).into();
                    j["cloud_modified"] = c.and_then(|c| c.cloud_modified.clone()).into();
                    j
                })
                .collect(),
        );
        print_json(&serde_json::Value::Object(m))?;
    } else {
        println!("{}", f.target.key);
        let rows: Vec<Vec<String>> = versions
            .iter()
            .map(|v| {
                let (code, conf) = changed(v);
                vec![
                    v.version_no.to_string(),
                    v.first_seen.clone(),
                    v.last_seen.clone(),
                    config_view::yes_no(code).into(),
                    config_view::yes_no(conf).into(),
                    human_bytes(v.size.max(0) as u64),
                    short(&v.sha256),
                    short(&v.cloud_checksum),
                ]
            })
            .collect();
        print_table(
            &[
                "VERSION",
                "FIRST SEEN",
                "LAST SEEN",
                "CODE",
                "CONFIG",
                "SIZE",
                "SHA256",
                "CLOUD CHECKSUM",
            ],
            &rows,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn entry_json(e: &Entry) -> serde_json::Value {
    serde_json::json!({
        "path": e.path,
        "size": e.size,
        "crc32": format!("{:08x}", e.crc32),
        "is_dir": e.is_dir,
    })
}

fn show(config: &Config, spec: &str, json: bool, at: Option<&str>) -> Result<ExitCode, Fatal> {
    let ro = open_read_only(config)?;
    let (f, v) = pick_version(&ro, spec, at)?;
    let f = &f;
    let count = ro.db.version_count_of(f.id).map_err(anyhow::Error::from)?;
    let blob = ro.archive.blob_location(&v.sha256);
    let package = manifest_of(&ro, &v.sha256);
    let configuration = config_view::of(&ro, &v).map_err(Fatal::Failed)?;
    let layers = layers_view::layers_of(&ro, &v).map_err(Fatal::Failed)?;
    let image = layers_view::image_of(&v);
    if json {
        let mut m = function_json(f);
        if let serde_json::Value::Object(vj) = version_json(&v) {
            m.extend(vj);
        }
        m.insert("versions".into(), count.into());
        m.insert("blob".into(), blob.clone().into());
        match &configuration {
            Some(c) => {
                m.insert("config_sha256".into(), c.row.config_sha256.clone().into());
                m.insert("code_changed".into(), c.row.code_changed.into());
                m.insert("config_changed".into(), c.row.config_changed.into());
                m.insert("cloud_modified".into(), c.row.cloud_modified.clone().into());
                m.insert(
                    "configuration".into(),
                    match &c.document {
                        Ok(d) => d.clone(),
                        Err(e) => serde_json::json!({ "error": e }),
                    },
                );
            }
            None => {
                m.insert("configuration".into(), serde_json::Value::Null);
            }
        }
        m.insert("image".into(), layers_view::image_json(&v));
        m.insert("layers".into(), layers_view::layers_json(&layers));
        m.insert(
            "package".into(),
            match &package {
                // A container image has no package: its blob is the configuration document.
                _ if image.is_some() => serde_json::json!({
                    "format": "image", "error": null, "files": [],
                }),
                Ok(p) => serde_json::json!({
                    "format": if p.is_zip { "zip" } else { "not-zip" },
                    "error": p.error,
                    "files": p.files.iter().map(entry_json).collect::<Vec<_>>(),
                }),
                Err(e) => serde_json::json!({
                    "format": "unreadable",
                    "error": format!("{e:#}"),
                    "files": [],
                }),
            },
        );
        print_json(&serde_json::Value::Object(m))?;
        return Ok(ExitCode::SUCCESS);
    }
    let t = &f.target;
    let fields = [
        ("function", t.key.clone()),
        ("cloud", t.cloud.as_str().to_string()),
        ("version", format!("{} of {count}", v.version_no)),
        ("first seen", v.first_seen.clone()),
        ("last seen", v.last_seen.clone()),
        (
            "size",
            format!("{} ({} bytes)", human_bytes(v.size.max(0) as u64), v.size),
        ),
        ("sha256", v.sha256.clone()),
        ("crc64", v.crc64.clone()),
        ("cloud checksum", v.cloud_checksum.clone()),
        ("blob", blob.clone()),
        (
            "package",
            match &package {
                _ if image.is_some() => {
                    "none: a container image (images are not copied; the blob is its configuration)"
                        .to_string()
                }
                Ok(p) if p.is_zip => format!("zip, {} entries", p.files.len()),
                Ok(p) => format!(
                    "not a zip ({}); no file manifest",
                    p.error.as_deref().unwrap_or("unknown format")
                ),
                Err(e) => format!("unreadable: {e:#}"),
            },
        ),
    ];
    for (k, val) in fields {
        // The package's error names a zip entry, from the package: escaped like table cells.
        println!("{:<15} {}", format!("{k}:"), super::output::shown(&val));
    }
    if let Some(i) = &image {
        println!(
            "{:<15} {} (digest: {})",
            "image:",
            super::output::shown(&i.reference),
            i.digest.as_deref().unwrap_or("not given")
        );
    }
    if layers.is_empty() {
        println!("{:<15} none", "layers:");
    } else {
        println!("{:<15} {} (in the cloud's order)", "layers:", layers.len());
        for (n, l) in layers.iter().enumerate() {
            println!(
                "  {}. {}  sha256 {}  {} bytes",
                n + 1,
                super::output::shown(&layers_view::label(l)),
                l.sha256,
                l.size
            );
        }
    }
    match &configuration {
        None => println!(
            "{:<15} none recorded (archived before configurations were read, or not read for this kind of function)",
            "configuration:"
        ),
        Some(c) => {
            println!(
                "{:<15} {} (code changed: {}, configuration changed: {}; cloud modified: {})",
                "configuration:",
                c.row.config_sha256,
                config_view::yes_no(c.row.code_changed),
                config_view::yes_no(c.row.config_changed),
                c.row.cloud_modified.as_deref().unwrap_or("not given")
            );
            match &c.document {
                Ok(d) => {
                    for line in config_view::lines(d) {
                        println!("  {}", super::output::shown(&line));
                    }
                }
                Err(e) => println!("  unreadable: {}", super::output::shown(e)),
            }
        }
    }
    if let Ok(p) = &package
        && p.is_zip
        && image.is_none()
    {
        println!();
        let rows: Vec<Vec<String>> = p
            .files
            .iter()
            .map(|e| {
                vec![
                    e.size.to_string(),
                    format!("{:08x}", e.crc32),
                    e.path.clone(),
                ]
            })
            .collect();
        print_table(&["SIZE", "CRC32", "PATH"], &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn at(config: &Config, time: &str, json: bool) -> Result<ExitCode, Fatal> {
    let t = resolve::time(time)?;
    let ro = open_read_only(config)?;
    // Every function with its live version, in one statement (by key).
    let found = ro.db.functions_at(&t).map_err(anyhow::Error::from)?;
    if json {
        // Each function's entry is made as it is written (`JsonSeq`), not the whole array
        // first: 100,000 of them.
        let functions = super::output::JsonSeq::new(found.iter().map(|(f, v)| {
            let mut m = serde_json::Map::new();
            m.insert("function".into(), f.target.key.clone().into());
            match v {
                Some(v) => {
                    if let serde_json::Value::Object(vj) = version_json(v) {
                        m.extend(vj);
                    }
                }
                None => {
                    m.insert("version".into(), serde_json::Value::Null);
                }
            }
            serde_json::Value::Object(m)
        }));
        let aliases = super::aliases::at(&ro, &t)?;
        print_json(&AtJson {
            aliases: super::aliases::at_json(&aliases),
            at: &t,
            functions,
        })?;
    } else {
        println!("live at {t} (as far as the sweeps saw):");
        let rows: Vec<Vec<String>> = found
            .iter()
            .map(|(f, v)| match v {
                Some(v) => vec![
                    f.target.key.clone(),
                    v.version_no.to_string(),
                    v.first_seen.clone(),
                    v.last_seen.clone(),
                    short(&v.sha256),
                ],
                None => vec![
                    f.target.key.clone(),
                    "-".into(),
                    "not archived yet".into(),
                    "-".into(),
                    "-".into(),
                ],
            })
            .collect();
        print_table(
            &["FUNCTION", "VERSION", "FIRST SEEN", "LAST SEEN", "SHA256"],
            &rows,
        )?;
        super::aliases::at_table(&super::aliases::at(&ro, &t)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `at --json`: the object `json!` made before, keys in its (sorted) order, the functions
/// written one by one.
struct AtJson<'a, I> {
    aliases: serde_json::Value,
    at: &'a str,
    functions: super::output::JsonSeq<I>,
}

impl<I: Iterator<Item = serde_json::Value>> serde::Serialize for AtJson<'_, I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("aliases", &self.aliases)?;
        m.serialize_entry("at", self.at)?;
        m.serialize_entry("functions", &self.functions)?;
        m.end()
    }
}

fn changes_json(changes: &[crate::capture::Change]) -> serde_json::Value {
    use crate::capture::Change;
    changes
        .iter()
        .map(|c| match c {
            Change::Added { path, value } => {
                serde_json::json!({"change": "added", "path": path, "new": value})
            }
            Change::Removed { path, value } => {
                serde_json::json!({"change": "removed", "path": path, "old": value})
            }
            Change::Changed { path, old, new } => {
                serde_json::json!({"change": "changed", "path": path, "old": old, "new": new})
            }
        })
        .collect()
}

/// The configuration part of `diff`. `alone`: the packages are the same, so this is all of
/// it (in JSON, the file lists are empty).
/// Layer changes are printed after the configuration's (before any file changes).
fn print_config_diff(
    f: &FunctionRow,
    from: i64,
    to: i64,
    changes: Option<&[crate::capture::Change]>,
    layers: &[LayerChange<'_>],
    json: bool,
    alone: bool,
) -> Result<ExitCode, Fatal> {
    use crate::capture::Change;
    if json {
        print_json(&serde_json::json!({
            "function": f.target.key,
            "from": from,
            "to": to,
            "configuration": changes.map(changes_json),
            "layers": layers_view::changes_json(layers),
            "added": [], "removed": [], "changed": [],
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    match changes {
        None => println!(
            "{} version {from} → {to}: configuration not recorded for both versions",
            f.target.key
        ),
        Some(changes) => {
            println!(
                "{} version {from} → {to}: configuration: {} change(s)",
                f.target.key,
                changes.len()
            );
            let rows: Vec<Vec<String>> = changes
                .iter()
                .map(|c| match c {
                    Change::Added { path, value } => {
                        vec!["added".into(), path.clone(), value.clone()]
                    }
                    Change::Removed { path, value } => {
                        vec!["removed".into(), path.clone(), value.clone()]
                    }
                    Change::Changed { path, old, new } => {
                        vec!["changed".into(), path.clone(), format!("{old} → {new}")]
                    }
                })
                .collect();
            if !rows.is_empty() {
                print_table(&["CHANGE", "FIELD", "VALUE"], &rows)?;
            }
        }
    }
    layers_view::print_changes(&f.target.key, from, to, layers);
    if alone {
        println!(
            "{} version {from} → {to}: the same package, no file changes",
            f.target.key
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Largest file `diff --content` reads from a package.
const CONTENT_LIMIT: u64 = 16 << 20;

fn diff(
    config: &Config,
    function: &str,
    from: i64,
    to: i64,
    content: Option<&str>,
    json: bool,
) -> Result<ExitCode, Fatal> {
    let ro = open_read_only(config)?;
    let f = resolve::function(&ro, function)?;
    let f = &f;
    let versions = ro.db.versions_of(f.id).map_err(anyhow::Error::from)?;
    let get = |n: i64| {
        versions.iter().find(|v| v.version_no == n).ok_or_else(|| {
            anyhow!(
                "{} has no version {n} (it has {})",
                f.target.key,
                version_range(&versions)
            )
        })
    };
    let (a, b) = (get(from)?, get(to)?);
    if let Some(path) = content {
        return diff_content(&ro, f, a, b, path);
    }
    // Configuration first, field by field (secrets only as "changed", never a value).
    let (ca, cb) = (
        config_view::of(&ro, a).map_err(Fatal::Failed)?,
        config_view::of(&ro, b).map_err(Fatal::Failed)?,
    );
    let config_changes = match (&ca, &cb) {
        (Some(x), Some(y)) => Some(crate::capture::diff(
            config_view::document(x).map_err(Fatal::Failed)?,
            config_view::document(y).map_err(Fatal::Failed)?,
        )),
        _ => None,
    };
    let (la, lb) = (
        layers_view::layers_of(&ro, a).map_err(Fatal::Failed)?,
        layers_view::layers_of(&ro, b).map_err(Fatal::Failed)?,
    );
    let layer_changes = layers_view::changes(&la, &lb);
    if a.sha256 == b.sha256 {
        // The same package: only the configuration can differ.
        return print_config_diff(
            f,
            from,
            to,
            config_changes.as_deref(),
            &layer_changes,
            json,
            true,
        );
    }
    // A container image has no files to compare: its image reference is what changed.
    let (ia, ib) = (layers_view::image_of(a), layers_view::image_of(b));
    if ia.is_some() || ib.is_some() {
        let shown = |i: &Option<layers_view::ImageRef>| match i {
            Some(i) => i.reference.clone(),
            None => "(a code package)".to_string(),
        };
        let (old, new) = (shown(&ia), shown(&ib));
        if json {
            print_json(&serde_json::json!({
                "function": f.target.key,
                "from": from,
                "to": to,
                "configuration": config_changes.as_deref().map(changes_json),
                "layers": layers_view::changes_json(&layer_changes),
                "image": {"old": old, "new": new},
                "added": [], "removed": [], "changed": [],
            }))?;
        } else {
            print_config_diff(
                f,
                from,
                to,
                config_changes.as_deref(),
                &layer_changes,
                false,
                false,
            )?;
            println!(
                "{} version {from} → {to}: image {} → {} (container images have no file list)",
                f.target.key,
                super::output::shown(&old),
                super::output::shown(&new)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !json {
        print_config_diff(
            f,
            from,
            to,
            config_changes.as_deref(),
            &layer_changes,
            false,
            false,
        )?;
    }
    let pa = manifest_of(&ro, &a.sha256)
        .with_context(|| format!("{}@{}", f.target.key, a.version_no))
        .map_err(Fatal::Failed)?;
    let pb = manifest_of(&ro, &b.sha256)
        .with_context(|| format!("{}@{}", f.target.key, b.version_no))
        .map_err(Fatal::Failed)?;
    for (v, p) in [(a, &pa), (b, &pb)] {
        if !p.is_zip {
            return Err(Fatal::Failed(anyhow!(
                "{}@{} is not a zip package ({}), so it has no file list to compare; \
                 sha256 {} vs {}",
                f.target.key,
                v.version_no,
                p.error.as_deref().unwrap_or("unknown format"),
                a.sha256,
                b.sha256
            )));
        }
    }
    let old: std::collections::BTreeMap<&str, &Entry> =
        pa.files.iter().map(|e| (e.path.as_str(), e)).collect();
    let new: std::collections::BTreeMap<&str, &Entry> =
        pb.files.iter().map(|e| (e.path.as_str(), e)).collect();
    let added: Vec<&Entry> = new
        .iter()
        .filter(|(p, _)| !old.contains_key(*p))
        .map(|(_, e)| *e)
        .collect();
    let removed: Vec<&Entry> = old
        .iter()
        .filter(|(p, _)| !new.contains_key(*p))
        .map(|(_, e)| *e)
        .collect();
    let changed: Vec<(&Entry, &Entry)> = old
        .iter()
        .filter_map(|(p, o)| new.get(p).map(|n| (*o, *n)))
        .filter(|(o, n)| o.size != n.size || o.crc32 != n.crc32)
        .collect();
    if json {
        print_json(&serde_json::json!({
            "function": f.target.key,
            "from": from,
            "to": to,
            "configuration": config_changes.as_deref().map(changes_json),
            "layers": layers_view::changes_json(&layer_changes),
            "added": added.iter().map(|e| entry_json(e)).collect::<Vec<_>>(),
            "removed": removed.iter().map(|e| entry_json(e)).collect::<Vec<_>>(),
            "changed": changed.iter().map(|(o, n)| serde_json::json!({
                "path": n.path,
                "old_size": o.size,
                "new_size": n.size,
                "old_crc32": format!("{:08x}", o.crc32),
                "new_crc32": format!("{:08x}", n.crc32),
            })).collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} version {from} → {to}: {} added, {} removed, {} changed",
        f.target.key,
        added.len(),
        removed.len(),
        changed.len()
    );
    let mut rows: Vec<Vec<String>> = Vec::new();
    for e in &added {
        rows.push(vec!["added".into(), e.path.clone(), e.size.to_string()]);
    }
    for e in &removed {
        rows.push(vec!["removed".into(), e.path.clone(), e.size.to_string()]);
    }
    for (o, n) in &changed {
        rows.push(vec![
            "changed".into(),
            n.path.clone(),
            format!("{} → {}", o.size, n.size),
        ]);
    }
    rows.sort_by(|x, y| x[1].cmp(&y[1]));
    if !rows.is_empty() {
        print_table(&["CHANGE", "PATH", "SIZE"], &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn diff_content(
    ro: &ReadOnly,
    f: &FunctionRow,
    a: &VersionRow,
    b: &VersionRow,
    path: &str,
) -> Result<ExitCode, Fatal> {
    let read = |v: &VersionRow| -> anyhow::Result<Option<String>> {
        // Read in place: on object storage, Range GETs of the directory and the one entry.
        let blob = ro.archive.blob_reader(&v.sha256)?;
        let at = std::path::PathBuf::from(ro.archive.blob_location(&v.sha256));
        // The manifest said this package is a readable zip: if it no longer reads, the blob
        // has most likely been damaged since.
        let bytes = manifest::extract_from(blob, &at, path, CONTENT_LIMIT).with_context(|| {
            format!(
                "{}@{} (blob {}): the package does not read back; `fnvault verify` checks whether it is damaged",
                f.target.key, v.version_no, v.sha256
            )
        })?;
        match bytes {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
                anyhow!(
                    "{}@{}: `{path}` is not UTF-8 text; compare the packages with `fnvault diff` \
                     (sizes and CRC-32) or restore both",
                    f.target.key,
                    v.version_no
                )
            }),
        }
    };
    let old = read(a).map_err(Fatal::Failed)?;
    let new = read(b).map_err(Fatal::Failed)?;
    if old.is_none() && new.is_none() {
        return Err(Fatal::Failed(anyhow!(
            "`{path}` is in neither version {} nor {} of {}",
            a.version_no,
            b.version_no,
            f.target.key
        )));
    }
    let label = |side: &str, v: &VersionRow, present: bool| {
        if present {
            format!("{side}/{path}@{}", v.version_no)
        } else {
            "/dev/null".to_string()
        }
    };
    let (old_label, new_label) = (label("a", a, old.is_some()), label("b", b, new.is_some()));
    let old = old.unwrap_or_default();
    let new = new.unwrap_or_default();
    // A file's text is the package's: on a terminal its escape sequences would act on the
    // operator's terminal, so they are shown escaped there (lines and tabs kept); piped to a
    // file or `patch`, the diff stays byte for byte.
    let (old, new) = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        (
            super::output::shown_keeping(&old, &['\n', '\t']).into_owned(),
            super::output::shown_keeping(&new, &['\n', '\t']).into_owned(),
        )
    } else {
        (old, new)
    };
    let text = similar::TextDiff::from_lines(&old, &new);
    let stdout = std::io::stdout();
    // Buffered: stdout is line-buffered, and 10,000 rows are 10,000 writes otherwise.
    let mut out = std::io::BufWriter::new(stdout.lock());
    write!(
        out,
        "{}",
        text.unified_diff()
            .context_radius(3)
            .header(&old_label, &new_label)
    )
    .map_err(anyhow::Error::from)?;
    out.flush().map_err(anyhow::Error::from)?;
    Ok(ExitCode::SUCCESS)
}
