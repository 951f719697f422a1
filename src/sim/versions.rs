//! The simulator's published versions and aliases (issue 14): SCF `ListVersionByFunction` and
//! `ListAliases`, FC 3.0 `ListFunctionVersions` and `ListAliases`, paged, every request's
//! signature checked like every other call; and the hooks tests use to publish and delete
//! versions and to create, move, split and delete aliases between sweeps.
//!
//! A published version is a function of its own in the simulator (`name@<n>`, a copy of the
//! latest package and configuration at publish time), so `GetFunctionAddress`/`GetFunction`
//! (`Qualifier=<n>`) and FC `GetFunctionCode?qualifier=<n>` serve it unchanged, and
//! `Simulator::downloads_of` counts its downloads.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::Engine;

use super::{ListScope, Shared, SimFunction, Simulator, page_bounds, scf_error};

/// An alias: main version, additional (version, weight)s, last-modified text.
type SimAlias = (String, Vec<(String, f64)>, String);

/// A function's published versions and aliases.
#[derive(Default)]
pub(super) struct History {
    /// (version, last-modified text), oldest first.
    versions: Vec<(String, String)>,
    /// The last number given out (numbers are never reused, as in the clouds).
    last: u64,
    /// alias → (main version, additional (version, weight)s, last-modified text).
    aliases: BTreeMap<String, SimAlias>,
}

/// The function `f` names without its qualifier: histories are keyed by it.
fn latest(f: &SimFunction) -> SimFunction {
    match f {
        SimFunction::Scf {
            region,
            namespace,
            name,
            ..
        } => SimFunction::scf(region, namespace, name, None),
        // An FC 2.0 version or alias belongs to the service: one history per service, keyed
        // by the service with no function name.
        SimFunction::Fc { service, .. } => SimFunction::fc(service, "", None),
        SimFunction::Fc3 { name, .. } => SimFunction::fc3(name, None),
    }
}

/// The functions (latest code) a published version of `base` snapshots: the function, or for
/// FC 2.0 every function of the service.
fn members(inner: &super::Inner, base: &SimFunction) -> Vec<SimFunction> {
    match base {
        SimFunction::Fc { service, .. } => {
            let mut all: Vec<SimFunction> = inner
                .functions
                .keys()
                .filter(|k| {
                    matches!(k, SimFunction::Fc { service: s, qualifier, .. }
                        if s == service && qualifier == "LATEST")
                })
                .cloned()
                .collect();
            all.sort_by_key(|k| format!("{k:?}"));
            all
        }
        f if inner.functions.contains_key(f) => vec![f.clone()],
        _ => Vec::new(),
    }
}

fn qualifier_of(f: &SimFunction) -> &str {
    match f {
        SimFunction::Scf { qualifier, .. }
        | SimFunction::Fc { qualifier, .. }
        | SimFunction::Fc3 { qualifier, .. } => qualifier,
    }
}

fn with_qualifier(f: &SimFunction, q: &str) -> SimFunction {
    match f {
        SimFunction::Scf {
            region,
            namespace,
            name,
            ..
        } => SimFunction::scf(region, namespace, name, Some(q)),
        SimFunction::Fc { service, name, .. } => SimFunction::fc(service, name, Some(q)),
        SimFunction::Fc3 { name, .. } => SimFunction::fc3(name, Some(q)),
    }
}

