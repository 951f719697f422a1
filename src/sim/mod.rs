//! The built-in simulator: a fake SCF API, FC 2.0 and FC 3.0 API (`fc3`) and COS/OSS download
//! host on one 127.0.0.1 listener, used by `fnvault demo` and by the tests.
//!
//! Owns: nothing of the real product; it is a test double that behaves like the clouds where
//! fnvault can tell. Every API request's signature is checked with the server-side verifiers of
//! `verify_tc` and `verify_fc`, which share their canonicalisation with `cloud::*::sign` (which
//! reproduces the official SDK vectors), so a signing bug fails loudly.
//! Download URLs carry an HMAC "presignature" with `+`, `/` and `=` in it that must arrive
//! byte for byte, as COS and OSS require. Faults can be injected per function.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cloud::aliyun::sign as fc_sign;

mod config;
mod fc3;
mod layers;
mod listed;
mod versions;
pub use config::SimConfig;
pub use layers::LAYER_ARN_REGION;
pub mod verify_fc;
pub mod verify_tc;

/// A function deployed in the simulator, as tests refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SimFunction {
    Scf {
        region: String,
        namespace: String,
        name: String,
        /// Normalised: `$LATEST` when none is given.
        qualifier: String,
    },
    Fc {
        service: String,
        name: String,
        /// Normalised: `LATEST` when none is given.
        qualifier: String,
    },
    /// An FC 3.0 function (API 2023-03-30): no service.
    Fc3 {
        name: String,
        /// Normalised: `LATEST` when none is given.
        qualifier: String,
    },
}

impl SimFunction {
    pub fn scf(region: &str, namespace: &str, name: &str, qualifier: Option<&str>) -> Self {
        SimFunction::Scf {
            region: region.into(),
            namespace: namespace.into(),
            name: name.into(),
            qualifier: qualifier.unwrap_or("$LATEST").into(),
        }
    }

    pub fn fc(service: &str, name: &str, qualifier: Option<&str>) -> Self {
        SimFunction::Fc {
            service: service.into(),
            name: name.into(),
            qualifier: qualifier.unwrap_or("LATEST").into(),
        }
    }

    pub fn fc3(name: &str, qualifier: Option<&str>) -> Self {
        SimFunction::Fc3 {
            name: name.into(),
            qualifier: qualifier.unwrap_or("LATEST").into(),
        }
    }
}

/// A fault to inject for one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Downloads serve bytes that differ from the announced checksum.
    CorruptDownload,
    /// Downloads send half the body, then drop the connection.
    TruncateDownload,
    /// Downloads answer 403, as an expired presigned URL does.
    ExpiredUrl,
    /// API calls are throttled (SCF `RequestLimitExceeded`, FC 429 `ResourceExhausted`).
    Throttle,
    /// API calls fail on the server (SCF HTTP 502 from the gateway, FC 500).
    ServerError,
    /// SCF answers `FailedOperation.FunctionStatusError`: the function is being deployed.
    Deploying,
    /// API calls answer only after 5 s (longer than the tests' API timeout).
    Hang,
    /// Downloads dribble the body in 20 pieces, 250 ms apart (5 s in all).
    SlowDownload,
    // Hostile answers (tests of untrusted input). API and listing faults unless noted.
    /// The download URL is `file:///etc/passwd`.
    FileUrl,
    /// The download URL is plain http on a host that is neither loopback nor the cloud's
    /// object storage (`http://downloads.example.invalid/…`, which never resolves).
    ForeignHttpUrl,
    /// Fields have the wrong JSON types (`Url: 123`, `FunctionName: 7`, …).
    WrongTypes,
    /// The body is not JSON.
    MalformedJson,
    /// A 50 MB JSON body.
    HugeBody,
    /// Listing only: one listed name is `../evil`.
    BadName,
    /// Listing only: the namespace/service answers "not found" (SCF
    /// `ResourceNotFound.Namespace`, FC 404 `ServiceNotFound`), as a transient gateway answer
    /// or a wrong region endpoint would.
    ScopeNotFound,
    /// Download only: a redirect to `file:///etc/passwd`.
    RedirectScheme,
    /// Download only: a redirect to itself, forever.
    RedirectLoop,
}

impl Fault {
    fn on_download(self) -> bool {
        matches!(
            self,
            Fault::CorruptDownload
                | Fault::TruncateDownload
                | Fault::ExpiredUrl
                | Fault::SlowDownload
                | Fault::RedirectScheme
                | Fault::RedirectLoop
        )
    }
}

/// What the simulator has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// API requests whose signature verified.
    pub api_requests: u64,
    /// API requests refused for their signature or credentials.
    pub rejected_requests: u64,
    /// Package downloads served (whole bodies).
    pub downloads: u64,
}

#[derive(Clone)]
struct Package {
    bytes: Bytes,
    sha256: [u8; 32],
    crc64: u64,
}

