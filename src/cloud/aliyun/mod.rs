//! Alibaba Cloud Function Compute 2.0 (API 2021-04-06): `GetFunctionCode`, signed with
//! ACS3-HMAC-SHA256 (the default, as the official SDK for this API version) or the classic FC
//! scheme (`signature = "fc"`). FC 3.0 (API 2023-03-30) has its own client in [`fc3`]; the
//! answer parsers here (`code_location`, `page`, `parse_error`, `classify`) serve both.
//!
//! Owns: building, signing and sending FC API requests and turning answers into a
//! [`CodeLocation`] or a typed [`CloudError`]. See `shared/api/aliyun-fc.md`.

pub mod fc3;
mod layers;
pub mod sign;

use std::time::Duration;

use super::{API_BODY_LIMIT, Checksum, Cloud, CloudError, CodeLocation, ErrorKind, read_capped};
use crate::config::{AliyunSignature, Credentials};
use crate::secret::SecretUrl;

pub const API_VERSION: &str = "2021-04-06";

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint_template: String,
    account_id: String,
    signature: AliyunSignature,
    credentials: Credentials,
    timeout: Duration,
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        endpoint_template: &str,
        account_id: &str,
        signature: AliyunSignature,
        credentials: Credentials,
        timeout: Duration,
    ) -> Client {
        Client {
            http,
            endpoint_template: endpoint_template.to_string(),
            account_id: account_id.to_string(),
            signature,
            credentials,
            timeout,
        }
    }

    /// The endpoint for `region`: the template with `{account_id}` and `{region}` filled in.
    pub fn endpoint(&self, region: &str) -> String {
        self.endpoint_template
            .replace("{account_id}", &self.account_id)
            .replace("{region}", region)
    }

    pub async fn get_function_code(
        &self,
        region: &str,
        service: &str,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<CodeLocation, CloudError> {
        // Names were validated as [A-Za-z_][A-Za-z0-9_-]*: nothing here ever needs escaping, so
        // the signed path and the sent path are the same bytes for both schemes.
        let path = format!("/{API_VERSION}/services/{service}/functions/{function}/code");
        let query: Vec<(&str, &str)> = qualifier.map(|q| ("qualifier", q)).into_iter().collect();
        let (status, request_id, body) =
            self.call("GetFunctionCode", region, &path, &query).await?;

        code_location(status, request_id, &body)
    }

    /// `GetService`: the service half of an FC 2.0 function's configuration (role, logging,
    /// VPC, NAS). The caller paces.
    pub async fn get_service(
        &self,
        region: &str,
        service: &str,
        qualifier: Option<&str>,
    ) -> Result<serde_json::Value, CloudError> {
        let path = format!("/{API_VERSION}/services/{service}");
        let query: Vec<(&str, &str)> = qualifier.map(|q| ("qualifier", q)).into_iter().collect();
        let (status, rid, body) = self.call("GetService", region, &path, &query).await?;
        json_object("GetService", status, rid, &body)
    }

    /// `GetFunction`: the function half (runtime, handler, memory, environment, layers). Holds
    /// clear secrets: it goes to `capture` and is never logged. The caller paces.
    pub async fn get_function(
        &self,
        region: &str,
        service: &str,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<serde_json::Value, CloudError> {
        let path = format!("/{API_VERSION}/services/{service}/functions/{function}");
        let query: Vec<(&str, &str)> = qualifier.map(|q| ("qualifier", q)).into_iter().collect();
        let (status, rid, body) = self.call("GetFunction", region, &path, &query).await?;
        json_object("GetFunction", status, rid, &body)
    }

    /// One page of `ListServiceVersions` (issue 14; `aliyun-fc-more.md` A.7): the service's
    /// published versions, oldest first (`direction=FORWARD`). In FC 2.0 a version is a
    /// snapshot of the whole service. The caller paces.
    pub async fn list_service_versions(
        &self,
        region: &str,
        service: &str,
        token: Option<&str>,
    ) -> Result<crate::cloud::versions::VersionsPage, CloudError> {
        let path = format!("/{API_VERSION}/services/{service}/versions");
        let limit = crate::cloud::versions::PAGE.to_string();
        let mut query: Vec<(&str, &str)> = vec![("direction", "FORWARD"), ("limit", &limit)];
        if let Some(t) = token {
            query.push(("nextToken", t));
        }
        let action = "ListServiceVersions";
        let (status, rid, body) = self.call(action, region, &path, &query).await?;
        fc3::versions_page(action, status, rid, &body)
    }

    /// One page of the service's `ListAliases` (an FC 2.0 alias belongs to the service).
    pub async fn list_service_aliases(
        &self,
        region: &str,
        service: &str,
        token: Option<&str>,
    ) -> Result<crate::cloud::versions::AliasesPage, CloudError> {
        let path = format!("/{API_VERSION}/services/{service}/aliases");
        let limit = crate::cloud::versions::PAGE.to_string();
        let mut query: Vec<(&str, &str)> = vec![("limit", &limit)];
        if let Some(t) = token {
            query.push(("nextToken", t));
        }
        let action = "ListAliases";
        let (status, rid, body) = self.call(action, region, &path, &query).await?;
        fc3::aliases_page(action, status, rid, &body)
    }

    /// One page of `ListTriggers` (limit 100, the maximum): the entries and the next token.
    /// The caller paces.
    pub async fn list_triggers(
        &self,
        region: &str,
        service: &str,
        function: &str,
        token: Option<&str>,
    ) -> Result<(Vec<serde_json::Value>, Option<String>), CloudError> {
        let path = format!("/{API_VERSION}/services/{service}/functions/{function}/triggers");
        let mut query: Vec<(&str, &str)> = vec![("limit", "100")];
        if let Some(t) = token {
            query.push(("nextToken", t));
        }
        let (status, rid, body) = self.call("ListTriggers", region, &path, &query).await?;
        let value = json_object("ListTriggers", status, rid.clone(), &body)?;
        triggers_page(&value, status, rid)
    }

    /// `ListServices` (one page): service names and the next page's token.
    pub async fn list_services(
        &self,
        region: &str,
        token: Option<&str>,
        limit: u32,
    ) -> Result<super::Page, CloudError> {
        let path = format!("/{API_VERSION}/services");
        self.list_page(
            "ListServices",
            region,
            &path,
            "services",
            "serviceName",
            token,
            limit,
        )
        .await
    }

    /// `ListFunctions` of one service (one page): function names and the next page's token.
    pub async fn list_functions(
        &self,
        region: &str,
        service: &str,
        token: Option<&str>,
        limit: u32,
    ) -> Result<super::Page, CloudError> {
        // The service name was validated ([A-Za-z_][A-Za-z0-9_-]*): nothing to escape.
        let path = format!("/{API_VERSION}/services/{service}/functions");
        self.list_page(
            "ListFunctions",
            region,
            &path,
            "functions",
            "functionName",
            token,
            limit,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn list_page(
        &self,
        action: &str,
        region: &str,
        path: &str,
        array: &str,
        field: &str,
        token: Option<&str>,
        limit: u32,
    ) -> Result<super::Page, CloudError> {
        let limit = limit.to_string();
        let mut query: Vec<(&str, &str)> = vec![("limit", &limit)];
        if let Some(t) = token {
            query.push(("nextToken", t));
        }
        let (status, rid, body) = self.call(action, region, path, &query).await?;
        page(action, status, rid, &body, array, field)
    }

    /// Signs and sends one GET; returns status, request id and body of a 2xx answer.
    async fn call(
        &self,
        action: &str,
        region: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(u16, Option<String>, Vec<u8>), CloudError> {
        let base = self.endpoint(region);
        let mut url = url::Url::parse(&base).map_err(|e| {
            CloudError::invalid_response(
                Cloud::Aliyun,
                0,
                None,
                format!("endpoint `{base}` is not a URL: {e}"),
            )
        })?;
        url.set_path(path);
        if query.is_empty() {
            url.set_query(None);
        } else {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", sign::percent_encode(k), sign::percent_encode(v)))
                .collect();
            url.set_query(Some(&q.join("&")));
        }
        let host = super::host_header(&url);
        let now = crate::time::unix_now();
        let token = self.credentials.token.as_ref().map(|t| t.expose());

        let mut headers: Vec<(&str, String)> = Vec::with_capacity(12);
        match self.signature {
            AliyunSignature::Acs3 => {
                let nonce = hex::encode(rand::random::<[u8; 16]>());
                headers.push(("host", host));
                headers.push(("x-acs-version", API_VERSION.to_string()));
                headers.push(("x-acs-action", action.to_string()));
                headers.push(("user-agent", crate::http::USER_AGENT.to_string()));
                headers.push(("x-acs-date", sign::acs_date(now)));
                headers.push(("x-acs-signature-nonce", nonce));
                headers.push(("accept", "application/json".to_string()));
                headers.push(("x-fc-account-id", self.account_id.clone()));
                headers.push(("x-acs-content-sha256", sign::hex_sha256(b"")));
                if let Some(token) = token {
                    headers.push(("x-acs-accesskey-id", self.credentials.key_id.clone()));
                    headers.push(("x-acs-security-token", token.to_string()));
                }
                let pairs: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let signed = sign::acs3_sign(
                    &sign::Acs3Request {
                        method: "GET",
                        canonical_uri: path,
                        query,
                        headers: &pairs,
                        body: b"",
                    },
                    &self.credentials.key_id,
                    self.credentials.secret.expose(),
                );
                headers.push(("authorization", signed.authorization));
            }
            AliyunSignature::Fc => {
                let date = sign::http_date(now);
                headers.push(("host", host));
                headers.push(("date", date.clone()));
                headers.push(("content-type", "application/json".to_string()));
                headers.push(("x-fc-account-id", self.account_id.clone()));
                if let Some(token) = token {
                    headers.push(("x-fc-security-token", token.to_string()));
                }
                let fc_headers: Vec<(&str, &str)> = headers
                    .iter()
                    .filter(|(k, _)| k.starts_with("x-fc-"))
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect();
                let (_, to_sign) = sign::fc_string_to_sign(
                    "GET",
                    "",
                    "application/json",
                    &date,
                    &fc_headers,
                    path,
                );
                let signature = sign::fc_signature(&to_sign, self.credentials.secret.expose());
                headers.push((
                    "authorization",
                    sign::fc_authorization(&self.credentials.key_id, &signature),
                ));
            }
        }

        let mut req = self.http.get(url).timeout(self.timeout);
        for (k, v) in &headers {
            req = req.header(*k, v.as_str());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CloudError::transport(Cloud::Aliyun, &e))?;
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-fc-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after_hint = resp.headers().contains_key("x-acs-retry-after");
        let retry_after = super::retry_after(resp.headers());
        let body = read_capped(Cloud::Aliyun, resp, API_BODY_LIMIT)
            .await
            .map_err(|mut e| {
                e.request_id = e.request_id.or_else(|| request_id.clone());
                e
            })?;
        if (200..300).contains(&status) {
            return Ok((status, request_id, body));
        }
        let (code, message) = parse_error(&body);
        let kind = classify(status, code.as_deref(), retry_after_hint);
        Err(CloudError {
            kind,
            cloud: Cloud::Aliyun,
            message: message.unwrap_or_else(|| format!("{action} answered HTTP {status}")),
            code,
            http_status: Some(status),
            request_id,
            retry_after,
        })
    }
}

/// A `GetFunctionCode` answer (the same `{checksum, url}` in FC 2.0 and 3.0) as a
/// [`CodeLocation`]; anything else is an invalid response naming the call.
pub(crate) fn code_location(
    status: u16,
    request_id: Option<String>,
    body: &[u8],
) -> Result<CodeLocation, CloudError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        CloudError::invalid_response(
            Cloud::Aliyun,
            status,
            request_id.clone(),
            format!("GetFunctionCode answered malformed JSON: {e}"),
        )
    })?;
    let url = value.get("url").and_then(|v| v.as_str());
    let checksum = value.get("checksum").and_then(parse_checksum);
    let (Some(url), Some(checksum)) = (url, checksum) else {
        return Err(CloudError::invalid_response(
            Cloud::Aliyun,
            status,
            request_id,
            "GetFunctionCode answered without a url or a decimal CRC-64 checksum",
        ));
    };
    super::tencent::check_download_url(url)
        .map_err(|m| CloudError::invalid_response(Cloud::Aliyun, status, request_id.clone(), m))?;
    Ok(CodeLocation {
        url: SecretUrl::new(url),
        checksum: Checksum::Crc64(checksum),
        request_id,
    })
}

/// A `ListTriggers` page (the same `{triggers, nextToken}` in 2.0 and 3.0).
pub(crate) fn triggers_page(
    value: &serde_json::Value,
    status: u16,
    rid: Option<String>,
) -> Result<(Vec<serde_json::Value>, Option<String>), CloudError> {
    let bad = |m: &str| {
        CloudError::invalid_response(
            Cloud::Aliyun,
            status,
            rid.clone(),
            format!("ListTriggers {m}"),
        )
    };
    let triggers = match value.get("triggers") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad("answered a `triggers` that is not an array")),
    };
    let next = match value.get("nextToken") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(t)) if t.is_empty() => None,
        Some(serde_json::Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(bad("answered a `nextToken` that is not a string")),
    };
    Ok((triggers, next))
}

