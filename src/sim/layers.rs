//! The simulator's layers: layer versions deployed by the tests (`deploy_layer`), served by
//! SCF `GetLayerVersion` (`Location` + `CodeSha256`), FC 2.0 and FC 3.0 `GetLayerVersion`
//! (`code.location` + `codeChecksum`, CRC-64), each signature-checked like the package calls,
//! with faults injected per layer version (`set_layer_fault`: on the API call or on the
//! download, like a function's). Their zips download from the same presigned `/cos/` and
//! `/oss/` addresses as packages, counted per layer version (`layer_downloads`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::{
    Fault, Package, Shared, Simulator, api_fault, fc_error, fc_json, fc_verify, header_str,
    hostile_api, presign, request_id, scf_error, url_encode,
};

/// The region the simulator writes into FC layer ARNs
/// (`acs:fc:<region>:<account>:layers/<name>/versions/<n>`).
pub const LAYER_ARN_REGION: &str = "cn-hangzhou";

/// A layer version: its name and number.
pub type LayerId = (String, u32);

impl Simulator {
    /// Deploys layer `name` version `version` with `bytes` (replacing an earlier deploy of
    /// the same version, which a real cloud never does: tests use it to serve other bytes).
    pub fn deploy_layer(&self, name: &str, version: u32, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        let package = Package {
            sha256: crate::fetch::sha256(&bytes),
            crc64: crate::fetch::crc64(&bytes),
            bytes,
        };
        let mut inner = self.shared.lock();
        inner.packages.push(package);
        let id = inner.packages.len() - 1;
        let layer = (name.to_string(), version);
        inner.layer_owner.insert(id, layer.clone());
        inner.layers.insert(layer, id);
    }

    /// Injects `fault` into the next `times` requests (API call or download, as the fault
    /// applies) of layer `name` version `version` (`u32::MAX`: until cleared).
    pub fn set_layer_fault(&self, name: &str, version: u32, fault: Fault, times: u32) {
        self.shared
            .lock()
            .layer_faults
            .insert((name.to_string(), version), (fault, times));
    }

    pub fn clear_layer_faults(&self) {
        self.shared.lock().layer_faults.clear();
    }

    /// Whole downloads served of layer `name` version `version`.
    pub fn layer_downloads(&self, name: &str, version: u32) -> u64 {
        self.shared
            .lock()
            .layer_downloads
            .get(&(name.to_string(), version))
            .copied()
            .unwrap_or(0)
    }

    /// `GetLayerVersion` calls answered (any cloud), for "fetched once" tests.
    pub fn layer_calls(&self) -> u64 {
        self.shared.lock().layer_calls
    }
}

impl super::Inner {
    /// The fault to apply to this request of layer `l`, counting it down.
    pub(super) fn take_layer_fault(&mut self, l: &LayerId, download: bool) -> Option<Fault> {
        let (fault, left) = self.layer_faults.get_mut(l)?;
        if fault.on_download() != download {
            return None;
        }
        let fault = *fault;
        if *left != u32::MAX {
            *left -= 1;
            if *left == 0 {
                self.layer_faults.remove(l);
            }
        }
        Some(fault)
    }
}

/// What a `GetLayerVersion` answers: the presigned address and checksums, or the error
/// response to send.
fn lookup(
    shared: &Arc<Shared>,
    name: &str,
    version: &str,
    host: &str,
    cos: bool,
) -> Result<(String, [u8; 32], u64, usize), ()> {
    let Ok(v) = version.parse::<u32>() else {
        return Err(());
    };
    let mut inner = shared.lock();
    inner.layer_calls += 1;
    let Some(&id) = inner.layers.get(&(name.to_string(), v)) else {
        return Err(());
    };
    let p = &inner.packages[id];
    let (sha, crc, size) = (p.sha256, p.crc64, p.bytes.len());
    drop(inner);
    let expires = crate::time::unix_now() + 600;
    let url = if cos {
        let path = format!("/cos/{id}");
        format!(
            "http://{host}{path}?sign={}&t={expires}",
            presign(&shared.url_key, &path, expires)
        )
    } else {
        let path = format!("/oss/{id}");
        format!(
            "http://{host}{path}?OSSAccessKeyId=LTAIsim&Expires={expires}&Signature={}",
            url_encode(&presign(&shared.url_key, &path, expires))
        )
    };
    Ok((url, sha, crc, size))
}

fn take_api_fault(shared: &Arc<Shared>, name: &str, version: &str) -> Option<Fault> {
    let v = version.parse::<u32>().ok()?;
    shared
        .lock()
        .take_layer_fault(&(name.to_string(), v), false)
}

