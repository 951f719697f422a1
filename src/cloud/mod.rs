//! The common face of the two clouds: what a function is ([`Target`]), where its code package
//! is ([`CodeLocation`]) and how a call can fail ([`CloudError`]).
//!
//! Owns: the choice of client per account. Only `cloud::tencent` and `cloud::aliyun` build and
//! sign API requests (architecture invariant); everything above them sees [`Client::resolve`].

pub mod aliyun;
pub mod listed;
pub mod tencent;
pub mod versions;

use std::fmt;
use std::sync::Arc;

use crate::config::{Account, AccountKind, Credentials};
use crate::secret::SecretUrl;

pub use crate::model::{Checksum, Cloud, NO_SCOPE, Target, canonical_qualifier, latest_alias};

/// Where the current package of a function can be downloaded, and what it must hash to.
#[derive(Debug, Clone)]
pub struct CodeLocation {
    pub url: SecretUrl,
    pub checksum: Checksum,
    pub request_id: Option<String>,
}

/// How the caller should treat a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttled, 5xx, timeout, connection reset: trying again later may succeed.
    Retryable,
    /// The function is being deployed right now (SCF `FailedOperation.FunctionStatusError`).
    Deploying,
    /// The function, service, namespace or version does not exist (any more).
    NotFound,
    /// Bad keys, no permission, invalid parameters: retrying will not help.
    Permanent,
}

/// A failed cloud API call, with everything an operator needs to look it up with the cloud,
/// and nothing secret.
#[derive(Debug, Clone, thiserror::Error)]
pub struct CloudError {
    pub kind: ErrorKind,
    pub cloud: Cloud,
    /// The cloud's error code (`ResourceNotFound.Function`, `SignatureNotMatch`, …).
    pub code: Option<String>,
    pub message: String,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
    /// How long the cloud asked us to wait (`Retry-After`), if it said.
    pub retry_after: Option<std::time::Duration>,
}

impl CloudError {
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Retryable | ErrorKind::Deploying)
    }

    /// An error that happened before or outside the cloud's answer (network, timeout).
    pub fn transport(cloud: Cloud, err: &reqwest::Error) -> CloudError {
        CloudError {
            kind: ErrorKind::Retryable,
            cloud,
            code: None,
            message: crate::http::describe(err),
            http_status: None,
            request_id: None,
            retry_after: None,
        }
    }

    pub(crate) fn invalid_response(
        cloud: Cloud,
        status: u16,
        request_id: Option<String>,
        message: impl Into<String>,
    ) -> CloudError {
        CloudError {
            kind: ErrorKind::Permanent,
            cloud,
            code: None,
            message: message.into(),
            http_status: Some(status),
            request_id,
            retry_after: None,
        }
    }
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cloud.display_name())?;
        if let Some(status) = self.http_status {
            write!(f, " HTTP {status}")?;
        }
        // The code, message and request id are the server's text: one could quote a
        // presigned URL (a 3xx body, an echoing proxy), whose signature must not be shown.
        use crate::secret::redact_urls_in;
        if let Some(code) = &self.code {
            write!(f, " {}", redact_urls_in(code))?;
        }
        write!(f, ": {}", redact_urls_in(&self.message))?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {})", redact_urls_in(id))?;
        }
        Ok(())
    }
}

/// Every account's client, and why an account has none (its credentials did not resolve).
pub struct Clients {
    ready: std::collections::HashMap<String, Client>,
    unusable: std::collections::HashMap<String, String>,
}

impl Clients {
    /// One client per account with credentials; the others are kept with their reason
    /// (`Account::credential_error`), so their functions fail saying why. An account with
    /// neither was loaded without credentials: a bug of the caller, refused.
    pub fn new(
        http: &reqwest::Client,
        accounts: &[Account],
        settings: &crate::config::HttpSettings,
    ) -> Result<Clients, String> {
        let mut ready = std::collections::HashMap::new();
        let mut unusable = std::collections::HashMap::new();
        for a in accounts {
            match (&a.credentials, &a.credential_error) {
                (Some(c), _) => {
                    ready.insert(
                        a.name.clone(),
                        Client::new(http.clone(), a, c.clone(), settings.api_timeout)
                            .allowing_http_downloads(settings.allow_http_downloads),
                    );
                }
                (None, Some(why)) => {
                    tracing::error!(account = %a.name, "no usable credentials, its functions will fail: {why}");
                    unusable.insert(a.name.clone(), why.clone());
                }
                (None, None) => return Err(a.name.clone()),
            }
        }
        Ok(Clients { ready, unusable })
    }