#[derive(Default)]
struct Inner {
    tencent_keys: HashMap<String, (String, Option<String>)>,
    aliyun_keys: HashMap<String, (String, Option<String>)>,
    aliyun_account_id: Option<String>,
    functions: HashMap<SimFunction, usize>,
    packages: Vec<Package>,
    /// Each fault with how many more requests it hits.
    faults: HashMap<SimFunction, (Fault, u32)>,
    /// When each verified API request arrived, for rate-limit tests.
    api_times: Vec<std::time::Instant>,
    stats: Stats,
    downloads_by_function: HashMap<SimFunction, u64>,
    /// Which function each package id was last handed out for (fault lookup on download).
    package_owner: HashMap<usize, SimFunction>,
    /// At most this many items per listing page, whatever the client asks (tests of paging).
    page_limit: Option<usize>,
    /// Faults of listing calls, with how many more calls they hit.
    listing_faults: HashMap<ListScope, (Fault, u32)>,
    /// A function deleted once this many more SCF `ListFunctions` pages have been served: a
    /// deletion in the middle of an offset-paged listing.
    remove_after_pages: Option<(SimFunction, u32)>,
    /// Session/security tokens that arrived with verified API requests.
    tokens_seen: Vec<String>,
    /// Configurations served by the configuration calls (`config.rs`); default when absent.
    configs: HashMap<SimFunction, config::SimConfig>,
    /// Deployed layer versions: (name, version) → package id (`layers.rs`).
    layers: HashMap<layers::LayerId, usize>,
    /// Which layer version each layer package id is.
    layer_owner: HashMap<usize, layers::LayerId>,
    layer_faults: HashMap<layers::LayerId, (Fault, u32)>,
    layer_downloads: HashMap<layers::LayerId, u64>,
    /// `GetLayerVersion` calls answered, any cloud.
    layer_calls: u64,
    /// Published versions and aliases, by function without qualifier (`versions.rs`).
    histories: HashMap<SimFunction, versions::History>,
    /// Each function's modified time, in seconds of `clock` (`listed.rs`).
    modified: HashMap<SimFunction, u64>,
    clock: u64,
    /// Verified API requests per action (`listed.rs`).
    by_action: HashMap<String, u64>,
    /// Per-action rate limits (`cloud:action` → limit, arrivals in the last second).
    rate_limits: HashMap<String, (u32, std::collections::VecDeque<std::time::Instant>)>,
    throttled: u64,
    /// Bumped whenever a function is added or removed: the sorted name lists of the listings
    /// are reused until then (a 100,000-function listing must not sort the fleet per page).
    generation: u64,
    /// Per listing (`scf:<region>:<namespace>`, `fc:<service>`): the generation it was made
    /// at, the scopes and the names.
    sorted: HashMap<String, SortedListing>,
}

/// A listing's generation, its scopes and its names, sorted (`Inner::sorted`).
type SortedListing = (u64, Arc<Vec<String>>, Arc<Vec<String>>);

/// One listing call of the simulator, for fault injection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListScope {
    ScfNamespaces {
        region: String,
    },
    ScfFunctions {
        region: String,
        namespace: String,
    },
    FcServices,
    FcFunctions {
        service: String,
    },
    /// FC 3.0 `ListFunctions` (all of a region's functions).
    Fc3Functions,
    /// The published versions of one function (without qualifier).
    Versions {
        function: SimFunction,
    },
    /// The aliases of one function (without qualifier).
    Aliases {
        function: SimFunction,
    },
}

struct Shared {
    inner: Mutex<Inner>,
    /// Key of the fake presigned URLs.
    url_key: [u8; 32],
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn take_listing_fault(&mut self, scope: &ListScope) -> Option<Fault> {
        let (fault, left) = self.listing_faults.get_mut(scope)?;
        let fault = *fault;
        if *left != u32::MAX {
            *left -= 1;
            if *left == 0 {
                self.listing_faults.remove(scope);
            }
        }
        Some(fault)
    }

    /// The fault to apply to this request of `f`, if any, counting it down.
    fn take_fault(&mut self, f: &SimFunction, download: bool) -> Option<Fault> {
        let (fault, left) = self.faults.get_mut(f)?;
        if fault.on_download() != download {
            return None;
        }
        let fault = *fault;
        if *left != u32::MAX {
            *left -= 1;
            if *left == 0 {
                self.faults.remove(f);
            }
        }
        Some(fault)
    }
}

