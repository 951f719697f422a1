//! The simulator's FC 3.0 endpoints (API 2023-03-30): `GetFunctionCode` and `ListFunctions`.
//!
//! Held to the 3.0 SDK's rules: ACS3 only (the classic `FC` scheme is refused), the
//! `x-acs-version` and `x-acs-action` of the call, every request's signature checked by
//! [`super::verify_fc`]; errors in the 3.0 envelope `{Code, Message, RequestId}` with the request
//! id in the body only (3.0 documents no `x-fc-request-id`), so fnvault's 3.0 parsing is
//! exercised. `ListFunctions` lists 3.0 functions for `fcVersion=v3`, 2.0 functions as
//! `service$function` for `v2`, and both without it, as the service does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::{
    Fault, ListScope, Shared, SimFunction, header_str, hostile_api, page_bounds, presign,
    url_encode, verify_fc, verify_request,
};

pub(super) const API_VERSION: &str = "2023-03-30";

/// `1-<8 hex>-<24 hex>`, the form of the documented 3.0 request ids.
fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!("1-{}-{}", &h[..8], &h[8..])
}

/// A 3.0 error: `{"Code","Message","RequestId"}`.
pub(super) fn error(status: u16, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"Code": code, "Message": message, "RequestId": request_id()});
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json(body: &serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The API faults, answered in the 3.0 envelope; `None`: answer normally.
pub(super) async fn api_fault(fault: Option<Fault>) -> Option<Response> {
    match fault? {
        Fault::Hang => {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            None
        }
        Fault::Throttle => Some(error(429, "ResourceExhausted", "limit exceeded")),
        Fault::ServerError => Some(error(500, "InternalServerError", "please retry")),
        _ => None,
    }
}

/// The checks of every 3.0 call beyond the signature; `Err` is the answer to send.
pub(super) fn verify(
    shared: &Arc<Shared>,
    action: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), Box<Response>> {
    let verified = verify_request(shared, method, uri, headers, body, error)?;
    let refuse = |code: &str, message: String| {
        shared.lock().stats.rejected_requests += 1;
        Err(Box::new(error(400, code, &message)))
    };
    if verified.scheme != verify_fc::Scheme::Acs3 {
        return refuse(
            "InvalidArgument",
            "FC 3.0 accepts only ACS3-HMAC-SHA256 signatures".to_string(),
        );
    }
    if header_str(headers, "x-acs-version") != Some(API_VERSION) {
        return refuse(
            "InvalidArgument",
            format!("x-acs-version must be {API_VERSION}"),
        );
    }
    if header_str(headers, "x-acs-action") != Some(action) {
        return refuse("InvalidAction", format!("x-acs-action must be {action}"));
    }
    Ok(())
}

pub(super) fn query_value(uri: &Uri, key: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub(super) async fn get_function_code(
    State(shared): State<Arc<Shared>>,
    Path(function): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = verify(&shared, "GetFunctionCode", &method, &uri, &headers, &body) {
        return *resp;
    }
    let f = SimFunction::fc3(&function, query_value(&uri, "qualifier").as_deref());
    let fault = shared.lock().take_fault(&f, false);
    if let Some(resp) = api_fault(fault).await {
        return resp;
    }
    if let Some(resp) = hostile_api(fault, false) {
        return resp;
    }
    let mut inner = shared.lock();
    let Some(&id) = inner.functions.get(&f) else {
        return error(404, "FunctionNotFound", "function not found");
    };
    inner.package_owner.insert(id, f);
    let crc = inner.packages[id].crc64;
    drop(inner);
    let path = format!("/oss/{id}");
    let expires = crate::time::unix_now() + 600;
    let host = header_str(&headers, "host").unwrap_or("127.0.0.1");
    let mut url = format!(
        "http://{host}{path}?OSSAccessKeyId=LTAIsim&Expires={expires}&Signature={}",
        url_encode(&presign(&shared.url_key, &path, expires))
    );
    if fault == Some(Fault::FileUrl) {
        url = "file:///etc/passwd".to_string();
    }
    json(&serde_json::json!({"checksum": crc.to_string(), "url": url}))
}

/// Paging as in 2.0: `limit` (at most 100) and an opaque `nextToken` (base64 of the next name,
/// so it carries `=` that must come back intact).
pub(super) async fn list_functions(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = verify(&shared, "ListFunctions", &method, &uri, &headers, &body) {
        return *resp;
    }
    let asked: usize = match query_value(&uri, "limit").map(|l| l.parse()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return error(400, "InvalidArgument", "limit must be 1 to 100"),
    };
    let version = query_value(&uri, "fcVersion");
    let (v2, v3) = match version.as_deref() {
        None => (true, true),
        Some("v2") => (true, false),
        Some("v3") => (false, true),
        Some(_) => return error(400, "InvalidArgument", "fcVersion must be v2 or v3"),
    };
    let prefix = query_value(&uri, "prefix").unwrap_or_default();
    let (fault, all, limit) = {
        let mut inner = shared.lock();
        let fault = inner.take_listing_fault(&ListScope::Fc3Functions);
        let mut names: Vec<String> = inner
            .functions
            .keys()
            .filter_map(|f| match f {
                SimFunction::Fc3 { name, .. } if v3 => Some(name.clone()),
                // How FC 2.0 functions appear in a 3.0 listing (a user report, not documented).
                SimFunction::Fc { service, name, .. } if v2 => Some(format!("{service}${name}")),
                _ => None,
            })
            .filter(|n| n.starts_with(&prefix))
            .collect();
        names.sort();
        names.dedup();
        let (_, limit) = page_bounds(&inner, 0, asked);
        (fault, names, limit)
    };
    if let Some(resp) = api_fault(fault).await {
        return resp;
    }
    if let Some(resp) = hostile_api(fault, false) {
        return resp;
    }
    let start = match query_value(&uri, "nextToken") {
        None => 0,
        Some(t) => {
            let Some(first) = base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            else {
                return error(400, "InvalidArgument", "nextToken is not valid");
            };
            all.iter().position(|n| *n >= first).unwrap_or(all.len())
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
    let inner = shared.lock();
    let items: Vec<_> = page
        .iter()
        .map(|n| match n.split_once('$') {
            Some((service, name)) => inner.fc_entry(&SimFunction::fc(service, name, None), n),
            None => inner.fc_entry(&SimFunction::fc3(n, None), n),
        })
        .collect();
    drop(inner);
    let mut body = serde_json::json!({ "functions": items });
    if let Some(next) = next {
        body["nextToken"] = serde_json::Value::String(next);
    }
    json(&body)
}

/// FC 3.0 `GetFunction`: the configuration from the function's `SimConfig`, with the 3.0
/// volatile fields (state, last update status, code checksum and size, times).
pub(super) async fn get_function(
    State(shared): State<Arc<Shared>>,
    Path(function): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = verify(&shared, "GetFunction", &method, &uri, &headers, &body) {
        return *resp;
    }
    let f = SimFunction::fc3(&function, query_value(&uri, "qualifier").as_deref());
    let inner = shared.lock();
    if !inner.functions.contains_key(&f) {
        return error(404, "FunctionNotFound", "function not found");
    }
    let c = inner.configs.get(&f).cloned().unwrap_or_default();
    drop(inner);
    let mut body = serde_json::json!({
        "functionName": function, "functionId": "fn3-0001",
        "functionArn": format!("acs:fc:cn-hangzhou:1234567890:functions/{function}"),
        "runtime": c.fc_runtime(), "handler": "index.handler",
        "memorySize": c.memory_mb, "timeout": c.timeout_s, "environmentVariables": c.env,
        "role": "", "internetAccess": true,
        "layers": c.layer_arns().into_iter().map(|arn| serde_json::json!({"arn": arn, "size": 1})).collect::<Vec<_>>(),
        "state": "Active", "lastUpdateStatus": "Successful", "codeChecksum": "1", "codeSize": 1,
        "createdTime": "2026-01-01T00:00:00Z", "lastModifiedTime": c.modified,
    });
    // Only an image function has a container configuration.
    if let Some(cc) = c.container(true) {
        body["customContainerConfig"] = cc;
    }
    json(&body)
}

/// FC 3.0 `ListTriggers`: one HTTP trigger, one page.
pub(super) async fn list_triggers(
    State(shared): State<Arc<Shared>>,
    Path(function): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = verify(&shared, "ListTriggers", &method, &uri, &headers, &body) {
        return *resp;
    }
    // Triggers belong to the function, whatever qualifier it was deployed under.
    let exists = shared
        .lock()
        .functions
        .keys()
        .any(|k| matches!(k, SimFunction::Fc3 { name, .. } if *name == function));
    if !exists {
        return error(404, "FunctionNotFound", "function not found");
    }
    json(&serde_json::json!({"triggers": [{
        "triggerName": "http", "triggerType": "http", "qualifier": "LATEST", "status": "Ready",
        "triggerConfig": "{\"authType\":\"anonymous\",\"methods\":[\"GET\"]}",
        "createdTime": "2026-01-01T00:00:00Z", "lastModifiedTime": "2026-01-01T00:00:00Z",
    }]}))
}
