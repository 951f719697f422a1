//! Alibaba Cloud Function Compute 3.0 (API 2023-03-30): `GetFunctionCode` and `ListFunctions`,
//! signed with ACS3-HMAC-SHA256 exactly as the official 3.0 SDK (`alibabacloud-fc20230330`)
//! sends it. FC 3.0 has no services: a function is named by its region and name alone.
//!
//! Owns: the 3.0 request (paths, query, the SDK's header set) and its error envelope
//! (`{Code, Message, RequestId}`). The signature itself is `sign::acs3_sign`, shared with 2.0;
//! the answers are parsed by the 2.0 module's `code_location` and `page`, whose shapes 3.0 kept.
//! See `shared/api/aliyun-fc-more.md` part B.

use std::time::Duration;

use super::sign;
use super::{classify, code_location, page, parse_error};
use crate::cloud::{API_BODY_LIMIT, Cloud, CloudError, CodeLocation, Page, read_capped};
use crate::config::Credentials;

pub const API_VERSION: &str = "2023-03-30";

/// The FC 3.0 client of one account. The host is the account's endpoint template, as for 2.0:
/// `<account_id>.<region>.fc.aliyuncs.com` is the documented FC 3.0 host too (the SDK's own
/// default, `fcv3.<region>.aliyuncs.com`, can be configured as the endpoint; both sign alike).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint_template: String,
    account_id: String,
    credentials: Credentials,
    timeout: Duration,
}

