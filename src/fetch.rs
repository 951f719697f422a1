//! Download and verify one code package: stream it into a temp file in the archive while
//! computing SHA-256 and CRC-64 in the same pass, then compare with the cloud's checksum.
//!
//! Owns: the download request and every byte of the body. Calls the HTTP client and
//! [`Archive::temp_file`]; makes nothing durable itself (that is [`Archive::store`], called by
//! the sweep only for a [`Downloaded`] whose checksum matched).
//!
//! Memory stays flat whatever the package size: the network task hands chunks to a blocking
//! writer thread through a bounded channel, so at most a few chunks are in flight.

use std::io::Write;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::archive::{Archive, ArchiveError};
use crate::cloud::{Checksum, CodeLocation};

/// A package whose bytes matched the cloud's checksum, still in `tmp/`: dropping it deletes it.
#[derive(Debug)]
pub struct Downloaded {
    pub tmp: tempfile::NamedTempFile,
    pub sha256: [u8; 32],
    pub crc64: u64,
    pub size: u64,
}

impl Downloaded {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Why a download failed. Messages name the URL without its (secret) query.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("download {url} answered HTTP {status}")]
    Status { status: u16, url: String },
    #[error("download {message}")]
    Transport { message: String },
    #[error("package is larger than the limit of {limit} bytes (archive.max_package_size)")]
    TooLarge { limit: u64 },
    #[error("download ended after {got} of {expected} bytes")]
    Truncated { expected: u64, got: u64 },
    #[error(
        "package does not match the cloud's checksum: expected {expected}, got sha256 {sha256} / crc64 {crc64} ({size} bytes)"
    )]
    Mismatch {
        expected: Checksum,
        sha256: String,
        crc64: u64,
        size: u64,
    },
    #[error("package does not match the object store's x-oss-hash-crc64ecma {header}, got {crc64}")]
    StoreCrcMismatch { header: u64, crc64: u64 },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("writing the temp file failed: {0}")]
    Write(String),
}

impl FetchError {
    /// The presigned URL has probably expired: ask the cloud for a fresh one.
    pub fn is_expired_url(&self) -> bool {
        matches!(self, FetchError::Status { status: 403, .. })
    }

    /// Trying again (with a fresh URL) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => *status == 403 || *status == 429 || *status >= 500,
            FetchError::Transport { .. }
            | FetchError::Truncated { .. }
            | FetchError::Mismatch { .. }
            | FetchError::StoreCrcMismatch { .. } => true,
            FetchError::TooLarge { .. } | FetchError::Archive(_) | FetchError::Write(_) => false,
        }
    }
}

/// Chunks buffered between the network and the writer thread; bounds memory per download.
const CHANNEL_CHUNKS: usize = 16;

/// What a download reports as it goes (for progress bars and byte counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The response arrived; its Content-Length, when sent.
    Started { expected: Option<u64> },
    /// This many more bytes arrived.
    Received(u64),
}

/// Downloads `loc` into a temp file of `archive` and verifies it against `loc.checksum`.
pub async fn download(
    http: &reqwest::Client,
    loc: &CodeLocation,
    archive: &Archive,
    max_size: u64,
) -> Result<Downloaded, FetchError> {
    download_with_progress(http, loc, archive, max_size, &|_| {}).await
}

