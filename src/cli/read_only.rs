//! The read-only helpers the audit commands share: opening the database and archive without
//! a lock, picking a version, and printing tables and JSON. `audit`, `verify`, `restore` and
//! `prune` all take these from here, so no command file imports another.

use std::io::Write;

use anyhow::anyhow;

use super::Fatal;
use super::output::write_table;
use super::resolve;
use crate::archive::Archive;
use crate::config::Config;
use crate::db::{Db, FunctionRow, PackageInfo, VersionRow};
use crate::manifest::{self, Package};

/// The database, read-only, and what it knows. Takes no lock.
pub(super) struct ReadOnly {
    pub db: Db,
    pub archive: Archive,
    /// Every function, read on first use: naming one function needs only the rows that can
    /// match (`resolve::Known`), and `history`/`show` stay index lookups at 100,000 functions.
    functions: std::cell::OnceCell<Vec<FunctionRow>>,
}

impl ReadOnly {
    /// Every function the database knows, by key.
    pub fn functions(&self) -> anyhow::Result<&[FunctionRow]> {
        if let Some(f) = self.functions.get() {
            return Ok(f);
        }
        let all = self.db.functions()?;
        Ok(self.functions.get_or_init(|| all))
    }
}

impl resolve::Known for ReadOnly {
    fn exact(&self, key: &str) -> anyhow::Result<Option<FunctionRow>> {
        Ok(self.db.function_by_key(key)?)
    }

    fn containing(&self, text: &str) -> anyhow::Result<Vec<FunctionRow>> {
        if let Some(all) = self.functions.get() {
            return all.as_slice().containing(text);
        }
        Ok(self.db.functions_containing(text)?)
    }

    fn all_keys(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .functions()?
            .iter()
            .map(|f| f.target.key.clone())
            .collect())
    }

    fn aliases_of(&self, function_key: &str) -> anyhow::Result<Vec<String>> {
        Ok(self.db.alias_names(function_key)?)
    }
}

pub(super) fn open_read_only(config: &Config) -> Result<ReadOnly, Fatal> {
    let db = Db::open_read_only(&config.database_path)
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| {
            anyhow!(
                "no database at {}: nothing is archived yet (run `fnvault sync`), or it was lost \
                 (run `fnvault reindex`)",
                config.database_path.display()
            )
        })?;
    Ok(ReadOnly {
        db,
        archive: Archive::at_settings(&config.archive, &config.http)
            .map_err(anyhow::Error::from)?,
        functions: std::cell::OnceCell::new(),
    })
}

/// The version `spec` (FUNCTION[@VERSION]) names, or the one live at `at`, or the latest.
pub(super) fn pick_version(
    ro: &ReadOnly,
    spec: &str,
    at: Option<&str>,
) -> Result<(FunctionRow, VersionRow), Fatal> {
    let (f, number) = match resolve::named(ro, spec)? {
        resolve::Named::Function(f, number) => (f, number),
        resolve::Named::Alias { function, alias } => {
            return alias_version(ro, &function, &alias, at);
        }
    };
    let versions = ro.db.versions_of(f.id).map_err(anyhow::Error::from)?;
    let chosen = match (number, at) {
        (Some(_), Some(_)) => {
            return Err(anyhow!("give either {spec} (a version) or --at, not both").into());
        }
        (Some(n), None) => versions.iter().find(|v| v.version_no == n).ok_or_else(|| {
            anyhow!(
                "{} has no version {n} (it has {})",
                f.target.key,
                version_range(&versions)
            )
        })?,
        (None, Some(t)) => {
            let t = resolve::time(t)?;
            versions
                .iter()
                .rev()
                .find(|v| v.first_seen <= t)
                .ok_or_else(|| anyhow!("{} had no archived version at {t}", f.target.key))?
        }
        (None, None) => versions
            .last()
            .ok_or_else(|| anyhow!("{} has no archived version", f.target.key))?,
    };
    let chosen = chosen.clone();
    Ok((f, chosen))
}