    pub fn get(&self, account: &str) -> Option<&Client> {
        self.ready.get(account)
    }

    /// Why `account` has no client, for its functions' failures.
    pub fn why_not(&self, account: &str) -> String {
        match self.unusable.get(account) {
            Some(why) => format!("account `{account}` has no usable credentials: {why}"),
            None => format!("no client for account `{account}`"),
        }
    }
}

/// The URL to download a package from, given the one the cloud answered: https as is; plain
/// http upgraded to https when the host is the cloud's own object storage (`*.myqcloud.com`
/// for COS, `*.aliyuncs.com` for OSS, which serve the same presigned URL over TLS: the
/// signature does not cover the scheme); plain http kept for a loopback host (the simulator,
/// test servers); any other plain http refused unless `[http] allow_http_downloads = true`.
/// FC's CRC-64 is forgeable, so a package fetched in clear could be swapped unnoticed.
pub fn download_url(url: &str, allow_http: bool) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("download URL is not a URL: {e}"))?;
    if parsed.scheme() == "https" {
        return Ok(url.to_string());
    }
    let storage = parsed
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .is_some_and(|h| h.ends_with(".myqcloud.com") || h.ends_with(".aliyuncs.com"));
    // Only the scheme changes: the rest stays byte for byte (the signature covers it). An
    // explicit port would mean plain http on purpose; it is treated like any other host.
    let rest = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..]);
    if let Some(rest) = rest
        && storage
        && parsed.port().is_none()
    {
        return Ok(format!("https://{rest}"));
    }
    if crate::http::is_loopback(&parsed) || allow_http {
        return Ok(url.to_string());
    }
    Err(format!(
        "download URL is plain http on `{}`, which is neither loopback nor the cloud's object \
         storage; refused (set [http] allow_http_downloads = true to accept it)",
        parsed.host_str().unwrap_or_default()
    ))
}

/// The client of one configured account: its cloud's API, paced by the account's rate limit.
#[derive(Debug, Clone)]
pub struct Client {
    api: Api,
    /// `[http] allow_http_downloads`: see [`download_url`].
    allow_http_downloads: bool,
    /// Shared by every call to this account, whatever the concurrency.
    limiter: Option<Arc<governor::DefaultDirectRateLimiter>>,
}

/// One client per API generation: an Alibaba account serves FC 2.0 and FC 3.0 functions alike,
/// each through its own API.
#[derive(Debug, Clone)]
enum Api {
    Tencent(tencent::Client),
    Aliyun {
        fc2: aliyun::Client,
        fc3: aliyun::fc3::Client,
    },
}

impl Client {
    /// The client of `account`, which must have been loaded with its credentials.
    pub fn new(
        http: reqwest::Client,
        account: &Account,
        credentials: Credentials,
        api_timeout: std::time::Duration,
    ) -> Client {
        let api = match &account.kind {
            AccountKind::Tencent => Api::Tencent(tencent::Client::new(
                http,
                &account.endpoint,
                credentials,
                api_timeout,
            )),
            AccountKind::Aliyun {
                account_id,
                signature,
            } => Api::Aliyun {
                fc2: aliyun::Client::new(
                    http.clone(),
                    &account.endpoint,
                    account_id,
                    *signature,
                    credentials.clone(),
                    api_timeout,
                ),
                // FC 3.0 has one signature, ACS3; `signature = "fc"` concerns 2.0 only.
                fc3: aliyun::fc3::Client::new(
                    http,
                    &account.endpoint,
                    account_id,
                    credentials,
                    api_timeout,
                ),
            },
        };
        Client {
            api,
            allow_http_downloads: false,
            limiter: rate_limiter(account.requests_per_second),
        }
    }

