//! The content-addressed archive, on disk or in a bucket: `blobs/<2 hex>/<sha256>`, `tmp/`,
//! and the lock.
//!
//! Owns: every file under the archive directory, or every object under the archive's bucket
//! prefix (`s3`, the only network it speaks to). Never touches SQLite. Invariants it keeps:
//! - nothing under `blobs/` is ever partial: a blob is written in `tmp/` (same filesystem),
//!   fsynced, then renamed into place, and the folder is fsynced;
//! - a blob is never modified; its name is its SHA-256, so a name from a config or a cloud
//!   never becomes a path;
//! - one process owns the archive at a time ([`Archive::lock`], an OS lock that dies with the
//!   process, even on `kill -9`), and one process owns the database ([`lock_database`]);
//! - `meta/` holds the append-only [`journal`] that makes the archive self-describing: with
//!   `blobs/` alone it rebuilds the database (`fnvault reindex`).

pub mod aliases;
pub mod bucket_lock;
pub mod documents;
pub mod journal;
pub mod mirror;
pub mod ranged;
pub mod s3;

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
    /// A call to the object store failed (it names the object, the HTTP status and the
    /// store's error code).
    #[error(transparent)]
    Remote(#[from] s3::S3Error),
    #[error(
        "{path} is locked by another fnvault process (a running daemon or sync); \
         stop it or wait for it to finish"
    )]
    Locked { path: PathBuf },
    /// The writer lock object of an archive on object storage is held by a live writer.
    #[error(
        "{location}: the archive is locked by {holder}; one writer per archive: stop that one \
         (a lock whose holder died is taken over once its process is gone from that host or \
         it is 30 minutes stale)"
    )]
    BucketLocked { location: String, holder: String },
}

impl ArchiveError {
    fn io(path: &Path, source: io::Error) -> ArchiveError {
        ArchiveError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The archive: a local folder, or a bucket on object storage (`remote`) with a local spool
/// folder (`root`: `tmp/` and `.lock`).
///
/// The two backends are the two arms of each operation rather than two implementations of
/// a trait object: the set is closed, both are needed in the same process (an archive and
/// its mirrors), and every caller keeps calling the same methods (see ARCHITECTURE.md).
#[derive(Debug, Clone)]
pub struct Archive {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
    remote: Option<s3::S3>,
}

/// A blob read in place ([`Archive::blob_reader`]).
pub enum BlobReader {
    File(io::BufReader<File>),
    Ranged(ranged::RangedBlob),
}

impl io::Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            BlobReader::File(f) => f.read(out),
            BlobReader::Ranged(r) => r.read(out),
        }
    }
}

impl io::Seek for BlobReader {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        match self {
            BlobReader::File(f) => f.seek(to),
            BlobReader::Ranged(r) => r.seek(to),
        }
    }
}

/// A blob as a local file: the blob itself (local archive), or a verified-size spooled copy
/// of it (object storage) that is deleted when this is dropped.
#[derive(Debug)]
pub struct BlobRef {
    path: PathBuf,
    _spool: Option<tempfile::TempPath>,
}

