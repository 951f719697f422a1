//! The content-addressed archive on disk: `blobs/<2 hex>/<sha256>`, `tmp/`, and the lock.
//!
//! Owns: every file under the archive directory. Touches the filesystem only (never SQLite,
//! never the network). Invariants it keeps:
//! - nothing under `blobs/` is ever partial: a blob is written in `tmp/` (same filesystem),
//!   fsynced, then renamed into place, and the folder is fsynced;
//! - a blob is never modified; its name is its SHA-256, so a name from a config or a cloud
//!   never becomes a path;
//! - one process owns the archive at a time ([`Archive::lock`], an OS lock that dies with the
//!   process, even on `kill -9`), and one process owns the database ([`lock_database`]);
//! - `meta/` holds the append-only [`journal`] that makes the archive self-describing: with
//!   `blobs/` alone it rebuilds the database (`fnvault reindex`).

pub mod journal;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// An error of the archive, naming the path involved.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is locked by another fnvault process (a running daemon or sync); \
         stop it or wait for it to finish"
    )]
    Locked { path: PathBuf },
}

impl ArchiveError {
    fn io(path: &Path, source: io::Error) -> ArchiveError {
        ArchiveError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The archive directory.
#[derive(Debug, Clone)]
pub struct Archive {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
}

/// Holds the archive's lock (and the database's, once [`LockGuard::with`] joined it) until
/// dropped or the process dies.
#[derive(Debug)]
pub struct LockGuard {
    _files: Vec<File>,
}

impl LockGuard {
    /// One guard holding both locks, released together.
    pub fn with(mut self, other: LockGuard) -> LockGuard {
        self._files.extend(other._files);
        self
    }
}

/// Takes the exclusive lock of the database at `db_path` (the file `<db_path>.lock`), so two
/// processes whose configs name different archives but the same database cannot both write.
pub fn lock_database(db_path: &Path) -> Result<LockGuard, ArchiveError> {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".lock");
    lock_file(&PathBuf::from(name))
}

fn lock_file(path: &Path) -> Result<LockGuard, ArchiveError> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        create_private_dir(parent)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| ArchiveError::io(path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(LockGuard { _files: vec![file] }),
        Err(fs::TryLockError::WouldBlock) => Err(ArchiveError::Locked {
            path: path.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(ArchiveError::io(path, e)),
    }
}

/// A file under `blobs/`, as [`Archive::list_blobs`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFile {
    /// The file name: a blob's SHA-256 when it is well formed.
    pub name: String,
    pub path: PathBuf,
    /// Named as a SHA-256 (64 lowercase hex) in the right shard folder.
    pub well_formed: bool,
}

/// What [`Archive::store`] did with a verified temp file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The blob is new and now durable.
    New,
    /// The same bytes were already archived (another function or an earlier version).
    AlreadyPresent,
}

impl Archive {
    /// Opens (creating if needed, owner-only) the archive at `root`.
    pub fn open(root: &Path) -> Result<Archive, ArchiveError> {
        let archive = Archive {
            root: root.to_path_buf(),
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
        };
        for dir in [&archive.root, &archive.blobs, &archive.tmp] {
            create_private_dir(dir)?;
        }
        create_private_dir(&archive.root.join(journal::DIR))?;
        Ok(archive)
    }

    /// The archive at `root` as it is, creating nothing: for read-only commands, which must
    /// work on a read-only mount and never change what they audit.
    pub fn at(root: &Path) -> Archive {
        Archive {
            root: root.to_path_buf(),
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
        }
    }

    /// The journal under `meta/`.
    pub fn journal(&self) -> journal::Journal {
        journal::Journal::new(self.root.join(journal::DIR))
    }

