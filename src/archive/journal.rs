//! The archive's journal: what makes it self-describing. One append-only file per function,
//! `meta/<sha256 of the canonical key>.jsonl` (a name from a config or a cloud never becomes a
//! path), one JSON object per line:
//!
//! - `version`: the function's identity (key, cloud, account, region, namespace, name,
//!   qualifier) and one archived version (version_no, cloud_checksum, sha256, crc64 as decimal
//!   text, size, first_seen). Appended and fsynced after the blob is durable and before the
//!   database row is written, so a row never exists without its line;
//! - `seen`: a version was seen live at `time`. Written by the first sweep of each UTC day that
//!   finds a version unchanged, so a rebuilt database knows `last_seen` to within a day;
//! - `pruned`: `prune` removed that version; a rebuild does not bring it back;
//! - `config`: the configuration document (a blob, by SHA-256) of one version, whether the
//!   package and/or the configuration changed with it, and the cloud's own modified time.
//!   Appended after the version's `version` line (or, for a version archived before
//!   configurations were read, when its first configuration is attached to it).
//! - `layer` (in the layer's own file, keyed `<account>/<region>/layer/<name>/<version>`): one
//!   archived layer version (its cloud checksum, sha256, crc64, size). Appended after its blob
//!   is durable and before its row, like `version`;
//! - `layers`: the layer versions (by key, in the cloud's order) one version of a function
//!   uses. Appended after their `layer` lines and the version's `version` line.
//!
//! A line of a kind this fnvault does not know (written by a newer one) is reported as a
//! problem, never skipped silently: it may be the only description of a blob, and `prune`
//! refuses to delete while any is reported. (So an fnvault older than `config` lines reports
//! them, and its `prune` refuses without `--force`: README, "Upgrading".)
//!
//! With `blobs/` this is everything `fnvault reindex` needs; only per-sweep statistics and the
//! last check's status are lost with the database. The line format is private to this file
//! (architecture invariant: domain types do not derive `Serialize`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ArchiveError;
use crate::cloud::{Cloud, Target};

/// The journal's folder under the archive root.
pub const DIR: &str = "meta";

/// One archived version, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub target: Target,
    pub version_no: i64,
    pub cloud_checksum: String,
    pub sha256: String,
    pub crc64: u64,
    pub size: u64,
    pub first_seen: String,
    /// When the version this one replaced (`version_no - 1`) was last seen live: the sweep
    /// that finds a change knows it exactly, so a rebuild does too.
    pub previous_last_seen: Option<String>,
}

/// The configuration of one version, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRecord {
    pub key: String,
    pub version_no: i64,
    /// SHA-256 of the canonical configuration document, a blob under `blobs/`.
    pub config_sha256: String,
    pub code_changed: bool,
    pub config_changed: bool,
    /// The cloud's last-modified time of the function, as the cloud wrote it.
    pub cloud_modified: Option<String>,
}

/// One archived layer version, as the journal records it (its own file, by its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// `<account>/<region>/layer/<name>/<version>`.
    pub key: String,
    pub cloud: Cloud,
    pub account: String,
    pub region: String,
    pub name: String,
    pub version: String,
    pub cloud_checksum: String,
    pub sha256: String,
    pub crc64: u64,
    pub size: u64,
    pub first_seen: String,
}

impl LayerRecord {
    /// The key of layer `name` version `version` of `account` in `region`.
    pub fn key_of(account: &str, region: &str, name: &str, version: &str) -> String {
        format!("{account}/{region}/layer/{name}/{version}")
    }
}

/// The newest sighting of each function's current version, from `meta/sightings.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub key: String,
    pub version_no: i64,
    pub last_seen: String,
}

/// The file, rewritten (atomically) after every sweep, that keeps each function's current
/// version's `last_seen` exact in a rebuild without a journal line per function per sweep.
const SIGHTINGS: &str = "sightings.json";

/// The prefix of `sightings.json`'s temp files; a kill can leave one, which the lock holder
/// removes ([`super::Archive::clean_tmp`]).
pub(super) const SIGHTINGS_TEMP_PREFIX: &str = ".sightings-";

// No `deny_unknown_fields` here or on `Line`: a file written by a newer fnvault (a field
// added) must stay readable by this one, or a rollback would see its versions as unreadable.
#[derive(Serialize, Deserialize)]
struct SightingLine {
    key: String,
    version_no: i64,
    last_seen: String,
}

/// What a journal line says.
// Events are built one at a time and read once; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Version(VersionRecord),
    Seen {
        key: String,
        version_no: i64,
        time: String,
    },
    Pruned {
        key: String,
        version_no: i64,
        time: String,
    },
    /// The histories an older fnvault kept under `from` (the same function named with its
    /// cloud's latest alias, `…@$LATEST` / `…@LATEST`) and under `key` itself were merged into
    /// one: the lines of `key`'s file that follow restate the whole merged history, so every
    /// earlier line of `key`'s file and every line of the `from` keys is superseded (readers
    /// drop them: [`Journal::read_all`]).
    Merged {
        key: String,
        from: Vec<String>,
    },
    Config(ConfigRecord),
    /// An archived layer version.
    Layer(LayerRecord),
    /// The layers (by key, in order) version `version_no` of function `key` uses.
    Layers {
        key: String,
        version_no: i64,
        layers: Vec<String>,
    },
}

/// Everything the journal holds, and what could not be read.
#[derive(Debug, Default)]
pub struct Contents {
    pub events: Vec<Event>,
    /// `file:line: why` for each unreadable line. A torn last line (a kill mid-append, before
    /// its fsync returned, so nothing was recorded after it) is not a problem and is skipped.
    pub problems: Vec<String>,
    /// The names (`<hash>.jsonl`) of the files with a problem, which get no watermark (the
    /// start-up reconcile reads them, and reports the problem, again).
    pub problem_files: std::collections::HashSet<String>,
    /// Per local file read, by name: (bytes read, bytes up to and with its last newline).
    pub lengths: std::collections::HashMap<String, (u64, u64)>,
    pub files: usize,
}

