//! The alias journal (issue 14): every alias state a sweep saw, one JSON line per change, in
//! `aliases/<sha256 of the function key>.jsonl` (on object storage, one object per line under
//! `aliases/<hash>/`, as the version journal does under `meta/`). With it `reindex` rebuilds
//! alias histories from the archive alone.
//!
//! Why a folder of its own rather than new lines in `meta/`: an fnvault older than aliases
//! reports every line kind it does not know as a problem (`journal.rs`), and its `prune` then
//! refuses to run. Alias lines describe no blob, so keeping them out of `meta/` leaves older
//! fnvaults reading the version journal exactly as before (they never look in `aliases/`).
//!
//! A line: `{"event":"alias","key":…,"alias":…,"versions":[{"version":"2","weight":0.9},…],
//! "deleted":false,"cloud_modified":…,"time":…}`. Unknown fields are ignored (a newer fnvault
//! may add some); an unknown `event`, or a line whose key belongs in another file, is a
//! problem, reported, never applied. A torn last line (a kill mid-append) is skipped.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ArchiveError;
use super::journal::Journal;

/// The alias journal's folder under the archive root (and object prefix on object storage).
pub const DIR: &str = "aliases";

/// One alias state as a sweep saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasEvent {
    /// The function's key without qualifier.
    pub key: String,
    pub alias: String,
    /// (version, weight), sorted by version; empty when deleted.
    pub versions: Vec<(String, f64)>,
    pub deleted: bool,
    pub cloud_modified: Option<String>,
    /// When the sweep saw it (RFC 3339 UTC).
    pub time: String,
}

#[derive(Serialize, Deserialize)]
struct WeightLine {
    version: String,
    weight: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Line {
    Alias {
        key: String,
        alias: String,
        versions: Vec<WeightLine>,
        #[serde(default)]
        deleted: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cloud_modified: Option<String>,
        time: String,
    },
}

/// What the alias journal holds, and what could not be read.
#[derive(Debug, Default)]
pub struct AliasContents {
    /// In file order (each function's events oldest first).
    pub events: Vec<AliasEvent>,
    pub problems: Vec<String>,
}

/// The alias journal of one archive.
#[derive(Debug, Clone)]
pub struct AliasJournal {
    journal: Journal,
    dir: PathBuf,
    root: PathBuf,
    local: bool,
}

impl super::Archive {
    /// The alias journal, `aliases/` beside `meta/`.
    pub fn alias_journal(&self) -> AliasJournal {
        let dir = self.root.join(DIR);
        AliasJournal {
            journal: Journal::with_prefix(dir.clone(), self.remote.clone(), DIR),
            dir,
            root: self.root.clone(),
            local: self.remote.is_none(),
        }
    }
}

impl AliasJournal {
    /// The journal it writes through (mirrors copy its lines like the version journal's).
    pub(super) fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Its files with their sizes, by one listing ([`Journal::files_with_sizes`]).
    pub fn files_with_sizes(&self) -> Result<Vec<super::journal::FileSize>, ArchiveError> {
        self.journal.files_with_sizes()
    }

    /// The watermark of a file read whole: its complete length ([`Journal::watermark_for`];
    /// the alias journal is small, so a local file is opened again to find it).
    pub fn watermark_for(&self, f: &super::journal::FileSize) -> Result<u64, ArchiveError> {
        self.journal
            .watermark_for(f, &super::journal::Contents::default())
    }