impl std::ops::Deref for BlobRef {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for BlobRef {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// The object name of a blob under the archive's prefix.
pub(crate) fn blob_name(sha256_hex: &str) -> String {
    format!(
        "blobs/{}/{sha256_hex}",
        &sha256_hex[..2.min(sha256_hex.len())]
    )
}

/// Holds the archive's lock (and the database's, once [`LockGuard::with`] joined it) until
/// dropped or the process dies.
#[derive(Debug)]
pub struct LockGuard {
    _files: Vec<File>,
    /// The lock object of an archive on object storage (released on drop).
    _bucket: Vec<bucket_lock::BucketLock>,
}

impl LockGuard {
    /// One guard holding both locks, released together.
    pub fn with(mut self, other: LockGuard) -> LockGuard {
        self._files.extend(other._files);
        self._bucket.extend(other._bucket);
        self
    }
}

/// Takes the exclusive lock of the database at `db_path` (the file `<db_path>.lock`), so two
/// processes whose configs name different archives but the same database cannot both write.
///
/// The lock file sits beside the *real* database file: a symlinked database path (or one
/// through a symlinked folder) and the real path name the same lock, so two configs naming
/// the one file in two ways cannot both write. (A file bind-mounted at a second path is not
/// recognised; see README.)
pub fn lock_database(db_path: &Path) -> Result<LockGuard, ArchiveError> {
    let mut name = real_path(db_path).into_os_string();
    name.push(".lock");
    lock_file(&PathBuf::from(name))
}

/// `path` with every symlink resolved; for a file that does not exist yet, its folder's real
/// path joined with its name (and `path` itself when even the folder does not exist yet:
/// then no other process can have opened it through a link either).
fn real_path(path: &Path) -> PathBuf {
    if let Ok(real) = fs::canonicalize(path) {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            fs::canonicalize(parent).map_or_else(|_| path.to_path_buf(), |p| p.join(name))
        }
        _ => path.to_path_buf(),
    }
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
        Ok(()) => Ok(LockGuard {
            _files: vec![file],
            _bucket: Vec::new(),
        }),
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The blob is new and now durable.
    New,
    /// The same bytes were already archived (another function or an earlier version), and
    /// the file there was checked: its size and SHA-256 are right.
    AlreadyPresent,
    /// A file was already under that name but its bytes were wrong (truncated, bit rot): it
    /// was moved to `quarantined` (never modified, never deleted) and the verified file took
    /// its place.
    ReplacedCorrupt { quarantined: PathBuf },
}

/// The folder (under the archive root) where `store` moves a corrupt blob it replaces.
pub const QUARANTINE: &str = "quarantine";

impl Archive {
    /// Opens (creating if needed, owner-only) the archive at `root`.
    pub fn open(root: &Path) -> Result<Archive, ArchiveError> {
        let archive = Archive {
            root: root.to_path_buf(),
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
            remote: None,
        };
        let root_is_new = !archive.root.is_dir();
        for dir in [&archive.root, &archive.blobs, &archive.tmp] {
            create_private_dir(dir)?;
        }
        create_private_dir(&archive.root.join(journal::DIR))?;
        // Every shard exists before the first store, so no store ever creates one: two stores
        // racing on a new shard could otherwise commit a row whose shard's own entry in
        // `blobs/` was never fsynced. Then the folders' entries are made durable, bottom up
        // (a row must never outlive `blobs/` itself after a power cut).
        for i in 0..=255u8 {
            create_private_dir(&archive.blobs.join(format!("{i:02x}")))?;
        }
        sync_dir(&archive.blobs)?;
        sync_dir(&archive.root)?;
        // The root's own entry, when this call made it (the parent is someone else's folder,
        // which an existing archive has no reason to open).
        if root_is_new
            && let Some(parent) = archive.root.parent().filter(|p| !p.as_os_str().is_empty())
        {
            sync_dir(parent)?;
        }
        Ok(archive)
    }

    /// The archive at `root` as it is, creating nothing: for read-only commands, which must
    /// work on a read-only mount and never change what they audit.
    pub fn at(root: &Path) -> Archive {
        Archive {
            root: root.to_path_buf(),
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
            remote: None,
        }
    }

    /// The archive `settings` describe, for a writer: a local one is opened as by [`open`];
    /// one on object storage gets its local spool folder (`tmp/`, `.lock`) created.
    ///
    /// [`open`]: Archive::open
    pub fn open_settings(
        settings: &crate::config::ArchiveSettings,
        http: &crate::config::HttpSettings,
    ) -> Result<Archive, ArchiveError> {
        match &settings.remote {
            None => Archive::open(&settings.dir),
            Some(remote) => {
                let mut archive = Archive::remote_at(&settings.dir, remote, http)?;
                create_private_dir(&archive.root)?;
                create_private_dir(&archive.tmp)?;
                sync_dir(&archive.root)?;
                archive.blobs = PathBuf::new();
                Ok(archive)
            }
        }
    }