/// A journal file and its size: bytes of the file, or on object storage the sum of its
/// objects' sizes (which the listing gives, so no object is read to learn it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSize {
    /// `<sha256 of the key>.jsonl`: the same on both backends, the watermark's name
    /// ([`Journal::path_of`] gives the path).
    pub name: String,
    pub size: u64,
}

/// One line of a journal file read from an offset ([`Journal::read_tail`]).
#[derive(Debug)]
pub struct TailLine {
    /// Where the line starts (on object storage, where its object starts): a watermark may
    /// stop here.
    pub start: u64,
    /// Its events, or why it could not be read (`path@offset: why` is the caller's to add).
    pub parsed: Result<Vec<Event>, String>,
}

/// The complete lines of a journal file after an offset.
#[derive(Debug)]
pub enum Tail {
    /// The lines, and the offset just past the last complete one (a torn last line, which
    /// a kill can leave, is neither returned nor counted: the next append cuts it off).
    Lines { lines: Vec<TailLine>, end: u64 },
    /// The offset is not where a line starts (on object storage, where an object starts):
    /// the file is not the one the watermark was taken on.
    Misaligned,
}

// One line is built per write and read; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Line {
    Version {
        key: String,
        cloud: String,
        account: String,
        region: String,
        namespace: String,
        name: String,
        qualifier: Option<String>,
        version_no: i64,
        cloud_checksum: String,
        sha256: String,
        crc64: String,
        size: u64,
        first_seen: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous_last_seen: Option<String>,
    },
    Seen {
        key: String,
        version_no: i64,
        time: String,
    },
    Pruned {
        key: String,
        version_no: i64,
        time: String,
    },
    /// One line, so a kill leaves either all of a merge or (a torn tail) none of it.
    Merged {
        key: String,
        cloud: String,
        account: String,
        region: String,
        namespace: String,
        name: String,
        qualifier: Option<String>,
        from: Vec<String>,
        versions: Vec<MergedLineVersion>,
    },
    Config {
        key: String,
        version_no: i64,
        config_sha256: String,
        code_changed: bool,
        config_changed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cloud_modified: Option<String>,
    },
    Layer {
        key: String,
        cloud: String,
        account: String,
        region: String,
        name: String,
        version: String,
        cloud_checksum: String,
        sha256: String,
        crc64: String,
        size: u64,
        first_seen: String,
    },
    Layers {
        key: String,
        version_no: i64,
        layers: Vec<String>,
    },
}

/// A version's configuration inside a `merged` line (which supersedes the `config` lines of
/// the histories it merges, so it restates them).
#[derive(Serialize, Deserialize)]
struct MergedLineConfig {
    config_sha256: String,
    code_changed: bool,
    config_changed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cloud_modified: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct MergedLineVersion {
    version_no: i64,
    cloud_checksum: String,
    sha256: String,
    crc64: String,
    size: u64,
    first_seen: String,
    last_seen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config: Option<MergedLineConfig>,
}

/// One version of a merged history, for [`Journal::append_merged`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedRecord {
    pub record: VersionRecord,
    pub last_seen: String,
    /// Its configuration (`key` and `version_no` are ignored: the merged ones count).
    pub config: Option<ConfigRecord>,
}

/// The journal folder of one archive.
///
/// On object storage (`remote`) there is no append: each line is one small object,
/// `meta/<sha256 of the key>/<20-digit unix nanos>-<random>.json`, written create-only; a
/// function's "file" is its objects in name order (the writer holds the archive's lock, so
/// its clock orders them), read back as the same lines. There are no torn tails there: an
/// object is written whole or not at all.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    remote: Option<super::s3::S3>,
    /// The object-name prefix on object storage: [`DIR`], or another journal's (the alias
    /// journal, `super::aliases`, shares this code under its own folder).
    prefix: &'static str,
}

impl Journal {
    pub(super) fn new(dir: PathBuf, remote: Option<super::s3::S3>) -> Journal {
        Journal::with_prefix(dir, remote, DIR)
    }

    /// A journal kept under another folder (`dir` locally, `prefix/` on object storage).
    pub(super) fn with_prefix(
        dir: PathBuf,
        remote: Option<super::s3::S3>,
        prefix: &'static str,
    ) -> Journal {
        Journal {
            dir,
            remote,
            prefix,
        }
    }

    /// The file holding `key`'s events (on object storage, a name standing for its objects).
    pub fn file_for(&self, key: &str) -> PathBuf {
        let name = hex::encode(Sha256::digest(key.as_bytes()));
        match &self.remote {
            Some(r) => PathBuf::from(r.display(&format!("{}/{name}.jsonl", self.prefix))),
            None => self.dir.join(format!("{name}.jsonl")),
        }
    }

