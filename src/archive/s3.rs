//! A small S3 client for the archive on object storage: AWS Signature V4 over the process's
//! one HTTP client, and only the calls the archive needs (PutObject create-only, HeadObject,
//! GetObject, ListObjectsV2, CopyObject, DeleteObject).
//!
//! Why not opendal: it would add a large dependency tree to a 2-core build for six calls, and
//! its writer hides the request headers this archive must control (`If-None-Match: *`,
//! `x-amz-checksum-sha256`, the signed payload hash). See ARCHITECTURE.md.
//!
//! The archive's callers are synchronous (blocking-pool threads and read-only commands), so
//! every call runs on one small runtime of its own, owned by the process ([`runtime`]) and
//! waited for on the calling thread: the caller may or may not be inside another runtime.
//!
//! Secrets: the secret key is only used to derive the signing key; no URL this client builds
//! holds a signature (the signature is in the `Authorization` header), and errors name the
//! bucket, key, HTTP status and the store's error code, never a header value.

use std::future::Future;
use std::path::Path;
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// Where and how to reach one bucket (from `[archive]` or a `[[mirrors]]` entry).
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `s3://bucket/prefix`, as configured (for messages).
    pub url: String,
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// `https://host[:port]` (or `http://` for a store on this machine).
    pub endpoint: url::Url,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, SeaweedFS).
    pub path_style: bool,
}

/// A failed call: what was asked, of which object, and what the store answered.
#[derive(Debug, thiserror::Error)]
#[error("{what} {url}: {detail}")]
pub struct S3Error {
    pub what: &'static str,
    /// `s3://bucket/key` (never a signed URL).
    pub url: String,
    pub detail: String,
    /// The HTTP status, when the store answered.
    pub status: Option<u16>,
    /// The store's error code (`AccessDenied`, `PreconditionFailed`, …), when it sent one.
    pub code: Option<String>,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The key under the configured prefix (the prefix and its `/` removed).
    pub name: String,
    pub size: u64,
}

/// What HeadObject reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    /// `x-cos-hash-crc64ecma` / `x-oss-hash-crc64ecma`, when the store sends one.
    pub crc64: Option<u64>,
}

/// The bucket client.
#[derive(Debug, Clone)]
pub struct S3 {
    settings: std::sync::Arc<S3Settings>,
    http: reqwest::Client,
}

/// The process's runtime for object-storage calls: two workers, never dropped (dropping a
/// runtime inside another one panics, and the archive is dropped wherever its owner is).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fnvault-s3")
            .enable_all()
            .build()
            // No runtime means no archive at all; there is nothing to fall back to.
            .unwrap_or_else(|e| panic!("cannot start the object-storage runtime: {e}"))
    })
}

/// Runs `fut` on [`runtime`] and waits for it on this thread.
fn block<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    match rx.recv() {
        Ok(v) => v,
        // Only if the task panicked: surface it here rather than hang.
        Err(_) => panic!("an object-storage call panicked"),
    }
}