    /// Like [`at`](Archive::at), for `settings`: creates nothing (read-only commands).
    pub fn at_settings(
        settings: &crate::config::ArchiveSettings,
        http: &crate::config::HttpSettings,
    ) -> Result<Archive, ArchiveError> {
        match &settings.remote {
            None => Ok(Archive::at(&settings.dir)),
            Some(remote) => Archive::remote_at(&settings.dir, remote, http),
        }
    }

    /// The bucket described by `remote`, with `spool` as its local folder (created by the caller).
    pub fn remote_at(
        spool: &Path,
        remote: &s3::S3Settings,
        http: &crate::config::HttpSettings,
    ) -> Result<Archive, ArchiveError> {
        let client = crate::http::client(http)
            .map_err(|e| ArchiveError::io(spool, io::Error::other(crate::http::describe(&e))))?;
        Ok(Archive {
            root: spool.to_path_buf(),
            blobs: PathBuf::new(),
            tmp: spool.join("tmp"),
            remote: Some(s3::S3::new(remote.clone(), client)),
        })
    }

    /// The object store, when the archive lives on one.
    pub fn remote(&self) -> Option<&s3::S3> {
        self.remote.as_ref()
    }

    /// Where the archive is, for messages: its folder or `s3://bucket/prefix`.
    pub fn describe(&self) -> String {
        match &self.remote {
            Some(r) => r.settings().url.clone(),
            None => self.root.display().to_string(),
        }
    }

    /// Where blob `sha256_hex` is, for messages: its path or its `s3://` URL.
    pub fn blob_location(&self, sha256_hex: &str) -> String {
        match &self.remote {
            Some(r) => r.display(&blob_name(sha256_hex)),
            None => self.blob_path(sha256_hex).display().to_string(),
        }
    }

    /// The journal under `meta/`.
    pub fn journal(&self) -> journal::Journal {
        journal::Journal::new(self.root.join(journal::DIR), self.remote.clone())
    }

    /// The size of blob `sha256_hex` (an error of kind `NotFound` when it is not there).
    pub fn blob_len(&self, sha256_hex: &str) -> io::Result<u64> {
        match &self.remote {
            None => fs::metadata(self.blob_path(sha256_hex)).map(|m| m.len()),
            Some(r) => match r.head(&blob_name(sha256_hex)) {
                Ok(Some(h)) => Ok(h.size),
                Ok(None) => Err(io::Error::new(io::ErrorKind::NotFound, "no such blob")),
                Err(e) => Err(io::Error::other(e.to_string())),
            },
        }
    }

    /// Streams blob `sha256_hex` into `out`; a missing blob is an `Io` error of kind
    /// `NotFound`. Returns its length.
    pub fn read_blob(
        &self,
        sha256_hex: &str,
        out: &mut (dyn io::Write + Send),
    ) -> Result<u64, ArchiveError> {
        let not_found = || ArchiveError::Io {
            path: PathBuf::from(self.blob_location(sha256_hex)),
            source: io::Error::new(io::ErrorKind::NotFound, "no such blob"),
        };
        match &self.remote {
            Some(r) => r
                .get_to(&blob_name(sha256_hex), None, out)?
                .ok_or_else(not_found),
            None => {
                let path = self.blob_path(sha256_hex);
                let mut f = File::open(&path).map_err(|e| ArchiveError::io(&path, e))?;
                io::copy(&mut f, out).map_err(|e| ArchiveError::io(&path, e))
            }
        }
    }

