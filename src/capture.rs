//! Configuration snapshots: the cloud's answers about a function turned into one canonical
//! JSON document, with secret values protected per `[capture] secrets`.
//!
//! Owns: which fields are volatile (left out: they change on every read or belong to the
//! package), which are secret-bearing (environment variable values, trigger settings, registry
//! passwords), the keyed hash that replaces a secret in `hash` mode, the canonical form (keys
//! sorted at every depth, arrays in the cloud's order except triggers and environment
//! variables, sorted by name so a reordering is not a change) and the field-by-field
//! comparison `diff` prints. A leaf: it imports nothing from the crate but `model`, so `cloud`
//! (which produces a [`ConfigAnswer`]) and `sweep` (which stores the document) both use it.
//!
//! The clear values exist only inside a [`ConfigAnswer`] and for the time [`canonical`] runs;
//! neither prints its content (`Debug` says only which API answered).

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The prefix of a protected value in `hash` mode: `hmac-sha256:<64 hex>`.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// What a cloud answered about one function's configuration, before anything is removed or
/// protected. Holds clear secrets: its `Debug` prints no content.
pub enum ConfigAnswer {
    /// SCF `GetFunction` (its `Triggers` are part of the answer).
    Scf { function: Value },
    /// FC 2.0 `GetService`, `GetFunction` and every page of `ListTriggers`.
    Fc2 {
        service: Value,
        function: Value,
        triggers: Vec<Value>,
    },
    /// FC 3.0 `GetFunction` and every page of `ListTriggers`.
    Fc3 {
        function: Value,
        triggers: Vec<Value>,
    },
}

impl fmt::Debug for ConfigAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigAnswer::Scf { .. } => f.write_str("ConfigAnswer::Scf(..)"),
            ConfigAnswer::Fc2 { .. } => f.write_str("ConfigAnswer::Fc2(..)"),
            ConfigAnswer::Fc3 { .. } => f.write_str("ConfigAnswer::Fc3(..)"),
        }
    }
}

/// How secret values are kept (`[capture] secrets`).
#[derive(Clone, Copy)]
pub enum Protect<'a> {
    /// Replaced by `hmac-sha256:` + HMAC-SHA256 under the archive's key.
    Hash(&'a [u8; 32]),
    /// Kept as read.
    Plain,
    /// `age:` + the keyed hash (as in `Hash`) + `:` + the value encrypted to every recipient
    /// (age, base64): the hash detects changes without decrypting (a re-encryption of the
    /// same value differs in every byte), the ciphertext lets an identity holder restore.
    Encrypt {
        key: &'a [u8; 32],
        recipients: &'a [age::x25519::Recipient],
    },
}

impl Protect<'_> {
    fn name(&self) -> &'static str {
        match self {
            Protect::Hash(_) => "hash",
            Protect::Plain => "plain",
            Protect::Encrypt { .. } => "encrypt",
        }
    }
}

/// The prefix of a protected value in `encrypt` mode: `age:hmac-sha256:<64 hex>:<base64>`.
pub const AGE_PREFIX: &str = "age:";

/// A canonical configuration document, ready to store as a blob.
pub struct Snapshot {
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, lowercase hex: the blob's name.
    pub sha256: String,
    /// The cloud's own last-modified time of the function (SCF `ModTime`, FC
    /// `lastModifiedTime`), as sent; kept beside the version, not in the document.
    pub cloud_modified: Option<String>,
    /// A container-image function's image reference (with its digest where the cloud gives
    /// one: FC 3.0's `resolvedImageUri`, or an SCF `ImageUri` deployed by digest); `None`
    /// for a function deployed as a code package.
    pub image: Option<String>,
    /// The layer versions the function references, in the cloud's order (which decides whose
    /// files win; never sorted).
    pub layers: Vec<LayerRef>,
}

/// A layer version a function references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    pub name: String,
    /// The version number, as text.
    pub version: String,
    /// The region the ARN names (FC), when it names one; else the function's.
    pub region: Option<String>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Snapshot({})", self.sha256)
    }
}