    /// Accepts plain-http download URLs from any host (`[http] allow_http_downloads`).
    pub fn allowing_http_downloads(mut self, allow: bool) -> Client {
        self.allow_http_downloads = allow;
        self
    }

    /// Waits until this account may receive another API request.
    pub async fn pace(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }

    /// Asks the cloud where the target's current package is and what it must hash to. The
    /// caller paces with [`Client::pace`] first.
    pub async fn resolve(&self, target: &Target) -> Result<CodeLocation, CloudError> {
        let mut location = match &self.api {
            Api::Tencent(c) => {
                c.get_function_address(
                    &target.region,
                    &target.namespace,
                    &target.name,
                    target.qualifier.as_deref(),
                )
                .await
            }
            Api::Aliyun { fc3, .. } if target.is_fc3() => {
                fc3.get_function_code(&target.region, &target.name, target.qualifier.as_deref())
                    .await
            }
            Api::Aliyun { fc2, .. } => {
                fc2.get_function_code(
                    &target.region,
                    &target.namespace,
                    &target.name,
                    target.qualifier.as_deref(),
                )
                .await
            }
        }?;
        // The per-cloud clients accept only http(s); which http is followed is decided here.
        match download_url(location.url.expose(), self.allow_http_downloads) {
            Ok(url) => location.url = crate::secret::SecretUrl::new(url),
            Err(message) => {
                return Err(CloudError::invalid_response(
                    target.cloud,
                    200,
                    location.request_id.clone(),
                    message,
                ));
            }
        }
        Ok(location)
    }
}

impl Client {
    /// Asks the cloud where one layer version's zip is and what it must hash to (SCF
    /// `GetLayerVersion`: SHA-256; FC 2.0/3.0 `GetLayerVersion`: CRC-64), in `region`. The
    /// caller paces with [`Client::pace`] first; the address passes [`download_url`] like a
    /// package's.
    pub async fn resolve_layer(
        &self,
        target: &Target,
        region: &str,
        name: &str,
        version: &str,
    ) -> Result<CodeLocation, CloudError> {
        let mut location = match &self.api {
            Api::Tencent(c) => c.get_layer_version(region, name, version).await,
            Api::Aliyun { fc3, .. } if target.is_fc3() => {
                fc3.get_layer_version(region, name, version).await
            }
            Api::Aliyun { fc2, .. } => fc2.get_layer_version(region, name, version).await,
        }?;
        match download_url(location.url.expose(), self.allow_http_downloads) {
            Ok(url) => location.url = crate::secret::SecretUrl::new(url),
            Err(message) => {
                return Err(CloudError::invalid_response(
                    target.cloud,
                    200,
                    location.request_id.clone(),
                    message,
                ));
            }
        }
        Ok(location)
    }
}

/// At most this many `ListTriggers` pages per function: a listing that never ends is an
/// error, not a hang.
const MAX_TRIGGER_PAGES: usize = 100;

impl Client {
    /// Reads the target's configuration: SCF `GetFunction` (one call; its triggers are part
    /// of it); FC 2.0 `GetService`, `GetFunction` and `ListTriggers` (three calls, more for
    /// over 100 triggers); FC 3.0 `GetFunction` and `ListTriggers` (two). Paces every call
    /// itself. `None` is kept for a kind of function whose configuration is not read.
    pub async fn read_config(
        &self,
        target: &Target,
    ) -> Result<Option<crate::capture::ConfigAnswer>, CloudError> {
        use crate::capture::ConfigAnswer;
        let q = target.qualifier.as_deref();
        match &self.api {
            Api::Tencent(c) => {
                self.pace().await;
                let function = c
                    .get_function(&target.region, &target.namespace, &target.name, q)
                    .await?;
                Ok(Some(ConfigAnswer::Scf { function }))
            }
            Api::Aliyun { fc3, .. } if target.is_fc3() => {
                self.pace().await;
                let function = fc3.get_function(&target.region, &target.name, q).await?;
                let triggers = self
                    .all_triggers(|token| async move {
                        fc3.list_triggers(&target.region, &target.name, token.as_deref())
                            .await
                    })
                    .await?;
                Ok(Some(ConfigAnswer::Fc3 { function, triggers }))
            }
            Api::Aliyun { fc2, .. } => {
                self.pace().await;
                let service = fc2
                    .get_service(&target.region, &target.namespace, q)
                    .await?;
                self.pace().await;
                let function = fc2
                    .get_function(&target.region, &target.namespace, &target.name, q)
                    .await?;
                let triggers = self
                    .all_triggers(|token| async move {
                        fc2.list_triggers(
                            &target.region,
                            &target.namespace,
                            &target.name,
                            token.as_deref(),
                        )
                        .await
                    })
                    .await?;
                Ok(Some(ConfigAnswer::Fc2 {
                    service,
                    function,
                    triggers,
                }))
            }
        }
    }