/// Runs the call `make` builds, again after 0.2 s, 0.6 s and 1.8 s when it fails in a way that
/// may pass (no answer, or a 5xx: a store restarting, a volume not yet loaded). A 4xx is the
/// store's decision and is returned at once.
fn retry<T, F, Fut>(make: F) -> Result<T, S3Error>
where
    T: Send + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, S3Error>> + Send + 'static,
{
    let mut delay = std::time::Duration::from_millis(200);
    for attempt in 1.. {
        match block(make()) {
            Err(e) if attempt < 4 && e.status.is_none_or(|s| s >= 500) => {
                tracing::debug!("{e}; trying again");
                std::thread::sleep(delay);
                delay *= 3;
            }
            r => return r,
        }
    }
    unreachable!("the loop returns")
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl S3 {
    pub fn new(settings: S3Settings, http: reqwest::Client) -> S3 {
        S3 {
            settings: std::sync::Arc::new(settings),
            http,
        }
    }

    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    /// The full object key of `name` (a path under the prefix).
    fn key(&self, name: &str) -> String {
        if self.settings.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.settings.prefix)
        }
    }

    /// `s3://bucket/prefix/name`, for messages.
    pub fn display(&self, name: &str) -> String {
        format!("s3://{}/{}", self.settings.bucket, self.key(name))
    }

    fn err(&self, what: &'static str, name: &str, detail: impl Into<String>) -> S3Error {
        S3Error {
            what,
            url: self.display(name),
            detail: detail.into(),
            status: None,
            code: None,
        }
    }

    /// The request URL (no query) and the canonical URI of an object key (`None`: the bucket).
    fn url_for(&self, key: Option<&str>) -> (url::Url, String) {
        let s = &self.settings;
        let mut path = String::new();
        if s.path_style {
            path.push('/');
            path.push_str(&uri_encode(&s.bucket, false));
        }
        path.push('/');
        if let Some(key) = key {
            path.push_str(&uri_encode(key, true));
        }
        let mut url = s.endpoint.clone();
        if !s.path_style {
            let host = format!("{}.{}", s.bucket, s.endpoint.host_str().unwrap_or_default());
            // A bucket name that cannot be a host label is refused by the config check.
            let _ = url.set_host(Some(&host));
        }
        url.set_path(&path);
        (url, path)
    }

    /// The create-only headers of a write: `If-None-Match: *` for every store, and on Alibaba
    /// OSS (`*.aliyuncs.com`) and Tencent COS (`*.myqcloud.com`) endpoints also their own
    /// `x-oss-forbid-overwrite` / `x-cos-forbid-overwrite`, which those stores document for
    /// PutObject (a store that ignored `If-None-Match` would still refuse). Other stores get
    /// only the standard header: some ignore unknown ones silently.
    fn create_only_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![("if-none-match", "*".to_string())];
        if let Some(name) = forbid_overwrite_header(&self.settings.endpoint) {
            h.push((name, "true".to_string()));
        }
        h
    }

    /// Whether `status` from a create-only write means "the name is taken": 412 for
    /// `If-None-Match`, 409 for OSS's and COS's forbid-overwrite (`FileAlreadyExists`,
    /// `PathConflict`) when that header was sent.
    fn taken(&self, status: u16) -> bool {
        status == 412
            || (status == 409 && forbid_overwrite_header(&self.settings.endpoint).is_some())
    }

    /// Signs and sends one request; `body` is `None` for an empty body.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        self,
        method: reqwest::Method,
        key: Option<String>,
        query: Vec<(String, String)>,
        extra: Vec<(&'static str, String)>,
        payload_sha256: String,
        body: Option<(reqwest::Body, u64)>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let (mut url, canonical_uri) = self.url_for(key.as_deref());
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        q.sort();
        let canonical_query = q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        if !canonical_query.is_empty() {
            url.set_query(Some(&canonical_query));
        }
        let now = chrono::Utc::now();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = now.format("%Y%m%d").to_string();
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("x-amz-content-sha256".into(), payload_sha256.clone()),
            ("x-amz-date".into(), amz_date.clone()),
        ];
        if let Some(token) = &self.settings.session_token {
            headers.push(("x-amz-security-token".into(), token.expose().to_string()));
        }
        for (k, v) in &extra {
            headers.push((k.to_string(), v.trim().to_string()));
        }
        headers.sort();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!(
            "{}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed}\n{payload_sha256}",
            method.as_str()
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.settings.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut k = hmac(
            format!("AWS4{}", self.settings.secret_access_key.expose()).as_bytes(),
            date.as_bytes(),
        );
        for part in [self.settings.region.as_bytes(), b"s3", b"aws4_request"] {
            k = hmac(&k, part);
        }
        let signature = hex::encode(hmac(&k, to_sign.as_bytes()));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.settings.access_key_id
        );
        let mut req = self.http.request(method, url);
        for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
            req = req.header(k.as_str(), v.as_str());
        }
        req = req.header("authorization", auth);
        if let Some((body, len)) = body {
            req = req.header("content-length", len).body(body);
        }
        req.send().await
    }

    /// Turns a non-2xx answer into an error with the store's code and message.
    async fn refused(&self, what: &'static str, name: &str, resp: reqwest::Response) -> S3Error {
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-amz-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_capped(resp, 64 * 1024).await.unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        let code = xml_text(&body, "Code");
        let message = xml_text(&body, "Message");
        let mut detail = format!("HTTP {status}");
        if let Some(c) = &code {
            detail.push_str(&format!(" {c}"));
        }
        if let Some(m) = message {
            detail.push_str(&format!(": {}", printable(&m)));
        }
        if let Some(r) = request_id {
            detail.push_str(&format!(" (request id {})", printable(&r)));
        }
        S3Error {
            what,
            url: self.display(name),
            detail,
            status: Some(status),
            code,
        }
    }

    fn transport(&self, what: &'static str, name: &str, e: &reqwest::Error) -> S3Error {
        self.err(what, name, crate::http::describe(e))
    }

    /// A request without a body (every call but the upload); a failure to get an answer is
    /// named by `what` and `name`.
    async fn send_empty(
        &self,
        method: reqwest::Method,
        key: Option<String>,
        query: Vec<(String, String)>,
        extra: Vec<(&'static str, String)>,
        what: &'static str,
        name: &str,
    ) -> Result<reqwest::Response, S3Error> {
        self.clone()
            .send(method, key, query, extra, EMPTY_SHA256.to_string(), None)
            .await
            .map_err(|e| self.transport(what, name, &e))
    }

    /// Uploads the file at `path` (`size` bytes, SHA-256 `sha256_hex`, already verified) as
    /// `name`, create-only. The payload hash is signed and `x-amz-checksum-sha256` is sent, so a
    /// store that checks either refuses bytes changed on the way. `Ok(false)`: the name was
    /// taken (`412 PreconditionFailed`) and nothing was written.
    pub fn put_file_create_only(
        &self,
        name: &str,
        path: &Path,
        size: u64,
        sha256_hex: &str,
    ) -> Result<bool, S3Error> {
        let this = self.clone();
        let name = name.to_string();
        let path = path.to_path_buf();
        let sha = sha256_hex.to_string();
        retry(move || {
            let (this, name, path, sha) = (this.clone(), name.clone(), path.clone(), sha.clone());
            async move {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| this.err("upload", &name, format!("{}: {e}", path.display())))?;
                let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
                let body = reqwest::Body::wrap_stream(stream);
                let checksum = base64_of_hex(&sha);
                let resp = this
                    .clone()
                    .send(
                        reqwest::Method::PUT,
                        Some(this.key(&name)),
                        Vec::new(),
                        [
                            this.create_only_headers(),
                            vec![
                                ("x-amz-checksum-sha256", checksum),
                                ("content-type", "application/octet-stream".to_string()),
                            ],
                        ]
                        .concat(),
                        sha,
                        Some((body, size)),
                    )
                    .await
                    .map_err(|e| this.transport("upload", &name, &e))?;
                match resp.status().as_u16() {
                    200..=299 => Ok(true),
                    s if this.taken(s) => Ok(false),
                    _ => Err(this.refused("upload", &name, resp).await),
                }
            }
        })
    }

    /// Writes small bytes as `name`; `create_only` sends `If-None-Match: *` (`Ok(false)`: taken).
    pub fn put_bytes(
        &self,
        name: &str,
        bytes: Vec<u8>,
        create_only: bool,
    ) -> Result<bool, S3Error> {
        let this = self.clone();
        let name = name.to_string();
        retry(move || {
            let (this, name, bytes) = (this.clone(), name.clone(), bytes.clone());
            async move {
                let sha = hex::encode(Sha256::digest(&bytes));
                let mut extra = vec![("x-amz-checksum-sha256", base64_of_hex(&sha))];
                if create_only {
                    extra.extend(this.create_only_headers());
                }
                let len = bytes.len() as u64;
                let resp = this
                    .clone()
                    .send(
                        reqwest::Method::PUT,
                        Some(this.key(&name)),
                        Vec::new(),
                        extra,
                        sha,
                        Some((reqwest::Body::from(bytes), len)),
                    )
                    .await
                    .map_err(|e| this.transport("upload", &name, &e))?;
                match resp.status().as_u16() {
                    200..=299 => Ok(true),
                    s if create_only && this.taken(s) => Ok(false),
                    _ => Err(this.refused("upload", &name, resp).await),
                }
            }
        })
    }

    /// The object's size (and CRC-64, where the store reports one); `None` when it does not exist.
    pub fn head(&self, name: &str) -> Result<Option<Head>, S3Error> {
        let this = self.clone();
        let name = name.to_string();
        retry(move || {
            let (this, name) = (this.clone(), name.clone());
            async move {
                let resp = this
                    .send_empty(
                        reqwest::Method::HEAD,
                        Some(this.key(&name)),
                        Vec::new(),
                        Vec::new(),
                        "HEAD",
                        &name,
                    )
                    .await?;
                match resp.status().as_u16() {
                    200..=299 => {
                        let h = resp.headers();
                        let size = h
                            .get("content-length")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .ok_or_else(|| {
                                this.err("HEAD", &name, "the answer has no Content-Length")
                            })?;
                        let crc64 = ["x-cos-hash-crc64ecma", "x-oss-hash-crc64ecma"]
                            .iter()
                            .find_map(|k| h.get(*k))
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok());
                        Ok(Some(Head { size, crc64 }))
                    }
                    404 => Ok(None),
                    status => Err(S3Error {
                        status: Some(status),
                        ..this.err("HEAD", &name, format!("HTTP {status}"))
                    }),
                }
            }
        })
    }

    /// Streams the object (or `range` = first..=last byte) into `out`; `Ok(None)` when it
    /// does not exist. Memory stays at one chunk: each arrives and is written before the next.
    pub fn get_to(
        &self,
        name: &str,
        range: Option<(u64, u64)>,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<Option<u64>, S3Error> {
        // The network side runs on the S3 runtime; chunks come back through a bounded channel
        // and are written here, on the caller's thread.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<bytes::Bytes, S3Error>>(8);
        let this = self.clone();
        let owned = name.to_string();
        let status = retry(|| {
            let (tx, this, owned) = (tx.clone(), this.clone(), owned.clone());
            async move {
                let mut extra = Vec::new();
                if let Some((a, b)) = range {
                    extra.push(("range", format!("bytes={a}-{b}")));
                }
                let resp = this
                    .send_empty(
                        reqwest::Method::GET,
                        Some(this.key(&owned)),
                        Vec::new(),
                        extra,
                        "download",
                        &owned,
                    )
                    .await?;
                match resp.status().as_u16() {
                    200..=299 => {}
                    404 => return Ok(false),
                    _ => return Err(this.refused("download", &owned, resp).await),
                }
                // The body is pumped by a task of its own, so this call returns and the
                // caller starts writing while it runs.
                runtime().spawn(async move {
                    let mut resp = resp;
                    loop {
                        match resp.chunk().await {
                            Ok(Some(c)) => {
                                let tx = tx.clone();
                                if tokio::task::spawn_blocking(move || tx.send(Ok(c)).is_ok())
                                    .await
                                    .map_or(true, |sent| !sent)
                                {
                                    return;
                                }
                            }
                            Ok(None) => return,
                            Err(e) => {
                                let _ = tx.send(Err(this.transport("download", &owned, &e)));
                                return;
                            }
                        }
                    }
                });
                Ok(true)
            }
        })?;
        drop(tx);
        if !status {
            return Ok(None);
        }
        let mut total = 0u64;
        for chunk in rx {
            let chunk = chunk?;
            out.write_all(&chunk)
                .map_err(|e| self.err("download", name, format!("writing: {e}")))?;
            total += chunk.len() as u64;
        }
        Ok(Some(total))
    }

    /// A small object, whole; `None` when it does not exist.
    pub fn get_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, S3Error> {
        let mut buf = Vec::new();
        Ok(self.get_to(name, None, &mut buf)?.map(|_| buf))
    }

    /// Every object whose name starts with `under` (a name under the prefix), sorted by name.
    pub fn list(&self, under: &str) -> Result<Vec<Listed>, S3Error> {
        let this = self.clone();
        let under = under.to_string();
        retry(move || {
            let (this, under) = (this.clone(), under.clone());
            async move {
                let full = this.key(&under);
                let strip = if this.settings.prefix.is_empty() {
                    0
                } else {
                    this.settings.prefix.len() + 1
                };
                let mut out = Vec::new();
                let mut token: Option<String> = None;
                for _ in 0..1_000_000 {
                    let mut query = vec![
                        ("list-type".to_string(), "2".to_string()),
                        ("prefix".to_string(), full.clone()),
                    ];
                    if let Some(t) = &token {
                        query.push(("continuation-token".to_string(), t.clone()));
                    }
                    let resp = this
                        .send_empty(
                            reqwest::Method::GET,
                            None,
                            query,
                            Vec::new(),
                            "list",
                            &under,
                        )
                        .await?;
                    if !resp.status().is_success() {
                        return Err(this.refused("list", &under, resp).await);
                    }
                    let body = read_capped(resp, 64 << 20)
                        .await
                        .map_err(|e| this.transport("list", &under, &e))?;
                    let body = String::from_utf8_lossy(&body);
                    for item in body.split("<Contents>").skip(1) {
                        let key = xml_text(item, "Key").ok_or_else(|| {
                            this.err("list", &under, "a <Contents> without <Key>")
                        })?;
                        let size = xml_text(item, "Size")
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(|| {
                                this.err("list", &under, "a <Contents> without <Size>")
                            })?;
                        if key.len() >= strip && key.starts_with(&full) {
                            out.push(Listed {
                                name: key[strip..].to_string(),
                                size,
                            });
                        }
                    }
                    let truncated = xml_text(&body, "IsTruncated").is_some_and(|t| t == "true");
                    match xml_text(&body, "NextContinuationToken") {
                        Some(t) if truncated => {
                            if token.as_deref() == Some(t.as_str()) {
                                return Err(this.err("list", &under, "the store repeated a page"));
                            }
                            token = Some(t);
                        }
                        _ => {
                            out.sort_by(|a, b| a.name.cmp(&b.name));
                            return Ok(out);
                        }
                    }
                }
                Err(this.err("list", &under, "more than a million pages"))
            }
        })
    }

    /// Server-side copy of `from` to `to` (both names under the prefix).
    pub fn copy(&self, from: &str, to: &str) -> Result<(), S3Error> {
        let this = self.clone();
        let (from, to) = (from.to_string(), to.to_string());
        retry(move || {
            let (this, from, to) = (this.clone(), from.clone(), to.clone());
            async move {
                let source = format!(
                    "/{}/{}",
                    this.settings.bucket,
                    uri_encode(&this.key(&from), true)
                );
                let resp = this
                    .send_empty(
                        reqwest::Method::PUT,
                        Some(this.key(&to)),
                        Vec::new(),
                        vec![("x-amz-copy-source", source)],
                        "copy",
                        &to,
                    )
                    .await?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(this.refused("copy", &to, resp).await)
                }
            }
        })
    }

    /// Deletes `name` (only `prune` and the quarantine of a corrupt blob do).
    pub fn delete(&self, name: &str) -> Result<(), S3Error> {
        let this = self.clone();
        let name = name.to_string();
        retry(move || {
            let (this, name) = (this.clone(), name.clone());
            async move {
                let resp = this
                    .send_empty(
                        reqwest::Method::DELETE,
                        Some(this.key(&name)),
                        Vec::new(),
                        Vec::new(),
                        "delete",
                        &name,
                    )
                    .await?;
                if resp.status().is_success() || resp.status().as_u16() == 404 {
                    Ok(())
                } else {
                    Err(this.refused("delete", &name, resp).await)
                }
            }
        })
    }
}