/// SCF `GetFunction` fields that change on every read or belong to the package.
const SCF_VOLATILE: &[&str] = &[
    "RequestId",
    "Status",
    "StatusDesc",
    "StatusReasons",
    "AvailableStatus",
    "CodeResult",
    "CodeError",
    "ErrNo",
    "CodeInfo",
    "CodeSize",
    "ModTime",
    "AccessInfo",
];
const SCF_TRIGGER_VOLATILE: &[&str] = &["AvailableStatus", "BindStatus", "AddTime", "ModTime"];
const FC_SERVICE_VOLATILE: &[&str] = &["createdTime", "lastModifiedTime"];
const FC_FUNCTION_VOLATILE: &[&str] = &[
    "codeChecksum",
    "codeSize",
    "createdTime",
    "lastModifiedTime",
];
const FC_TRIGGER_VOLATILE: &[&str] = &["createdTime", "lastModifiedTime"];
/// FC 3.0 adds the function's lifecycle state (`shared/api/aliyun-fc-more.md` B.5).
const FC3_FUNCTION_VOLATILE: &[&str] = &[
    "state",
    "stateReason",
    "stateReasonCode",
    "lastUpdateStatus",
    "lastUpdateStatusReason",
    "lastUpdateStatusReasonCode",
    "lockInfo",
];

/// The canonical document of `answer`. `Err` names what was not as the API documents it.
pub fn canonical(answer: ConfigAnswer, protect: Protect<'_>) -> Result<Snapshot, String> {
    let image;
    let layers;
    let (api, mut parts, cloud_modified) = match answer {
        ConfigAnswer::Scf { mut function } => {
            let obj = object(&mut function, "GetFunction")?;
            image = scf_image(obj)?;
            layers = scf_layers(obj)?;
            let modified = obj.get("ModTime").and_then(Value::as_str).map(String::from);
            for k in SCF_VOLATILE {
                obj.remove(*k);
            }
            if let Some(vars) = obj
                .get_mut("Environment")
                .and_then(|e| e.get_mut("Variables"))
                .and_then(Value::as_array_mut)
            {
                for var in vars.iter_mut() {
                    if let Some(v) = var.get_mut("Value") {
                        protect_value(v, protect)?;
                    }
                }
                sort_by_name(vars, "Key");
            }
            if let Some(triggers) = obj.get_mut("Triggers").and_then(Value::as_array_mut) {
                for t in triggers.iter_mut() {
                    if let Some(t) = t.as_object_mut() {
                        for k in SCF_TRIGGER_VOLATILE {
                            t.remove(*k);
                        }
                        if let Some(desc) = t.get_mut("TriggerDesc") {
                            protect_embedded_json(desc, protect)?;
                        }
                        if let Some(arg) = t.get_mut("CustomArgument") {
                            protect_value(arg, protect)?;
                        }
                    }
                }
                sort_by_name(triggers, "TriggerName");
            }
            ("scf/2018-04-16", vec![("function", function)], modified)
        }
        ConfigAnswer::Fc3 {
            mut function,
            mut triggers,
        } => {
            let f = object(&mut function, "GetFunction")?;
            image = fc_image(f, true)?;
            layers = fc_layers(f, true)?;
            for k in FC3_FUNCTION_VOLATILE {
                f.remove(*k);
            }
            let modified = fc_function(f, protect)?;
            fc_triggers(&mut triggers, protect)?;
            for t in triggers.iter_mut().filter_map(Value::as_object_mut) {
                t.remove("status");
            }
            (
                "fc/2023-03-30",
                vec![("function", function), ("triggers", Value::Array(triggers))],
                modified,
            )
        }
        ConfigAnswer::Fc2 {
            mut service,
            mut function,
            mut triggers,
        } => {
            let s = object(&mut service, "GetService")?;
            for k in FC_SERVICE_VOLATILE {
                s.remove(*k);
            }
            let f = object(&mut function, "GetFunction")?;
            image = fc_image(f, false)?;
            layers = fc_layers(f, false)?;
            let modified = fc_function(f, protect)?;
            fc_triggers(&mut triggers, protect)?;
            (
                "fc/2021-04-06",
                vec![
                    ("service", service),
                    ("function", function),
                    ("triggers", Value::Array(triggers)),
                ],
                modified,
            )
        }
    };
    let mut doc = serde_json::Map::new();
    doc.insert(
        "fnvault".into(),
        serde_json::json!({ "api": api, "secrets": protect.name() }),
    );
    for (k, v) in parts.drain(..) {
        doc.insert(k.into(), v);
    }
    let mut bytes = Vec::new();
    write_canonical(&Value::Object(doc), &mut bytes);
    bytes.push(b'\n');
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(Snapshot {
        bytes,
        sha256,
        cloud_modified,
        image,
        layers,
    })
}

