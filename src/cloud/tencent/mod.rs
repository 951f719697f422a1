//! Tencent Cloud SCF (API 2018-04-16): `GetFunctionAddress`, signed with TC3-HMAC-SHA256.
//!
//! Owns: building, signing and sending SCF API requests and turning the `Response` envelope
//! into a [`CodeLocation`] or a typed [`CloudError`]. See `shared/api/tencent-scf.md`.

mod layers;
pub mod sign;
mod versions;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{API_BODY_LIMIT, Checksum, Cloud, CloudError, CodeLocation, ErrorKind, read_capped};
use crate::config::Credentials;
use crate::secret::SecretUrl;

pub const API_VERSION: &str = "2018-04-16";
const CONTENT_TYPE: &str = "application/json";
/// Unsigned, but must match `^[0-9a-zA-Z-_,;.]+$`, so no `/`.
const REQUEST_CLIENT: &str = concat!("fnvault-", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    url: url::Url,
    host: String,
    credentials: Credentials,
    timeout: Duration,
}

/// Field order is the declaration order in the SDK's model; the service does not care, but a
/// stable order keeps request logs comparable.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetFunctionAddressRequest<'a> {
    function_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    qualifier: Option<&'a str>,
    namespace: &'a str,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
}

impl Client {
    /// `endpoint` was validated by the config module (an http(s) origin).
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Client {
        let url = url::Url::parse(endpoint)
            .ok()
            .and_then(|u| u.join("/").ok())
            .unwrap_or_else(|| {
                url::Url::parse("https://scf.tencentcloudapi.com/").expect("valid literal URL")
            });
        let host = super::host_header(&url);
        Client {
            http,
            url,
            host,
            credentials,
            timeout,
        }
    }