    /// Every page of a `ListTriggers`, each paced; a repeated token or more than
    /// [`MAX_TRIGGER_PAGES`] pages is an error, not a hang.
    async fn all_triggers<F, Fut>(&self, page: F) -> Result<Vec<serde_json::Value>, CloudError>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<
                Output = Result<(Vec<serde_json::Value>, Option<String>), CloudError>,
            >,
    {
        let mut triggers = Vec::new();
        let mut token: Option<String> = None;
        for n in 0.. {
            if n == MAX_TRIGGER_PAGES {
                return Err(CloudError::invalid_response(
                    Cloud::Aliyun,
                    200,
                    None,
                    format!("ListTriggers gave more than {MAX_TRIGGER_PAGES} pages"),
                ));
            }
            self.pace().await;
            let (items, next) = page(token.clone()).await?;
            triggers.extend(items);
            match next {
                Some(t) if Some(&t) == token.as_ref() => {
                    return Err(CloudError::invalid_response(
                        Cloud::Aliyun,
                        200,
                        None,
                        "ListTriggers answered the same nextToken twice",
                    ));
                }
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(triggers)
    }
}

/// Where the next page of a listing starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Start,
    /// SCF: `Offset`.
    Offset(u64),
    /// FC: the opaque `nextToken`, sent back exactly as received.
    Token(String),
}

/// One page of a listing: names as the cloud sent them (untrusted: the caller validates them).
#[derive(Debug, Clone)]
pub struct Page {
    pub names: Vec<String>,
    /// The entries the names came from, in the same order (function listings: their change
    /// hints are read by [`listed::hint`]); may be shorter than `names` when a page was made
    /// without entries (a scope that does not exist).
    pub entries: Vec<serde_json::Value>,
    /// `None` on the last page.
    pub next: Option<Cursor>,
    pub request_id: Option<String>,
}

impl Client {
    /// The cloud's name of the listing of scopes: what `check` and errors say was called.
    pub fn scopes_action(&self) -> &'static str {
        match self.api {
            Api::Tencent(_) => "ListNamespaces",
            Api::Aliyun { .. } => "ListServices",
        }
    }

    /// One page of the account's SCF namespaces / FC services in `region`. The caller paces.
    pub async fn list_scopes(
        &self,
        region: &str,
        cursor: &Cursor,
        limit: u32,
    ) -> Result<Page, CloudError> {
        match &self.api {
            Api::Tencent(c) => c.list_namespaces(region, offset(cursor), limit).await,
            Api::Aliyun { fc2, .. } => fc2.list_services(region, token(cursor), limit).await,
        }
    }

    /// One page of the functions of one namespace/service in `region`; for an Alibaba account,
    /// [`NO_SCOPE`] lists its FC 3.0 functions (and only those). The caller paces.
    pub async fn list_functions(
        &self,
        region: &str,
        scope: &str,
        cursor: &Cursor,
        limit: u32,
    ) -> Result<Page, CloudError> {
        match &self.api {
            Api::Tencent(c) => c.list_functions(region, scope, offset(cursor), limit).await,
            Api::Aliyun { fc3, .. } if scope == NO_SCOPE => {
                fc3.list_functions(region, token(cursor), None, limit).await
            }
            Api::Aliyun { fc2, .. } => {
                fc2.list_functions(region, scope, token(cursor), limit)
                    .await
            }
        }
    }
}