    /// Creates the local folder (fsynced into the archive root) if it is not there yet.
    pub(super) fn ensure_dir(&self) -> Result<(), ArchiveError> {
        if self.local && !self.dir.is_dir() {
            std::fs::create_dir_all(&self.dir).map_err(|e| ArchiveError::io(&self.dir, e))?;
            super::sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// Appends one event and makes it durable (the folder is created, and fsynced into the
    /// archive root, on first use).
    pub fn append(&self, event: &AliasEvent) -> Result<(), ArchiveError> {
        self.ensure_dir()?;
        let line = Line::Alias {
            key: event.key.clone(),
            alias: event.alias.clone(),
            versions: event
                .versions
                .iter()
                .map(|(v, w)| WeightLine {
                    version: v.clone(),
                    weight: *w,
                })
                .collect(),
            deleted: event.deleted,
            cloud_modified: event.cloud_modified.clone(),
            time: event.time.clone(),
        };
        let path = self.journal.file_for(&event.key);
        let mut text = serde_json::to_string(&line)
            .map_err(|e| ArchiveError::io(&path, std::io::Error::other(e)))?;
        text.push('\n');
        self.journal.write_line(&path, text)
    }

    /// Every event of every file. A missing folder is an empty journal.
    pub fn read_all(&self) -> Result<AliasContents, ArchiveError> {
        let mut out = AliasContents::default();
        for path in self.journal.files()? {
            let text = self.journal.read_file(&path)?.unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let complete = text.ends_with('\n');
            let lines: Vec<&str> = text.lines().collect();
            for (i, raw) in lines.iter().enumerate() {
                if raw.trim().is_empty() {
                    continue;
                }
                let torn_tail = i + 1 == lines.len() && !complete;
                match parse(raw) {
                    Ok(e) if self.journal.file_for(&e.key) == path => out.events.push(e),
                    Ok(e) => out.problems.push(format!(
                        "{}:{}: key `{}` belongs in another alias journal file",
                        path.display(),
                        i + 1,
                        e.key
                    )),
                    Err(_) if torn_tail => {}
                    Err(why) => out
                        .problems
                        .push(format!("{}:{}: {why}", path.display(), i + 1)),
                }
            }
        }
        Ok(out)
    }
}

fn parse(raw: &str) -> Result<AliasEvent, String> {
    let line: Line =
        serde_json::from_str(raw).map_err(|e| format!("not an alias journal line: {e}"))?;
    let Line::Alias {
        key,
        alias,
        versions,
        deleted,
        cloud_modified,
        time,
    } = line;
    if chrono::DateTime::parse_from_rfc3339(&time).is_err() {
        return Err(format!("time `{time}` is not RFC 3339"));
    }
    Ok(AliasEvent {
        key,
        alias,
        versions: versions
            .into_iter()
            .map(|w| (w.version, w.weight))
            .collect(),
        deleted,
        cloud_modified,
        time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_bad_lines_are_problems_not_events() {
        let dir = tempfile::tempdir().unwrap();
        let archive = super::super::Archive::open(dir.path()).unwrap();
        let j = archive.alias_journal();
        assert!(j.read_all().unwrap().events.is_empty());
        let e = AliasEvent {
            key: "a/r/ns/f".to_string(),
            alias: "prod".to_string(),
            versions: vec![("2".to_string(), 0.9), ("3".to_string(), 0.1)],
            deleted: false,
            cloud_modified: Some("2026-03-03 12:00:00".to_string()),
            time: "2026-03-03T04:00:00.000Z".to_string(),
        };
        j.append(&e).unwrap();
        let path = j.journal.file_for(&e.key);
        // A newer fnvault's extra field is read; its unknown kind of line is a problem.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(concat!(
            r#"{"event":"alias","key":"a/r/ns/f","alias":"dev","versions":[],"deleted":true,"#,
            r#""time":"2026-03-04T00:00:00Z","new":1}"#,
            "\n",
            r#"{"event":"other","key":"a/r/ns/f"}"#,
            "\n"
        ));
        // A torn last line is skipped.
        text.push_str("{\"event\":\"al");
        std::fs::write(&path, text).unwrap();
        let c = j.read_all().unwrap();
        assert_eq!(c.events.len(), 2, "{:?}", c.problems);
        assert_eq!(c.events[0], e);
        assert!(c.events[1].deleted);
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        // The next append cuts the torn tail first.
        j.append(&e).unwrap();
        assert_eq!(j.read_all().unwrap().events.len(), 3);
    }
}