/// The API-level faults, answered in each cloud's own way; `None` means answer normally.
async fn api_fault(fault: Option<Fault>, scf: bool) -> Option<Response> {
    match fault? {
        Fault::Hang => {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            None
        }
        Fault::Throttle if scf => Some(scf_error("RequestLimitExceeded", "request limit exceeded")),
        Fault::Throttle => Some(fc_error(429, "ResourceExhausted", "limit exceeded")),
        Fault::ServerError if scf => Some((StatusCode::BAD_GATEWAY, "bad gateway").into_response()),
        Fault::ServerError => Some(fc_error(500, "InternalServerError", "please retry")),
        Fault::Deploying if scf => Some(scf_error(
            "FailedOperation.FunctionStatusError",
            "the function is being updated",
        )),
        Fault::ScopeNotFound if scf => Some(scf_error(
            "ResourceNotFound.Namespace",
            "namespace does not exist",
        )),
        Fault::ScopeNotFound => Some(fc_error(404, "ServiceNotFound", "service not found")),
        _ => None,
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Simulator {
    /// Starts on 127.0.0.1 with a free port.
    pub async fn start() -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(Simulator::serve(listener))
    }

    /// Serves on an already bound listener (the caller chose the address).
    pub fn serve(listener: tokio::net::TcpListener) -> Simulator {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            url_key: rand::random(),
        });
        let app = Router::new()
            .route("/", post(scf_api))
            .route(
                "/2021-04-06/services/{service}/functions/{function}/code",
                get(fc_get_function_code),
            )
            .route("/2021-04-06/services", get(fc_list_services))
            .route(
                "/2021-04-06/services/{service}",
                get(config::fc_get_service),
            )
            .route(
                "/2021-04-06/services/{service}/functions/{function}",
                get(config::fc_get_function),
            )
            .route(
                "/2021-04-06/services/{service}/functions/{function}/triggers",
                get(config::fc_list_triggers),
            )
            .route(
                "/2021-04-06/services/{service}/functions",
                get(fc_list_functions),
            )
            .route("/2023-03-30/functions", get(fc3::list_functions))
            .route(
                "/2023-03-30/functions/{function}/code",
                get(fc3::get_function_code),
            )
            .route("/2023-03-30/functions/{function}", get(fc3::get_function))
            .route(
                "/2023-03-30/functions/{function}/triggers",
                get(fc3::list_triggers),
            )
            .route(
                "/2021-04-06/layers/{name}/versions/{version}",
                get(layers::fc_get_layer_version),
            )
            .route(
                "/2023-03-30/layers/{name}/versions/{version}",
                get(layers::fc3_get_layer_version),
            )
            .route(
                "/2021-04-06/services/{service}/versions",
                get(versions::fc2_list_versions),
            )
            .route(
                "/2021-04-06/services/{service}/aliases",
                get(versions::fc2_list_aliases),
            )
            .route(
                "/2023-03-30/functions/{function}/versions",
                get(versions::fc3_list_versions),
            )
            .route(
                "/2023-03-30/functions/{function}/aliases",
                get(versions::fc3_list_aliases),
            )
            .route("/cos/{id}", get(download))
            .route("/oss/{id}", get(download))
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("simulator stopped: {e}");
            }
        });
        Simulator {
            addr,
            shared,
            stop: Some(stop),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the endpoint for both clouds' accounts in a config.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Accepts SCF requests signed with this key pair (and, if given, this session token).
    pub fn add_tencent_key(&self, secret_id: &str, secret_key: &str, token: Option<&str>) {
        self.shared.lock().tencent_keys.insert(
            secret_id.to_string(),
            (secret_key.to_string(), token.map(str::to_string)),
        );
    }

    /// Accepts FC requests signed with this key pair (and, if given, this security token).
    pub fn add_aliyun_key(&self, key_id: &str, secret: &str, token: Option<&str>) {
        self.shared.lock().aliyun_keys.insert(
            key_id.to_string(),
            (secret.to_string(), token.map(str::to_string)),
        );
    }

    /// FC requests that name an account (`x-fc-account-id`) must name this one.
    pub fn set_aliyun_account_id(&self, account_id: &str) {
        self.shared.lock().aliyun_account_id = Some(account_id.to_string());
    }

    /// Deploys (or redeploys) a function's code package.
    pub fn deploy(&self, f: &SimFunction, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        let package = Package {
            sha256: crate::fetch::sha256(&bytes),
            crc64: crate::fetch::crc64(&bytes),
            bytes,
        };
        let mut inner = self.shared.lock();
        inner.packages.push(package);
        let id = inner.packages.len() - 1;
        if inner.functions.insert(f.clone(), id).is_none() {
            inner.generation += 1;
        }
        inner.touch(f);
    }

    /// Deletes a function: its API calls answer "not found" from now on.
    pub fn remove(&self, f: &SimFunction) {
        let mut inner = self.shared.lock();
        inner.functions.remove(f);
        inner.generation += 1;
    }

    /// Injects `fault` for every request of `f` until cleared.
    pub fn set_fault(&self, f: &SimFunction, fault: Fault) {
        self.shared
            .lock()
            .faults
            .insert(f.clone(), (fault, u32::MAX));
    }

    /// Injects `fault` for the next `times` requests of `f` it applies to.
    pub fn set_fault_times(&self, f: &SimFunction, fault: Fault, times: u32) {
        self.shared.lock().faults.insert(f.clone(), (fault, times));
    }

    /// Arrival times of the verified API requests so far.
    pub fn api_request_times(&self) -> Vec<std::time::Instant> {
        self.shared.lock().api_times.clone()
    }

    /// Deletes `f` right after the next `pages` SCF `ListFunctions` pages are served, so a
    /// listing paging by offset at that moment skips the function after it.
    pub fn remove_after_listing_pages(&self, f: &SimFunction, pages: u32) {
        self.shared.lock().remove_after_pages = Some((f.clone(), pages.max(1)));
    }

    /// Serves at most `n` items per listing page.
    pub fn set_page_limit(&self, n: usize) {
        self.shared.lock().page_limit = Some(n.max(1));
    }

    /// Injects `fault` into the next `times` calls of one listing (`u32::MAX`: until cleared).
    pub fn set_listing_fault(&self, scope: ListScope, fault: Fault, times: u32) {
        self.shared
            .lock()
            .listing_faults
            .insert(scope, (fault, times));
    }

    pub fn clear_listing_faults(&self) {
        self.shared.lock().listing_faults.clear();
    }

    /// Session/security tokens received with verified API requests, in order.
    pub fn tokens_seen(&self) -> Vec<String> {
        self.shared.lock().tokens_seen.clone()
    }

    pub fn clear_fault(&self, f: &SimFunction) {
        self.shared.lock().faults.remove(f);
    }

    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Whole package downloads served for `f`.
    pub fn downloads_of(&self, f: &SimFunction) -> u64 {
        self.shared
            .lock()
            .downloads_by_function
            .get(f)
            .copied()
            .unwrap_or(0)
    }

    /// A presigned download address for `f`'s current package, valid for 10 minutes, as its
    /// cloud would hand it out — for baselines that fetch the same bytes without fnvault.
    /// Downloads through it count in `stats()` like any other.
    pub fn download_url(&self, f: &SimFunction) -> Option<String> {
        let id = *self.shared.lock().functions.get(f)?;
        let expires = crate::time::unix_now() + 600;
        Some(match f {
            SimFunction::Scf { .. } => {
                let path = format!("/cos/{id}");
                let sign = presign(&self.shared.url_key, &path, expires);
                format!("http://{}{path}?sign={sign}&t={expires}", self.addr)
            }
            SimFunction::Fc { .. } | SimFunction::Fc3 { .. } => {
                let path = format!("/oss/{id}");
                let sign = url_encode(&presign(&self.shared.url_key, &path, expires));
                format!(
                    "http://{}{path}?OSSAccessKeyId=LTAIsim&Expires={expires}&Signature={sign}",
                    self.addr
                )
            }
        })
    }

    /// Stops the server.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn scf_error(code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id()}
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn fc_error(status: u16, code: &str, message: &str) -> Response {
    fc_json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &serde_json::json!({"ErrorCode": code, "ErrorMessage": message}),
    )
}

