//! Mirrors: copying to a second archive (a folder or a bucket) every blob and journal line (of
//! the version journal and the alias journal) it
//! lacks, verified on the way. Resumable by construction: each run compares what is there
//! with what the source holds, so a crash or a missed run only leaves more to copy next time.
//!
//! Order: blobs first, then journal lines, so a line on the mirror always has its blob there.
//! A mirror never deletes: only `prune --mirrors` removes blobs there ([`prune_unreferenced`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::journal::Journal;
use super::{Archive, ArchiveError, BlobFile, LockGuard, Stored};
use crate::config::{HttpSettings, Location};

/// What one run copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorReport {
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    pub journal_lines_copied: u64,
    pub blobs_present: u64,
}

/// Opens (creating what a writer needs) the archive at a mirror's `location`; `spool` is the
/// local folder for its temp files when it is a bucket.
pub fn open_mirror(
    location: &Location,
    spool: &std::path::Path,
    http: &HttpSettings,
) -> Result<Archive, ArchiveError> {
    match location {
        Location::Dir(dir) => Archive::open(dir),
        Location::S3(s) => {
            let archive = Archive::remote_at(spool, s, http)?;
            super::create_private_dir(spool)?;
            super::create_private_dir(&archive.tmp)?;
            Ok(archive)
        }
    }
}

/// The archive at a mirror's `location`, creating nothing (`verify --mirror`).
pub fn mirror_at(
    location: &Location,
    spool: &std::path::Path,
    http: &HttpSettings,
) -> Result<Archive, ArchiveError> {
    match location {
        Location::Dir(dir) => Ok(Archive::at(dir)),
        Location::S3(s) => Archive::remote_at(spool, s, http),
    }
}

/// A `Write` that writes to a file and hashes what it writes.
struct Hashing<'a> {
    file: &'a mut std::fs::File,
    hasher: Sha256,
    len: u64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Copies to `dest` every well-formed blob of `source` it lacks, then every journal line it
/// lacks, then the sightings file. Each blob is streamed into `dest`'s temp file while hashed,
/// and stored only when its SHA-256 is its name; a source blob that does not hash to its name
/// is an error (and is not copied). Holding `_lock` (the source archive's writer lock) keeps
/// two runs from copying at once. `moved` is called after each blob and each journal file (the
/// daemon feeds systemd's watchdog from it: a long copy that moves is not a hung daemon).
pub fn copy_missing(
    source: &Archive,
    dest: &Archive,
    _lock: &LockGuard,
    moved: &dyn Fn(),
) -> Result<MirrorReport, ArchiveError> {
    let mut report = MirrorReport::default();
    let have: BTreeMap<String, BlobFile> = dest
        .list_blobs()?
        .into_iter()
        .filter(|b| b.well_formed)
        .map(|b| (b.name.clone(), b))
        .collect();
    let mut bad = Vec::new();
    for blob in source.list_blobs()?.into_iter().filter(|b| b.well_formed) {
        moved();
        if have.contains_key(&blob.name) {
            report.blobs_present += 1;
            continue;
        }
        let mut tmp = dest.temp_file()?;
        let (digest, len) = {
            let mut w = Hashing {
                file: tmp.as_file_mut(),
                hasher: Sha256::new(),
                len: 0,
            };
            source.read_blob(&blob.name, &mut w)?;
            w.flush().map_err(|e| ArchiveError::io(&blob.path, e))?;
            (hex::encode(w.hasher.finalize()), w.len)
        };
        if digest != blob.name {
            // Never spread a damaged blob; `verify` on the source says what to do.
            bad.push(source.blob_location(&blob.name));
            continue;
        }
        match dest.store(tmp, &blob.name)? {
            Stored::AlreadyPresent => report.blobs_present += 1,
            Stored::New | Stored::ReplacedCorrupt { .. } => {
                report.blobs_copied += 1;
                report.bytes_copied += len;
            }
        }
    }
    let (sj, dj) = (source.journal(), dest.journal());
    copy_lines(&sj, &dj, &mut report, moved)?;
    // The alias journal (issue 14), the same way; its folder is made on first use.
    let (sa, da) = (source.alias_journal(), dest.alias_journal());
    if !sa.journal().files()?.is_empty() {
        da.ensure_dir()?;
        copy_lines(sa.journal(), da.journal(), &mut report, moved)?;
    }
    match sj.read_sightings() {
        Ok(s) if !s.is_empty() => dj.write_sightings(&s)?,
        _ => {}
    }
    // The secret-hashing key: without it a copy restored elsewhere would show every hashed
    // secret as changed. A mirror holding another key was filled from another archive.
    if let Some(key) = source.existing_capture_key()? {
        match dest.existing_capture_key()? {
            Some(theirs) if theirs == key => {}
            Some(_) => {
                return Err(ArchiveError::io(
                    std::path::Path::new(&dest.capture_key_location()),
                    io::Error::other(format!(
                        "the mirror's secret-hashing key is not this archive's ({}): the \
                         mirror holds another archive; not copied over",
                        source.capture_key_location()
                    )),
                ));
            }
            None => {
                dest.create_capture_key(&key)?;
            }
        }
    }
    if !bad.is_empty() {
        return Err(ArchiveError::Io {
            path: PathBuf::from(&bad[0]),
            source: io::Error::other(format!(
                "{} blob(s) of the archive do not hash to their names and were not copied \
                 (run `fnvault verify`)",
                bad.len()
            )),
        });
    }
    Ok(report)
}

/// Appends to `dj` every complete line of `sj`'s files that its file of the same name lacks.
fn copy_lines(
    sj: &Journal,
    dj: &Journal,
    report: &mut MirrorReport,
    moved: &dyn Fn(),
) -> Result<(), ArchiveError> {
    for path in sj.files()? {
        moved();
        let Some(text) = sj.read_file(&path)? else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        // A torn last line (a kill mid-append) was never acknowledged: not copied.
        let complete: Vec<&str> = if text.ends_with('\n') {
            text.lines().collect()
        } else {
            let mut l: Vec<&str> = text.lines().collect();
            l.pop();
            l
        };
        let theirs = dj.read_file(&dj.same_file(&path))?.unwrap_or_default();
        let theirs = String::from_utf8_lossy(&theirs);
        let theirs: BTreeSet<&str> = theirs.lines().collect();
        for line in complete {
            if line.trim().is_empty() || theirs.contains(line) {
                continue;
            }
            dj.append_raw(&path, line)?;
            report.journal_lines_copied += 1;
        }
    }
    Ok(())
}

/// Deletes from `dest` the blobs no name in `keep` refers to (`prune --mirrors`, after the
/// archive's own prune). Returns what was removed.
pub fn prune_unreferenced(
    dest: &Archive,
    keep: &BTreeSet<String>,
    lock: &LockGuard,
) -> Result<Vec<String>, ArchiveError> {
    let mut removed = Vec::new();
    for blob in dest.list_blobs()?.into_iter().filter(|b| b.well_formed) {
        if !keep.contains(&blob.name) {
            dest.remove_blob(lock, &blob)?;
            removed.push(blob.path.display().to_string());
        }
    }
    Ok(removed)
}