/// An answer that must be one JSON object; anything else is an invalid response naming the
/// call (never quoting the body: it may hold secrets).
pub(crate) fn json_object(
    action: &str,
    status: u16,
    rid: Option<String>,
    body: &[u8],
) -> Result<serde_json::Value, CloudError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(CloudError::invalid_response(
            Cloud::Aliyun,
            status,
            rid,
            format!("{action} answered JSON that is not an object"),
        )),
        Err(e) => Err(CloudError::invalid_response(
            Cloud::Aliyun,
            status,
            rid,
            format!("{action} answered malformed JSON: {e}"),
        )),
    }
}

/// One page of an FC listing (2.0 and 3.0 share the shape): the `field` of every entry of
/// `array`, and `nextToken` (absent or empty on the last page).
pub(crate) fn page(
    action: &str,
    status: u16,
    rid: Option<String>,
    body: &[u8],
    array: &str,
    field: &str,
) -> Result<super::Page, CloudError> {
    let bad = |m: String| CloudError::invalid_response(Cloud::Aliyun, status, rid.clone(), m);
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("{action} answered malformed JSON: {e}")))?;
    let items = value
        .get(array)
        .and_then(|v| v.as_array())
        .ok_or_else(|| bad(format!("{action} answered without a `{array}` array")))?;
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let name = item.get(field).and_then(|v| v.as_str()).ok_or_else(|| {
            bad(format!(
                "{action} answered an entry whose `{field}` is not a string"
            ))
        })?;
        names.push(name.to_string());
    }
    let next = match value.get("nextToken") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(t)) if t.is_empty() => None,
        Some(serde_json::Value::String(t)) => Some(super::Cursor::Token(t.clone())),
        Some(_) => {
            return Err(bad(format!(
                "{action} answered a `nextToken` that is not a string"
            )));
        }
    };
    Ok(super::Page {
        names,
        entries: items.clone(),
        next,
        request_id: rid,
    })
}