/// SCF `GetLayerVersion` (already signature-checked by `scf_api`).
pub(super) async fn scf_get_layer_version(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    params: &serde_json::Value,
) -> Response {
    let Some(name) = params.get("LayerName").and_then(|v| v.as_str()) else {
        return scf_error("MissingParameter", "LayerName is required");
    };
    // The API takes a number; a string is refused as the real one refuses a wrong type.
    let Some(version) = params.get("LayerVersion").and_then(|v| v.as_u64()) else {
        return scf_error(
            "InvalidParameterValue.LayerVersion",
            "LayerVersion must be an integer",
        );
    };
    let version = version.to_string();
    let fault = take_api_fault(shared, name, &version);
    if let Some(resp) = api_fault(fault, true).await {
        return resp;
    }
    if let Some(resp) = hostile_api(fault, true) {
        return resp;
    }
    let host = header_str(headers, "host")
        .unwrap_or("127.0.0.1")
        .to_string();
    let Ok((url, sha, _, _)) = lookup(shared, name, &version, &host, true) else {
        return scf_error(
            "ResourceNotFound.LayerVersion",
            &format!("layer {name} version {version} does not exist"),
        );
    };
    let body = serde_json::json!({"Response": {
        "LayerName": name, "LayerVersion": version.parse::<u64>().unwrap_or(0),
        "Location": url, "CodeSha256": hex::encode(sha), "Status": "Active",
        "CompatibleRuntimes": ["Python3.9"], "Description": "", "LicenseInfo": "",
        "AddTime": "2026-01-01 00:00:00", "RequestId": request_id(),
    }});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The `Layer` body FC 2.0 and 3.0 share (3.0 renames `arnV2` to `layerVersionArn`).
fn fc_layer_body(
    name: &str,
    version: &str,
    url: &str,
    crc: u64,
    size: usize,
    fc3: bool,
) -> Response {
    let arn = format!("acs:fc:{LAYER_ARN_REGION}:1234567890:layers/{name}/versions/{version}");
    let mut body = serde_json::json!({
        "layerName": name, "version": version.parse::<u64>().unwrap_or(0),
        "code": {"location": url, "repositoryType": "OSS"},
        "codeChecksum": crc.to_string(), "codeSize": size,
        "compatibleRuntime": ["python3.9"], "createTime": "2026-01-01T00:00:00Z",
        "description": "", "license": "",
    });
    if fc3 {
        body["layerVersionArn"] = arn.into();
        body["acl"] = "0".into();
    } else {
        body["arnV2"] = arn.into();
        body["acl"] = 0.into();
    }
    fc_json(StatusCode::OK, &body)
}

/// FC 2.0 `GetLayerVersion`.
pub(super) async fn fc_get_layer_version(
    State(shared): State<Arc<Shared>>,
    Path((name, version)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = fc_verify(&shared, &method, &uri, &headers, &body) {
        return *resp;
    }
    let fault = take_api_fault(&shared, &name, &version);
    if let Some(resp) = api_fault(fault, false).await {
        return resp;
    }
    if let Some(resp) = hostile_api(fault, false) {
        return resp;
    }
    let host = header_str(&headers, "host")
        .unwrap_or("127.0.0.1")
        .to_string();
    match lookup(&shared, &name, &version, &host, false) {
        Ok((url, _, crc, size)) => fc_layer_body(&name, &version, &url, crc, size, false),
        Err(()) => fc_error(
            404,
            "LayerVersionNotFound",
            &format!("layer {name} version {version} not found"),
        ),
    }
}

/// FC 3.0 `GetLayerVersion` (3.0 rules: ACS3 only, its error envelope).
pub(super) async fn fc3_get_layer_version(
    State(shared): State<Arc<Shared>>,
    Path((name, version)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) =
        super::fc3::verify(&shared, "GetLayerVersion", &method, &uri, &headers, &body)
    {
        return *resp;
    }
    let fault = take_api_fault(&shared, &name, &version);
    if let Some(resp) = super::fc3::api_fault(fault).await {
        return resp;
    }
    if let Some(resp) = hostile_api(fault, false) {
        return resp;
    }
    let host = header_str(&headers, "host")
        .unwrap_or("127.0.0.1")
        .to_string();
    match lookup(&shared, &name, &version, &host, false) {
        Ok((url, _, crc, size)) => fc_layer_body(&name, &version, &url, crc, size, true),
        Err(()) => super::fc3::error(
            404,
            "LayerVersionNotFound",
            &format!("layer {name} version {version} not found"),
        ),
    }
}