/// SCF: an image function has `ImageConfig.ImageUri` (`shared/api/tencent-scf-more.md` 1.4);
/// `Runtime: "CustomImage"` without one is an answer fnvault cannot archive faithfully.
fn scf_image(f: &serde_json::Map<String, Value>) -> Result<Option<String>, String> {
    let uri = f
        .get("ImageConfig")
        .and_then(|c| c.get("ImageUri"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty());
    match uri {
        Some(u) => Ok(Some(u.to_string())),
        None if f.get("Runtime").and_then(Value::as_str) == Some("CustomImage") => {
            Err("GetFunction says Runtime CustomImage but gives no ImageConfig.ImageUri".into())
        }
        None => Ok(None),
    }
}

/// FC: `runtime: "custom-container"`; the reference is `customContainerConfig.image`, or in
/// 3.0 `resolvedImageUri` (the deployed digest) when it is sent.
fn fc_image(f: &serde_json::Map<String, Value>, fc3: bool) -> Result<Option<String>, String> {
    if f.get("runtime").and_then(Value::as_str) != Some("custom-container") {
        return Ok(None);
    }
    let c = f.get("customContainerConfig");
    let pick = |k: &str| {
        c.and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let resolved = if fc3 { pick("resolvedImageUri") } else { None };
    match resolved.or_else(|| pick("image")) {
        Some(i) => Ok(Some(i.to_string())),
        None => Err(
            "GetFunction says runtime custom-container but gives no customContainerConfig.image"
                .into(),
        ),
    }
}

/// Whether a layer's name and version can become part of a key and a file name: names as
/// the clouds allow them (letters, digits, `-`, `_`, at most 128), versions decimal.
fn checked_layer(name: &str, version: &str, region: Option<&str>) -> Result<LayerRef, String> {
    let name_ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let version_ok =
        !version.is_empty() && version.len() <= 10 && version.bytes().all(|b| b.is_ascii_digit());
    let region_ok = region.is_none_or(|r| {
        !r.is_empty() && r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !(name_ok && version_ok && region_ok) {
        return Err(format!(
            "layer `{}` version `{}` is not a layer name and version number",
            name.escape_default(),
            version.escape_default()
        ));
    }
    Ok(LayerRef {
        name: name.to_string(),
        version: version.to_string(),
        region: region.map(String::from),
    })
}

/// SCF `Layers[]`: `{LayerName, LayerVersion (int)}`, in the cloud's order.
fn scf_layers(f: &serde_json::Map<String, Value>) -> Result<Vec<LayerRef>, String> {
    let Some(list) = f.get("Layers").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|l| {
            let name = l.get("LayerName").and_then(Value::as_str).unwrap_or("");
            let version = match l.get("LayerVersion") {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            checked_layer(name, &version, None).map_err(|e| format!("Layers: {e}"))
        })
        .collect()
}

/// FC layers by ARN: 2.0 `layersArnV2[]` (strings; else the deprecated `layers[]`,
/// `<hash>#<name>#<version>`), 3.0 `layers[]{arn}`. The ARN is
/// `acs:fc:{region}:{account}:layers/{name}/versions/{version}`.
fn fc_layers(f: &serde_json::Map<String, Value>, fc3: bool) -> Result<Vec<LayerRef>, String> {
    let arns: Vec<&str> = if fc3 {
        match f.get("layers").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .map(|l| {
                    l.get("arn")
                        .and_then(Value::as_str)
                        .ok_or_else(|| "layers: an entry without an arn".to_string())
                })
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        }
    } else {
        let v2: Vec<&str> = f
            .get("layersArnV2")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if v2.is_empty() {
            let v1: Vec<&str> = f
                .get("layers")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            return v1
                .into_iter()
                .map(|a| {
                    let mut parts = a.rsplitn(3, '#');
                    let version = parts.next().unwrap_or("");
                    let name = parts.next().unwrap_or("");
                    checked_layer(name, version, None).map_err(|e| format!("layers: {e}"))
                })
                .collect();
        }
        v2
    };
    arns.into_iter()
        .map(|arn| {
            let parts: Vec<&str> = arn.splitn(5, ':').collect();
            let path: Vec<&str> = parts
                .get(4)
                .map(|p| p.split('/').collect())
                .unwrap_or_default();
            match (parts.as_slice(), path.as_slice()) {
                ([_, _, region, _, _], ["layers", name, "versions", version]) => {
                    checked_layer(name, version, Some(region))
                }
                _ => Err(format!(
                    "layer ARN `{}` is not acs:fc:<region>:<account>:layers/<name>/versions/<n>",
                    arn.escape_default()
                )),
            }
        })
        .collect()
}

/// What FC 2.0 and 3.0 functions share: volatile fields out, environment values and the
/// container registry password protected. Returns the cloud's modified time.
fn fc_function(
    f: &mut serde_json::Map<String, Value>,
    protect: Protect<'_>,
) -> Result<Option<String>, String> {
    let modified = f
        .get("lastModifiedTime")
        .and_then(Value::as_str)
        .map(String::from);
    for k in FC_FUNCTION_VOLATILE {
        f.remove(*k);
    }
    if let Some(c) = f
        .get_mut("customContainerConfig")
        .and_then(Value::as_object_mut)
    {
        c.remove("accelerationInfo");
        if let Some(p) = c
            .get_mut("registryConfig")
            .and_then(|r| r.get_mut("authConfig"))
            .and_then(|a| a.get_mut("password"))
        {
            protect_value(p, protect)?;
        }
    }
    if let Some(env) = f
        .get_mut("environmentVariables")
        .and_then(Value::as_object_mut)
    {
        for v in env.values_mut() {
            protect_value(v, protect)?;
        }
    }
    Ok(modified)
}

/// FC triggers (2.0 and 3.0): volatile times out, `triggerConfig` protected, sorted by name.
fn fc_triggers(triggers: &mut [Value], protect: Protect<'_>) -> Result<(), String> {
    for t in triggers.iter_mut() {
        let t = object(t, "ListTriggers entry")?;
        for k in FC_TRIGGER_VOLATILE {
            t.remove(*k);
        }
        if let Some(c) = t.get_mut("triggerConfig") {
            protect_embedded_json(c, protect)?;
        }
    }
    sort_by_name(triggers, "triggerName");
    Ok(())
}

fn object<'a>(
    v: &'a mut Value,
    what: &str,
) -> Result<&'a mut serde_json::Map<String, Value>, String> {
    v.as_object_mut()
        .ok_or_else(|| format!("{what} answered something other than a JSON object"))
}

/// Sorts `items` by their `name` field: the cloud's order of triggers and environment
/// variables carries no meaning, and a reordering must not read as a change.
fn sort_by_name(items: &mut [Value], name: &str) {
    items.sort_by(|a, b| {
        let ka = a.get(name).and_then(Value::as_str).unwrap_or_default();
        let kb = b.get(name).and_then(Value::as_str).unwrap_or_default();
        ka.cmp(kb)
    });
}

/// Replaces a secret value per `protect` (an empty string stays empty: nothing to hide, and
/// "was set to empty" is worth seeing). `Err` only if encryption fails, naming no value.
fn protect_value(v: &mut Value, protect: Protect<'_>) -> Result<(), String> {
    let key = match protect {
        Protect::Plain => return Ok(()),
        Protect::Hash(key) | Protect::Encrypt { key, .. } => key,
    };
    let text = match &*v {
        Value::String(s) if s.is_empty() => return Ok(()),
        Value::Null => return Ok(()),
        Value::String(s) => s.clone(),
        other => {
            let mut b = Vec::new();
            write_canonical(other, &mut b);
            String::from_utf8_lossy(&b).into_owned()
        }
    };
    let hash = keyed_hash(key, &text);
    *v = Value::String(match protect {
        Protect::Encrypt { recipients, .. } => {
            format!("{AGE_PREFIX}{hash}:{}", encrypt(recipients, &text)?)
        }
        _ => hash,
    });
    Ok(())
}

/// `text` encrypted to every recipient (one age file), base64.
fn encrypt(recipients: &[age::x25519::Recipient], text: &str) -> Result<String, String> {
    use base64::Engine;
    use std::io::Write;
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| format!("encrypting a secret to the age recipients: {e}"))?;
    let mut out = Vec::new();
    let mut w = encryptor
        .wrap_output(&mut out)
        .map_err(|e| format!("encrypting a secret: {e}"))?;
    w.write_all(text.as_bytes())
        .and_then(|()| w.finish().map(|_| ()))
        .map_err(|e| format!("encrypting a secret: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// The bytes a document is compared by: every `encrypt`-mode value cut back to its keyed
/// hash (`age:hmac-sha256:<hex>:<base64>` → `age:hmac-sha256:<hex>`), at any depth —
/// trigger settings hold them inside JSON strings, where base64 needs no escaping. Other
/// documents are their own comparable form.
pub fn comparable(bytes: &[u8]) -> Vec<u8> {
    let marker = format!("{AGE_PREFIX}{HASH_PREFIX}");
    let marker = marker.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(marker) {
            let hex_end = i + marker.len() + 64;
            let is_value = bytes.len() > hex_end
                && bytes[i + marker.len()..hex_end]
                    .iter()
                    .all(u8::is_ascii_hexdigit)
                && bytes[hex_end] == b':';
            if is_value {
                out.extend_from_slice(&bytes[i..hex_end]);
                i = hex_end + 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'+' | b'/' | b'='))
                {
                    i += 1;
                }
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// SHA-256 (hex) of [`comparable`]: equal for two reads of an unchanged configuration in
/// every mode.
pub fn comparable_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(comparable(bytes)))
}

/// Decrypts every `encrypt`-mode value of a document with `identities`, at any depth (trigger
/// settings: inside JSON strings). `Err` names the field that could not be decrypted.
pub fn decrypt_document(
    doc: &mut Value,
    identities: &[Box<dyn age::Identity>],
) -> Result<usize, String> {
    fn walk(
        v: &mut Value,
        path: &str,
        ids: &[Box<dyn age::Identity>],
        n: &mut usize,
    ) -> Result<(), String> {
        match v {
            Value::Object(m) => {
                for (k, inner) in m.iter_mut() {
                    walk(inner, &format!("{path}.{k}"), ids, n)?;
                }
            }
            Value::Array(a) => {
                for (i, inner) in a.iter_mut().enumerate() {
                    walk(inner, &format!("{path}[{i}]"), ids, n)?;
                }
            }
            Value::String(s) => {
                if let Some(clear) = decrypt_value(s, ids).map_err(|e| format!("{path}: {e}"))? {
                    *s = clear;
                    *n += 1;
                } else if s.contains(AGE_PREFIX)
                    && let Ok(mut inner) = serde_json::from_str::<Value>(s)
                    && (inner.is_object() || inner.is_array())
                {
                    let before = *n;
                    walk(&mut inner, path, ids, n)?;
                    if *n > before {
                        let mut b = Vec::new();
                        write_canonical(&inner, &mut b);
                        *s = String::from_utf8_lossy(&b).into_owned();
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut n = 0;
    walk(doc, "", identities, &mut n)?;
    Ok(n)
}

/// The clear text of one `encrypt`-mode value; `None` when `s` is not one.
fn decrypt_value(s: &str, ids: &[Box<dyn age::Identity>]) -> Result<Option<String>, String> {
    use base64::Engine;
    use std::io::Read;
    let Some(rest) = s.strip_prefix(AGE_PREFIX) else {
        return Ok(None);
    };
    let Some((hash, b64)) = rest.rsplit_once(':') else {
        return Ok(None);
    };
    if !is_protected(hash) {
        return Ok(None);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the ciphertext is not base64".to_string())?;
    let decryptor = age::Decryptor::new_buffered(&bytes[..])
        .map_err(|e| format!("not an age ciphertext: {e}"))?;
    let mut reader = decryptor
        .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| format!("no identity given can decrypt it: {e}"))?;
    let mut clear = String::new();
    reader
        .read_to_string(&mut clear)
        .map_err(|e| format!("decrypting: {e}"))?;
    Ok(Some(clear))
}

/// `hmac-sha256:<hex>` of `value` under the archive's key.
pub fn keyed_hash(key: &[u8; 32], value: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(value.as_bytes());
    format!("{HASH_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether a key inside a trigger's settings names a secret (passwords of event sources, auth
/// configurations, tokens, timer payloads): `shared/api` lists these as the secret-bearing ones.
fn is_secret_key(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n != "authtype"
        && [
            "pass",
            "secret",
            "token",
            "auth",
            "payload",
            "credential",
            "accesskey",
        ]
        .iter()
        .any(|s| n.contains(s))
}

/// A trigger's settings, a JSON document inside a string: its secret-bearing keys are
/// protected at any depth and the string is rewritten in canonical form. A string that is not
/// JSON is protected whole. In `plain` mode the string stays exactly as read.
fn protect_embedded_json(v: &mut Value, protect: Protect<'_>) -> Result<(), String> {
    if matches!(protect, Protect::Plain) {
        return Ok(());
    }
    let Value::String(text) = v else {
        return protect_value(v, protect);
    };
    match serde_json::from_str::<Value>(text) {
        Ok(mut inner) if inner.is_object() || inner.is_array() => {
            protect_keys(&mut inner, protect)?;
            let mut b = Vec::new();
            write_canonical(&inner, &mut b);
            *v = Value::String(String::from_utf8_lossy(&b).into_owned());
            Ok(())
        }
        _ => protect_value(v, protect),
    }
}

fn protect_keys(v: &mut Value, protect: Protect<'_>) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            for (k, inner) in m.iter_mut() {
                if is_secret_key(k) {
                    protect_value(inner, protect)?;
                } else {
                    protect_keys(inner, protect)?;
                }
            }
        }
        Value::Array(a) => {
            for i in a.iter_mut() {
                protect_keys(i, protect)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// JSON with every object's keys sorted (byte order) and no whitespace: the same document
/// always gives the same bytes, whatever order the cloud sent.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String((*k).clone()).to_string().as_bytes());
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// One difference between two configuration documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added {
        path: String,
        value: String,
    },
    Removed {
        path: String,
        value: String,
    },
    Changed {
        path: String,
        old: String,
        new: String,
    },
}

/// The field-by-field differences from `old` to `new`, by path (`function.MemorySize`,
/// `function.Environment.Variables[DB_URL].Value`, `function.environmentVariables.DB_URL`).
/// Elements of arrays of objects with a name (`Key`, `TriggerName`, `triggerName`, `name`)
/// are addressed by it, others by index. A protected value (a keyed hash) is never shown:
/// only that it was added, removed or changed.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut a = BTreeMap::new();
    let mut b = BTreeMap::new();
    flatten("", old, &mut a);
    flatten("", new, &mut b);
    let mut out = Vec::new();
    for (path, va) in &a {
        match b.get(path) {
            None => out.push(Change::Removed {
                path: path.clone(),
                value: shown(va),
            }),
            Some(vb) if vb != va => out.push(Change::Changed {
                path: path.clone(),
                old: shown(va),
                new: shown(vb),
            }),
            Some(_) => {}
        }
    }
    for (path, vb) in &b {
        if !a.contains_key(path) {
            out.push(Change::Added {
                path: path.clone(),
                value: shown(vb),
            });
        }
    }
    out.sort_by(|x, y| change_path(x).cmp(change_path(y)));
    out
}

fn change_path(c: &Change) -> &str {
    match c {
        Change::Added { path, .. }
        | Change::Removed { path, .. }
        | Change::Changed { path, .. } => path,
    }
}

/// How a leaf is shown in a diff: a protected value as `(secret)`, never its hash.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if is_protected(s) => "(secret)".into(),
        other => {
            let mut b = Vec::new();
            write_canonical(other, &mut b);
            String::from_utf8_lossy(&b).into_owned()
        }
    }
}

/// Whether a string is a value protected in `hash` mode.
pub fn is_protected(s: &str) -> bool {
    let is_hash = |s: &str| {
        s.strip_prefix(HASH_PREFIX)
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    match s.strip_prefix(AGE_PREFIX) {
        // `encrypt` mode: the keyed hash, then the ciphertext (or, compared, the hash alone).
        Some(rest) => is_hash(rest) || rest.rsplit_once(':').is_some_and(|(hash, _)| is_hash(hash)),
        None => is_hash(s),
    }
}

const NAME_FIELDS: &[&str] = &["Key", "TriggerName", "triggerName", "name", "LayerName"];

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, inner) in m {
                flatten(&join(k), inner, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, inner) in a.iter().enumerate() {
                let name = NAME_FIELDS
                    .iter()
                    .find_map(|f| inner.get(*f).and_then(Value::as_str));
                let label = match name {
                    Some(n) => format!("{prefix}[{n}]"),
                    None => format!("{prefix}[{i}]"),
                };
                flatten(&label, inner, out);
            }
        }
        // `encrypt` mode: a value is compared by its keyed hash, never by its ciphertext
        // (fresh on every read), also inside trigger settings' JSON strings.
        Value::String(s) if s.contains(AGE_PREFIX) => {
            let c = String::from_utf8_lossy(&comparable(s.as_bytes())).into_owned();
            out.insert(prefix.to_string(), Value::String(c));
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: [u8; 32] = [7; 32];

    fn scf(env_value: &str, memory: u64) -> ConfigAnswer {
        ConfigAnswer::Scf {
            function: json!({
                "RequestId": "r-1", "Status": "Active", "ModTime": "2026-01-02 03:04:05",
                "CodeSize": 1234, "MemorySize": memory, "Runtime": "Python3.9",
                "Environment": {"Variables": [
                    {"Key": "Z", "Value": "z"}, {"Key": "DB_URL", "Value": env_value}
                ]},
                "Triggers": [{"TriggerName": "t", "Type": "timer",
                              "TriggerDesc": "{\"cron\":\"0 * * * *\",\"token\":\"tok-secret\"}",
                              "CustomArgument": "arg-secret", "ModTime": "x"}]
            }),
        }
    }

    #[test]
    fn a_document_is_canonical_without_volatile_fields_or_clear_secrets() {
        let a = canonical(scf("pg://user:hunter2@db", 128), Protect::Hash(&KEY)).unwrap();
        let text = String::from_utf8(a.bytes.clone()).unwrap();
        for gone in [
            "hunter2",
            "tok-secret",
            "arg-secret",
            "RequestId",
            "CodeSize",
            "Active",
        ] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        assert!(text.contains("\"cron\\\":\\\"0 * * * *\\\""), "{text}");
        assert_eq!(a.cloud_modified.as_deref(), Some("2026-01-02 03:04:05"));
        // The same configuration read again is the same document; a changed value is not.
        let b = canonical(scf("pg://user:hunter2@db", 128), Protect::Hash(&KEY)).unwrap();
        assert_eq!(a.sha256, b.sha256);
        let c = canonical(scf("pg://user:other@db", 128), Protect::Hash(&KEY)).unwrap();
        assert_ne!(a.sha256, c.sha256);
        let old: Value = serde_json::from_slice(&a.bytes).unwrap();
        let new: Value = serde_json::from_slice(&c.bytes).unwrap();
        assert_eq!(
            diff(&old, &new),
            vec![Change::Changed {
                path: "function.Environment.Variables[DB_URL].Value".into(),
                old: "(secret)".into(),
                new: "(secret)".into(),
            }]
        );
        let d = canonical(scf("pg://user:hunter2@db", 256), Protect::Hash(&KEY)).unwrap();
        let new: Value = serde_json::from_slice(&d.bytes).unwrap();
        assert_eq!(
            diff(&old, &new),
            vec![Change::Changed {
                path: "function.MemorySize".into(),
                old: "128".into(),
                new: "256".into(),
            }]
        );
        // Plain keeps the value as read.
        let p = canonical(scf("pg://user:hunter2@db", 128), Protect::Plain).unwrap();
        assert!(String::from_utf8(p.bytes).unwrap().contains("hunter2"));
    }

    #[test]
    fn fc_trigger_settings_keep_their_shape_and_lose_their_passwords() {
        let answer = ConfigAnswer::Fc2 {
            service: json!({"serviceName": "s", "role": "acs:ram::1:role/r", "lastModifiedTime": "t"}),
            function: json!({"functionName": "f", "memorySize": 512, "codeChecksum": "1",
                             "lastModifiedTime": "2026-01-02T03:04:05Z",
                             "environmentVariables": {"TOKEN": "s3cr3t"}}),
            triggers: vec![json!({"triggerName": "mq", "triggerType": "eventbridge",
                "triggerConfig": "{\"eventSourceConfig\":{\"eventSourceParameters\":{\"sourceRocketMQParameters\":{\"InstancePassword\":\"pw-123\",\"Topic\":\"t1\"}}}}"})],
        };
        let s = canonical(answer, Protect::Hash(&KEY)).unwrap();
        let text = String::from_utf8(s.bytes).unwrap();
        assert!(
            !text.contains("s3cr3t") && !text.contains("pw-123"),
            "{text}"
        );
        assert!(
            text.contains("t1") && text.contains("\"memorySize\":512"),
            "{text}"
        );
        assert!(!text.contains("codeChecksum"), "{text}");
        assert_eq!(s.cloud_modified.as_deref(), Some("2026-01-02T03:04:05Z"));
    }

    #[test]
    fn fc3_drops_its_state_and_protects_the_registry_password() {
        let answer = ConfigAnswer::Fc3 {
            function: json!({"functionName": "f", "state": "Active", "lastUpdateStatus": "Successful",
                "customContainerConfig": {"image": "registry/x:1",
                    "registryConfig": {"authConfig": {"userName": "u", "password": "reg-pw-9"}}}}),
            triggers: vec![json!({"triggerName": "h", "status": "Ready", "triggerConfig": "{}"})],
        };
        let s = canonical(answer, Protect::Hash(&KEY)).unwrap();
        let text = String::from_utf8(s.bytes).unwrap();
        for gone in ["reg-pw-9", "Active", "Successful", "Ready"] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        assert!(
            text.contains("registry/x:1") && text.contains("fc/2023-03-30"),
            "{text}"
        );
    }

    #[test]
    fn layers_are_read_in_the_clouds_order_and_images_by_their_reference() {
        let scf = canonical(
            ConfigAnswer::Scf {
                function: json!({"Runtime": "CustomImage",
                    "ImageConfig": {"ImageUri": "ccr.ccs.tencentyun.com/a/b:v1@sha256:ab"},
                    "Layers": [{"LayerName": "zz", "LayerVersion": 3},
                               {"LayerName": "aa", "LayerVersion": 1}]}),
            },
            Protect::Plain,
        )
        .unwrap();
        assert_eq!(
            scf.image.as_deref(),
            Some("ccr.ccs.tencentyun.com/a/b:v1@sha256:ab")
        );
        let names: Vec<_> = scf.layers.iter().map(|l| (&*l.name, &*l.version)).collect();
        assert_eq!(names, [("zz", "3"), ("aa", "1")], "never sorted");
        assert_eq!(scf.layers[0].region, None);

        let fc2 = canonical(
            ConfigAnswer::Fc2 {
                service: json!({}),
                function: json!({"runtime": "python3.9", "layersArnV2": [
                    "acs:fc:cn-beijing:123:layers/deps/versions/2"]}),
                triggers: vec![],
            },
            Protect::Plain,
        )
        .unwrap();
        assert_eq!(fc2.image, None);
        assert_eq!(
            fc2.layers,
            vec![LayerRef {
                name: "deps".into(),
                version: "2".into(),
                region: Some("cn-beijing".into())
            }]
        );
        // The deprecated v1 form, when no v2 ARN is given.
        let v1 = canonical(
            ConfigAnswer::Fc2 {
                service: json!({}),
                function: json!({"layers": ["f00d#deps#4"]}),
                triggers: vec![],
            },
            Protect::Plain,
        )
        .unwrap();
        assert_eq!((&*v1.layers[0].name, &*v1.layers[0].version), ("deps", "4"));

        let fc3 = canonical(
            ConfigAnswer::Fc3 {
                function: json!({"runtime": "custom-container",
                    "customContainerConfig": {"image": "r/x:1", "resolvedImageUri": "r/x@sha256:cd"},
                    "layers": [{"arn": "acs:fc:cn-hangzhou:123:layers/deps/versions/1", "size": 9}]}),
                triggers: vec![],
            },
            Protect::Plain,
        )
        .unwrap();
        assert_eq!(fc3.image.as_deref(), Some("r/x@sha256:cd"));
        assert_eq!(fc3.layers.len(), 1);

        // What cannot become a key or a file name is an error naming it.
        for bad in [
            json!({"Layers": [{"LayerName": "../x", "LayerVersion": 1}]}),
            json!({"Layers": [{"LayerName": "x", "LayerVersion": "1a"}]}),
            json!({"Runtime": "CustomImage"}),
        ] {
            let e = canonical(ConfigAnswer::Scf { function: bad }, Protect::Plain).unwrap_err();
            assert!(e.contains("layer") || e.contains("ImageUri"), "{e}");
        }
        let e = canonical(
            ConfigAnswer::Fc3 {
                function: json!({"layers": [{"arn": "acs:fc:r:1:functions/x"}]}),
                triggers: vec![],
            },
            Protect::Plain,
        )
        .unwrap_err();
        assert!(e.contains("layer ARN"), "{e}");
    }

    #[test]
    fn encrypt_mode_compares_by_keyed_hash_and_decrypts_with_the_identity() {
        let id = age::x25519::Identity::generate();
        let recipients = [id.to_public()];
        let protect = Protect::Encrypt {
            key: &KEY,
            recipients: &recipients,
        };
        let a = canonical(scf("pg://user:hunter2@db", 128), protect).unwrap();
        let b = canonical(scf("pg://user:hunter2@db", 128), protect).unwrap();
        let text = String::from_utf8(a.bytes.clone()).unwrap();
        for gone in ["hunter2", "tok-secret", "arg-secret"] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        // Fresh nonces: other bytes, the same values.
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(comparable_sha256(&a.bytes), comparable_sha256(&b.bytes));
        let c = canonical(scf("pg://user:other@db", 128), protect).unwrap();
        assert_ne!(comparable_sha256(&a.bytes), comparable_sha256(&c.bytes));
        // diff sees no change between two encryptions of the same values, one between others.
        let (va, vb, vc): (Value, Value, Value) = (
            serde_json::from_slice(&a.bytes).unwrap(),
            serde_json::from_slice(&b.bytes).unwrap(),
            serde_json::from_slice(&c.bytes).unwrap(),
        );
        assert_eq!(diff(&va, &vb), vec![]);
        assert_eq!(diff(&va, &vc).len(), 1);
        // The identity decrypts every value, the trigger's embedded ones included.
        let mut doc = va.clone();
        let ids: Vec<Box<dyn age::Identity>> = vec![Box::new(id)];
        assert_eq!(decrypt_document(&mut doc, &ids).unwrap(), 4);
        let clear = doc.to_string();
        for back in ["hunter2", "tok-secret", "arg-secret"] {
            assert!(clear.contains(back), "{back} not decrypted: {clear}");
        }
        // Another identity decrypts nothing and says so.
        let other: Vec<Box<dyn age::Identity>> = vec![Box::new(age::x25519::Identity::generate())];
        let mut doc = va;
        assert!(decrypt_document(&mut doc, &other).is_err());
    }

    #[test]
    fn a_non_object_answer_is_an_error_naming_the_call() {
        let e = canonical(
            ConfigAnswer::Scf {
                function: json!([1]),
            },
            Protect::Plain,
        )
        .unwrap_err();
        assert!(e.contains("GetFunction"), "{e}");
    }
}
