//! File manifests of archived packages: each zip entry's path, size and CRC-32, read from the
//! central directory of the durable blob without decompressing anything; and, for `diff
//! --content`, one entry's bytes.
//!
//! Owns: reading zip structure. Touches only the blob file it is given (read-only); never the
//! database or the network. A package that is not a readable zip is not an error here: it is
//! [`Package::NotZip`] with the reason, because the clouds accept other formats and the
//! package is archived either way.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One entry of a zip's central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// Uncompressed size.
    pub size: u64,
    pub crc32: u32,
    pub is_dir: bool,
}

/// What a package is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Package {
    Zip(Vec<Entry>),
    /// Not a readable zip; the reason, for people.
    NotZip(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a readable zip: {reason}")]
    NotZip { path: PathBuf, reason: String },
    #[error("{path}: entry `{entry}`: {reason}")]
    Entry {
        path: PathBuf,
        entry: String,
        reason: String,
    },
}

/// Reads the central directory of the package at `path`. `Err` only when the file itself
/// cannot be read; a file that is not a zip is `Ok(Package::NotZip)`.
pub fn read(path: &Path) -> Result<Package, ManifestError> {
    let file = File::open(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_from(BufReader::new(file), path)
}

/// A zip's end-of-central-directory record (`PK\x05\x06`, 22 bytes and a comment of at most
/// 65,535) lies in its last 65,557 bytes.
const EOCD_WINDOW: u64 = 22 + 65_535;

/// Whether the end-of-central-directory signature is in the last [`EOCD_WINDOW`] bytes. The
/// zip crate, not finding it there, searches the whole file (for data appended after an
/// archive): on a package that is no zip at all that reads every byte, which on object storage
/// is dozens of range requests per package (it halved the changed sweep into a bucket).
/// A zip with more than 64 KiB appended after it is therefore reported as not a zip.
fn eocd_in_tail(reader: &mut (impl Read + Seek)) -> io::Result<bool> {
    let len = reader.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(EOCD_WINDOW);
    reader.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    reader.by_ref().take(len - start).read_to_end(&mut tail)?;
    reader.seek(SeekFrom::Start(0))?;
    Ok(tail.windows(4).any(|w| w == b"PK\x05\x06"))
}

/// [`read`] of a package read in place (a blob on object storage, by ranges); `path` names it
/// in errors.
pub fn read_from(mut reader: impl Read + Seek, path: &Path) -> Result<Package, ManifestError> {
    let io_err = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !eocd_in_tail(&mut reader).map_err(io_err)? {
        return Ok(Package::NotZip(
            "no end-of-central-directory record in its last 64 KiB".to_string(),
        ));
    }
    let mut zip = match zip::ZipArchive::new(reader) {
        Ok(z) => z,
        Err(zip::result::ZipError::Io(e)) => return Err(io_err(e)),
        Err(e) => return Ok(Package::NotZip(e.to_string())),
    };
    let mut entries = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        // by_index_raw: the entry's metadata, no decompression.
        let entry = match zip.by_index_raw(i) {
            Ok(e) => e,
            Err(zip::result::ZipError::Io(e)) => return Err(io_err(e)),
            Err(e) => return Ok(Package::NotZip(format!("entry {i}: {e}"))),
        };
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        entries.push(Entry {
            path: name,
            size: entry.size(),
            crc32: entry.crc32(),
            is_dir: entry.is_dir(),
        });
    }
    Ok(Package::Zip(entries))
}

/// The bytes of entry `name` of the zip at `path`, at most `limit` of them (a guard against
/// zip bombs); `Ok(None)` when there is no such entry. The zip crate checks the CRC-32.
pub fn extract(path: &Path, name: &str, limit: u64) -> Result<Option<Vec<u8>>, ManifestError> {
    let file = File::open(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    extract_from(BufReader::new(file), path, name, limit)
}

/// [`extract`] from a package read in place; `path` names it in errors.
pub fn extract_from(
    reader: impl Read + Seek,
    path: &Path,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, ManifestError> {
    let not_zip = |e: zip::result::ZipError| ManifestError::NotZip {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut zip = zip::ZipArchive::new(reader).map_err(not_zip)?;
    let entry_err = |reason: String| ManifestError::Entry {
        path: path.to_path_buf(),
        entry: name.to_string(),
        reason,
    };
    let entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(entry_err(e.to_string())),
    };
    if entry.size() > limit {
        return Err(entry_err(format!(
            "{} bytes uncompressed, more than the {limit} this command reads",
            entry.size()
        )));
    }
    let mut out = Vec::with_capacity(entry.size() as usize);
    entry
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| entry_err(e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(entry_err(format!("more than {limit} bytes uncompressed")));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {

    /// A reader that counts the bytes read through it.
    struct Counting<R> {
        inner: R,
        read: std::rc::Rc<std::cell::Cell<u64>>,
    }
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }
    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    #[test]
    fn a_package_that_is_no_zip_is_told_from_its_tail_without_reading_it_all() {
        let bytes: Vec<u8> = (0..8u32 << 20).map(|i| (i * 7 + i / 251) as u8).collect();
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let reader = Counting {
            inner: io::Cursor::new(bytes),
            read: read.clone(),
        };
        let got = read_from(reader, Path::new("pkg")).unwrap();
        assert!(
            matches!(got, Package::NotZip(ref why) if why.contains("end-of-central-directory")),
            "{got:?}"
        );
        assert!(read.get() <= EOCD_WINDOW, "{} bytes read", read.get());
    }
    use super::*;
    use std::io::Write;

    fn zip_with(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, data) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_lists_each_entry_with_size_and_crc32() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        std::fs::write(&path, zip_with(&[("index.js", b"hello"), ("a/b.txt", b"")])).unwrap();
        let Package::Zip(entries) = read(&path).unwrap() else {
            panic!("not read as a zip");
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].path, "index.js");
        assert_eq!(entries[0].size, 5);
        assert_eq!(entries[0].crc32, 0x3610a686); // CRC-32 of "hello"
        assert_eq!(entries[1].path, "a/b.txt");
    }

    #[test]
    fn a_file_that_is_not_a_zip_is_flagged_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        std::fs::write(&path, b"#!/bin/sh\necho not a zip\n").unwrap();
        assert!(matches!(read(&path).unwrap(), Package::NotZip(r) if !r.is_empty()));
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_non_zip() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("gone")).is_err());
    }

    #[test]
    fn extract_returns_one_entry_and_refuses_more_than_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        std::fs::write(&path, zip_with(&[("index.js", b"hello")])).unwrap();
        assert_eq!(
            extract(&path, "index.js", 100).unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(extract(&path, "nope", 100).unwrap(), None);
        assert!(extract(&path, "index.js", 3).is_err());
    }
}