/// An FC answer: JSON with a fresh `x-fc-request-id`, as every FC response carries.
fn fc_json(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::HeaderName::from_static("x-fc-request-id"),
                request_id(),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The presignature of a download path: HMAC-SHA256 over path and expiry, standard base64
/// (so it contains `+`, `/` or `=` that must not be re-encoded).
/// The `host:port` of an `http://host:port/…` URL (the simulator's own address).
fn shared_addr_host(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    rest.split('/').next().unwrap_or_default().to_string()
}

fn presign(key: &[u8; 32], path: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Percent-encodes everything but unreserved characters, as OSS presigned URLs are written.
fn url_encode(s: &str) -> String {
    fc_sign::percent_encode(s)
}

async fn scf_api(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let now = crate::time::unix_now();
    let verified = {
        let inner = shared.lock();
        verify_tc::verify(&headers, &body, now, |id| {
            inner.tencent_keys.get(id).map(|(k, _)| k.clone())
        })
        .map(|v| {
            let token = inner
                .tencent_keys
                .get(&v.secret_id)
                .and_then(|(_, t)| t.clone());
            (v, token)
        })
    };
    let (_verified, expected_token) = match verified {
        Ok(v) => v,
        Err(e) => {
            shared.lock().stats.rejected_requests += 1;
            tracing::debug!("sim: SCF signature rejected: {e}");
            return scf_error(e.code, &e.message);
        }
    };
    if let Some(token) = expected_token
        && header_str(&headers, "x-tc-token") != Some(token.as_str())
    {
        shared.lock().stats.rejected_requests += 1;
        return scf_error("AuthFailure.TokenFailure", "token missing or invalid");
    }
    {
        let mut inner = shared.lock();
        inner.stats.api_requests += 1;
        inner.api_times.push(std::time::Instant::now());
        if !inner.count_action(
            "scf",
            header_str(&headers, "x-tc-action").unwrap_or_default(),
        ) {
            return scf_error("RequestLimitExceeded", "request limit exceeded");
        }
    }

    if header_str(&headers, "x-tc-version") != Some("2018-04-16") {
        return scf_error("InvalidParameterValue", "X-TC-Version must be 2018-04-16");
    }
    let Some(region) = header_str(&headers, "x-tc-region").filter(|r| !r.is_empty()) else {
        return scf_error("MissingParameter", "X-TC-Region is required");
    };
    if let Some(token) = header_str(&headers, "x-tc-token") {
        shared.lock().tokens_seen.push(token.to_string());
    }
    let action = header_str(&headers, "x-tc-action").unwrap_or_default();
    let Ok(params) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return scf_error("InvalidParameter.Payload", "body is not JSON");
    };
    match action {
        "GetFunctionAddress" => {}
        "GetFunction" => return config::scf_get_function(&shared, region, &params),
        "GetLayerVersion" => {
            return layers::scf_get_layer_version(&shared, &headers, &params).await;
        }
        "ListNamespaces" | "ListFunctions" => {
            return scf_list(&shared, action, region, &params).await;
        }
        "ListVersionByFunction" | "ListAliases" => {
            return versions::scf(&shared, action, region, &params).await;
        }
        _ => return scf_error("InvalidAction", &format!("unknown action {action}")),
    }
    let Some(name) = params.get("FunctionName").and_then(|v| v.as_str()) else {
        return scf_error("MissingParameter", "FunctionName is required");
    };
    let namespace = params
        .get("Namespace")
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let qualifier = params.get("Qualifier").and_then(|v| v.as_str());
    let f = SimFunction::scf(region, namespace, name, qualifier);
    let fault = shared.lock().take_fault(&f, false);
    if let Some(resp) = api_fault(fault, true).await {
        return resp;
    }
    if let Some(resp) = hostile_api(fault, true) {
        return resp;
    }
    let mut inner = shared.lock();
    let Some(&id) = inner.functions.get(&f) else {
        return scf_error(
            "ResourceNotFound.Function",
            &format!("function {name} does not exist in namespace {namespace}"),
        );
    };
    inner.package_owner.insert(id, f);
    let sha = hex::encode(inner.packages[id].sha256);
    drop(inner);
    let path = format!("/cos/{id}");
    let expires = now + 600;
    let host = header_str(&headers, "host").unwrap_or("127.0.0.1");
    let mut url = format!(
        "http://{host}{path}?sign={}&t={expires}",
        presign(&shared.url_key, &path, expires)
    );
    if fault == Some(Fault::FileUrl) {
        url = "file:///etc/passwd".to_string();
    }
    if fault == Some(Fault::ForeignHttpUrl) {
        url = url.replacen(&shared_addr_host(&url), "downloads.example.invalid", 1);
    }
    let body = serde_json::json!({
        "Response": {"Url": url, "CodeSha256": sha, "RequestId": request_id()}
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn fc_get_function_code(
    State(shared): State<Arc<Shared>>,
    Path((service, function)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = crate::time::unix_now();
    let verified = {
        let inner = shared.lock();
        verify_fc::verify(
            method.as_str(),
            uri.path(),
            uri.query(),
            &headers,
            &body,
            now,
            |id| inner.aliyun_keys.get(id).map(|(k, _)| k.clone()),
        )
        .map(|v| {
            let token = inner
                .aliyun_keys
                .get(&v.access_key_id)
                .and_then(|(_, t)| t.clone());
            (v, token, inner.aliyun_account_id.clone())
        })
    };
    let (verified, expected_token, account_id) = match verified {
        Ok(v) => v,
        Err(e) => {
            shared.lock().stats.rejected_requests += 1;
            tracing::debug!("sim: FC signature rejected: {e}");
            return fc_error(e.status, e.code, &e.message);
        }
    };
    if let Some(token) = expected_token
        && verified.security_token.as_deref() != Some(token.as_str())
    {
        shared.lock().stats.rejected_requests += 1;
        return fc_error(
            403,
            "InvalidSecurityToken",
            "security token missing or invalid",
        );
    }
    if let (Some(expected), Some(given)) = (account_id, header_str(&headers, "x-fc-account-id"))
        && expected != given
    {
        shared.lock().stats.rejected_requests += 1;
        return fc_error(
            403,
            "AccessDenied",
            "x-fc-account-id does not own this endpoint",
        );
    }
    {
        let mut inner = shared.lock();
        inner.stats.api_requests += 1;
        inner.api_times.push(std::time::Instant::now());
        if !inner.count_action("fc", "GetFunctionCode") {
            return fc_error(429, "ResourceExhausted", "limit exceeded");
        }
    }

    let qualifier = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "qualifier")
            .map(|(_, v)| v.into_owned())
    });
    if let Some(token) = &verified.security_token {
        shared.lock().tokens_seen.push(token.clone());
    }
    let f = SimFunction::fc(&service, &function, qualifier.as_deref());
    let fault = shared.lock().take_fault(&f, false);
    if let Some(resp) = api_fault(fault, false).await {
        return resp;
    }
    if let Some(resp) = hostile_api(fault, false) {
        return resp;
    }
    let mut inner = shared.lock();
    let service_exists = inner
        .functions
        .keys()
        .any(|k| matches!(k, SimFunction::Fc { service: s, .. } if *s == service));
    let Some(&id) = inner.functions.get(&f) else {
        return if service_exists {
            fc_error(
                404,
                "FunctionNotFound",
                &format!("function {function} not found"),
            )
        } else {
            fc_error(
                404,
                "ServiceNotFound",
                &format!("service {service} not found"),
            )
        };
    };
    inner.package_owner.insert(id, f);
    let crc = inner.packages[id].crc64;
    drop(inner);
    let path = format!("/oss/{id}");
    let expires = now + 600;
    let host = header_str(&headers, "host").unwrap_or("127.0.0.1");
    let mut url = format!(
        "http://{host}{path}?OSSAccessKeyId=LTAIsim&Expires={expires}&Signature={}",
        url_encode(&presign(&shared.url_key, &path, expires))
    );
    if fault == Some(Fault::FileUrl) {
        url = "file:///etc/passwd".to_string();
    }
    if fault == Some(Fault::ForeignHttpUrl) {
        url = url.replacen(&shared_addr_host(&url), "downloads.example.invalid", 1);
    }
    let body = serde_json::json!({"checksum": crc.to_string(), "url": url});
    fc_json(StatusCode::OK, &body)
}

async fn download(State(shared): State<Arc<Shared>>, Path(id): Path<String>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default();
    // COS-style URLs carry `sign=<raw base64>`: compared raw, so a client that re-encoded the
    // query fails here. OSS-style URLs carry a percent-encoded `Signature=`.
    let (given, expires) = if path.starts_with("/cos/") {
        let mut sign = None;
        let mut t = None;
        for pair in query.split('&') {
            if let Some(v) = pair.strip_prefix("sign=") {
                sign = Some(v.to_string());
            } else if let Some(v) = pair.strip_prefix("t=") {
                t = v.parse::<i64>().ok();
            }
        }
        (sign, t)
    } else {
        let mut sign = None;
        let mut t = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "Signature" => sign = Some(v.into_owned()),
                "Expires" => t = v.parse::<i64>().ok(),
                _ => {}
            }
        }
        (sign, t)
    };
    let (Some(given), Some(expires)) = (given, expires) else {
        return (StatusCode::FORBIDDEN, "missing signature").into_response();
    };
    if given != presign(&shared.url_key, &path, expires) {
        return (StatusCode::FORBIDDEN, "SignatureDoesNotMatch").into_response();
    }
    if expires < crate::time::unix_now() {
        return (StatusCode::FORBIDDEN, "Request has expired").into_response();
    }
    let Ok(id) = id.parse::<usize>() else {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    };
    let mut inner = shared.lock();
    let Some(package) = inner.packages.get(id).cloned() else {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    };
    let owner = inner.package_owner.get(&id).cloned();
    let layer = inner.layer_owner.get(&id).cloned();
    let fault = match &layer {
        Some(l) => inner.take_layer_fault(l, true),
        None => owner.as_ref().and_then(|f| inner.take_fault(f, true)),
    };
    if fault == Some(Fault::ExpiredUrl) {
        return (StatusCode::FORBIDDEN, "Request has expired").into_response();
    }
    if fault == Some(Fault::RedirectScheme) {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, "file:///etc/passwd")],
        )
            .into_response();
    }
    if fault == Some(Fault::RedirectLoop) {
        // Back to the same presigned URL, forever: only the client's limit ends it.
        let again = format!("{path}?{query}");
        return (StatusCode::FOUND, [(header::LOCATION, again)]).into_response();
    }
    inner.stats.downloads += 1;
    if let Some(l) = layer {
        *inner.layer_downloads.entry(l).or_default() += 1;
    } else if let Some(f) = owner {
        *inner.downloads_by_function.entry(f).or_default() += 1;
    }
    drop(inner);

    let bytes = match fault {
        Some(Fault::CorruptDownload) => {
            let mut v = package.bytes.to_vec();
            match v.first_mut() {
                Some(b) => *b ^= 0xff,
                None => v.push(0),
            }
            Bytes::from(v)
        }
        Some(Fault::TruncateDownload) => {
            // Announce the full length, send half, then fail the stream: hyper drops the
            // connection mid-body, as a reset would.
            let half = package.bytes.slice(..package.bytes.len() / 2);
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::other("simulated connection reset")),
            ];
            let mut resp = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
            if let Ok(v) = header::HeaderValue::from_str(&package.bytes.len().to_string()) {
                resp.headers_mut().insert(header::CONTENT_LENGTH, v);
            }
            return resp;
        }
        Some(Fault::SlowDownload) => {
            let body = package.bytes.clone();
            let piece = body.len().div_ceil(20).max(1);
            let chunks: Vec<Bytes> = (0..body.len())
                .step_by(piece)
                .map(|i| body.slice(i..(i + piece).min(body.len())))
                .collect();
            let stream = futures_util::stream::iter(chunks).then(|c| async move {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                Ok::<_, std::io::Error>(c)
            });
            let mut resp = Response::new(Body::from_stream(stream));
            if let Ok(v) = header::HeaderValue::from_str(&package.bytes.len().to_string()) {
                resp.headers_mut().insert(header::CONTENT_LENGTH, v);
            }
            return resp;
        }
        _ => package.bytes.clone(),
    };
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/zip"),
    );
    if path.starts_with("/oss/") {
        // Real OSS announces the object's CRC-64 too; fnvault checks it as a second opinion.
        if let Ok(v) = header::HeaderValue::from_str(&package.crc64.to_string()) {
            h.insert("x-oss-hash-crc64ecma", v);
        }
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// Hostile answers and the listing endpoints.

/// The hostile API answers of [`Fault`], in each cloud's envelope; `None`: answer normally.
fn hostile_api(fault: Option<Fault>, scf: bool) -> Option<Response> {
    let rid = request_id();
    let json = |status: StatusCode, body: Body| -> Response {
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        if !scf && let Ok(v) = header::HeaderValue::from_str(&rid) {
            h.insert("x-fc-request-id", v);
        }
        resp
    };
    match fault? {
        Fault::MalformedJson => Some(json(
            StatusCode::OK,
            Body::from("{\"Response\": {\"Url\": "),
        )),
        Fault::WrongTypes if scf => Some(json(
            StatusCode::OK,
            Body::from(
                serde_json::json!({"Response": {
                    "Url": 123, "CodeSha256": true, "Functions": "nope", "Namespaces": 5,
                    "TotalCount": "many", "RequestId": rid
                }})
                .to_string(),
            ),
        )),
        Fault::WrongTypes => Some(json(
            StatusCode::OK,
            Body::from(
                serde_json::json!({"url": 123, "checksum": [1], "functions": {"a": 1},
                    "services": "x"})
                .to_string(),
            ),
        )),
        Fault::HugeBody => {
            // 50 MiB of JSON, streamed in 1 MiB pieces: a client that does not cap bodies
            // buffers all of it.
            let head = Bytes::from(format!(
                "{{\"Response\":{{\"RequestId\":\"{rid}\",\"Pad\":\""
            ));
            let piece = Bytes::from(vec![b'a'; 1 << 20]);
            let chunks = std::iter::once(head)
                .chain(std::iter::repeat_n(piece, 50))
                .chain(std::iter::once(Bytes::from_static(b"\"}}")))
                .map(Ok::<_, std::io::Error>);
            Some(json(
                StatusCode::OK,
                Body::from_stream(futures_util::stream::iter(chunks)),
            ))
        }
        _ => None,
    }
}

/// `(offset, limit)` of a page, with the simulator's page limit applied.
fn page_bounds(inner: &Inner, offset: usize, asked: usize) -> (usize, usize) {
    let limit = match inner.page_limit {
        Some(max) => asked.min(max),
        None => asked,
    };
    (offset, limit.max(1))
}

async fn scf_list(
    shared: &Arc<Shared>,
    action: &str,
    region: &str,
    params: &serde_json::Value,
) -> Response {
    let num = |k: &str, default: u64| params.get(k).and_then(|v| v.as_u64()).unwrap_or(default);
    let (offset, asked) = (num("Offset", 0) as usize, num("Limit", 20) as usize);
    let namespace = params
        .get("Namespace")
        .and_then(|v| v.as_str())
        .unwrap_or("default")
        .to_string();
    let scope = if action == "ListNamespaces" {
        ListScope::ScfNamespaces {
            region: region.to_string(),
        }
    } else {
        ListScope::ScfFunctions {
            region: region.to_string(),
            namespace: namespace.clone(),
        }
    };
    let (fault, all, limit) = {
        let mut inner = shared.lock();
        let fault = inner.take_listing_fault(&scope);
        let cache_key = format!("scf:{region}:{namespace}");
        let (namespaces, names) = match inner.sorted.get(&cache_key) {
            Some((g, scopes, names)) if *g == inner.generation => (scopes.clone(), names.clone()),
            _ => {
                // Sorted sets: a page of a 100,000-function namespace must not cost a scan of
                // the names per name (the scale benchmarks list whole fleets through here).
                let mut namespaces = std::collections::BTreeSet::from(["default".to_string()]);
                let mut names = std::collections::BTreeSet::new();
                for f in inner.functions.keys() {
                    if let SimFunction::Scf {
                        region: r,
                        namespace: n,
                        name,
                        ..
                    } = f
                        && r == region
                    {
                        if !namespaces.contains(n) {
                            namespaces.insert(n.clone());
                        }
                        if *n == namespace && !names.contains(name) {
                            names.insert(name.clone());
                        }
                    }
                }
                let namespaces = Arc::new(namespaces.into_iter().collect::<Vec<String>>());
                let names = Arc::new(names.into_iter().collect::<Vec<String>>());
                let generation = inner.generation;
                inner
                    .sorted
                    .insert(cache_key, (generation, namespaces.clone(), names.clone()));
                (namespaces, names)
            }
        };
        if action == "ListFunctions" && !namespaces.contains(&namespace) {
            return scf_error(
                "ResourceNotFound.Namespace",
                &format!("namespace {namespace} does not exist"),
            );
        }
        let all = if action == "ListNamespaces" {
            namespaces
        } else {
            names
        };
        let (_, limit) = page_bounds(&inner, offset, asked);
        (fault, all, limit)
    };
    if let Some(resp) = api_fault(fault, true).await {
        return resp;
    }
    if let Some(resp) = hostile_api(fault, true) {
        return resp;
    }
    let mut page: Vec<String> = all.iter().skip(offset).take(limit).cloned().collect();
    if action == "ListFunctions" {
        let mut inner = shared.lock();
        if let Some((f, left)) = inner.remove_after_pages.as_mut() {
            *left -= 1;
            if *left == 0 {
                let f = f.clone();
                inner.functions.remove(&f);
                inner.generation += 1;
                inner.remove_after_pages = None;
            }
        }
    }
    if fault == Some(Fault::BadName)
        && let Some(first) = page.first_mut()
    {
        *first = "../evil".to_string();
    }
    let body = if action == "ListNamespaces" {
        let items: Vec<_> = page
            .iter()
            .map(|n| serde_json::json!({"Name": n, "Type": "default", "Description": ""}))
            .collect();
        serde_json::json!({"Response": {
            "Namespaces": items, "TotalCount": all.len(), "RequestId": request_id()
        }})
    } else {
        let inner = shared.lock();
        let items: Vec<_> = page
            .iter()
            .map(|n| {
                let f = SimFunction::scf(region, &namespace, n, None);
                inner.scf_entry(&f, n, &namespace)
            })
            .collect();
        drop(inner);
        serde_json::json!({"Response": {
            "Functions": items, "TotalCount": all.len(), "RequestId": request_id()
        }})
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Verifies an FC request like `fc_get_function_code` does; `Err` is the answer to send.
fn fc_verify(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), Box<Response>> {
    verify_request(shared, method, uri, headers, body, fc_error).map(|_| ())
}

/// Checks an FC (2.0 or 3.0) request's signature, security token and account, answering a
/// refusal with `error` (each generation has its own envelope); counts and records the
/// request when it passes.
fn verify_request(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    error: fn(u16, &str, &str) -> Response,
) -> Result<verify_fc::Verified, Box<Response>> {
    let now = crate::time::unix_now();
    let inner = shared.lock();
    let verified = verify_fc::verify(
        method.as_str(),
        uri.path(),
        uri.query(),
        headers,
        body,
        now,
        |id| inner.aliyun_keys.get(id).map(|(k, _)| k.clone()),
    );
    let expected_token = verified.as_ref().ok().and_then(|v| {
        inner
            .aliyun_keys
            .get(&v.access_key_id)
            .and_then(|(_, t)| t.clone())
    });
    let account_id = inner.aliyun_account_id.clone();
    drop(inner);
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            shared.lock().stats.rejected_requests += 1;
            tracing::debug!("sim: FC signature rejected: {e}");
            return Err(Box::new(error(e.status, e.code, &e.message)));
        }
    };
    if let Some(token) = expected_token
        && verified.security_token.as_deref() != Some(token.as_str())
    {
        shared.lock().stats.rejected_requests += 1;
        return Err(Box::new(error(
            403,
            "InvalidSecurityToken",
            "security token missing or invalid",
        )));
    }
    if let (Some(expected), Some(given)) = (account_id, header_str(headers, "x-fc-account-id"))
        && expected != given
    {
        shared.lock().stats.rejected_requests += 1;
        return Err(Box::new(error(
            403,
            "AccessDenied",
            "x-fc-account-id does not own this endpoint",
        )));
    }
    let mut inner = shared.lock();
    inner.stats.api_requests += 1;
    inner.api_times.push(std::time::Instant::now());
    if !inner.count_action("fc", listed::fc_action(uri.path())) {
        return Err(Box::new(error(429, "ResourceExhausted", "limit exceeded")));
    }
    if let Some(token) = &verified.security_token {
        inner.tokens_seen.push(token.clone());
    }
    Ok(verified)
}

async fn fc_list_services(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = fc_verify(&shared, &method, &uri, &headers, &body) {
        return *resp;
    }
    fc_list(&shared, &uri, None).await
}

async fn fc_list_functions(
    State(shared): State<Arc<Shared>>,
    Path(service): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = fc_verify(&shared, &method, &uri, &headers, &body) {
        return *resp;
    }
    fc_list(&shared, &uri, Some(service)).await
}

/// FC paging: `limit` and an opaque `nextToken` (here: base64 of the next name, so it carries
/// `=` that the client must send back intact).
async fn fc_list(shared: &Arc<Shared>, uri: &Uri, service: Option<String>) -> Response {
    let mut asked = 20usize;
    let mut token: Option<String> = None;
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match &*k {
            "limit" => asked = v.parse().unwrap_or(20),
            "nextToken" => token = Some(v.into_owned()),
            _ => {}
        }
    }
    if asked > 100 {
        return fc_error(400, "InvalidArgument", "limit must be at most 100");
    }
    let scope = match &service {
        None => ListScope::FcServices,
        Some(s) => ListScope::FcFunctions { service: s.clone() },
    };
    let (fault, all, limit) = {
        let mut inner = shared.lock();
        let fault = inner.take_listing_fault(&scope);
        let cache_key = format!("fc:{}", service.as_deref().unwrap_or_default());
        let (services, names) = match inner.sorted.get(&cache_key) {
            Some((g, scopes, names)) if *g == inner.generation => (scopes.clone(), names.clone()),
            _ => {
                // Sorted sets, as in `scf_list`.
                let mut services = std::collections::BTreeSet::new();
                let mut names = std::collections::BTreeSet::new();
                for f in inner.functions.keys() {
                    if let SimFunction::Fc {
                        service: s, name, ..
                    } = f
                    {
                        if !services.contains(s) {
                            services.insert(s.clone());
                        }
                        if service.as_ref() == Some(s) && !names.contains(name) {
                            names.insert(name.clone());
                        }
                    }
                }
                let services = Arc::new(services.into_iter().collect::<Vec<String>>());
                let names = Arc::new(names.into_iter().collect::<Vec<String>>());
                let generation = inner.generation;
                inner
                    .sorted
                    .insert(cache_key, (generation, services.clone(), names.clone()));
                (services, names)
            }
        };
        if let Some(s) = &service
            && !services.contains(s)
        {
            return fc_error(404, "ServiceNotFound", &format!("service {s} not found"));
        }
        let (_, limit) = page_bounds(&inner, 0, asked);
        (
            fault,
            if service.is_some() { names } else { services },
            limit,
        )
    };
    if let Some(resp) = api_fault(fault, false).await {
        return resp;
    }
    if let Some(resp) = hostile_api(fault, false) {
        return resp;
    }
    let start = match &token {
        None => 0,
        Some(t) => {
            let Some(first) = base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            else {
                return fc_error(400, "InvalidArgument", "nextToken is not valid");
            };
            all.partition_point(|n| *n < first)
        }
    };
    let mut page: Vec<String> = all.iter().skip(start).take(limit).cloned().collect();
    let next = all
        .get(start + page.len())
        .map(|n| base64::engine::general_purpose::STANDARD.encode(n));
    if fault == Some(Fault::BadName)
        && let Some(first) = page.first_mut()
    {
        *first = "../evil".to_string();
    }
    let (array, field) = if service.is_some() {
        ("functions", "functionName")
    } else {
        ("services", "serviceName")
    };
    let inner = shared.lock();
    let items: Vec<_> = page
        .iter()
        .map(|n| match &service {
            Some(s) => inner.fc_entry(&SimFunction::fc(s, n, None), n),
            None => serde_json::json!({ field: n, "description": "",
                "lastModifiedTime": "2026-01-01T00:00:00Z" }),
        })
        .collect();
    drop(inner);
    let mut body = serde_json::json!({ array: items });
    if let Some(next) = next {
        body["nextToken"] = serde_json::Value::String(next);
    }
    fc_json(StatusCode::OK, &body)
}
