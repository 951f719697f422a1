//! The simulator's configuration calls: SCF `GetFunction`, FC 2.0 `GetService`, `GetFunction`
//! and `ListTriggers`, answered from each function's [`SimConfig`] in the clouds' own field
//! names, with the volatile fields the real APIs send (request ids, status, code size and
//! checksum, modified times), so the canonical form is tested against them. Every request is
//! signature-checked like the other endpoints.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::{Shared, SimFunction, Simulator, fc_error, fc_json, fc_verify, request_id, scf_error};

/// A deployed function's configuration, as the simulator serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub runtime: String,
    pub memory_mb: u64,
    pub timeout_s: u64,
    pub env: BTreeMap<String, String>,
    /// The cloud's last-modified time, as it prints it.
    pub modified: String,
    /// The layer versions the function uses, in order (deploy them with `deploy_layer`).
    pub layers: Vec<(String, u32)>,
    /// A container-image function's image reference: SCF `ImageConfig.ImageUri` with
    /// `Runtime: "CustomImage"`; FC `runtime: "custom-container"` with
    /// `customContainerConfig.image` (and 3.0's `resolvedImageUri`, this reference with
    /// `image_digest` when one is set).
    pub image: Option<String>,
    /// The digest FC 3.0 reports as deployed (`resolvedImageUri`).
    pub image_digest: Option<String>,
}

impl SimConfig {
    /// FC layer ARNs of `layers`.
    pub(super) fn layer_arns(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|(n, v)| {
                format!(
                    "acs:fc:{}:1234567890:layers/{n}/versions/{v}",
                    super::LAYER_ARN_REGION
                )
            })
            .collect()
    }

    /// FC's `customContainerConfig` of an image function (`None` for a package).
    pub(super) fn container(&self, fc3: bool) -> Option<serde_json::Value> {
        let image = self.image.as_ref()?;
        let mut c = serde_json::json!({"image": image, "command": "", "args": "",
            "accelerationType": "Default", "accelerationInfo": {"status": "Preparing"}});
        if fc3 && let Some(d) = &self.image_digest {
            let base = image.split(':').next().unwrap_or(image);
            c["resolvedImageUri"] = format!("{base}@{d}").into();
        }
        Some(c)
    }

    /// The runtime as FC names it.
    pub(super) fn fc_runtime(&self) -> String {
        if self.image.is_some() {
            "custom-container".into()
        } else {
            self.runtime.to_lowercase()
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            runtime: "Python3.9".into(),
            memory_mb: 128,
            timeout_s: 3,
            env: BTreeMap::new(),
            modified: "2026-01-01 00:00:00".into(),
            layers: Vec::new(),
            image: None,
            image_digest: None,
        }
    }
}

impl Simulator {
    /// Sets (replaces) a function's configuration; a function without one serves the default.
    pub fn set_config(&self, f: &SimFunction, config: SimConfig) {
        let mut inner = self.shared.lock();
        inner.configs.insert(f.clone(), config);
        inner.touch(f);
    }

    /// The configuration `f` serves now.
    pub fn config(&self, f: &SimFunction) -> SimConfig {
        self.shared
            .lock()
            .configs
            .get(f)
            .cloned()
            .unwrap_or_default()
    }
}

/// SCF `GetFunction` (already signature-checked by `scf_api`).
pub(super) fn scf_get_function(
    shared: &Arc<Shared>,
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
    let qualifier = params.get("Qualifier").and_then(|v| v.as_str());
    let f = SimFunction::scf(region, namespace, name, qualifier);
    let inner = shared.lock();
    let Some(&id) = inner.functions.get(&f) else {
        return scf_error(
            "ResourceNotFound.Function",
            &format!("function {name} does not exist in namespace {namespace}"),
        );
    };
    let c = inner.configs.get(&f).cloned().unwrap_or_default();
    let size = inner.packages[id].bytes.len();
    drop(inner);
    let vars: Vec<_> = c
        .env
        .iter()
        .map(|(k, v)| serde_json::json!({"Key": k, "Value": v}))
        .collect();
    let layers: Vec<_> = c
        .layers
        .iter()
        .map(|(n, v)| {
            serde_json::json!({"LayerName": n, "LayerVersion": v, "CompatibleRuntimes": ["Python3.9"],
                "Description": "", "LicenseInfo": "", "AddTime": "2026-01-01 00:00:00",
                "Status": "Active", "Stamp": "default"})
        })
        .collect();
    let (runtime, handler, size) = match &c.image {
        Some(_) => ("CustomImage".to_string(), "", 0),
        None => (c.runtime.clone(), "index.main_handler", size),
    };
    let image = c.image.as_ref().map(|uri| {
        serde_json::json!({"ImageType": "personal", "ImageUri": uri, "RegistryId": "",
            "EntryPoint": "", "Command": "", "Args": "", "ContainerImageAccelerate": false,
            "ImagePort": 9000})
    });
    let body = serde_json::json!({"Response": {
        "FunctionName": name, "Namespace": namespace, "FunctionVersion": f_qualifier(&f),
        "Qualifier": f_qualifier(&f), "Runtime": runtime, "Handler": handler,
        "MemorySize": c.memory_mb, "Timeout": c.timeout_s, "Type": "Event",
        "Environment": {"Variables": vars}, "ImageConfig": image,
        "VpcConfig": {"VpcId": "", "SubnetId": ""}, "Role": "", "Layers": layers,
        "Triggers": [{"TriggerName": "every-hour", "Type": "timer", "Qualifier": "$DEFAULT",
                      "TriggerDesc": "{\"cron\":\"0 0 */1 * * * *\"}", "Enable": 1,
                      "AvailableStatus": "Available", "BindStatus": "on",
                      "AddTime": "2026-01-01 00:00:00", "ModTime": c.modified}],
        "ModTime": c.modified, "AddTime": "2026-01-01 00:00:00",
        "Status": "Active", "StatusDesc": "", "CodeSize": size, "CodeResult": "success",
        "CodeError": "", "ErrNo": 0, "AvailableStatus": "Available",
        "RequestId": request_id(),
    }});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn f_qualifier(f: &SimFunction) -> &str {
    match f {
        SimFunction::Scf { qualifier, .. }
        | SimFunction::Fc { qualifier, .. }
        | SimFunction::Fc3 { qualifier, .. } => qualifier,
    }
}

fn qualifier_of(uri: &Uri) -> Option<String> {
    uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "qualifier")
            .map(|(_, v)| v.into_owned())
    })
}