/// [`download`], telling `progress` about the response and every chunk as it arrives.
pub async fn download_with_progress(
    http: &reqwest::Client,
    loc: &CodeLocation,
    archive: &Archive,
    max_size: u64,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Downloaded, FetchError> {
    let shown = loc.url.redacted();
    let transport = |e: reqwest::Error| FetchError::Transport {
        message: crate::http::describe(&e),
    };
    // Byte for byte as the cloud gave it: reqwest keeps an already-encoded query as it is.
    let url = reqwest::Url::parse(loc.url.expose()).map_err(|e| FetchError::Transport {
        message: format!("{shown}: not a URL: {e}"),
    })?;
    let mut resp = http.get(url).send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status { status, url: shown });
    }
    let expected_len = resp.content_length();
    progress(Progress::Started {
        expected: expected_len,
    });
    if expected_len.is_some_and(|n| n > max_size) {
        return Err(FetchError::TooLarge { limit: max_size });
    }
    let store_crc = resp
        .headers()
        .get("x-oss-hash-crc64ecma")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());

    let tmp = archive.temp_file()?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let writer = tokio::task::spawn_blocking(move || write_and_hash(tmp, rx));

    let mut received: u64 = 0;
    let mut failure = None;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                progress(Progress::Received(chunk.len() as u64));
                if received > max_size {
                    failure = Some(FetchError::TooLarge { limit: max_size });
                    break;
                }
                if tx.send(chunk).await.is_err() {
                    // The writer stopped: its own error says why.
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                failure = Some(transport(e));
                break;
            }
        }
    }
    drop(tx);
    // Always wait for the writer, so that on failure the temp file is gone when we return.
    let written = writer
        .await
        .map_err(|e| FetchError::Write(format!("writer thread: {e}")))?;
    if let Some(f) = failure {
        drop(written);
        return Err(f);
    }
    let (tmp, sha256, crc64, size) = written?;
    if let Some(expected) = expected_len.filter(|&n| n != size) {
        drop(tmp);
        return Err(FetchError::Truncated {
            expected,
            got: size,
        });
    }
    if !loc.checksum.matches(&sha256, crc64) {
        drop(tmp);
        return Err(FetchError::Mismatch {
            expected: loc.checksum,
            sha256: hex::encode(sha256),
            crc64,
            size,
        });
    }
    if let Some(header) = store_crc.filter(|&h| h != crc64) {
        drop(tmp);
        return Err(FetchError::StoreCrcMismatch { header, crc64 });
    }
    Ok(Downloaded {
        tmp,
        sha256,
        crc64,
        size,
    })
}

type Written = (tempfile::NamedTempFile, [u8; 32], u64, u64);

fn write_and_hash(
    mut tmp: tempfile::NamedTempFile,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> Result<Written, FetchError> {
    let mut sha = Sha256::new();
    let mut crc = crc64fast::Digest::new();
    let mut size = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        sha.update(&chunk);
        crc.write(&chunk);
        tmp.write_all(&chunk)
            .map_err(|e| FetchError::Write(format!("{}: {e}", tmp.path().display())))?;
        size += chunk.len() as u64;
    }
    tmp.flush()
        .map_err(|e| FetchError::Write(format!("{}: {e}", tmp.path().display())))?;
    Ok((tmp, sha.finalize().into(), crc.sum64(), size))
}

/// CRC-64/XZ of `data` in one call, as FC and OSS compute it.
pub fn crc64(data: &[u8]) -> u64 {
    let mut d = crc64fast::Digest::new();
    d.write(data);
    d.sum64()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/aliyun-fc.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn input(v: &serde_json::Value) -> Vec<u8> {
        let len = v["length"].as_u64().unwrap_or(0) as usize;
        match v["kind"].as_str().unwrap() {
            "ascii" => v["text"].as_str().unwrap().as_bytes().to_vec(),
            "zeros" => vec![0; len],
            "i_mod_251" => (0..len).map(|i| (i % 251) as u8).collect(),
            other => panic!("unknown crc64 vector input kind {other}"),
        }
    }

    #[test]
    fn crc64_reproduces_every_vector() {
        let v = vectors();
        let list = v["crc64"]["vectors"].as_array().unwrap();
        assert!(!list.is_empty());
        for case in list {
            let data = input(&case["input"]);
            let got = crc64(&data);
            assert_eq!(
                got.to_string(),
                case["crc64_decimal"].as_str().unwrap(),
                "{}",
                case["input"]["description"]
            );
            assert_eq!(format!("{got:016x}"), case["crc64_hex"].as_str().unwrap());
        }
        let check = &v["crc64"]["check_value_123456789"];
        assert_eq!(
            crc64(b"123456789").to_string(),
            check["decimal"].as_str().unwrap()
        );
    }

    #[test]
    fn crc64_of_chunks_equals_crc64_of_the_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut d = crc64fast::Digest::new();
        for chunk in data.chunks(1234) {
            d.write(chunk);
        }
        assert_eq!(d.sum64(), crc64(&data));
    }
}