/// A store's text with control characters replaced: it ends up in logs and `last_error`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn base64_of_hex(hex_str: &str) -> String {
    use base64::Engine;
    let raw = hex::decode(hex_str).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// SigV4's URI encoding: everything but `A-Z a-z 0-9 - _ . ~` (and `/` in a path) as `%XX`.
pub(crate) fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The text of the first `<tag>…</tag>` in `xml`, entities decoded.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(c) = resp.chunk().await? {
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&c[..c.len().min(room)]);
        if out.len() >= cap {
            break;
        }
    }
    Ok(out)
}

/// The store's own forbid-overwrite header, for the stores known to honour one.
fn forbid_overwrite_header(endpoint: &url::Url) -> Option<&'static str> {
    let host = endpoint.host_str()?.to_ascii_lowercase();
    if host == "aliyuncs.com" || host.ends_with(".aliyuncs.com") {
        Some("x-oss-forbid-overwrite")
    } else if host == "myqcloud.com" || host.ends_with(".myqcloud.com") {
        Some("x-cos-forbid-overwrite")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn oss_and_cos_endpoints_also_get_their_own_forbid_overwrite_header() {
        let h = |u: &str| forbid_overwrite_header(&url::Url::parse(u).unwrap());
        assert_eq!(
            h("https://oss-cn-hangzhou.aliyuncs.com"),
            Some("x-oss-forbid-overwrite")
        );
        assert_eq!(
            h("https://cos.ap-guangzhou.myqcloud.com"),
            Some("x-cos-forbid-overwrite")
        );
        assert_eq!(h("http://127.0.0.1:8333"), None);
        assert_eq!(h("https://s3.us-east-1.amazonaws.com"), None);
        // A look-alike host is not the store.
        assert_eq!(h("https://evil-aliyuncs.com.example"), None);
    }
    use super::*;

    #[test]
    fn uri_encoding_keeps_only_unreserved_bytes_and_path_slashes() {
        assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(uri_encode("a b/c", false), "a%20b%2Fc");
        assert_eq!(uri_encode("é", false), "%C3%A9");
    }

    #[test]
    fn xml_text_reads_the_first_element_and_decodes_entities() {
        let xml = "<Error><Code>AccessDenied</Code><Message>a &amp; b</Message></Error>";
        assert_eq!(xml_text(xml, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(xml_text(xml, "Message").as_deref(), Some("a & b"));
        assert_eq!(xml_text(xml, "Key"), None);
    }

    #[test]
    fn the_checksum_header_is_the_base64_of_the_raw_digest() {
        // SHA-256 of the empty string, base64: a fact of both encodings.
        assert_eq!(
            base64_of_hex(EMPTY_SHA256),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