/// The archived version alias `alias` of `function` served at `at` (default now): its state
/// then, the published version it routed to, and that version's archived package (a published
/// version is immutable: the archive version live at `at`, else its first one, archived by the
/// same sweep that first saw the alias point at it). A split between versions names each,
/// since it served more than one package.
fn alias_version(
    ro: &ReadOnly,
    function: &str,
    alias: &str,
    at: Option<&str>,
) -> Result<(FunctionRow, VersionRow), Fatal> {
    let t = match at {
        Some(t) => resolve::time(t)?,
        None => crate::time::now_rfc3339(),
    };
    let state = ro
        .db
        .alias_at(function, alias, &t)
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| {
            anyhow!(
                "alias `{alias}` of {function} was not recorded at {t} (`fnvault aliases {function}` shows its history)"
            )
        })?;
    if state.deleted {
        return Err(anyhow!(
            "alias `{alias}` of {function} was deleted at {t} (recorded deleted since {})",
            state.from
        )
        .into());
    }
    let version = match state.versions.as_slice() {
        [(v, _)] => v.clone(),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|(v, _)| format!("`{function}@{v}`"))
                .collect();
            return Err(anyhow!(
                "at {t} alias `{alias}` of {function} routed to several versions: {}; name one: {}",
                crate::sweep::versions::describe(many),
                names.join(", ")
            )
            .into());
        }
    };
    let key = if version == "$LATEST" || version == "LATEST" {
        function.to_string()
    } else {
        format!("{function}@{version}")
    };
    let f = ro
        .db
        .function_by_key(&key)
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| {
            anyhow!(
                "at {t} alias `{alias}` of {function} pointed at version {version}, which is not archived (is `versions = true` set for it?)"
            )
        })?;
    let versions = ro.db.versions_of(f.id).map_err(anyhow::Error::from)?;
    let chosen = versions
        .iter()
        .rev()
        .find(|v| v.first_seen <= t)
        .or(versions.first())
        .ok_or_else(|| anyhow!("{key} has no archived version"))?
        .clone();
    Ok((f, chosen))
}

pub(super) fn version_range(versions: &[VersionRow]) -> String {
    match (versions.first(), versions.last()) {
        (Some(a), Some(b)) if a.version_no == b.version_no => format!("only {}", a.version_no),
        (Some(a), Some(b)) => format!("{}..{}", a.version_no, b.version_no),
        _ => "none".into(),
    }
}

/// A checksum short enough for a table: long hex is cut to 12 characters.
pub(super) fn short(s: &str) -> String {
    if s.len() > 20 {
        s.chars().take(12).collect()
    } else {
        s.to_string()
    }
}

pub(super) fn print_json(value: &impl serde::Serialize) -> Result<(), Fatal> {
    let stdout = std::io::stdout();
    // Buffered: stdout is line-buffered, and 10,000 rows are 10,000 writes otherwise.
    let mut out = std::io::BufWriter::new(stdout.lock());
    serde_json::to_writer_pretty(&mut out, value).map_err(anyhow::Error::from)?;
    writeln!(out).map_err(anyhow::Error::from)?;
    out.flush().map_err(anyhow::Error::from)?;
    Ok(())
}

pub(super) fn print_table(header: &[&str], rows: &[Vec<String>]) -> Result<(), Fatal> {
    let stdout = std::io::stdout();
    // Buffered: stdout is line-buffered, and 10,000 rows are 10,000 writes otherwise.
    let mut out = std::io::BufWriter::new(stdout.lock());
    write_table(&mut out, header, rows).map_err(anyhow::Error::from)?;
    out.flush().map_err(anyhow::Error::from)?;
    Ok(())
}

/// The manifest of a blob: from the database, or read from the blob when no sweep has yet
/// (a read-only command never writes it back).
pub(super) fn manifest_of(ro: &ReadOnly, sha256: &str) -> anyhow::Result<PackageInfo> {
    if let Some(info) = ro.db.manifest(sha256)? {
        return Ok(info);
    }
    // Read in place: on object storage, Range GETs of the zip's end, not the whole blob.
    let reader = ro.archive.blob_reader(sha256)?;
    let path = std::path::PathBuf::from(ro.archive.blob_location(sha256));
    Ok(match manifest::read_from(reader, &path)? {
        Package::Zip(files) => PackageInfo {
            is_zip: true,
            error: None,
            files,
        },
        Package::NotZip(error) => PackageInfo {
            is_zip: false,
            error: Some(error),
            files: Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    /// Review §7: `verify`, `restore` and `prune` imported their helpers from `audit`, which
    /// dispatches to them: a cycle. They take them from this leaf now; keep it that way.
    #[test]
    fn the_command_files_do_not_import_each_other() {
        for (file, text) in [
            ("verify.rs", include_str!("verify.rs")),
            ("restore.rs", include_str!("restore.rs")),
            ("prune.rs", include_str!("prune.rs")),
            ("read_only.rs", include_str!("read_only.rs")),
        ] {
            for other in ["audit", "verify", "restore", "prune"] {
                let import = format!("super::{other}::");
                let uses = format!("use super::{other}");
                assert!(
                    !text.contains(&import) && !text.contains(&uses),
                    "{file} imports cli/{other}.rs"
                );
            }
        }
    }
}