/// One request as the SDK would send it, signed: the path and query for the URL, and the
/// headers in the SDK's order, `authorization` last. No `Debug`: the headers hold the
/// signature and any security token.
pub(crate) struct Prepared {
    /// The path exactly as sent and signed: every parameter percent-encoded as one segment.
    pub path: String,
    /// The query as sent: RFC 3986-encoded, sorted by key; the same string that was signed.
    pub query: String,
    pub headers: Vec<(&'static str, String)>,
}

/// `/2023-03-30/functions/{name}/code` and its query: the only request that fetches code.
pub(crate) fn get_function_code_request(
    function: &str,
    qualifier: Option<&str>,
) -> (String, Vec<(&'static str, String)>) {
    let path = format!(
        "/{API_VERSION}/functions/{}/code",
        sign::percent_encode(function)
    );
    let query = qualifier
        .map(|q| ("qualifier", q.to_string()))
        .into_iter()
        .collect();
    (path, query)
}

/// `/2023-03-30/functions` with `fcVersion=v3`: FC 3.0 functions only, because without it the
/// listing also holds every FC 2.0 function (as `service$function`), which fnvault reaches
/// through the 2.0 API and must not archive twice.
pub(crate) fn list_functions_request(
    token: Option<&str>,
    prefix: Option<&str>,
    limit: u32,
) -> (String, Vec<(&'static str, String)>) {
    let mut query = vec![
        ("fcVersion", "v3".to_string()),
        ("limit", limit.to_string()),
    ];
    if let Some(t) = token {
        query.push(("nextToken", t.to_string()));
    }
    if let Some(p) = prefix {
        query.push(("prefix", p.to_string()));
    }
    (format!("/{API_VERSION}/functions"), query)
}

/// Builds and signs one GET as the 3.0 SDK does (`alibabacloud_tea_openapi` `do_request`):
/// the same headers, in the same order, every one of them signed. `nonce` must be unique per
/// request; `user_agent` is signed like any other header.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare(
    action: &str,
    host: &str,
    path: &str,
    query: &[(&str, String)],
    now_unix: i64,
    nonce: &str,
    user_agent: &str,
    credentials: &Credentials,
) -> Prepared {
    let token = credentials.token.as_ref().map(|t| t.expose());
    let mut headers: Vec<(&'static str, String)> = vec![
        ("host", host.to_string()),
        ("x-acs-version", API_VERSION.to_string()),
        ("x-acs-action", action.to_string()),
        ("user-agent", user_agent.to_string()),
        ("x-acs-date", sign::acs_date(now_unix)),
        ("x-acs-signature-nonce", nonce.to_string()),
        ("accept", "application/json".to_string()),
        // Every call here is a GET without a body.
        ("x-acs-content-sha256", sign::hex_sha256(b"")),
        // The credential provider's name, sent and signed by the SDK; whether the service
        // needs it is not documented, so it is sent as the SDK sends it.
        (
            "x-acs-credentials-provider",
            if token.is_some() {
                "static_sts"
            } else {
                "static_ak"
            }
            .to_string(),
        ),
    ];
    if let Some(token) = token {
        headers.push(("x-acs-accesskey-id", credentials.key_id.clone()));
        headers.push(("x-acs-security-token", token.to_string()));
    }
    let mut sorted: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sorted.sort();
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let signed = sign::acs3_sign(
        &sign::Acs3Request {
            method: "GET",
            canonical_uri: path,
            query: &sorted,
            headers: &pairs,
            body: b"",
        },
        &credentials.key_id,
        credentials.secret.expose(),
    );
    headers.push(("authorization", signed.authorization));
    // Sent exactly as signed (RFC 3986, sorted), so the service canonicalises the same string;
    // the SDK form-encodes instead, which differs only for a space (`+` vs `%20`).
    let query = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", sign::percent_encode(k), sign::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Prepared {
        path: path.to_string(),
        query,
        headers,
    }
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        endpoint_template: &str,
        account_id: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Client {
        Client {
            http,
            endpoint_template: endpoint_template.to_string(),
            account_id: account_id.to_string(),
            credentials,
            timeout,
        }
    }

    /// Where `function`'s package is and its CRC-64. `qualifier` (a version or alias) is a
    /// signed query parameter in 3.0.
    pub async fn get_function_code(
        &self,
        region: &str,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<CodeLocation, CloudError> {
        let (path, query) = get_function_code_request(function, qualifier);
        let (status, request_id, body) =
            self.call("GetFunctionCode", region, &path, &query).await?;
        code_location(status, request_id, &body)
    }

    /// `GetFunction`: the whole configuration of an FC 3.0 function (no services: role, VPC,
    /// logging and storage are on the function). Holds clear secrets: it goes to `capture`.
    pub async fn get_function(
        &self,
        region: &str,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<serde_json::Value, CloudError> {
        let path = format!(
            "/{API_VERSION}/functions/{}",
            sign::percent_encode(function)
        );
        let query: Vec<(&'static str, String)> = qualifier
            .map(|q| ("qualifier", q.to_string()))
            .into_iter()
            .collect();
        let (status, rid, body) = self.call("GetFunction", region, &path, &query).await?;
        super::json_object("GetFunction", status, rid, &body)
    }

    /// One page of `ListTriggers` (limit 100): the entries and the next token.
    pub async fn list_triggers(
        &self,
        region: &str,
        function: &str,
        token: Option<&str>,
    ) -> Result<(Vec<serde_json::Value>, Option<String>), CloudError> {
        let path = format!(
            "/{API_VERSION}/functions/{}/triggers",
            sign::percent_encode(function)
        );
        let mut query: Vec<(&'static str, String)> = vec![("limit", "100".to_string())];
        if let Some(t) = token {
            query.push(("nextToken", t.to_string()));
        }
        let (status, rid, body) = self.call("ListTriggers", region, &path, &query).await?;
        let value = super::json_object("ListTriggers", status, rid.clone(), &body)?;
        super::triggers_page(&value, status, rid)
    }

    /// `ListFunctions` (one page) of the region's FC 3.0 functions whose name starts with
    /// `prefix` (all when `None`): names and the next token.
    pub async fn list_functions(
        &self,
        region: &str,
        token: Option<&str>,
        prefix: Option<&str>,
        limit: u32,
    ) -> Result<Page, CloudError> {
        let (path, query) = list_functions_request(token, prefix, limit);
        let (status, rid, body) = self.call("ListFunctions", region, &path, &query).await?;
        page(
            "ListFunctions",
            status,
            rid,
            &body,
            "functions",
            "functionName",
        )
    }

    /// Signs and sends one GET; returns status, request id and body of a 2xx answer.
    pub(super) async fn call(
        &self,
        action: &str,
        region: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(u16, Option<String>, Vec<u8>), CloudError> {
        let base = self
            .endpoint_template
            .replace("{account_id}", &self.account_id)
            .replace("{region}", region);
        let mut url = url::Url::parse(&base).map_err(|e| {
            CloudError::invalid_response(
                Cloud::Aliyun,
                0,
                None,
                format!("endpoint `{base}` is not a URL: {e}"),
            )
        })?;
        let host = crate::cloud::host_header(&url);
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let prepared = prepare(
            action,
            &host,
            path,
            query,
            crate::time::unix_now(),
            &nonce,
            crate::http::USER_AGENT,
            &self.credentials,
        );
        // The path is already percent-encoded; `set_path` keeps existing escapes as they are.
        url.set_path(&prepared.path);
        url.set_query((!prepared.query.is_empty()).then_some(prepared.query.as_str()));

        let mut req = self.http.get(url).timeout(self.timeout);
        for (k, v) in &prepared.headers {
            req = req.header(*k, v.as_str());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CloudError::transport(Cloud::Aliyun, &e))?;
        let status = resp.status().as_u16();
        // FC 2.0 documents `x-fc-request-id`; for 3.0 only the error body's `RequestId` is
        // documented. Either is kept, the header first.
        let header_id = resp
            .headers()
            .get("x-fc-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after_hint = resp.headers().contains_key("x-acs-retry-after");
        let retry_after = crate::cloud::retry_after(resp.headers());
        let body = read_capped(Cloud::Aliyun, resp, API_BODY_LIMIT)
            .await
            .map_err(|mut e| {
                e.request_id = e.request_id.or_else(|| header_id.clone());
                e
            })?;
        if (200..300).contains(&status) {
            return Ok((status, header_id, body));
        }
        let (code, message) = parse_error(&body);
        let request_id = header_id.or_else(|| body_request_id(&body));
        Err(CloudError {
            kind: classify(status, code.as_deref(), retry_after_hint),
            cloud: Cloud::Aliyun,
            message: message.unwrap_or_else(|| format!("{action} answered HTTP {status}")),
            code,
            http_status: Some(status),
            request_id,
            retry_after,
        })
    }
}

/// `RequestId` of a 3.0 error body (`{"Code","Message","RequestId"}`), any case.
fn body_request_id(body: &[u8]) -> Option<String> {
    let serde_json::Value::Object(map) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("requestid"))
        .and_then(|(_, v)| v.as_str())
        .map(str::to_string)
}

/// `ListFunctionVersions` and `ListAliases` (issue 14; `aliyun-fc-more.md` B.9, B.10): in FC
/// 3.0 versions and aliases belong to one function.
impl Client {
    /// One page of the function's published versions, oldest first (`direction=FORWARD`).
    pub async fn list_function_versions(
        &self,
        region: &str,
        function: &str,
        token: Option<&str>,
    ) -> Result<crate::cloud::versions::VersionsPage, CloudError> {
        use crate::cloud::versions::PAGE;
        let path = format!(
            "/{API_VERSION}/functions/{}/versions",
            sign::percent_encode(function)
        );
        let mut query: Vec<(&'static str, String)> = vec![
            ("direction", "FORWARD".to_string()),
            ("limit", PAGE.to_string()),
        ];
        if let Some(t) = token {
            query.push(("nextToken", t.to_string()));
        }
        let action = "ListFunctionVersions";
        let (status, rid, body) = self.call(action, region, &path, &query).await?;
        versions_page(action, status, rid, &body)
    }

    /// One page of the function's aliases: main version plus `additionalVersionWeight`.
    pub async fn list_aliases(
        &self,
        region: &str,
        function: &str,
        token: Option<&str>,
    ) -> Result<crate::cloud::versions::AliasesPage, CloudError> {
        use crate::cloud::versions::PAGE;
        let path = format!(
            "/{API_VERSION}/functions/{}/aliases",
            sign::percent_encode(function)
        );
        let mut query: Vec<(&'static str, String)> = vec![("limit", PAGE.to_string())];
        if let Some(t) = token {
            query.push(("nextToken", t.to_string()));
        }
        let action = "ListAliases";
        let (status, rid, body) = self.call(action, region, &path, &query).await?;
        aliases_page(action, status, rid, &body)
    }
}

/// A page of published versions, as FC 2.0 `ListServiceVersions` and 3.0
/// `ListFunctionVersions` answer it (`{versions: [{versionId, lastModifiedTime}], nextToken}`).
pub(super) fn versions_page(
    action: &str,
    status: u16,
    rid: Option<String>,
    body: &[u8],
) -> Result<crate::cloud::versions::VersionsPage, CloudError> {
    use crate::cloud::versions::{PublishedVersion, VersionsPage};
    let value = super::json_object(action, status, rid.clone(), body)?;
    let bad = |m: String| {
        CloudError::invalid_response(Cloud::Aliyun, status, rid.clone(), format!("{action}: {m}"))
    };
    let mut versions = Vec::new();
    for item in items(&value, "versions").map_err(&bad)? {
        let version = item
            .get("versionId")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("an entry's `versionId` is not a string".to_string()))?;
        versions.push(PublishedVersion {
            version: version.to_string(),
            modified: text(item, "lastModifiedTime"),
        });
    }
    Ok(VersionsPage {
        versions,
        next: next_token(&value).map_err(&bad)?,
    })
}

/// A page of aliases, as FC 2.0 and 3.0 `ListAliases` answer it: main `versionId` plus the
/// `additionalVersionWeight` map.
pub(super) fn aliases_page(
    action: &str,
    status: u16,
    rid: Option<String>,
    body: &[u8],
) -> Result<crate::cloud::versions::AliasesPage, CloudError> {
    use crate::cloud::versions::{AliasTargets, AliasesPage, routing};
    let value = super::json_object(action, status, rid.clone(), body)?;
    let bad = |m: String| {
        CloudError::invalid_response(Cloud::Aliyun, status, rid.clone(), format!("{action}: {m}"))
    };
    let mut aliases = Vec::new();
    for item in items(&value, "aliases").map_err(&bad)? {
        let name = item
            .get("aliasName")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("an entry's `aliasName` is not a string".to_string()))?;
        let main = item
            .get("versionId")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad(format!("alias `{name}`: `versionId` is not a string")))?;
        let mut extra = Vec::new();
        match item.get("additionalVersionWeight") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(m)) => {
                for (v, w) in m {
                    let w = w.as_f64().ok_or_else(|| {
                        bad(format!(
                            "alias `{name}`: the weight of `{v}` is not a number"
                        ))
                    })?;
                    extra.push((v.clone(), w));
                }
            }
            Some(_) => {
                return Err(bad(format!(
                    "alias `{name}`: `additionalVersionWeight` is not an object"
                )));
            }
        }
        aliases.push(AliasTargets {
            name: name.to_string(),
            versions: routing(main, &extra).map_err(|m| bad(format!("alias `{name}`: {m}")))?,
            modified: text(item, "lastModifiedTime"),
        });
    }
    Ok(AliasesPage {
        aliases,
        next: next_token(&value).map_err(&bad)?,
    })
}

/// The entries of a listing's `array` (absent or null: none).
fn items<'v>(value: &'v serde_json::Value, array: &str) -> Result<&'v [serde_json::Value], String> {
    match value.get(array) {
        None | Some(serde_json::Value::Null) => Ok(&[]),
        Some(serde_json::Value::Array(a)) => Ok(a),
        Some(_) => Err(format!("`{array}` is not an array")),
    }
}