    /// Blob `sha256_hex` as a local file: the blob itself, or (object storage) a copy spooled
    /// into `tmp/` (the system's temp folder for a read-only command, which creates nothing in
    /// the archive), removed when the returned value is dropped. A missing blob is an `Io`
    /// error of kind `NotFound`.
    pub fn local_copy(&self, sha256_hex: &str) -> Result<BlobRef, ArchiveError> {
        let Some(remote) = &self.remote else {
            return Ok(BlobRef {
                path: self.blob_path(sha256_hex),
                _spool: None,
            });
        };
        let dir = if self.tmp.is_dir() {
            self.tmp.clone()
        } else {
            std::env::temp_dir()
        };
        let mut tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&dir)
            .map_err(|e| ArchiveError::io(&dir, e))?;
        let name = blob_name(sha256_hex);
        let mut out = io::BufWriter::new(tmp.as_file_mut());
        match remote.get_to(&name, None, &mut out)? {
            Some(_) => {}
            None => {
                return Err(ArchiveError::Io {
                    path: PathBuf::from(remote.display(&name)),
                    source: io::Error::new(io::ErrorKind::NotFound, "no such blob"),
                });
            }
        }
        let flushed = io::Write::flush(&mut out);
        drop(out);
        flushed.map_err(|e| ArchiveError::io(tmp.path(), e))?;
        let path = tmp.into_temp_path();
        Ok(BlobRef {
            path: path.to_path_buf(),
            _spool: Some(path),
        })
    }

    /// Blob `sha256_hex` to read in place: the file itself, or (object storage) a reader
    /// over Range GETs, so reading a zip's directory fetches its end, not the whole package.
    /// A missing blob is an `Io` error of kind `NotFound`.
    pub fn blob_reader(&self, sha256_hex: &str) -> Result<BlobReader, ArchiveError> {
        let Some(remote) = &self.remote else {
            let path = self.blob_path(sha256_hex);
            let file = File::open(&path).map_err(|e| ArchiveError::io(&path, e))?;
            return Ok(BlobReader::File(io::BufReader::new(file)));
        };
        let name = blob_name(sha256_hex);
        match remote.head(&name)? {
            Some(head) => Ok(BlobReader::Ranged(ranged::RangedBlob::new(
                remote.clone(),
                name,
                head.size,
            ))),
            None => Err(ArchiveError::Io {
                path: PathBuf::from(remote.display(&name)),
                source: io::Error::new(io::ErrorKind::NotFound, "no such blob"),
            }),
        }
    }