    /// The journal "files": `*.jsonl` paths, or on object storage one name per key folder.
    pub fn files(&self) -> Result<Vec<PathBuf>, ArchiveError> {
        if let Some(r) = &self.remote {
            let mut out: Vec<PathBuf> = Vec::new();
            for o in r.list(&format!("{}/", self.prefix))? {
                let rest = &o.name[self.prefix.len() + 1..];
                if let Some((hash, _)) = rest.split_once('/') {
                    let p = PathBuf::from(r.display(&format!("{}/{hash}.jsonl", self.prefix)));
                    if out.last() != Some(&p) {
                        out.push(p);
                    }
                }
            }
            out.dedup();
            return Ok(out);
        }
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ArchiveError::io(&self.dir, e)),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ArchiveError::io(&self.dir, e))?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths)
    }

    /// The journal files with their sizes, by one listing (a folder read with one `stat` per
    /// file, or one object listing).
    pub fn files_with_sizes(&self) -> Result<Vec<FileSize>, ArchiveError> {
        let mut out: Vec<FileSize> = Vec::new();
        if let Some(r) = &self.remote {
            for o in r.list(&format!("{}/", self.prefix))? {
                let rest = &o.name[self.prefix.len() + 1..];
                let Some((hash, _)) = rest.split_once('/') else {
                    continue;
                };
                let name = format!("{hash}.jsonl");
                match out.last_mut() {
                    Some(last) if last.name == name => last.size += o.size,
                    _ => out.push(FileSize { name, size: o.size }),
                }
            }
            return Ok(out);
        }
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ArchiveError::io(&self.dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| ArchiveError::io(&self.dir, e))?;
            if !entry.file_name().as_encoded_bytes().ends_with(b".jsonl") {
                continue;
            }
            let path = || entry.path();
            // `stat` relative to the open folder (one name lookup, not the whole path's):
            // most of this listing's cost at 100,000 files. A symlink is followed, as reading
            // it would.
            let meta = entry.metadata().map_err(|e| ArchiveError::io(&path(), e))?;
            let size = if meta.file_type().is_symlink() {
                fs::metadata(path())
                    .map_err(|e| ArchiveError::io(&path(), e))?
                    .len()
            } else {
                meta.len()
            };
            out.push(FileSize {
                name: entry.file_name().to_string_lossy().into_owned(),
                size,
            });
        }
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The path of the journal file named `name` (`<hash>.jsonl`), as [`Journal::file_for`]
    /// gives it.
    pub fn path_of(&self, name: &str) -> PathBuf {
        match &self.remote {
            Some(r) => PathBuf::from(r.display(&format!("{}/{name}", self.prefix))),
            None => self.dir.join(name),
        }
    }

    /// The watermark a file fully read can get: its complete length ([`Journal::complete_length`]),
    /// taken from the listing on object storage (every object is whole) and from `read` (what
    /// [`Journal::read_all`] saw) when the file has not changed size since, so the full
    /// reconcile does not open 100,000 files (or list 100,000 folders) a second time.
    pub fn watermark_for(&self, f: &FileSize, read: &Contents) -> Result<u64, ArchiveError> {
        if self.remote.is_some() {
            return Ok(f.size);
        }
        match read.lengths.get(&f.name) {
            Some(&(raw, complete)) if raw == f.size => Ok(complete),
            _ => self.complete_length(&self.path_of(&f.name)),
        }
    }

    /// How many bytes of `path` are complete lines: its size without a torn last line (a
    /// kill mid-append). On object storage every object is whole: the sum of their sizes.
    pub fn complete_length(&self, path: &Path) -> Result<u64, ArchiveError> {
        if let Some(r) = &self.remote {
            let hash = file_stem(path);
            return Ok(r
                .list(&format!("{}/{hash}/", self.prefix))?
                .iter()
                .map(|o| o.size)
                .sum());
        }
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(ArchiveError::io(path, e)),
        };
        complete_len(&mut file)
            .map(|(_, keep)| keep)
            .map_err(|e| ArchiveError::io(path, e))
    }

    /// The complete lines of `path` from byte `from` on, read line by line (the part before
    /// `from` is not read). On object storage, the objects after the first `from` bytes of
    /// the file's objects in name order, which the listing's sizes locate.
    pub fn read_tail(&self, path: &Path, from: u64) -> Result<Tail, ArchiveError> {
        use std::io::BufRead;
        let mut lines = Vec::new();
        if let Some(r) = &self.remote {
            let hash = file_stem(path);
            let mut at = 0u64;
            for o in r.list(&format!("{}/{hash}/", self.prefix))? {
                let start = at;
                at += o.size;
                if at <= from {
                    continue;
                }
                if start < from {
                    return Ok(Tail::Misaligned);
                }
                // Deleted since the listing (only another writer could): nothing to read.
                let Some(bytes) = r.get_bytes(&o.name)? else {
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes);
                for raw in text.lines().filter(|l| !l.trim().is_empty()) {
                    lines.push(TailLine {
                        start,
                        parsed: parse_line(raw, path, self),
                    });
                }
            }
            if at < from {
                return Ok(Tail::Misaligned);
            }
            return Ok(Tail::Lines { lines, end: at });
        }
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(if from == 0 {
                    Tail::Lines { lines, end: 0 }
                } else {
                    Tail::Misaligned
                });
            }
            Err(e) => return Err(ArchiveError::io(path, e)),
        };
        if from > 0 {
            // The byte before `from` ends a line, or the file is not the one measured.
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(from - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| ArchiveError::io(path, e))?;
            if last[0] != b'\n' {
                return Ok(Tail::Misaligned);
            }
        }
        file.seek(SeekFrom::Start(from))
            .map_err(|e| ArchiveError::io(path, e))?;
        let mut reader = io::BufReader::with_capacity(64 << 10, file);
        let mut at = from;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| ArchiveError::io(path, e))?;
            if n == 0 || buf.last() != Some(&b'\n') {
                // The end, or a torn last line: not counted.
                break;
            }
            let start = at;
            at += n as u64;
            let text = String::from_utf8_lossy(&buf);
            if text.trim().is_empty() {
                continue;
            }
            lines.push(TailLine {
                start,
                parsed: parse_line(text.trim_end_matches('\n'), path, self),
            });
        }
        Ok(Tail::Lines { lines, end: at })
    }

    /// The text of one journal file (`None`: there is none). On object storage, its objects'
    /// lines in name order.
    pub fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>, ArchiveError> {
        let Some(r) = &self.remote else {
            return match fs::read(path) {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(ArchiveError::io(path, e)),
            };
        };
        let hash = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let objects = r.list(&format!("{}/{hash}/", self.prefix))?;
        if objects.is_empty() {
            return Ok(None);
        }
        let mut text = Vec::new();
        for o in objects {
            if let Some(mut bytes) = r.get_bytes(&o.name)? {
                if !bytes.ends_with(b"\n") {
                    bytes.push(b'\n');
                }
                text.extend_from_slice(&bytes);
            }
        }
        Ok(Some(text))
    }

    /// The objects of one journal file on object storage, by name (for mirrors, which copy
    /// what they lack); `None` for a local journal.
    pub fn objects(&self, path: &Path) -> Result<Option<Vec<String>>, ArchiveError> {
        let Some(r) = &self.remote else {
            return Ok(None);
        };
        let hash = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Some(
            r.list(&format!("{}/{hash}/", self.prefix))?
                .into_iter()
                .map(|o| o.name)
                .collect(),
        ))
    }

    /// This journal's file of the same name as `path` (a journal file of another archive).
    pub fn same_file(&self, path: &Path) -> PathBuf {
        let file = path.file_name().map(PathBuf::from).unwrap_or_default();
        match &self.remote {
            Some(r) => PathBuf::from(r.display(&format!("{}/{}", self.prefix, file.display()))),
            None => self.dir.join(&file),
        }
    }

    /// Appends one raw, already-serialised line (a mirror copying what it lacks) to the file
    /// named like `path` (a journal file of another archive).
    pub fn append_raw(&self, path: &Path, line: &str) -> Result<(), ArchiveError> {
        let own = self.same_file(path);
        self.write_line(&own, format!("{}\n", line.trim_end_matches('\n')))
    }

    /// Appends one event and fsyncs it (and the folder, for a new file) before returning.
    pub fn append(&self, event: &Event) -> Result<(), ArchiveError> {
        let Some((key, line)) = to_line(event) else {
            return Err(ArchiveError::io(
                &self.dir,
                io::Error::other("a merge is written with its versions (append_merged)"),
            ));
        };
        self.append_line(key, &line)
    }

    /// Appends, in one line to `target`'s file, the merge of the histories kept under `from`
    /// (its latest-alias keys) and `target.key` into `versions` (numbered 1..N, in order):
    /// readers then see `Event::Merged` followed by those versions (and `seen` events for
    /// their last sightings) instead of everything the merge supersedes.
    pub fn append_merged(
        &self,
        target: &Target,
        from: &[String],
        versions: &[MergedRecord],
    ) -> Result<(), ArchiveError> {
        let line = Line::Merged {
            key: target.key.clone(),
            cloud: target.cloud.as_str().to_string(),
            account: target.account.clone(),
            region: target.region.clone(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            qualifier: target.qualifier.clone(),
            from: from.to_vec(),
            versions: versions
                .iter()
                .map(|m| MergedLineVersion {
                    version_no: m.record.version_no,
                    cloud_checksum: m.record.cloud_checksum.clone(),
                    sha256: m.record.sha256.clone(),
                    crc64: m.record.crc64.to_string(),
                    size: m.record.size,
                    first_seen: m.record.first_seen.clone(),
                    last_seen: m.last_seen.clone(),
                    config: m.config.as_ref().map(|c| MergedLineConfig {
                        config_sha256: c.config_sha256.clone(),
                        code_changed: c.code_changed,
                        config_changed: c.config_changed,
                        cloud_modified: c.cloud_modified.clone(),
                    }),
                })
                .collect(),
        };
        self.append_line(&target.key, &line)
    }

    fn append_line(&self, key: &str, line: &Line) -> Result<(), ArchiveError> {
        let path = self.file_for(key);
        let mut text = serde_json::to_string(line)
            .map_err(|e| ArchiveError::io(&path, io::Error::other(e)))?;
        text.push('\n');
        self.write_line(&path, text)
    }

    pub(super) fn write_line(&self, path: &Path, text: String) -> Result<(), ArchiveError> {
        if let Some(r) = &self.remote {
            let hash = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Create-only with a fresh name: a taken name (two writers, which the lock should
            // prevent) is retried under another one, never overwritten.
            for _ in 0..8 {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let name = format!(
                    "{}/{hash}/{nanos:020}-{:08x}.json",
                    self.prefix,
                    rand::random::<u32>()
                );
                if r.put_bytes(&name, text.clone().into_bytes(), true)? {
                    return Ok(());
                }
            }
            return Err(ArchiveError::io(
                path,
                io::Error::other("every name tried for a journal object was taken"),
            ));
        }
        let path = path.to_path_buf();
        let existed = path.is_file();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| ArchiveError::io(&path, e))?;
        set_private(&path)?;
        // A kill or power cut mid-append can leave a torn last line (or a tail of NUL bytes).
        // It was never acknowledged (nothing is recorded before the fsync returns), so the
        // writer, who holds the archive's lock, cuts it off before appending: gluing a new line
        // onto it, or starting a new line after it, would make it a permanent bad line.
        if existed {
            drop_torn_tail(&mut file).map_err(|e| ArchiveError::io(&path, e))?;
        }
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| ArchiveError::io(&path, e))?;
        if !existed {
            super::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// The highest version number any readable `version` line of `key`'s file gives it
    /// (`None` for no line, or no file). The journal is the authority for numbering: a line
    /// whose append reported an error may still be in the file, and its number is taken.
    pub fn max_version_no(&self, key: &str) -> Result<Option<i64>, ArchiveError> {
        let path = self.file_for(key);
        let Some(text) = self.read_file(&path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&text);
        Ok(text
            .lines()
            .filter_map(|raw| parse_line(raw, &path, self).ok())
            .flatten()
            .filter_map(|e| match e {
                Event::Version(v) if v.target.key == key => Some(v.version_no),
                _ => None,
            })
            .max())
    }

    /// Replaces `meta/sightings.json` (temp file, fsync, rename, fsync the folder).
    pub fn write_sightings(&self, sightings: &[Sighting]) -> Result<(), ArchiveError> {
        let path = self.dir.join(SIGHTINGS);
        let lines: Vec<SightingLine> = sightings
            .iter()
            .map(|s| SightingLine {
                key: s.key.clone(),
                version_no: s.version_no,
                last_seen: s.last_seen.clone(),
            })
            .collect();
        let text =
            serde_json::to_vec(&lines).map_err(|e| ArchiveError::io(&path, io::Error::other(e)))?;
        if let Some(r) = &self.remote {
            // One PUT replaces it whole: readers see the old or the new file, never a mix.
            r.put_bytes(&format!("{DIR}/{SIGHTINGS}"), text, false)?;
            return Ok(());
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(SIGHTINGS_TEMP_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(|e| ArchiveError::io(&self.dir, e))?;
        tmp.write_all(&text)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| ArchiveError::io(tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| ArchiveError::io(&path, e.error))?;
        super::sync_dir(&self.dir)
    }

    /// The sightings file; empty when there is none, an error text when it is unreadable.
    pub fn read_sightings(&self) -> Result<Vec<Sighting>, String> {
        let path = self.dir.join(SIGHTINGS);
        let text = if let Some(r) = &self.remote {
            let name = format!("{DIR}/{SIGHTINGS}");
            match r.get_bytes(&name) {
                Ok(Some(t)) => t,
                Ok(None) => return Ok(Vec::new()),
                Err(e) => return Err(e.to_string()),
            }
        } else {
            match fs::read(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        };
        let lines: Vec<SightingLine> = serde_json::from_slice(&text)
            .map_err(|e| format!("{}: not a sightings file: {e}", path.display()))?;
        Ok(lines
            .into_iter()
            .map(|l| Sighting {
                key: l.key,
                version_no: l.version_no,
                last_seen: l.last_seen,
            })
            .collect())
    }

    /// Reads every journal file. A missing folder is an empty journal.
    pub fn read_all(&self) -> Result<Contents, ArchiveError> {
        let mut contents = Contents::default();
        let paths = self.files()?;
        // Keys whose lines a `merged` line (in another file) supersedes.
        let mut superseded: std::collections::HashSet<String> = std::collections::HashSet::new();
        for path in paths {
            contents.files += 1;
            let text = self.read_file(&path)?.unwrap_or_default();
            if self.remote.is_none() {
                let complete = text
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i as u64 + 1);
                contents
                    .lengths
                    .insert(file_name(&path), (text.len() as u64, complete));
            }
            let text = String::from_utf8_lossy(&text);
            let complete = text.ends_with('\n');
            let lines: Vec<&str> = text.lines().collect();
            let mut events = Vec::new();
            for (i, raw) in lines.iter().enumerate() {
                if raw.trim().is_empty() {
                    continue;
                }
                let torn_tail = i + 1 == lines.len() && !complete;
                match parse_line(raw, &path, self) {
                    Ok(parsed) => {
                        if let Some(Event::Merged { from, .. }) = parsed.first() {
                            // This line restates the whole history of its file's key.
                            events.clear();
                            superseded.extend(from.iter().cloned());
                        }
                        events.extend(parsed);
                    }
                    Err(_) if torn_tail => {}
                    Err(why) => {
                        contents
                            .problems
                            .push(format!("{}:{}: {why}", path.display(), i + 1));
                        contents.problem_files.insert(file_name(&path));
                    }
                }
            }
            contents.events.extend(events);
        }
        if !superseded.is_empty() {
            contents
                .events
                .retain(|e| !superseded.contains(event_key(e)));
        }
        Ok(contents)
    }
}

/// The key an event is about (for a version, the key it was recorded under).
pub fn event_key(event: &Event) -> &str {
    match event {
        Event::Version(v) => &v.target.key,
        Event::Seen { key, .. } | Event::Pruned { key, .. } | Event::Merged { key, .. } => key,
        Event::Config(c) => &c.key,
        Event::Layer(l) => &l.key,
        Event::Layers { key, .. } => key,
    }
}

fn to_line(event: &Event) -> Option<(&str, Line)> {
    Some(match event {
        // Only `Journal::append_merged` writes a merge: it needs the versions.
        Event::Merged { .. } => return None,
        Event::Version(v) => (
            &v.target.key,
            Line::Version {
                key: v.target.key.clone(),
                cloud: v.target.cloud.as_str().to_string(),
                account: v.target.account.clone(),
                region: v.target.region.clone(),
                namespace: v.target.namespace.clone(),
                name: v.target.name.clone(),
                qualifier: v.target.qualifier.clone(),
                version_no: v.version_no,
                cloud_checksum: v.cloud_checksum.clone(),
                sha256: v.sha256.clone(),
                crc64: v.crc64.to_string(),
                size: v.size,
                first_seen: v.first_seen.clone(),
                previous_last_seen: v.previous_last_seen.clone(),
            },
        ),
        Event::Seen {
            key,
            version_no,
            time,
        } => (
            key,
            Line::Seen {
                key: key.clone(),
                version_no: *version_no,
                time: time.clone(),
            },
        ),
        Event::Pruned {
            key,
            version_no,
            time,
        } => (
            key,
            Line::Pruned {
                key: key.clone(),
                version_no: *version_no,
                time: time.clone(),
            },
        ),
        Event::Config(c) => (
            &c.key,
            Line::Config {
                key: c.key.clone(),
                version_no: c.version_no,
                config_sha256: c.config_sha256.clone(),
                code_changed: c.code_changed,
                config_changed: c.config_changed,
                cloud_modified: c.cloud_modified.clone(),
            },
        ),
        Event::Layer(l) => (
            &l.key,
            Line::Layer {
                key: l.key.clone(),
                cloud: l.cloud.as_str().to_string(),
                account: l.account.clone(),
                region: l.region.clone(),
                name: l.name.clone(),
                version: l.version.clone(),
                cloud_checksum: l.cloud_checksum.clone(),
                sha256: l.sha256.clone(),
                crc64: l.crc64.to_string(),
                size: l.size,
                first_seen: l.first_seen.clone(),
            },
        ),
        Event::Layers {
            key,
            version_no,
            layers,
        } => (
            key,
            Line::Layers {
                key: key.clone(),
                version_no: *version_no,
                layers: layers.clone(),
            },
        ),
    })
}

/// One line's events: one, or for a merge its marker, versions and sightings.
fn parse_line(raw: &str, path: &Path, journal: &Journal) -> Result<Vec<Event>, String> {
    let line: Line = serde_json::from_str(raw).map_err(|e| format!("not a journal line: {e}"))?;
    let mut extra = Vec::new();
    let event = match line {
        Line::Version {
            key,
            cloud,
            account,
            region,
            namespace,
            name,
            qualifier,
            version_no,
            cloud_checksum,
            sha256,
            crc64,
            size,
            first_seen,
            previous_last_seen,
        } => {
            let cloud = Cloud::parse(&cloud).ok_or_else(|| format!("unknown cloud `{cloud}`"))?;
            // As named: an older fnvault wrote the latest alias (`@$LATEST`, `@LATEST`) into
            // keys; such lines are read as they are and merged by `recovery`.
            let target = Target::as_named(
                cloud,
                &account,
                &region,
                &namespace,
                &name,
                qualifier.as_deref(),
            );
            if target.key != key {
                return Err(format!(
                    "key `{key}` does not match its parts (`{}`)",
                    target.key
                ));
            }
            if !super::is_sha256_hex(&sha256) {
                return Err(format!("sha256 `{sha256}` is not 64 lowercase hex digits"));
            }
            if version_no < 1 {
                return Err(format!("version_no {version_no} is not positive"));
            }
            let crc64 = crc64
                .parse::<u64>()
                .map_err(|_| format!("crc64 `{crc64}` is not a decimal u64"))?;
            Event::Version(VersionRecord {
                target,
                version_no,
                cloud_checksum,
                sha256,
                crc64,
                size,
                first_seen,
                previous_last_seen,
            })
        }
        Line::Seen {
            key,
            version_no,
            time,
        } => Event::Seen {
            key,
            version_no,
            time,
        },
        Line::Pruned {
            key,
            version_no,
            time,
        } => Event::Pruned {
            key,
            version_no,
            time,
        },
        Line::Merged {
            key,
            cloud,
            account,
            region,
            namespace,
            name,
            qualifier,
            from,
            versions,
        } => {
            // Only the same function under its latest alias can be merged into `key`: a
            // damaged or planted line must not hide any other function's history.
            if let Some(bad) = from.iter().find(|f| {
                *f == &key
                    || !(f.strip_suffix("@$LATEST") == Some(key.as_str())
                        || f.strip_suffix("@LATEST") == Some(key.as_str()))
            }) {
                return Err(format!(
                    "`{bad}` is not `{key}` under a latest alias; it cannot be merged into it"
                ));
            }
            let cloud = Cloud::parse(&cloud).ok_or_else(|| format!("unknown cloud `{cloud}`"))?;
            let target = Target::new(
                cloud,
                &account,
                &region,
                &namespace,
                &name,
                qualifier.as_deref(),
            );
            if target.key != key {
                return Err(format!(
                    "key `{key}` does not match its parts (`{}`)",
                    target.key
                ));
            }
            let mut previous: Option<String> = None;
            for (i, v) in versions.into_iter().enumerate() {
                if v.version_no != i as i64 + 1 {
                    return Err(format!(
                        "merged version {} is numbered {}",
                        i + 1,
                        v.version_no
                    ));
                }
                if !super::is_sha256_hex(&v.sha256) {
                    return Err(format!(
                        "sha256 `{}` is not 64 lowercase hex digits",
                        v.sha256
                    ));
                }
                let crc64 = v
                    .crc64
                    .parse::<u64>()
                    .map_err(|_| format!("crc64 `{}` is not a decimal u64", v.crc64))?;
                extra.push(Event::Version(VersionRecord {
                    target: target.clone(),
                    version_no: v.version_no,
                    cloud_checksum: v.cloud_checksum,
                    sha256: v.sha256,
                    crc64,
                    size: v.size,
                    first_seen: v.first_seen.clone(),
                    previous_last_seen: previous.take(),
                }));
                if let Some(c) = v.config {
                    if !super::is_sha256_hex(&c.config_sha256) {
                        return Err(format!(
                            "config_sha256 `{}` is not 64 lowercase hex digits",
                            c.config_sha256
                        ));
                    }
                    extra.push(Event::Config(ConfigRecord {
                        key: key.clone(),
                        version_no: v.version_no,
                        config_sha256: c.config_sha256,
                        code_changed: c.code_changed,
                        config_changed: c.config_changed,
                        cloud_modified: c.cloud_modified,
                    }));
                }
                if v.last_seen != v.first_seen {
                    extra.push(Event::Seen {
                        key: key.clone(),
                        version_no: v.version_no,
                        time: v.last_seen.clone(),
                    });
                }
                previous = Some(v.last_seen);
            }
            Event::Merged { key, from }
        }
        Line::Config {
            key,
            version_no,
            config_sha256,
            code_changed,
            config_changed,
            cloud_modified,
        } => {
            if !super::is_sha256_hex(&config_sha256) {
                return Err(format!(
                    "config_sha256 `{config_sha256}` is not 64 lowercase hex digits"
                ));
            }
            if version_no < 1 {
                return Err(format!("version_no {version_no} is not positive"));
            }
            Event::Config(ConfigRecord {
                key,
                version_no,
                config_sha256,
                code_changed,
                config_changed,
                cloud_modified,
            })
        }
        Line::Layer {
            key,
            cloud,
            account,
            region,
            name,
            version,
            cloud_checksum,
            sha256,
            crc64,
            size,
            first_seen,
        } => {
            let cloud = Cloud::parse(&cloud).ok_or_else(|| format!("unknown cloud `{cloud}`"))?;
            if LayerRecord::key_of(&account, &region, &name, &version) != key {
                return Err(format!("layer key `{key}` does not match its parts"));
            }
            if !super::is_sha256_hex(&sha256) {
                return Err(format!("sha256 `{sha256}` is not 64 lowercase hex digits"));
            }
            let crc64 = crc64
                .parse::<u64>()
                .map_err(|_| format!("crc64 `{crc64}` is not a decimal u64"))?;
            Event::Layer(LayerRecord {
                key,
                cloud,
                account,
                region,
                name,
                version,
                cloud_checksum,
                sha256,
                crc64,
                size,
                first_seen,
            })
        }
        Line::Layers {
            key,
            version_no,
            layers,
        } => {
            if version_no < 1 {
                return Err(format!("version_no {version_no} is not positive"));
            }
            Event::Layers {
                key,
                version_no,
                layers,
            }
        }
    };
    // A line copied into another function's file would attach a version to the wrong key.
    let key = event_key(&event);
    if journal.file_for(key) != path {
        return Err(format!("key `{key}` belongs in another journal file"));
    }
    let mut events = vec![event];
    events.extend(extra);
    Ok(events)
}

/// The name of a journal file (`<hash>.jsonl`), as watermarks know it.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Truncates `file` back to just after its last `\n` (to empty when it has none), and fsyncs
/// the cut, when its last byte is not a newline. Returns how many bytes were dropped. The cut
/// never goes below a watermark: watermarks end at a `\n` ([`Journal::read_tail`]), and the
/// cut keeps everything up to the last one.
fn drop_torn_tail(file: &mut File) -> io::Result<u64> {
    let (len, keep) = complete_len(file)?;
    if keep == len {
        return Ok(0);
    }
    file.set_len(keep)?;
    file.sync_data()?;
    Ok(len - keep)
}

/// (length of `file`, length up to and with its last `\n`). Reads backwards in blocks, so a
/// long journal file costs one block in the usual case.
fn complete_len(file: &mut File) -> io::Result<(u64, u64)> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut block = [0u8; 4096];
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(block.len() as u64);
        let buf = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buf)?;
        if end == len && buf.last() == Some(&b'\n') {
            return Ok((len, len));
        }
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    Ok((len, keep))
}

#[cfg(unix)]
fn set_private(path: &Path) -> Result<(), ArchiveError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| ArchiveError::io(path, e))
}