fn text(item: &serde_json::Value, field: &str) -> Option<String> {
    item.get(field).and_then(|v| v.as_str()).map(str::to_string)
}

/// `nextToken`: absent, null or empty on the last page.
fn next_token(value: &serde_json::Value) -> Result<Option<crate::cloud::Cursor>, String> {
    match value.get("nextToken") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(t)) if t.is_empty() => Ok(None),
        Some(serde_json::Value::String(t)) => Ok(Some(crate::cloud::Cursor::Token(t.clone()))),
        Some(_) => Err("`nextToken` is not a string".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::Value;

    /// Made in this repository by `tests/vectors/generate.sh` from the official FC 3.0 SDK.
    const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/aliyun-fc3.json");

    fn vectors() -> Vec<Value> {
        let text = std::fs::read_to_string(VECTORS)
            .unwrap_or_else(|e| panic!("cannot read {VECTORS}: {e}"));
        let file: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {VECTORS}: {e}"));
        file["signature_vectors"]
            .as_array()
            .unwrap_or_else(|| panic!("{VECTORS} has no signature_vectors"))
            .clone()
    }

    fn text<'v>(v: &'v Value, pointer: &str) -> &'v str {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: no string at {pointer}", v["name"]))
    }

    fn credentials(v: &Value) -> Credentials {
        Credentials {
            key_id: text(v, "/inputs/access_key_id").to_string(),
            secret: Secret::new(text(v, "/inputs/access_key_secret").to_string()),
            token: v
                .pointer("/inputs/security_token")
                .and_then(Value::as_str)
                .map(|t| Secret::new(t.to_string())),
            source: "vector".to_string(),
            files: Vec::new(),
        }
    }

    fn wire_header<'v>(v: &'v Value, name: &str) -> &'v str {
        v["request"]["headers"]
            .as_array()
            .and_then(|h| {
                h.iter()
                    .find(|p| p[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            })
            .and_then(|p| p[1].as_str())
            .unwrap_or_else(|| panic!("{}: no {name} header", v["name"]))
    }

    /// The path and query of a vector's call. GetFunctionCode and ListFunctions come from the
    /// client's own request builders; the calls fnvault does not make yet follow the SDK's
    /// path table (`aliyun-fc-more.md` B.3) with the client's segment encoding, so the signer
    /// is checked on every path shape the SDK produces.
    fn request_of(v: &Value) -> (String, Vec<(&'static str, String)>) {
        let i = &v["inputs"];
        let q = |key: &str| i["query_params"][key].as_str().map(str::to_string);
        let seg = |key: &str| sign::percent_encode(text(v, &format!("/inputs/{key}")));
        let all_query = || -> Vec<(&'static str, String)> {
            let mut out = Vec::new();
            for key in [
                "direction",
                "limit",
                "nextToken",
                "official",
                "prefix",
                "public",
                "qualifier",
                "startVersion",
                "tags",
            ] {
                if let Some(value) = q(key) {
                    out.push((key, value));
                }
            }
            out
        };
        let base = format!("/{API_VERSION}");
        match text(v, "/inputs/action") {
            "GetFunctionCode" => get_function_code_request(
                text(v, "/inputs/function_name"),
                q("qualifier").as_deref(),
            ),
            "ListFunctions" if q("fcVersion").as_deref() == Some("v3") => {
                let limit = q("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
                list_functions_request(q("nextToken").as_deref(), q("prefix").as_deref(), limit)
            }
            "ListFunctions" => {
                let mut query = all_query();
                if let Some(fc) = q("fcVersion") {
                    query.push(("fcVersion", fc));
                }
                (format!("{base}/functions"), query)
            }
            "GetFunction" => (
                format!("{base}/functions/{}", seg("function_name")),
                all_query(),
            ),
            "ListTriggers" => (
                format!("{base}/functions/{}/triggers", seg("function_name")),
                all_query(),
            ),
            "ListFunctionVersions" => (
                format!("{base}/functions/{}/versions", seg("function_name")),
                all_query(),
            ),
            "ListAliases" => (
                format!("{base}/functions/{}/aliases", seg("function_name")),
                all_query(),
            ),
            "GetAlias" => (
                format!(
                    "{base}/functions/{}/aliases/{}",
                    seg("function_name"),
                    seg("alias_name")
                ),
                all_query(),
            ),
            "ListLayers" => (format!("{base}/layers"), all_query()),
            "ListLayerVersions" => (
                format!("{base}/layers/{}/versions", seg("layer_name")),
                all_query(),
            ),
            "GetLayerVersion" => (
                format!(
                    "{base}/layers/{}/versions/{}",
                    seg("layer_name"),
                    seg("version")
                ),
                all_query(),
            ),
            "GetLayerVersionByArn" => (format!("{base}/layerarn/{}", seg("arn")), all_query()),
            other => panic!("{}: no request builder for {other}", v["name"]),
        }
    }

    /// Form-decoded pairs of a raw query, sorted: the SDK form-encodes the wire query, so only
    /// the decoded pairs can be compared with what fnvault sends.
    fn decoded(raw: &str) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        pairs.sort();
        pairs
    }

    /// Everything that differs between what the SDK sent for `v` and what fnvault sends.
    fn differences(v: &Value) -> Vec<String> {
        let name = text(v, "/name");
        let (path, query) = request_of(v);
        let creds = credentials(v);
        let prepared = prepare(
            text(v, "/inputs/action"),
            wire_header(v, "host"),
            &path,
            &query,
            v["inputs"]["unix_time"].as_i64().unwrap_or_default(),
            text(v, "/inputs/x_acs_signature_nonce"),
            wire_header(v, "user-agent"),
            &creds,
        );
        let mut out = Vec::new();
        let mut expect = |field: &str, want: &str, got: &str| {
            if want != got {
                out.push(format!("{name}: {field}\n  want {want:?}\n  got  {got:?}"));
            }
        };
        expect("path", text(v, "/request/path"), &prepared.path);
        expect(
            "query (decoded)",
            &format!("{:?}", decoded(text(v, "/request/query"))),
            &format!("{:?}", decoded(&prepared.query)),
        );
        // The wire headers in order, names lower-cased, minus `Accept-Encoding`, which the
        // HTTP stack adds after signing.
        let want: Vec<(String, String)> = v["request"]["headers"]
            .as_array()
            .map(|h| {
                h.iter()
                    .filter_map(|p| Some((p[0].as_str()?.to_ascii_lowercase(), p[1].as_str()?)))
                    .filter(|(n, _)| n != "accept-encoding")
                    .map(|(n, val)| (n, val.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let got: Vec<(String, String)> = prepared
            .headers
            .iter()
            .map(|(n, val)| (n.to_string(), val.clone()))
            .collect();
        expect("headers", &format!("{want:#?}"), &format!("{got:#?}"));
        // The intermediate strings, from the same inputs through the shared signer.
        let mut sorted: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sorted.sort();
        let pairs: Vec<(&str, &str)> = prepared.headers[..prepared.headers.len() - 1]
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let signed = sign::acs3_sign(
            &sign::Acs3Request {
                method: "GET",
                canonical_uri: &prepared.path,
                query: &sorted,
                headers: &pairs,
                body: b"",
            },
            &creds.key_id,
            creds.secret.expose(),
        );
        expect(
            "canonical_request",
            text(v, "/canonical_request"),
            &signed.canonical_request,
        );
        expect(
            "string_to_sign",
            text(v, "/string_to_sign"),
            &signed.string_to_sign,
        );
        expect(
            "signed_headers",
            text(v, "/signed_headers"),
            &signed.signed_headers,
        );
        expect("signature", text(v, "/signature"), &signed.signature);
        expect(
            "authorization",
            text(v, "/authorization"),
            &signed.authorization,
        );
        out
    }

    #[test]
    fn every_fc3_vector_is_reproduced_byte_for_byte() {
        let all = vectors();
        assert_eq!(
            all.len(),
            16,
            "the vector file changed size; review the coverage"
        );
        let failures: Vec<String> = all.iter().flat_map(differences).collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn a_changed_input_changes_the_signature() {
        // The comparison above must be able to fail: one byte of the nonce is enough.
        let mut v = vectors().remove(0);
        v["inputs"]["x_acs_signature_nonce"] = Value::String("0".repeat(32));
        assert!(!differences(&v).is_empty());
    }

    #[test]
    fn listing_asks_for_fc3_functions_only() {
        let (path, query) = list_functions_request(Some("a b+c"), None, 100);
        assert_eq!(path, "/2023-03-30/functions");
        assert!(query.contains(&("fcVersion", "v3".to_string())));
        let creds = Credentials {
            key_id: "id".into(),
            secret: Secret::new("s".to_string()),
            token: None,
            source: String::new(),
            files: Vec::new(),
        };
        let p = prepare("ListFunctions", "h", &path, &query, 0, "n", "ua", &creds);
        assert_eq!(p.query, "fcVersion=v3&limit=100&nextToken=a%20b%2Bc");
    }

    #[test]
    fn a_3_0_error_body_gives_code_message_and_request_id() {
        let body = br#"{"Code":"FunctionNotFound","Message":"function not found","RequestId":"1-64e70cf1-5cbef92ea8fc8c42899cf5d1"}"#;
        assert_eq!(
            parse_error(body),
            (
                Some("FunctionNotFound".into()),
                Some("function not found".into())
            )
        );
        assert_eq!(
            body_request_id(body).as_deref(),
            Some("1-64e70cf1-5cbef92ea8fc8c42899cf5d1")
        );
        assert_eq!(body_request_id(b"<html>"), None);
    }
}