    /// Every file under `blobs/`, sorted by name. A missing `blobs/` is an empty archive.
    pub fn list_blobs(&self) -> Result<Vec<BlobFile>, ArchiveError> {
        if let Some(remote) = &self.remote {
            let mut out = Vec::new();
            for o in remote.list("blobs/")? {
                let mut parts = o.name.splitn(3, '/');
                let (_, shard, name) = (parts.next(), parts.next(), parts.next());
                let (shard, name) = match (shard, name) {
                    (Some(s), Some(n)) => (s, n),
                    _ => ("", o.name.as_str()),
                };
                out.push(BlobFile {
                    name: name.to_string(),
                    path: PathBuf::from(remote.display(&o.name)),
                    well_formed: is_sha256_hex(name) && name.get(..2) == Some(shard),
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(out);
        }
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
        if let Some(remote) = &self.remote {
            let prefix = remote.display("blobs/");
            let name = blob.path.to_string_lossy();
            let Some(rest) = name.strip_prefix(&prefix) else {
                return Err(ArchiveError::io(
                    &blob.path,
                    io::Error::other("not under the archive's blobs/"),
                ));
            };
            remote.delete(&format!("blobs/{rest}"))?;
            return Ok(());
        }
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
    /// On object storage also the bucket's lock object ([`bucket_lock`]), so two machines
    /// cannot write one bucket.
    pub fn lock(&self) -> Result<LockGuard, ArchiveError> {
        let mut guard = lock_file(&self.root.join(".lock"))?;
        // The local lock first: two processes of this machine are told apart without a call.
        if let Some(r) = &self.remote {
            guard._bucket.push(bucket_lock::acquire(r)?);
        }
        Ok(guard)
    }

    /// Removes what a killed process left in `tmp/`, and the half-written `meta/.sightings-*`
    /// temp files of [`journal::Journal::write_sightings`]. Call only while holding the lock:
    /// then no other process can be writing there.
    pub fn clean_tmp(&self, _lock: &LockGuard) -> Result<usize, ArchiveError> {
        let mut removed = 0;
        let meta = self.root.join(journal::DIR);
        match fs::read_dir(&meta) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(|e| ArchiveError::io(&meta, e))?;
                    if entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with(journal::SIGHTINGS_TEMP_PREFIX)
                    {
                        let path = entry.path();
                        fs::remove_file(&path).map_err(|e| ArchiveError::io(&path, e))?;
                        removed += 1;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ArchiveError::io(&meta, e)),
        }
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
        // An archive on object storage opened read-only has no spool folder yet.
        if self.remote.is_some() && !self.tmp.is_dir() {
            create_private_dir(&self.root)?;
            create_private_dir(&self.tmp)?;
        }
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

    /// Whether blob `sha256_hex` is there (on object storage: a HEAD; an error answers no,
    /// so the caller downloads again and `store` reports the store's error).
    pub fn contains(&self, sha256_hex: &str) -> bool {
        match &self.remote {
            None => self.blob_path(sha256_hex).is_file(),
            Some(r) => matches!(r.head(&blob_name(sha256_hex)), Ok(Some(_))),
        }
    }

    /// Makes a verified temp file the durable blob `sha256_hex`: fsync the file, rename it into
    /// `blobs/` without ever replacing an existing name (`renameat2(RENAME_NOREPLACE)`, or
    /// link+unlink), fsync the shard.
    ///
    /// If the name is taken (dedup, or a concurrent store of the same package), the file there
    /// is checked, never trusted for its name: right size and SHA-256 → `AlreadyPresent`
    /// (the shard is fsynced too: the name may be an unflushed rename of a killed run);
    /// wrong → it is moved to `quarantine/` and the verified file takes its place.
    ///
    /// The caller must have verified the content hashes to `sha256_hex`; this function is the
    /// only way into `blobs/`.
    pub fn store(
        &self,
        tmp: tempfile::NamedTempFile,
        sha256_hex: &str,
    ) -> Result<Stored, ArchiveError> {
        if !is_sha256_hex(sha256_hex) {
            return Err(ArchiveError::io(
                tmp.path(),
                io::Error::other(format!("`{sha256_hex}` is not a SHA-256 in lowercase hex")),
            ));
        }
        if let Some(remote) = &self.remote {
            return store_remote(remote, tmp, sha256_hex);
        }
        let dest = self.blob_path(sha256_hex);
        let Some(shard) = dest.parent() else {
            return Err(ArchiveError::io(
                &dest,
                io::Error::other("blob path has no parent"),
            ));
        };
        let size = tmp
            .as_file()
            .metadata()
            .map_err(|e| ArchiveError::io(tmp.path(), e))?
            .len();
        tmp.as_file()
            .sync_all()
            .map_err(|e| ArchiveError::io(tmp.path(), e))?;
        if !shard.is_dir() {
            // `open` creates every shard; one deleted by hand since is created again.
            create_private_dir(shard)?;
            sync_dir(&self.blobs)?;
        }
        // Blobs are read-only: nothing should ever write to one again.
        set_mode(tmp.path(), 0o400)?;
        let mut tmp = tmp;
        let mut quarantined = None;
        // At most twice: once, and once more after moving a corrupt file aside.
        for _ in 0..2 {
            match tmp.persist_noclobber(&dest) {
                Ok(_) => {
                    sync_dir(shard)?;
                    return Ok(match quarantined {
                        Some(q) => Stored::ReplacedCorrupt { quarantined: q },
                        None => Stored::New,
                    });
                }
                Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                    tmp = e.file;
                    if blob_matches(&dest, size, sha256_hex)? {
                        sync_dir(shard)?;
                        return Ok(Stored::AlreadyPresent);
                    }
                    // None: a concurrent store moved the same corrupt file aside first.
                    if let Some(q) = self.quarantine(&dest, sha256_hex)? {
                        quarantined = Some(q);
                    }
                }
                Err(e) => return Err(ArchiveError::io(&dest, e.error)),
            }
        }
        Err(ArchiveError::io(
            &dest,
            io::Error::other(
                "another file took this blob's name again after a corrupt one was moved aside",
            ),
        ))
    }

    /// Moves the corrupt file at `blob` to `quarantine/<sha256>.<unix nanos>`, durably. It is
    /// evidence (and maybe all that is left of something), so it is kept, not deleted.
    fn quarantine(&self, blob: &Path, sha256_hex: &str) -> Result<Option<PathBuf>, ArchiveError> {
        let dir = self.root.join(QUARANTINE);
        if !dir.is_dir() {
            create_private_dir(&dir)?;
            sync_dir(&self.root)?;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let to = dir.join(format!("{sha256_hex}.{nanos}"));
        match fs::rename(blob, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ArchiveError::io(blob, e)),
        }
        sync_dir(&dir)?;
        if let Some(shard) = blob.parent() {
            sync_dir(shard)?;
        }
        Ok(Some(to))
    }
}

/// [`Archive::store`] on object storage. The temp file was verified against the cloud's
/// checksum; it is uploaded create-only (`If-None-Match: *`) with its SHA-256 signed as the
/// payload hash and sent as `x-amz-checksum-sha256`, then the stored object's size (and CRC-64
/// where the store reports one) is checked before this returns, so before any row is written.
/// A name already taken is checked by size and SHA-256 (streamed, never trusted by name); a
/// corrupt object there is copied to `quarantine/` and replaced. An object that fails the
/// check right after this upload wrote it is deleted: nothing unverified stays under `blobs/`.
fn store_remote(
    remote: &s3::S3,
    tmp: tempfile::NamedTempFile,
    sha256_hex: &str,
) -> Result<Stored, ArchiveError> {
    let name = blob_name(sha256_hex);
    let size = tmp
        .as_file()
        .metadata()
        .map_err(|e| ArchiveError::io(tmp.path(), e))?
        .len();
    let mut quarantined = None;
    for _ in 0..2 {
        if remote.put_file_create_only(&name, tmp.path(), size, sha256_hex)? {
            check_stored(remote, &name, tmp.path(), size, true)?;
            return Ok(match quarantined {
                Some(q) => Stored::ReplacedCorrupt { quarantined: q },
                None => Stored::New,
            });
        }
        // Taken: the store refused to overwrite. Check what is there by its bytes.
        let mut hasher = HashWriter::default();
        let got = remote.get_to(&name, None, &mut hasher)?;
        if got == Some(size) && hex::encode(sha2::Digest::finalize(hasher.0)) == sha256_hex {
            return Ok(Stored::AlreadyPresent);
        }
        if got.is_none() {
            // Deleted between the refusal and the read (a prune): try again.
            continue;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let q = format!("{QUARANTINE}/{sha256_hex}.{nanos}");
        remote.copy(&name, &q)?;
        remote.delete(&name)?;
        quarantined = Some(PathBuf::from(remote.display(&q)));
    }
    Err(ArchiveError::Io {
        path: PathBuf::from(remote.display(&name)),
        source: io::Error::other(
            "another object took this blob's name again after a corrupt one was moved aside",
        ),
    })
}

/// After an upload: the stored size must be the file's, and the CRC-64 too where the store
/// reports one. On a mismatch the object this upload wrote is deleted (`ours`).
fn check_stored(
    remote: &s3::S3,
    name: &str,
    file: &Path,
    size: u64,
    ours: bool,
) -> Result<(), ArchiveError> {
    let fail = |why: String| -> ArchiveError {
        if ours {
            // Best effort: the error below is what matters, and a leftover is flagged by verify.
            let _ = remote.delete(name);
        }
        ArchiveError::Io {
            path: PathBuf::from(remote.display(name)),
            source: io::Error::other(why),
        }
    };
    let Some(head) = remote.head(name)? else {
        return Err(fail(
            "the store answered the upload but does not have the object".into(),
        ));
    };
    if head.size != size {
        return Err(fail(format!(
            "the store holds {} bytes after an upload of {size}",
            head.size
        )));
    }
    if let Some(crc) = head.crc64 {
        let local = crc64_of(file).map_err(|e| ArchiveError::io(file, e))?;
        if local != crc {
            return Err(fail(format!(
                "the store reports CRC-64 {crc}, the uploaded file has {local}"
            )));
        }
    }
    Ok(())
}

fn crc64_of(path: &Path) -> io::Result<u64> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut digest = crc64fast::Digest::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(digest.sum64());
        }
        digest.write(&buf[..n]);
    }
}

/// A `Write` that only hashes: object bytes checked without keeping them.
#[derive(Default)]
pub(crate) struct HashWriter(pub(crate) sha2::Sha256);

impl io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether the file at `path` is `size` bytes long and hashes to `sha256_hex`.
fn blob_matches(path: &Path, size: u64, sha256_hex: &str) -> Result<bool, ArchiveError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = File::open(path).map_err(|e| ArchiveError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| ArchiveError::io(path, e))?
        .len();
    if len != size {
        return Ok(false);
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| ArchiveError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()) == sha256_hex)
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