    /// Every file under `blobs/`, sorted by name. A missing `blobs/` is an empty archive.
    pub fn list_blobs(&self) -> Result<Vec<BlobFile>, ArchiveError> {
        let mut out = Vec::new();
        let shards = match fs::read_dir(&self.blobs) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(ArchiveError::io(&self.blobs, e)),
        };
        for shard in shards {
            let shard = shard.map_err(|e| ArchiveError::io(&self.blobs, e))?;
            let shard_path = shard.path();
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            if !shard_path.is_dir() {
                out.push(BlobFile {
                    name: shard_name,
                    path: shard_path,
                    well_formed: false,
                });
                continue;
            }
            let files = fs::read_dir(&shard_path).map_err(|e| ArchiveError::io(&shard_path, e))?;
            for f in files {
                let f = f.map_err(|e| ArchiveError::io(&shard_path, e))?;
                let name = f.file_name().to_string_lossy().into_owned();
                let well_formed = is_sha256_hex(&name) && name[..2] == shard_name;
                out.push(BlobFile {
                    name,
                    path: f.path(),
                    well_formed,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes a blob no version references any more (`prune`). Only the lock holder may.
    pub fn remove_blob(&self, _lock: &LockGuard, blob: &BlobFile) -> Result<(), ArchiveError> {
        if !blob.path.starts_with(&self.blobs) {
            return Err(ArchiveError::io(
                &blob.path,
                io::Error::other("not under the archive's blobs/ folder"),
            ));
        }
        fs::remove_file(&blob.path).map_err(|e| ArchiveError::io(&blob.path, e))?;
        if let Some(shard) = blob.path.parent() {
            sync_dir(shard)?;
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Takes the exclusive lock of this archive, or says who has it. Writers (sync, daemon)
    /// hold it for their whole run; readers never take it, so they work while a daemon runs.
    pub fn lock(&self) -> Result<LockGuard, ArchiveError> {
        lock_file(&self.root.join(".lock"))
    }

    /// Removes what a killed process left in `tmp/`. Call only while holding the lock: then no
    /// other process can be writing there.
    pub fn clean_tmp(&self, _lock: &LockGuard) -> Result<usize, ArchiveError> {
        let mut removed = 0;
        let entries = fs::read_dir(&self.tmp).map_err(|e| ArchiveError::io(&self.tmp, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ArchiveError::io(&self.tmp, e))?;
            let path = entry.path();
            let result = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            result.map_err(|e| ArchiveError::io(&path, e))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// A new temp file in `tmp/`, deleted when dropped unless stored.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile, ArchiveError> {
        tempfile::Builder::new()
            .prefix("download-")
            .tempfile_in(&self.tmp)
            .map_err(|e| ArchiveError::io(&self.tmp, e))
    }

    /// Where the blob with this SHA-256 (lowercase hex) lives.
    pub fn blob_path(&self, sha256_hex: &str) -> PathBuf {
        self.blobs.join(&sha256_hex[..2]).join(sha256_hex)
    }

    /// Whether `s` is a blob name: 64 lowercase hex digits.
    pub fn is_blob_name(s: &str) -> bool {
        is_sha256_hex(s)
    }

    pub fn contains(&self, sha256_hex: &str) -> bool {
        self.blob_path(sha256_hex).is_file()
    }

    /// Makes a verified temp file the durable blob `sha256_hex`: fsync the file, rename it into
    /// `blobs/`, fsync the folder(s). If the blob already exists the temp file is dropped: equal
    /// names mean equal bytes.
    ///
    /// The caller must have verified the content hashes to `sha256_hex`; this function is the
    /// only way into `blobs/`.
    pub fn store(
        &self,
        tmp: tempfile::NamedTempFile,
        sha256_hex: &str,
    ) -> Result<Stored, ArchiveError> {
        debug_assert!(sha256_hex.len() == 64 && sha256_hex.bytes().all(|b| b.is_ascii_hexdigit()));
        let dest = self.blob_path(sha256_hex);
        if dest.is_file() {
            return Ok(Stored::AlreadyPresent);
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| ArchiveError::io(tmp.path(), e))?;
        let Some(shard) = dest.parent() else {
            return Err(ArchiveError::io(
                &dest,
                io::Error::other("blob path has no parent"),
            ));
        };
        let new_shard = !shard.is_dir();
        if new_shard {
            create_private_dir(shard)?;
        }
        // Blobs are read-only: nothing should ever write to one again.
        set_mode(tmp.path(), 0o400)?;
        tmp.persist(&dest)
            .map_err(|e| ArchiveError::io(&dest, e.error))?;
        sync_dir(shard)?;
        if new_shard {
            sync_dir(&self.blobs)?;
        }
        Ok(Stored::New)
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ArchiveError> {
    match fs::create_dir(dir) {
        Ok(()) => set_mode(dir, 0o700),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| ArchiveError::io(dir, e))?;
            set_mode(dir, 0o700)
        }
        Err(e) => Err(ArchiveError::io(dir, e)),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), ArchiveError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| ArchiveError::io(path, e))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), ArchiveError> {
    Ok(())
}

/// fsync a directory so a rename into it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ArchiveError::io(dir, e))
}

/// Read-only look at an archive that may not exist, for commands that must neither create nor
/// lock anything (`status`, `sync --dry-run`): whether the blob with this SHA-256 is present.
pub fn blob_present(root: &Path, sha256_hex: &str) -> bool {
    sha256_hex.len() == 64
        && root
            .join("blobs")
            .join(&sha256_hex[..2])
            .join(sha256_hex)
            .is_file()
}

/// What `blobs/` holds on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    pub blobs: u64,
    pub bytes: u64,
}

/// Counts the files under `<root>/blobs` and their sizes, creating nothing (an archive that
/// does not exist yet is empty).
pub fn disk_usage(root: &Path) -> Result<DiskUsage, ArchiveError> {
    let mut usage = DiskUsage::default();
    let blobs = root.join("blobs");
    let shards = match fs::read_dir(&blobs) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(usage),
        Err(e) => return Err(ArchiveError::io(&blobs, e)),
    };
    for shard in shards {
        let shard = shard.map_err(|e| ArchiveError::io(&blobs, e))?.path();
        if !shard.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&shard).map_err(|e| ArchiveError::io(&shard, e))? {
            let entry = entry.map_err(|e| ArchiveError::io(&shard, e))?;
            let meta = entry
                .metadata()
                .map_err(|e| ArchiveError::io(&entry.path(), e))?;
            if meta.is_file() {
                usage.blobs += 1;
                usage.bytes += meta.len();
            }
        }
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const SHA: &str = "5077f5203547b225b532434dd6fcf7c9897025d7581a9f3d474a7afee88bc696";

    #[test]
    fn a_stored_blob_lands_under_its_hash_and_tmp_is_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        let mut tmp = archive.temp_file().unwrap();
        tmp.write_all(b"package").unwrap();
        assert_eq!(archive.store(tmp, SHA).unwrap(), Stored::New);
        let blob = dir.path().join("blobs/50").join(SHA);
        assert_eq!(fs::read(&blob).unwrap(), b"package");
        assert_eq!(fs::read_dir(archive.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn storing_the_same_hash_twice_keeps_one_blob() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        for _ in 0..2 {
            let mut tmp = archive.temp_file().unwrap();
            tmp.write_all(b"package").unwrap();
            archive.store(tmp, SHA).unwrap();
        }
        assert_eq!(fs::read_dir(archive.tmp_dir()).unwrap().count(), 0);
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/50")).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_dropped_temp_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        let mut tmp = archive.temp_file().unwrap();
        tmp.write_all(b"half a pack").unwrap();
        drop(tmp);
        assert_eq!(fs::read_dir(archive.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn a_second_lock_on_the_same_archive_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        let _held = archive.lock().unwrap();
        assert!(matches!(archive.lock(), Err(ArchiveError::Locked { .. })));
    }

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_whatever_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("shared.db");
        let _held = lock_database(&db).unwrap();
        assert!(matches!(
            lock_database(&db),
            Err(ArchiveError::Locked { .. })
        ));
    }

    #[test]
    fn list_blobs_tells_well_formed_blobs_from_strays() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        let mut tmp = archive.temp_file().unwrap();
        tmp.write_all(b"package").unwrap();
        archive.store(tmp, SHA).unwrap();
        fs::write(dir.path().join("blobs/50/stray"), b"x").unwrap();
        let blobs = archive.list_blobs().unwrap();
        assert_eq!(blobs.len(), 2);
        assert!(blobs.iter().any(|b| b.name == SHA && b.well_formed));
        assert!(blobs.iter().any(|b| b.name == "stray" && !b.well_formed));
    }

    #[test]
    fn leftovers_in_tmp_are_removed_by_the_lock_holder() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        fs::write(archive.tmp_dir().join("download-killed"), b"x").unwrap();
        let lock = archive.lock().unwrap();
        assert_eq!(archive.clean_tmp(&lock).unwrap(), 1);
        assert_eq!(fs::read_dir(archive.tmp_dir()).unwrap().count(), 0);
    }
}