#[cfg(not(unix))]
fn set_private(_path: &Path) -> Result<(), ArchiveError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(no: i64) -> VersionRecord {
        VersionRecord {
            target: Target::new(
                Cloud::Aliyun,
                "ali",
                "cn-shanghai",
                "orders",
                "checkout",
                Some("LATEST"),
            ),
            version_no: no,
            cloud_checksum: "123".into(),
            sha256: "a".repeat(64),
            crc64: u64::MAX,
            size: 10,
            first_seen: "2026-01-01T00:00:00.000Z".into(),
            previous_last_seen: (no > 1).then(|| "2026-01-01T12:00:00.000Z".into()),
        }
    }

    #[test]
    fn events_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        let seen = Event::Seen {
            key: record(1).target.key,
            version_no: 1,
            time: "2026-01-02T00:00:00.000Z".into(),
        };
        j.append(&Event::Version(record(1))).unwrap();
        j.append(&seen).unwrap();
        j.append(&Event::Version(record(2))).unwrap();
        let c = j.read_all().unwrap();
        assert_eq!(
            c.events,
            vec![Event::Version(record(1)), seen, Event::Version(record(2))]
        );
        assert!(c.problems.is_empty());
        assert_eq!(c.files, 1);
    }

    #[test]
    fn sightings_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        assert_eq!(j.read_sightings().unwrap(), vec![]);
        let s = |t: &str| Sighting {
            key: "k".into(),
            version_no: 2,
            last_seen: t.into(),
        };
        j.write_sightings(&[s("t1")]).unwrap();
        j.write_sightings(&[s("t2")]).unwrap();
        assert_eq!(j.read_sightings().unwrap(), vec![s("t2")]);
        // Only the jsonl files are journal files.
        assert_eq!(j.read_all().unwrap().files, 0);
    }

    /// A torn tail (a kill mid-append) is skipped by readers and cut off by the next append,
    /// so it never becomes a permanent bad line in the middle of the file.
    #[test]
    fn a_torn_last_line_is_skipped_and_cut_off_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        j.append(&Event::Version(record(1))).unwrap();
        let path = j.file_for(&record(1).target.key);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"vers").unwrap();
        let c = j.read_all().unwrap();
        assert_eq!((c.events.len(), c.problems.len()), (1, 0));
        j.append(&Event::Version(record(2))).unwrap();
        let c = j.read_all().unwrap();
        assert_eq!(c.events.len(), 2);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains("{\"event\":\"vers\n"), "{text}");
    }

    /// A power cut can leave the file longer than what was written, padded with NUL bytes.
    #[test]
    fn a_tail_of_nul_bytes_is_cut_off_too() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        j.append(&Event::Version(record(1))).unwrap();
        let path = j.file_for(&record(1).target.key);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0u8; 5000]).unwrap();
        assert!(j.read_all().unwrap().problems.is_empty());
        j.append(&Event::Version(record(2))).unwrap();
        let c = j.read_all().unwrap();
        assert_eq!(c.events.len(), 2);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert!(!fs::read(&path).unwrap().contains(&0u8));
    }

    /// A file holding nothing but a torn line is emptied, then appended to.
    #[test]
    fn a_file_that_is_all_torn_line_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        let path = j.file_for(&record(1).target.key);
        fs::write(&path, b"{\"event\":\"version\",\"ke").unwrap();
        j.append(&Event::Version(record(1))).unwrap();
        let c = j.read_all().unwrap();
        assert_eq!(c.events, vec![Event::Version(record(1))]);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
    }

    /// A `merged` line restates a function's history: it supersedes the earlier lines of its
    /// own file and every line of the alias key it names, and nothing else.
    #[test]
    fn a_merged_line_supersedes_the_lines_it_merges_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        // FC `checkout@LATEST`: an older fnvault's key, read as it was written.
        let mut alias = record(1);
        alias.target = Target::as_named(
            Cloud::Aliyun,
            "ali",
            "cn-shanghai",
            "orders",
            "checkout",
            Some("LATEST"),
        );
        assert_eq!(alias.target.key, "ali/cn-shanghai/orders/checkout@LATEST");
        j.append(&Event::Version(alias.clone())).unwrap();
        let canonical = Target::new(
            Cloud::Aliyun,
            "ali",
            "cn-shanghai",
            "orders",
            "checkout",
            None,
        );
        let mut own = record(1);
        own.target = canonical.clone();
        own.sha256 = "b".repeat(64);
        j.append(&Event::Version(own.clone())).unwrap();
        let mut other = record(1);
        other.target = Target::new(Cloud::Aliyun, "ali", "cn-shanghai", "orders", "x", None);
        j.append(&Event::Version(other.clone())).unwrap();
        let merged: Vec<MergedRecord> = [alias.clone(), own.clone()]
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                r.target = canonical.clone();
                r.version_no = i as i64 + 1;
                r.previous_last_seen = None;
                MergedRecord {
                    last_seen: "2026-02-01T00:00:00.000Z".into(),
                    config: None,
                    record: r,
                }
            })
            .collect();
        j.append_merged(&canonical, &[alias.target.key.clone()], &merged)
            .unwrap();

        let c = j.read_all().unwrap();
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        // Files are read in the order of their names (hashes): compare sorted.
        let mut versions: Vec<(String, i64, String)> = c
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Version(v) => Some((v.target.key.clone(), v.version_no, v.sha256.clone())),
                _ => None,
            })
            .collect();
        versions.sort();
        assert_eq!(
            versions,
            vec![
                (canonical.key.clone(), 1, alias.sha256.clone()),
                (canonical.key.clone(), 2, own.sha256.clone()),
                (other.target.key.clone(), 1, other.sha256.clone()),
            ]
        );
        assert_eq!(j.max_version_no(&canonical.key).unwrap(), Some(2));

        // A merge line that names another function as its alias is refused, hiding nothing.
        let path = j.file_for(&canonical.key);
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace("checkout@LATEST\"]", "x\"]");
        fs::write(&path, text).unwrap();
        let c = j.read_all().unwrap();
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert!(
            c.problems[0].contains("cannot be merged"),
            "{:?}",
            c.problems
        );
        assert!(
            c.events
                .iter()
                .any(|e| matches!(e, Event::Version(v) if v.target.key == other.target.key))
        );
    }

    /// A tail read starts at a line's start, returns the complete lines after it with where
    /// each starts, leaves a torn last line out of its end, and refuses an offset that is not
    /// where a line starts.
    #[test]
    fn a_tail_is_read_from_a_line_start_and_a_torn_line_is_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        j.append(&Event::Version(record(1))).unwrap();
        let path = j.file_for(&record(1).target.key);
        let first = fs::metadata(&path).unwrap().len();
        j.append(&Event::Version(record(2))).unwrap();
        let second = fs::metadata(&path).unwrap().len();
        let sizes = j.files_with_sizes().unwrap();
        assert_eq!(sizes.len(), 1);
        assert_eq!(sizes[0].size, second);
        assert_eq!(sizes[0].name, file_name(&path));
        assert_eq!(j.path_of(&sizes[0].name), path);

        let Tail::Lines { lines, end } = j.read_tail(&path, first).unwrap() else {
            panic!("aligned");
        };
        assert_eq!(end, second);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].start, first);
        assert_eq!(
            lines[0].parsed.as_ref().unwrap(),
            &vec![Event::Version(record(2))]
        );
        assert!(matches!(
            j.read_tail(&path, first - 1).unwrap(),
            Tail::Misaligned
        ));

        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"vers").unwrap();
        let Tail::Lines { lines, end } = j.read_tail(&path, first).unwrap() else {
            panic!("aligned");
        };
        assert_eq!(
            (lines.len(), end),
            (1, second),
            "the torn line is not counted"
        );
        assert_eq!(j.complete_length(&path).unwrap(), second);
        // The next append cuts it off, back to exactly the complete length, never below.
        j.append(&Event::Version(record(3))).unwrap();
        let Tail::Lines { lines, .. } = j.read_tail(&path, second).unwrap() else {
            panic!("the cut left the watermark at a line start");
        };
        assert_eq!(
            lines[0].parsed.as_ref().unwrap(),
            &vec![Event::Version(record(3))]
        );
    }

    /// After a full read, a file's watermark is its length without a torn tail, from what
    /// the read saw, or (the file changed size since) from the file itself.
    #[test]
    fn the_watermark_after_a_full_read_leaves_out_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        j.append(&Event::Version(record(1))).unwrap();
        let path = j.file_for(&record(1).target.key);
        let complete = fs::metadata(&path).unwrap().len();
        let torn = b"{\"event\":\"vers";
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(torn).unwrap();
        let read = j.read_all().unwrap();
        let listed = j.files_with_sizes().unwrap();
        assert_eq!(listed[0].size, complete + torn.len() as u64);
        assert_eq!(j.watermark_for(&listed[0], &read).unwrap(), complete);
        j.append(&Event::Version(record(2))).unwrap();
        let listed = j.files_with_sizes().unwrap();
        let now = fs::metadata(&path).unwrap().len();
        assert_eq!(j.watermark_for(&listed[0], &read).unwrap(), now);
    }

    /// A line that cannot be read, past the offset, is returned as such (with its start), so
    /// the caller reports it and keeps the watermark before it.
    #[test]
    fn a_bad_line_in_a_tail_is_returned_with_where_it_starts() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        j.append(&Event::Version(record(1))).unwrap();
        let path = j.file_for(&record(1).target.key);
        let first = fs::metadata(&path).unwrap().len();
        j.append_raw(&path, "{\"event\":\"from_the_future\"}")
            .unwrap();
        j.append(&Event::Version(record(2))).unwrap();
        let Tail::Lines { lines, .. } = j.read_tail(&path, first).unwrap() else {
            panic!("aligned");
        };
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].start, first);
        assert!(lines[0].parsed.is_err());
        assert!(lines[1].parsed.is_ok());
    }

    /// A newer fnvault may add fields; an older one must still read the line.
    #[test]
    fn a_line_with_a_field_this_version_does_not_know_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        j.append(&Event::Version(record(1))).unwrap();
        let path = j.file_for(&record(1).target.key);
        let text = fs::read_to_string(&path).unwrap().replace(
            "{\"event\":\"version\",",
            "{\"event\":\"version\",\"added_later\":[1],",
        );
        fs::write(&path, text).unwrap();
        let c = j.read_all().unwrap();
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.events, vec![Event::Version(record(1))]);
    }

    #[test]
    fn a_line_whose_key_does_not_match_its_parts_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().to_path_buf(), None);
        j.append(&Event::Version(record(1))).unwrap();
        let path = j.file_for(&record(1).target.key);
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace("\"name\":\"checkout\"", "\"name\":\"other\"");
        fs::write(&path, text).unwrap();
        let c = j.read_all().unwrap();
        assert!(c.events.is_empty());
        assert!(c.problems[0].contains("does not match"), "{:?}", c.problems);
    }
}
