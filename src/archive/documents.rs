//! Small blobs written whole by fnvault itself (configuration documents), and the archive's
//! own key for hashing secret values (`[capture] secrets = "hash"`).
//!
//! A document goes into `blobs/` exactly like a package: a temp file in `tmp/`, fsynced, then
//! [`Archive::store`] (create-only rename, shard fsync). The key lives at the archive root,
//! `capture.key` (mode 0600 in a folder, an object beside `blobs/` on object storage, and
//! copied to every mirror); it is made once and never replaced, because every hash in every
//! configuration document depends on it: a new key would show every secret as changed.

use std::fs;
use std::io::{self, Write};

use sha2::{Digest, Sha256};

use super::{Archive, ArchiveError, LockGuard, Stored, sync_dir};

/// The file name of the hashing key under the archive root.
pub const CAPTURE_KEY: &str = "capture.key";
const KEY_LEN: usize = 32;

impl Archive {
    /// Stores `bytes` as a blob named by their SHA-256; returns that name and what the store
    /// found. The caller holds the lock (only a writer stores).
    pub fn store_document(&self, bytes: &[u8]) -> Result<(String, Stored), ArchiveError> {
        let sha = hex::encode(Sha256::digest(bytes));
        let mut tmp = self.temp_file()?;
        tmp.write_all(bytes)
            .map_err(|e| ArchiveError::io(tmp.path(), e))?;
        let stored = self.store(tmp, &sha)?;
        Ok((sha, stored))
    }

    /// Reads a document blob, checking that it hashes to its name.
    pub fn read_document(&self, sha256_hex: &str) -> Result<Vec<u8>, ArchiveError> {
        // Through the backend: on object storage the document is an object like any blob.
        let mut bytes = Vec::new();
        self.read_blob(sha256_hex, &mut bytes)?;
        if hex::encode(Sha256::digest(&bytes)) != sha256_hex {
            return Err(ArchiveError::io(
                std::path::Path::new(&self.blob_location(sha256_hex)),
                io::Error::other("the document does not hash to its name (damaged blob)"),
            ));
        }
        Ok(bytes)
    }

    /// The archive's key for hashing secret values: read, or made (32 random bytes) when the
    /// archive has none yet. A key of the wrong length is an error, never replaced.
    ///
    /// On object storage the key is the object `capture.key` beside `blobs/`, so the bucket
    /// alone is the whole archive (a machine rebuilt from it hashes secrets as before). A key
    /// an earlier fnvault made in the local spool folder, before keys went to the bucket, is
    /// the one uploaded.
    pub fn capture_key(&self, _lock: &LockGuard) -> Result<[u8; KEY_LEN], ArchiveError> {
        if let Some(bytes) = self.existing_capture_key()? {
            return self.parse_key(&bytes);
        }
        let spooled = self.root.join(CAPTURE_KEY);
        let key: [u8; KEY_LEN] = match (&self.remote, fs::read(&spooled)) {
            (Some(_), Ok(bytes)) => self.parse_key(&bytes)?,
            (Some(_), Err(e)) if e.kind() != io::ErrorKind::NotFound => {
                return Err(ArchiveError::io(&spooled, e));
            }
            _ => rand::random(),
        };
        if self.create_capture_key(&key)? {
            Ok(key)
        } else {
            // Made meanwhile (by nothing else while the lock is held, but never replaced).
            self.capture_key(_lock)
        }
    }

    /// The key's bytes as stored, `None` when the archive has none.
    pub fn existing_capture_key(&self) -> Result<Option<Vec<u8>>, ArchiveError> {
        match &self.remote {
            Some(r) => Ok(r.get_bytes(CAPTURE_KEY)?),
            None => {
                let path = self.root.join(CAPTURE_KEY);
                match fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(ArchiveError::io(&path, e)),
                }
            }
        }
    }

    /// Where the key lives, for messages.
    pub fn capture_key_location(&self) -> String {
        match &self.remote {
            Some(r) => r.display(CAPTURE_KEY),
            None => self.root.join(CAPTURE_KEY).display().to_string(),
        }
    }

    fn parse_key(&self, bytes: &[u8]) -> Result<[u8; KEY_LEN], ArchiveError> {
        <[u8; KEY_LEN]>::try_from(bytes).map_err(|_| {
            ArchiveError::io(
                std::path::Path::new(&self.capture_key_location()),
                io::Error::other(format!(
                    "the secret-hashing key must be {KEY_LEN} bytes, this one has {}; \
                     restore it from a backup of the archive (a new key would show \
                     every secret as changed)",
                    bytes.len()
                )),
            )
        })
    }

    /// Writes `key` as the archive's key unless it has one (`false`: it has). Create-only on
    /// both backends; on a folder it is made whole in `tmp/`, mode 0600, and linked in under
    /// its name only once durable: a crash or a full disk never leaves a short key file that
    /// would refuse every later start.
    pub fn create_capture_key(&self, key: &[u8]) -> Result<bool, ArchiveError> {
        if let Some(r) = &self.remote {
            return Ok(r.put_bytes(CAPTURE_KEY, key.to_vec(), true)?);
        }
        let path = self.root.join(CAPTURE_KEY);
        let mut tmp = self.temp_file()?;
        tmp.write_all(key)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| ArchiveError::io(tmp.path(), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o600))
                .map_err(|e| ArchiveError::io(tmp.path(), e))?;
        }
        match tmp.persist_noclobber(&path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(ArchiveError::io(&path, e.error)),
        }
        sync_dir(&self.root)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_content_addressed_and_the_key_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(&dir.path().join("a")).unwrap();
        let lock = archive.lock().unwrap();
        let (sha, stored) = archive.store_document(b"{\"a\":1}").unwrap();
        assert_eq!(stored, Stored::New);
        assert_eq!(archive.read_document(&sha).unwrap(), b"{\"a\":1}");
        let (again, stored) = archive.store_document(b"{\"a\":1}").unwrap();
        assert_eq!((again, stored), (sha, Stored::AlreadyPresent));

        let k1 = archive.capture_key(&lock).unwrap();
        let k2 = archive.capture_key(&lock).unwrap();
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("a").join(CAPTURE_KEY))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(dir.path().join("a").join(CAPTURE_KEY), b"short").unwrap();
        let e = archive.capture_key(&lock).unwrap_err().to_string();
        assert!(e.contains("32 bytes"), "{e}");
    }
}