fn offset(c: &Cursor) -> u64 {
    match c {
        Cursor::Offset(n) => *n,
        _ => 0,
    }
}

fn token(c: &Cursor) -> Option<&str> {
    match c {
        Cursor::Token(t) => Some(t),
        _ => None,
    }
}

/// Requests evenly spaced at 1/n s with no burst, so no one-second window ever holds more than
/// n requests (a burst allowance would let 2n through in the first second). The 2 % margin
/// absorbs requests that leave together and arrive bunched.
fn rate_limiter(per_second: u32) -> Option<Arc<governor::DefaultDirectRateLimiter>> {
    if per_second == 0 {
        return None;
    }
    let period = std::time::Duration::from_secs_f64(1.02 / f64::from(per_second));
    let quota = governor::Quota::with_period(period)?.allow_burst(std::num::NonZeroU32::MIN);
    Some(Arc::new(governor::RateLimiter::direct(quota)))
}

/// Reads an API response body, refusing more than `limit` bytes: an API answer is small, and a
/// hostile or broken endpoint must not make fnvault buffer gigabytes.
pub(crate) async fn read_capped(
    cloud: Cloud,
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, CloudError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| CloudError::transport(cloud, &e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(CloudError::invalid_response(
                cloud,
                resp.status().as_u16(),
                None,
                format!("response body larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Retry-After: <seconds>` (the HTTP-date form is not used by these APIs), capped at 5 min so
/// a broken header cannot stall a sweep.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let secs: u64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::Duration::from_secs(secs.min(300)))
}

/// The largest API response fnvault reads.
pub(crate) const API_BODY_LIMIT: usize = 1 << 20;

/// `Host` as reqwest will send it for `url`: the host, plus the port when it is not the
/// scheme's default. The signers must sign exactly this value.
pub(crate) fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review X2: http download URLs were accepted from any host.
    #[test]
    fn http_downloads_are_upgraded_on_object_storage_and_refused_elsewhere() {
        let cos =
            "http://lambdacode-1250000000.cos.ap-guangzhou.myqcloud.com/a%2Fb.zip?sign=q%3D&t=1";
        assert_eq!(
            download_url(cos, false).unwrap(),
            "https://lambdacode-1250000000.cos.ap-guangzhou.myqcloud.com/a%2Fb.zip?sign=q%3D&t=1"
        );
        let oss = "HTTP://fc-code.oss-cn-hangzhou.aliyuncs.com/x.zip?Signature=a%2Bb";
        assert_eq!(
            download_url(oss, false).unwrap(),
            "https://fc-code.oss-cn-hangzhou.aliyuncs.com/x.zip?Signature=a%2Bb"
        );
        let https = "https://b.cos.ap-guangzhou.myqcloud.com/x.zip?sign=1";
        assert_eq!(download_url(https, false).unwrap(), https);
        // Loopback stays as it is: the simulator and test servers live there.
        for local in [
            "http://127.0.0.1:4000/cos/x.zip?sign=1",
            "http://[::1]:4000/x",
            "http://localhost:4000/x",
        ] {
            assert_eq!(download_url(local, false).unwrap(), local);
        }
        for foreign in [
            "http://downloads.example.com/x.zip?sign=1",
            "http://10.0.0.8/x.zip",
            "http://evilmyqcloud.com/x.zip",
            "http://myqcloud.com.evil.example/x.zip",
            "http://b.cos.ap-guangzhou.myqcloud.com:8080/x.zip",
        ] {
            let e = download_url(foreign, false).unwrap_err();
            assert!(e.contains("allow_http_downloads"), "{foreign}: {e}");
            assert!(!e.contains("sign="), "{e}");
            assert_eq!(download_url(foreign, true).unwrap(), foreign);
        }
        assert!(download_url("not a url", true).is_err());
    }
}