/// FC 2.0 `GetService`.
pub(super) async fn fc_get_service(
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
    let exists = shared
        .lock()
        .functions
        .keys()
        .any(|k| matches!(k, SimFunction::Fc { service: s, .. } if *s == service));
    if !exists {
        return fc_error(
            404,
            "ServiceNotFound",
            &format!("service {service} not found"),
        );
    }
    fc_json(
        StatusCode::OK,
        &serde_json::json!({
            "serviceName": service, "serviceId": "svc-0001", "description": "",
            "role": "acs:ram::1234567890:role/fc-logs", "internetAccess": true,
            "logConfig": {"project": "", "logstore": ""},
            "vpcConfig": {"vpcId": "", "vSwitchIds": [], "securityGroupId": ""},
            "createdTime": "2026-01-01T00:00:00Z", "lastModifiedTime": "2026-01-01T00:00:00Z",
        }),
    )
}

fn fc_function(
    shared: &Arc<Shared>,
    service: &str,
    function: &str,
    uri: &Uri,
) -> Result<SimConfig, Box<Response>> {
    let f = SimFunction::fc(service, function, qualifier_of(uri).as_deref());
    let inner = shared.lock();
    if !inner.functions.contains_key(&f) {
        return Err(Box::new(fc_error(
            404,
            "FunctionNotFound",
            &format!("function {function} not found"),
        )));
    }
    Ok(inner.configs.get(&f).cloned().unwrap_or_default())
}

/// FC 2.0 `GetFunction`.
pub(super) async fn fc_get_function(
    State(shared): State<Arc<Shared>>,
    Path((service, function)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = fc_verify(&shared, &method, &uri, &headers, &body) {
        return *resp;
    }
    let c = match fc_function(&shared, &service, &function, &uri) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    let mut body = serde_json::json!({
        "functionName": function, "functionId": "fn-0001", "description": "",
        "runtime": c.fc_runtime(), "handler": "index.handler",
        "memorySize": c.memory_mb, "timeout": c.timeout_s,
        "environmentVariables": c.env, "layers": [], "layersArnV2": c.layer_arns(),
        "codeChecksum": "1", "codeSize": 1,
        "createdTime": "2026-01-01T00:00:00Z", "lastModifiedTime": c.modified,
    });
    // Only an image function has a container configuration.
    if let Some(cc) = c.container(false) {
        body["customContainerConfig"] = cc;
    }
    fc_json(StatusCode::OK, &body)
}

/// FC 2.0 `ListTriggers`: one timer trigger, one page.
pub(super) async fn fc_list_triggers(
    State(shared): State<Arc<Shared>>,
    Path((service, function)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = fc_verify(&shared, &method, &uri, &headers, &body) {
        return *resp;
    }
    if let Err(resp) = fc_function(&shared, &service, &function, &uri) {
        return *resp;
    }
    fc_json(
        StatusCode::OK,
        &serde_json::json!({"triggers": [{
            "triggerName": "every-hour", "triggerType": "timer", "qualifier": "LATEST",
            "triggerConfig": "{\"cronExpression\":\"@every 1h\",\"enable\":true,\"payload\":\"p\"}",
            "createdTime": "2026-01-01T00:00:00Z", "lastModifiedTime": "2026-01-01T00:00:00Z",
        }]}),
    )
}