/// FC sends the checksum as a decimal string (it may exceed i64) and sometimes as a number.
fn parse_checksum(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Error bodies spell their keys `ErrorCode`, `errorCode` or `Code` depending on the layer
/// that answered; accept all, case-insensitively.
pub(crate) fn parse_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return (None, None);
    };
    let find = |names: &[&str]| {
        map.iter()
            .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    };
    (
        find(&["errorcode", "code"]),
        find(&["errormessage", "message"]),
    )
}

/// The retry policy of `shared/api/aliyun-fc.md` §4.
pub fn classify(status: u16, code: Option<&str>, retry_after_hint: bool) -> ErrorKind {
    let code = code.unwrap_or("");
    if matches!(status, 429 | 500 | 502 | 503 | 504)
        || code.contains("Throttl")
        || code == "ResourceExhausted"
        || code == "ResourceThrottled"
        || retry_after_hint
    {
        ErrorKind::Retryable
    } else if status == 404
        || matches!(
            code,
            "ServiceNotFound" | "FunctionNotFound" | "AliasNotFound" | "VersionNotFound"
        )
    {
        ErrorKind::NotFound
    } else {
        ErrorKind::Permanent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_an_unsigned_64_bit_decimal_string_or_number() {
        assert_eq!(
            parse_checksum(&serde_json::json!("11051210869376104954")),
            Some(11051210869376104954)
        );
        assert_eq!(parse_checksum(&serde_json::json!(42)), Some(42));
        assert_eq!(parse_checksum(&serde_json::json!("-1")), None);
        assert_eq!(parse_checksum(&serde_json::json!("0x12")), None);
    }

    #[test]
    fn error_keys_are_read_in_every_spelling() {
        for body in [
            r#"{"ErrorCode":"FunctionNotFound","ErrorMessage":"m"}"#,
            r#"{"errorCode":"FunctionNotFound","errorMessage":"m"}"#,
            r#"{"Code":"FunctionNotFound","Message":"m"}"#,
        ] {
            assert_eq!(
                parse_error(body.as_bytes()),
                (Some("FunctionNotFound".into()), Some("m".into())),
                "{body}"
            );
        }
        assert_eq!(parse_error(b"<html>"), (None, None));
    }

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        assert_eq!(
            classify(429, Some("ResourceExhausted"), false),
            ErrorKind::Retryable
        );
        assert_eq!(classify(503, None, false), ErrorKind::Retryable);
        assert_eq!(
            classify(404, Some("FunctionNotFound"), false),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify(403, Some("SignatureNotMatch"), false),
            ErrorKind::Permanent
        );
    }
}
