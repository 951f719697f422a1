//! A blob on object storage read in place: `Read + Seek` over Range GETs, so `show` and
//! `diff` read a zip's central directory (the end of the object) and the one entry they need,
//! not the whole package. Reads go through a small window fetched a block at a time; a seek
//! inside the window costs nothing.

use std::io::{self, Read, Seek, SeekFrom};

use super::s3::S3;

/// Bytes fetched per Range GET: the end-of-central-directory search and a directory of a
/// few thousand entries fit in one or two.
const BLOCK: u64 = 256 * 1024;

/// Object `name` of `store`, `len` bytes long, read by ranges.
pub struct RangedBlob {
    store: S3,
    name: String,
    len: u64,
    pos: u64,
    window: Vec<u8>,
    window_start: u64,
    fetched: u64,
}

impl RangedBlob {
    pub fn new(store: S3, name: String, len: u64) -> RangedBlob {
        RangedBlob {
            store,
            name,
            len,
            pos: 0,
            window: Vec::new(),
            window_start: 0,
            fetched: 0,
        }
    }

    /// Bytes fetched from the store so far (the benchmark and tests check it is not all).
    pub fn fetched(&self) -> u64 {
        self.fetched
    }

    fn fill(&mut self) -> io::Result<()> {
        let last = (self.pos + BLOCK).min(self.len) - 1;
        let mut buf = Vec::with_capacity((last - self.pos + 1) as usize);
        match self
            .store
            .get_to(&self.name, Some((self.pos, last)), &mut buf)
        {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} vanished while read", self.store.display(&self.name)),
                ));
            }
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
        // A store that ignores Range answers the whole object: refuse rather than misread.
        if buf.len() as u64 != last - self.pos + 1 {
            return Err(io::Error::other(format!(
                "{}: asked for bytes {}-{last}, got {} bytes",
                self.store.display(&self.name),
                self.pos,
                buf.len()
            )));
        }
        self.fetched += buf.len() as u64;
        self.window = buf;
        self.window_start = self.pos;
        Ok(())
    }
}

impl Read for RangedBlob {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        let end = self.window_start + self.window.len() as u64;
        if self.pos < self.window_start || self.pos >= end {
            self.fill()?;
        }
        let at = (self.pos - self.window_start) as usize;
        let n = out.len().min(self.window.len() - at);
        out[..n].copy_from_slice(&self.window[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangedBlob {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the blob",
            )),
        }
    }
}