/// [`blob_present`] for the archive `settings` describe: on object storage a HEAD (an error
/// answers no), creating nothing either way.
pub fn blob_present_in(
    settings: &crate::config::ArchiveSettings,
    http: &crate::config::HttpSettings,
    sha256_hex: &str,
) -> bool {
    match Archive::at_settings(settings, http) {
        Ok(a) if a.remote.is_some() => is_sha256_hex(sha256_hex) && a.contains(sha256_hex),
        _ => blob_present(&settings.dir, sha256_hex),
    }
}

/// [`disk_usage`] for the archive `settings` describe (on object storage: one listing).
pub fn usage(
    settings: &crate::config::ArchiveSettings,
    http: &crate::config::HttpSettings,
) -> Result<DiskUsage, ArchiveError> {
    let archive = Archive::at_settings(settings, http)?;
    let Some(remote) = archive.remote() else {
        return disk_usage(&settings.dir);
    };
    let mut usage = DiskUsage::default();
    for o in remote.list("blobs/")? {
        usage.blobs += 1;
        usage.bytes += o.size;
    }
    Ok(usage)
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

    /// SHA-256 of `b"package"`, the bytes the tests store (`store` checks what it dedups).
    const SHA: &str = "bc4a71180870f7945155fbb02f4b0a2e3faa2a62d6d31b7039013055ed19869a";

    #[test]
    fn a_stored_blob_lands_under_its_hash_and_tmp_is_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        let mut tmp = archive.temp_file().unwrap();
        tmp.write_all(b"package").unwrap();
        assert_eq!(archive.store(tmp, SHA).unwrap(), Stored::New);
        let blob = dir.path().join("blobs/bc").join(SHA);
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
            fs::read_dir(dir.path().join("blobs/bc")).unwrap().count(),
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
        fs::write(dir.path().join("blobs/bc/stray"), b"x").unwrap();
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

    /// A kill while `sightings.json` is rewritten leaves its temp file in `meta/`, outside
    /// `tmp/`; the lock holder removes it too, and nothing else there.
    #[test]
    fn a_sightings_temp_file_left_in_meta_is_removed_by_the_lock_holder() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        let meta = dir.path().join(journal::DIR);
        fs::write(meta.join(".sightings-killed"), b"[").unwrap();
        fs::write(meta.join("sightings.json"), b"[]").unwrap();
        let lock = archive.lock().unwrap();
        assert_eq!(archive.clean_tmp(&lock).unwrap(), 1);
        let left: Vec<String> = fs::read_dir(&meta)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["sightings.json".to_string()]);
    }

    /// Every shard exists once the archive is open, so no store has to create one (and no
    /// row can outlive a shard's un-fsynced directory entry).
    #[test]
    fn opening_an_archive_creates_all_256_shards() {
        let dir = tempfile::tempdir().unwrap();
        Archive::open(dir.path()).unwrap();
        let shards: Vec<String> = fs::read_dir(dir.path().join("blobs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(shards.len(), 256);
        for i in 0..=255u8 {
            assert!(dir.path().join("blobs").join(format!("{i:02x}")).is_dir());
        }
    }

    /// A blob truncated on disk is not adopted by name: the verified download replaces it,
    /// and the bad file is kept in `quarantine/`, not deleted.
    #[test]
    fn a_corrupt_blob_under_the_name_is_moved_aside_and_replaced_by_the_verified_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        let dest = archive.blob_path(SHA);
        fs::write(&dest, b"pack").unwrap();
        let mut tmp = archive.temp_file().unwrap();
        tmp.write_all(b"package").unwrap();
        let Stored::ReplacedCorrupt { quarantined } = archive.store(tmp, SHA).unwrap() else {
            panic!("a truncated blob was adopted");
        };
        assert_eq!(fs::read(&dest).unwrap(), b"package");
        assert_eq!(fs::read(&quarantined).unwrap(), b"pack");
        assert!(quarantined.starts_with(dir.path().join(QUARANTINE)));
        // Same size, wrong bytes (bit rot) is caught too.
        fs::remove_file(&dest).unwrap();
        fs::write(&dest, b"pXckage").unwrap();
        let mut tmp = archive.temp_file().unwrap();
        tmp.write_all(b"package").unwrap();
        assert!(matches!(
            archive.store(tmp, SHA).unwrap(),
            Stored::ReplacedCorrupt { .. }
        ));
        assert_eq!(fs::read(&dest).unwrap(), b"package");
    }

    /// Two stores of the same package at once: one renames its file in, the other finds it
    /// and drops its own; a stored file is never replaced (its inode stays).
    #[test]
    fn concurrent_stores_of_one_package_never_replace_each_others_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path()).unwrap();
        for _ in 0..20 {
            let _ = fs::remove_file(archive.blob_path(SHA));
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let archive = archive.clone();
                    let barrier = barrier.clone();
                    let mut tmp = archive.temp_file().unwrap();
                    tmp.write_all(b"package").unwrap();
                    std::thread::spawn(move || {
                        barrier.wait();
                        let stored = archive.store(tmp, SHA).unwrap();
                        let ino = fs::metadata(archive.blob_path(SHA)).unwrap().ino();
                        (stored, ino)
                    })
                })
                .collect();
            let results: Vec<(Stored, u64)> =
                handles.into_iter().map(|h| h.join().unwrap()).collect();
            let new = results.iter().filter(|(s, _)| *s == Stored::New).count();
            assert_eq!(new, 1, "{results:?}");
            let final_ino = fs::metadata(archive.blob_path(SHA)).unwrap().ino();
            assert!(
                results.iter().all(|(_, ino)| *ino == final_ino),
                "{results:?}"
            );
        }
        assert_eq!(fs::read_dir(archive.tmp_dir()).unwrap().count(), 0);
    }

    /// A database named through a symlink and by its real path is one database: one lock.
    #[test]
    fn the_database_lock_follows_a_symlink_to_the_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.db");
        fs::write(&real, b"").unwrap();
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let _held = lock_database(&link).unwrap();
        assert!(matches!(
            lock_database(&real),
            Err(ArchiveError::Locked { .. })
        ));
        // A database that does not exist yet, in a folder reached through a symlink.
        let folder_link = dir.path().join("folder-link");
        std::os::unix::fs::symlink(dir.path(), &folder_link).unwrap();
        let _new = lock_database(&folder_link.join("new.db")).unwrap();
        assert!(matches!(
            lock_database(&dir.path().join("new.db")),
            Err(ArchiveError::Locked { .. })
        ));
    }
}