    pub async fn get_function_address(
        &self,
        region: &str,
        namespace: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<CodeLocation, CloudError> {
        let body = serde_json::to_vec(&GetFunctionAddressRequest {
            function_name: name,
            qualifier,
            namespace,
        })
        .map_err(|e| CloudError::invalid_response(Cloud::Tencent, 0, None, e.to_string()))?;
        let response = self.call("GetFunctionAddress", region, body).await?;
        let (url, sha, request_id) = (
            response.get("Url").and_then(|v| v.as_str()),
            response.get("CodeSha256").and_then(|v| v.as_str()),
            request_id(&response),
        );
        let (Some(url), Some(sha)) = (url, sha) else {
            return Err(CloudError::invalid_response(
                Cloud::Tencent,
                200,
                request_id,
                "GetFunctionAddress answered without Url or CodeSha256",
            ));
        };
        let checksum = parse_sha256(sha).ok_or_else(|| {
            CloudError::invalid_response(
                Cloud::Tencent,
                200,
                request_id.clone(),
                format!("CodeSha256 `{}` is not 64 hex digits", sha.escape_default()),
            )
        })?;
        check_download_url(url).map_err(|m| {
            CloudError::invalid_response(Cloud::Tencent, 200, request_id.clone(), m)
        })?;
        Ok(CodeLocation {
            url: SecretUrl::new(url),
            checksum: Checksum::Sha256(checksum),
            request_id,
        })
    }

    /// `GetFunction`: the function's whole configuration, triggers included (no `ShowCode`:
    /// the code is archived as the package). The answer holds clear secrets (environment
    /// variable values): it goes to `capture` and is never logged.
    pub async fn get_function(
        &self,
        region: &str,
        namespace: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<serde_json::Value, CloudError> {
        let body = serde_json::to_vec(&GetFunctionAddressRequest {
            function_name: name,
            qualifier,
            namespace,
        })
        .map_err(|e| CloudError::invalid_response(Cloud::Tencent, 0, None, e.to_string()))?;
        self.call("GetFunction", region, body).await
    }

    /// `ListNamespaces` (one page, ordered by name): the namespace names and `TotalCount`.
    pub async fn list_namespaces(
        &self,
        region: &str,
        offset: u64,
        limit: u32,
    ) -> Result<super::Page, CloudError> {
        let body = serde_json::json!({
            "Limit": limit, "Offset": offset, "Orderby": "Name", "Order": "ASC"
        });
        self.names_page("ListNamespaces", region, body, "Namespaces", "Name", offset)
            .await
    }

    /// `ListFunctions` of one namespace (one page, ordered by name): names and `TotalCount`.
    pub async fn list_functions(
        &self,
        region: &str,
        namespace: &str,
        offset: u64,
        limit: u32,
    ) -> Result<super::Page, CloudError> {
        let body = serde_json::json!({
            "Order": "ASC", "Orderby": "FunctionName", "Offset": offset, "Limit": limit,
            "Namespace": namespace
        });
        self.names_page(
            "ListFunctions",
            region,
            body,
            "Functions",
            "FunctionName",
            offset,
        )
        .await
    }

    /// One page of an SCF listing: `action`'s answer holds `items_key` (objects whose
    /// `name_key` is the name) and `TotalCount`.
    async fn names_page(
        &self,
        action: &str,
        region: &str,
        body: serde_json::Value,
        items_key: &str,
        name_key: &str,
        offset: u64,
    ) -> Result<super::Page, CloudError> {
        let response = self
            .call(action, region, body.to_string().into_bytes())
            .await?;
        let rid = request_id(&response);
        let bad = |what: String| {
            CloudError::invalid_response(
                Cloud::Tencent,
                200,
                rid.clone(),
                format!("{action} answered unexpected JSON: {what}"),
            )
        };
        // serde does the type checks, so a wrong type reads "invalid type: …, expected …".
        let field = |v: &serde_json::Value, key: &str| v.get(key).cloned().unwrap_or_default();
        let items: Vec<serde_json::Value> =
            serde_json::from_value(field(&response, items_key)).map_err(|e| bad(e.to_string()))?;
        let names = items
            .iter()
            .map(|i| {
                serde_json::from_value::<String>(field(i, name_key)).map_err(|e| bad(e.to_string()))
            })
            .collect::<Result<Vec<String>, _>>()?;
        let total: u64 = serde_json::from_value(field(&response, "TotalCount"))
            .map_err(|e| bad(e.to_string()))?;
        let mut page = offset_page(names, offset, total, rid);
        page.entries = items;
        Ok(page)
    }

    /// Signs and sends one action; returns the `Response` object of a successful answer.
    async fn call(
        &self,
        action: &str,
        region: &str,
        body: Vec<u8>,
    ) -> Result<serde_json::Value, CloudError> {
        let timestamp = crate::time::unix_now();
        let signed = sign::sign(
            &sign::Request {
                service: sign::SERVICE,
                host: &self.host,
                content_type: CONTENT_TYPE,
                body: &body,
                timestamp,
            },
            &self.credentials.key_id,
            self.credentials.secret.expose(),
        );
        let mut req = self
            .http
            .post(self.url.clone())
            .timeout(self.timeout)
            .header("Content-Type", CONTENT_TYPE)
            .header("Host", &self.host)
            .header("X-TC-Action", action)
            .header("X-TC-Version", API_VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", region)
            // English error messages: they end up in logs read by people who search for them.
            .header("X-TC-Language", "en-US")
            .header("X-TC-RequestClient", REQUEST_CLIENT)
            .header("Authorization", signed.authorization);
        if let Some(token) = &self.credentials.token {
            req = req.header("X-TC-Token", token.expose());
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| CloudError::transport(Cloud::Tencent, &e))?;
        let status = resp.status().as_u16();
        let retry_after = super::retry_after(resp.headers());
        let bytes = read_capped(Cloud::Tencent, resp, API_BODY_LIMIT).await?;
        // SCF reports API errors inside a 200; any other status is the gateway's, not the API's.
        if status != 200 {
            return Err(CloudError {
                kind: if status >= 500 || status == 429 {
                    ErrorKind::Retryable
                } else {
                    ErrorKind::Permanent
                },
                cloud: Cloud::Tencent,
                code: None,
                message: format!("{action} answered HTTP {status}"),
                http_status: Some(status),
                request_id: None,
                retry_after,
            });
        }
        let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|e| {
            CloudError::invalid_response(
                Cloud::Tencent,
                status,
                None,
                format!("{action} answered malformed JSON: {e}"),
            )
        })?;
        let Some(response) = envelope.response.filter(|r| r.is_object()) else {
            return Err(CloudError::invalid_response(
                Cloud::Tencent,
                status,
                None,
                format!("{action} answered without a Response object"),
            ));
        };
        if let Some(err) = response.get("Error") {
            let err: ApiError = serde_json::from_value(err.clone()).unwrap_or(ApiError {
                code: None,
                message: None,
            });
            let code = err.code.unwrap_or_else(|| "UnknownError".to_string());
            return Err(CloudError {
                kind: classify(&code),
                cloud: Cloud::Tencent,
                message: err.message.unwrap_or_default(),
                code: Some(code),
                // Always 200 for an SCF API error: saying so would only mislead.
                http_status: None,
                request_id: request_id(&response),
                retry_after: None,
            });
        }
        Ok(response)
    }
}

/// Offset paging ends at an empty page or once `offset + len >= TotalCount`.
fn offset_page(names: Vec<String>, offset: u64, total: u64, rid: Option<String>) -> super::Page {
    let end = offset + names.len() as u64;
    let next = if names.is_empty() || end >= total {
        None
    } else {
        Some(super::Cursor::Offset(end))
    };
    super::Page {
        names,
        entries: Vec::new(),
        next,
        request_id: rid,
    }
}

fn request_id(response: &serde_json::Value) -> Option<String> {
    response
        .get("RequestId")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// The retry classification of `shared/api/tencent-scf.md` §6.
pub fn classify(code: &str) -> ErrorKind {
    if code == "FailedOperation.FunctionStatusError" {
        ErrorKind::Deploying
    } else if code.starts_with("RequestLimitExceeded")
        || code == "InternalError"
        || code.starts_with("InternalError.")
        || code == "ServiceUnavailable"
        || code == "FailedOperation.GetFunctionAddress"
    {
        ErrorKind::Retryable
    } else if code.starts_with("ResourceNotFound") {
        ErrorKind::NotFound
    } else {
        ErrorKind::Permanent
    }
}

fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    hex::decode_to_slice(s.to_ascii_lowercase(), &mut out).ok()?;
    Some(out)
}

/// Only http(s) download URLs are followed: a `file://` or other scheme from a cloud answer is
/// refused before anything is fetched.
pub(crate) fn check_download_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        Ok(u) => Err(format!(
            "download URL has scheme `{}`; only http and https are followed",
            u.scheme()
        )),
        Err(e) => Err(format!("download URL is not a URL: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_deploying_are_retryable_and_not_found_is_not() {
        assert_eq!(
            classify("RequestLimitExceeded.UinLimitExceeded"),
            ErrorKind::Retryable
        );
        assert_eq!(classify("InternalError.System"), ErrorKind::Retryable);
        assert_eq!(
            classify("FailedOperation.FunctionStatusError"),
            ErrorKind::Deploying
        );
        assert_eq!(classify("ResourceNotFound.Function"), ErrorKind::NotFound);
        assert_eq!(
            classify("AuthFailure.SignatureFailure"),
            ErrorKind::Permanent
        );
    }

    #[test]
    fn code_sha256_must_be_64_hex_digits_in_either_case() {
        assert!(parse_sha256(&"AB".repeat(32)).is_some());
        assert!(parse_sha256("5077f5203547b225").is_none());
        assert!(parse_sha256(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn only_http_and_https_download_urls_are_accepted() {
        assert!(check_download_url("http://lambdacode.cosgz.myqcloud.com/a.zip?sign=x").is_ok());
        assert!(check_download_url("file:///etc/passwd").is_err());
        assert!(check_download_url("not a url").is_err());
    }

    #[test]
    fn the_request_body_omits_an_unset_qualifier() {
        let b = serde_json::to_string(&GetFunctionAddressRequest {
            function_name: "f",
            qualifier: None,
            namespace: "default",
        })
        .unwrap();
        assert_eq!(b, r#"{"FunctionName":"f","Namespace":"default"}"#);
    }
}