/// "Now" as each cloud writes a modified time: SCF `2026-03-03 12:00:00`, FC RFC 3339.
fn stamp(f: &SimFunction) -> String {
    let now = chrono::Utc::now();
    match f {
        SimFunction::Scf { .. } => now.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        _ => now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

impl Simulator {
    /// Publishes `f`'s current package and configuration as its next version; returns the
    /// version's number. `None` when `f` is not deployed.
    pub fn publish_version(&self, f: &SimFunction) -> Option<String> {
        let base = latest(f);
        let mut inner = self.shared.lock();
        let members = members(&inner, &base);
        if members.is_empty() {
            return None;
        }
        let h = inner.histories.entry(base.clone()).or_default();
        h.last += 1;
        let version = h.last.to_string();
        h.versions.push((version.clone(), stamp(&base)));
        for m in members {
            let Some(&latest_id) = inner.functions.get(&m) else {
                continue;
            };
            // A copy of its own, so downloads are counted per version (`downloads_of`).
            let copy = inner.packages[latest_id].clone();
            inner.packages.push(copy);
            let id = inner.packages.len() - 1;
            let vf = with_qualifier(&m, &version);
            inner.functions.insert(vf.clone(), id);
            if let Some(c) = inner.configs.get(&m).cloned() {
                inner.configs.insert(vf, c);
            }
        }
        Some(version)
    }

    /// Deletes published version `version` of `f` (for FC 2.0: of its service): no longer
    /// listed, its calls answer not found.
    pub fn delete_version(&self, f: &SimFunction, version: &str) {
        let base = latest(f);
        let mut inner = self.shared.lock();
        if let Some(h) = inner.histories.get_mut(&base) {
            h.versions.retain(|(v, _)| v != version);
        }
        let gone: Vec<SimFunction> = inner
            .functions
            .keys()
            .filter(|k| latest(k) == base && qualifier_of(k) == version)
            .cloned()
            .collect();
        for k in gone {
            inner.functions.remove(&k);
        }
    }

    /// Replaces the package of an already published version (which the clouds never do: the
    /// anomaly fnvault must report) and bumps its modified time.
    pub fn tamper_version(&self, f: &SimFunction, version: &str, bytes: impl Into<Bytes>) {
        let base = latest(f);
        self.deploy(&with_qualifier(f, version), bytes);
        let mut inner = self.shared.lock();
        if let Some(h) = inner.histories.get_mut(&base)
            && let Some(v) = h.versions.iter_mut().find(|(v, _)| v == version)
        {
            v.1 = stamp(&base);
        }
    }

    /// Creates or changes alias `name` of `f`: `main` plus additional (version, weight)s.
    pub fn set_alias(&self, f: &SimFunction, name: &str, main: &str, extra: &[(&str, f64)]) {
        let base = latest(f);
        let modified = stamp(&base);
        let extra = extra.iter().map(|(v, w)| (v.to_string(), *w)).collect();
        self.shared
            .lock()
            .histories
            .entry(base)
            .or_default()
            .aliases
            .insert(name.to_string(), (main.to_string(), extra, modified));
    }

    /// Deletes alias `name` of `f`.
    pub fn delete_alias(&self, f: &SimFunction, name: &str) {
        if let Some(h) = self.shared.lock().histories.get_mut(&latest(f)) {
            h.aliases.remove(name);
        }
    }
}

/// What one listing page of either call holds, before each cloud's shape is applied.
enum Listed {
    Versions(Vec<(String, String)>),
    Aliases(Vec<(String, SimAlias)>),
}

/// `f`'s versions or aliases from `start`, at most `limit`; the total.
fn listed(
    shared: &Arc<Shared>,
    f: &SimFunction,
    aliases: bool,
    start: usize,
    limit: usize,
) -> Result<(Listed, usize, Option<super::Fault>), ()> {
    let mut inner = shared.lock();
    let scope = if aliases {
        ListScope::Aliases {
            function: f.clone(),
        }
    } else {
        ListScope::Versions {
            function: f.clone(),
        }
    };
    let fault = inner.take_listing_fault(&scope);
    if members(&inner, f).is_empty() {
        return Err(());
    }
    let h = inner.histories.get(f);
    Ok(if aliases {
        let all: Vec<_> = h
            .map(|h| {
                h.aliases
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let total = all.len();
        (
            Listed::Aliases(all.into_iter().skip(start).take(limit).collect()),
            total,
            fault,
        )
    } else {
        let all: Vec<_> = h.map(|h| h.versions.clone()).unwrap_or_default();
        let total = all.len();
        (
            Listed::Versions(all.into_iter().skip(start).take(limit).collect()),
            total,
            fault,
        )
    })
}

/// SCF `ListVersionByFunction` / `ListAliases`. Offsets are integers for the first and
/// strings for the second, as the SDKs type them; the wrong type is refused, so fnvault's
/// requests are checked.
pub(super) async fn scf(
    shared: &Arc<Shared>,
    action: &str,
    region: &str,
    params: &serde_json::Value,
) -> Response {
    let Some(name) = params.get("FunctionName").and_then(|v| v.as_str()) else {
        return scf_error("MissingParameter", "FunctionName is required");
    };
    let namespace = params
        .get("Namespace")
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let aliases = action == "ListAliases";
    let number = |key: &str, default: usize| -> Result<usize, String> {
        match params.get(key) {
            None => Ok(default),
            Some(serde_json::Value::String(s)) if aliases => {
                s.parse().map_err(|_| format!("{key} is not a number"))
            }
            Some(serde_json::Value::Number(n)) if !aliases => n
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| format!("{key} is negative")),
            Some(_) => Err(format!("{key} has the wrong type for {action}")),
        }
    };
    let (offset, asked) = match (number("Offset", 0), number("Limit", 20)) {
        (Ok(o), Ok(l)) => (o, l),
        (Err(e), _) | (_, Err(e)) => return scf_error("InvalidParameterValue", &e),
    };
    if !aliases && params.get("OrderBy").and_then(|v| v.as_str()) != Some("AddTime") {
        // What fnvault must send for stable pages (capital B, unlike ListFunctions).
        return scf_error("InvalidParameterValue.OrderBy", "expected OrderBy=AddTime");
    }
    let f = SimFunction::scf(region, namespace, name, None);
    // At most `limit` items per page; the version listing starts with `$LATEST`: offset 0
    // is it, offset n is published version n-1.
    let limit = page_bounds(&shared.lock(), offset, asked).1;
    let (start, count) = match (aliases, offset) {
        (true, _) => (offset, limit),
        (false, 0) => (0, limit - 1),
        (false, o) => (o - 1, limit),
    };
    let (page, total, fault) = match listed(shared, &f, aliases, start, count) {
        Ok(x) => x,
        Err(()) => {
            return scf_error(
                "ResourceNotFound.Function",
                &format!("function {name} does not exist in namespace {namespace}"),
            );
        }
    };
    if let Some(resp) = super::api_fault(fault, true).await {
        return resp;
    }
    // A hostile listing: a name that must never become part of a key.
    let page = match (page, fault) {
        (Listed::Versions(mut v), Some(super::Fault::BadName)) if !v.is_empty() => {
            v[0].0 = "../evil".to_string();
            Listed::Versions(v)
        }
        (Listed::Aliases(mut a), Some(super::Fault::BadName)) if !a.is_empty() => {
            a[0].0 = "prod/../x".to_string();
            Listed::Aliases(a)
        }
        (page, _) => page,
    };
    let body = match page {
        Listed::Versions(v) => {
            // The real listing shows `$LATEST` too; fnvault must skip it.
            let mut items = Vec::new();
            if offset == 0 {
                items.push(
                    serde_json::json!({"Version": "$LATEST", "Description": null,
                    "AddTime": null, "ModTime": null, "Status": "Active"}),
                );
            }
            items.extend(v.iter().map(|(v, m)| {
                serde_json::json!({"Version": v, "Description": "", "AddTime": m,
                    "ModTime": m, "Status": "Active"})
            }));
            let names: Vec<&str> = v.iter().map(|(v, _)| v.as_str()).collect();
            serde_json::json!({"Response": {"FunctionVersion": names, "Versions": items,
                "TotalCount": total + 1, "RequestId": super::request_id()}})
        }
        Listed::Aliases(a) => {
            let items: Vec<_> = a
                .iter()
                .map(|(name, (main, extra, m))| {
                    let weights: Vec<_> = extra
                        .iter()
                        .map(|(v, w)| serde_json::json!({"Version": v, "Weight": w}))
                        .collect();
                    serde_json::json!({"Name": name, "FunctionVersion": main,
                        "RoutingConfig": {"AdditionalVersionWeights": weights,
                            "AddtionVersionMatchs": []},
                        "Description": "", "AddTime": m, "ModTime": m})
                })
                .collect();
            serde_json::json!({"Response": {"Aliases": items, "TotalCount": total,
                "RequestId": super::request_id()}})
        }
    };
    json(body)
}

fn json(body: serde_json::Value) -> Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Versions are paged from the offset a token names: the offset in base64 (so it carries
/// `=` that must come back intact).
fn fc_start(uri: &Uri) -> Option<usize> {
    match super::fc3::query_value(uri, "nextToken") {
        None => Some(0),
        Some(t) => base64::engine::general_purpose::STANDARD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok()),
    }
}

/// FC 2.0 (`v3 = false`: the service's versions and aliases, the 2.0 error envelope and
/// either signature) or FC 3.0 (the function's, ACS3 and the 3.0 envelope).
#[allow(clippy::too_many_arguments)]
async fn fc_listing(
    shared: Arc<Shared>,
    f: SimFunction,
    v3: bool,
    action: &'static str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error = if v3 {
        super::fc3::error
    } else {
        super::fc_error
    };
    let verified = if v3 {
        super::fc3::verify(&shared, action, &method, &uri, &headers, &body)
    } else {
        super::fc_verify(&shared, &method, &uri, &headers, &body)
    };
    if let Err(resp) = verified {
        return *resp;
    }
    let aliases = action == "ListAliases";
    let asked: usize = match super::fc3::query_value(&uri, "limit").map(|l| l.parse()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return error(400, "InvalidArgument", "limit must be 1 to 100"),
    };
    if !aliases && super::fc3::query_value(&uri, "direction").as_deref() != Some("FORWARD") {
        return error(400, "InvalidArgument", "expected direction=FORWARD");
    }
    let Some(start) = fc_start(&uri) else {
        return error(400, "InvalidArgument", "nextToken is not valid");
    };
    let limit = page_bounds(&shared.lock(), start, asked).1;
    let (page, total, fault) = match listed(&shared, &f, aliases, start, limit) {
        Ok(x) => x,
        Err(()) if v3 => return error(404, "FunctionNotFound", "function not found"),
        Err(()) => return error(404, "ServiceNotFound", "service not found"),
    };
    let faulted = if v3 {
        super::fc3::api_fault(fault).await
    } else {
        super::api_fault(fault, false).await
    };
    if let Some(resp) = faulted {
        return resp;
    }
    let (mut body, len) = match page {
        Listed::Versions(v) => {
            let items: Vec<_> = v
                .iter()
                .map(|(v, m)| {
                    serde_json::json!({"versionId": v, "description": "",
                        "createdTime": m, "lastModifiedTime": m})
                })
                .collect();
            (
                serde_json::json!({"versions": items, "direction": "FORWARD"}),
                v.len(),
            )
        }
        Listed::Aliases(a) => {
            let items: Vec<_> = a
                .iter()
                .map(|(name, (main, extra, m))| {
                    let weights: serde_json::Map<String, serde_json::Value> = extra
                        .iter()
                        .map(|(v, w)| (v.clone(), serde_json::json!(w)))
                        .collect();
                    serde_json::json!({"aliasName": name, "versionId": main,
                        "additionalVersionWeight": weights, "description": "",
                        "createdTime": m, "lastModifiedTime": m})
                })
                .collect();
            (serde_json::json!({"aliases": items}), a.len())
        }
    };
    if start + len < total {
        body["nextToken"] = serde_json::Value::String(
            base64::engine::general_purpose::STANDARD.encode((start + len).to_string()),
        );
    }
    json(body)
}

pub(super) async fn fc3_list_versions(
    State(shared): State<Arc<Shared>>,
    Path(function): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = SimFunction::fc3(&function, None);
    fc_listing(
        shared,
        f,
        true,
        "ListFunctionVersions",
        method,
        uri,
        headers,
        body,
    )
    .await
}

pub(super) async fn fc3_list_aliases(
    State(shared): State<Arc<Shared>>,
    Path(function): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = SimFunction::fc3(&function, None);
    fc_listing(shared, f, true, "ListAliases", method, uri, headers, body).await
}

pub(super) async fn fc2_list_versions(
    State(shared): State<Arc<Shared>>,
    Path(service): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = SimFunction::fc(&service, "", None);
    fc_listing(
        shared,
        f,
        false,
        "ListServiceVersions",
        method,
        uri,
        headers,
        body,
    )
    .await
}

pub(super) async fn fc2_list_aliases(
    State(shared): State<Arc<Shared>>,
    Path(service): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = SimFunction::fc(&service, "", None);
    fc_listing(shared, f, false, "ListAliases", method, uri, headers, body).await
}
