//! The server side of TC3-HMAC-SHA256, for the simulator: checks an incoming SCF API request as
//! strictly as the real service, so a signing bug in fnvault fails in tests rather than in
//! production. The client side is `cloud::tencent::sign`; both share its `compute`.

use std::fmt;

use hmac::Mac;
use http::HeaderMap;

use crate::cloud::tencent::sign::*;

/// How far `X-TC-Timestamp` may be from the server clock before the service answers
/// `AuthFailure.SignatureExpire`.
const MAX_SKEW_SECS: u64 = 300;

const INVALID_AUTHORIZATION: &str = "AuthFailure.InvalidAuthorization";

const SIGNATURE_EXPIRE: &str = "AuthFailure.SignatureExpire";

const SECRET_ID_NOT_FOUND: &str = "AuthFailure.SecretIdNotFound";

const SIGNATURE_FAILURE: &str = "AuthFailure.SignatureFailure";

/// The caller that a request was verified to come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The SecretId from the credential, so the simulator can tell accounts apart.
    pub secret_id: String,
}

/// Why a request was refused, in the terms the real service uses, so the simulator can answer
/// with Tencent's error envelope and fnvault's error handling is exercised as in production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// The Tencent error code, e.g. `AuthFailure.SignatureFailure`.
    pub code: &'static str,
    /// A lowercase explanation; it may contain the canonical request but never a secret.
    pub message: String,
}

impl VerifyError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Server side, for the simulator: checks an incoming SCF API request (`POST /`) as strictly as
/// the real service, so that a signing bug in fnvault fails in tests rather than in production.
///
/// The `host` header is used exactly as received, port included, because that is what a client
/// pointed at `127.0.0.1:<port>` signs.
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
    secret_for: impl Fn(&str) -> Option<String>,
) -> Result<Verified, VerifyError> {
    let invalid = |message: String| VerifyError::new(INVALID_AUTHORIZATION, message);

    let authorization = single_header(headers, "authorization")
        .map_err(invalid)?
        .ok_or_else(|| invalid("authorization header is missing".into()))?;
    let auth = parse_authorization(authorization).map_err(invalid)?;

    let timestamp_text = single_header(headers, "x-tc-timestamp")
        .map_err(invalid)?
        .ok_or_else(|| invalid("x-tc-timestamp header is missing".into()))?;
    let timestamp = parse_timestamp(timestamp_text).ok_or_else(|| {
        invalid(format!(
            "x-tc-timestamp {timestamp_text:?} is not a decimal unix time"
        ))
    })?;
    if now_unix.abs_diff(timestamp) > MAX_SKEW_SECS {
        return Err(VerifyError::new(
            SIGNATURE_EXPIRE,
            format!(
                "x-tc-timestamp {timestamp} is more than {MAX_SKEW_SECS} s from server time {now_unix}"
            ),
        ));
    }
    let expected_date = utc_date(timestamp);
    if auth.date != expected_date {
        return Err(invalid(format!(
            "credential date {} is not the utc date of x-tc-timestamp {timestamp} ({expected_date})",
            auth.date
        )));
    }
    if auth.service != SERVICE {
        return Err(invalid(format!(
            "credential service {:?} is not {SERVICE:?}",
            auth.service
        )));
    }

    let secret_key = secret_for(auth.secret_id).ok_or_else(|| {
        VerifyError::new(
            SECRET_ID_NOT_FOUND,
            format!("secret id {:?} is not known", auth.secret_id),
        )
    })?;

    for required in SDK_SIGNED_HEADERS {
        if !auth.signed_headers.contains(&required) {
            return Err(invalid(format!(
                "signed headers {:?} do not include {required}",
                auth.signed_headers.join(";")
            )));
        }
    }
    let mut signed = Vec::with_capacity(auth.signed_headers.len());
    for &name in &auth.signed_headers {
        let value = single_header(headers, name)
            .map_err(invalid)?
            .ok_or_else(|| invalid(format!("signed header {name} is not in the request")))?;
        signed.push((name, value));
    }

    // The SDK's opt-in UNSIGNED-PAYLOAD mode would leave the body unauthenticated; the real
    // service's careful mode refuses it, and so does this one, with a clearer message than the
    // mismatch it would otherwise cause.
    if let Some(content_sha) = single_header(headers, "x-tc-content-sha256").map_err(invalid)?
        && content_sha.eq_ignore_ascii_case("UNSIGNED-PAYLOAD")
    {
        return Err(invalid("unsigned payloads are not accepted".into()));
    }

    let (computed, k_signing) = compute(
        auth.service,
        &signed,
        body,
        timestamp,
        auth.secret_id,
        &secret_key,
    );
    // Verifying through the MAC keeps the comparison constant-time.
    let matches = hmac_sha256(&k_signing, computed.string_to_sign.as_bytes())
        .verify_slice(&auth.signature)
        .is_ok();
    if !matches {
        return Err(VerifyError::new(
            SIGNATURE_FAILURE,
            format!(
                "signature does not match; the server computed canonical request {:?} and string to sign {:?}",
                computed.canonical_request, computed.string_to_sign
            ),
        ));
    }
    Ok(Verified {
        secret_id: auth.secret_id.to_owned(),
    })
}

/// The parts of an `Authorization` header, borrowed from it.
struct Authorization<'h> {
    secret_id: &'h str,
    date: &'h str,
    service: &'h str,
    signed_headers: Vec<&'h str>,
    signature: [u8; 32],
}

/// Parses `TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=<list>,
/// Signature=<hex>` with exactly the SDK's separators, so a client that drifts from them is
/// caught here rather than by the real service.
fn parse_authorization(value: &str) -> Result<Authorization<'_>, String> {
    let malformed = || {
        format!(
            "authorization is not `{ALGORITHM} Credential=<id>/<date>/<service>/{TERMINATOR}, SignedHeaders=<list>, Signature=<hex>`"
        )
    };
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(" Credential="))
        .ok_or_else(malformed)?;
    let (credential, rest) = rest.split_once(", SignedHeaders=").ok_or_else(malformed)?;
    let (signed_headers, signature) = rest.split_once(", Signature=").ok_or_else(malformed)?;

    let mut scope = credential.rsplitn(4, '/');
    let (Some(terminator), Some(service), Some(date), Some(secret_id)) =
        (scope.next(), scope.next(), scope.next(), scope.next())
    else {
        return Err(malformed());
    };
    if terminator != TERMINATOR || secret_id.is_empty() {
        return Err(malformed());
    }

    let signed_headers: Vec<&str> = signed_headers.split(';').collect();
    for (i, name) in signed_headers.iter().enumerate() {
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "signed header {name:?} is not a lowercase header name"
            ));
        }
        if signed_headers[..i].contains(name) {
            return Err(format!("signed header {name} is listed twice"));
        }
    }

    let signature = decode_lower_hex_32(signature)
        .ok_or_else(|| "signature is not 64 lowercase hex digits".to_owned())?;
    Ok(Authorization {
        secret_id,
        date,
        service,
        signed_headers,
        signature,
    })
}

/// Accepts only plain decimal digits: the SDK sends `str(int(time.time()))`, and a lenient parse
/// would let `+1700000000` sign differently from what it verifies as.
fn parse_timestamp(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn decode_lower_hex_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// A header that appears at most once, as text; a repeated signed header would leave it
/// ambiguous which value the client signed.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("header {name} appears more than once"));
    }
    std::str::from_utf8(value.as_bytes())
        .map(Some)
        .map_err(|_| format!("header {name} is not valid utf-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::tencent::sign::tests::*;
    use http::HeaderValue;
    use serde_json::Value;

    /// Verifies `vector` as it went over the wire, after `edit` has changed the headers or body.
    fn verify_edited(
        vector: &Value,
        now_offset: i64,
        edit: impl FnOnce(&mut HeaderMap, &mut Vec<u8>),
    ) -> Result<Verified, VerifyError> {
        let mut headers = wire_headers(vector);
        let mut body = body(vector);
        edit(&mut headers, &mut body);
        verify(
            &headers,
            &body,
            timestamp(vector) + now_offset,
            secrets_of(vector),
        )
    }

    fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }

    fn expect_code(result: Result<Verified, VerifyError>, code: &str) -> VerifyError {
        match result {
            Ok(v) => panic!("expected {code}, but {v:?} was accepted"),
            Err(e) => {
                assert_eq!(e.code, code, "unexpected error {e}");
                e
            }
        }
    }

    #[test]
    fn verify_accepts_every_vector_as_it_went_over_the_wire() {
        for vector in entries("vectors") {
            let result = verify_edited(&vector, 0, |_, _| {});
            assert_eq!(
                result.as_ref().map(|v| v.secret_id.as_str()),
                Ok(text(&vector, "/inputs/secret_id")),
                "vector {}",
                name(&vector)
            );
        }
    }

    #[test]
    fn verify_rejects_a_tampered_body() {
        let result = verify_edited(&basic(), 0, |_, body| body.push(b' '));
        expect_code(result, SIGNATURE_FAILURE);
    }

    #[test]
    fn verify_rejects_an_altered_content_type() {
        let result = verify_edited(&basic(), 0, |h, _| {
            set(h, "content-type", "application/json; charset=utf-8")
        });
        expect_code(result, SIGNATURE_FAILURE);
    }

    #[test]
    fn verify_rejects_an_altered_host() {
        let result = verify_edited(&basic(), 0, |h, _| {
            set(h, "host", "scf.intl.tencentcloudapi.com")
        });
        expect_code(result, SIGNATURE_FAILURE);
    }

    #[test]
    fn verify_signs_the_host_with_its_port() {
        let local = entries("vectors")
            .into_iter()
            .find(|v| name(v) == "get_function_address_local_endpoint_with_port")
            .expect("vector get_function_address_local_endpoint_with_port");
        assert!(verify_edited(&local, 0, |_, _| {}).is_ok());
        let result = verify_edited(&local, 0, |h, _| set(h, "host", "127.0.0.1"));
        expect_code(result, SIGNATURE_FAILURE);
    }

    #[test]
    fn verify_does_not_sign_the_action() {
        let result = verify_edited(&basic(), 0, |h, _| set(h, "x-tc-action", "ListFunctions"));
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn verify_rejects_a_changed_timestamp() {
        let result = verify_edited(&basic(), 0, |h, _| set(h, "x-tc-timestamp", "1700000001"));
        expect_code(result, SIGNATURE_FAILURE);
    }

    #[test]
    fn verify_accepts_a_clock_exactly_five_minutes_off() {
        assert!(verify_edited(&basic(), 300, |_, _| {}).is_ok());
        assert!(verify_edited(&basic(), -300, |_, _| {}).is_ok());
    }

    #[test]
    fn verify_rejects_a_request_more_than_five_minutes_old() {
        expect_code(verify_edited(&basic(), 301, |_, _| {}), SIGNATURE_EXPIRE);
    }

    #[test]
    fn verify_rejects_a_request_more_than_five_minutes_ahead() {
        expect_code(
            verify_edited(&basic(), -20 * 60, |_, _| {}),
            SIGNATURE_EXPIRE,
        );
    }

    #[test]
    fn verify_rejects_an_unknown_secret_id() {
        let vector = basic();
        let result = verify(
            &wire_headers(&vector),
            &body(&vector),
            timestamp(&vector),
            |_| None,
        );
        expect_code(result, SECRET_ID_NOT_FOUND);
    }

    #[test]
    fn verify_rejects_a_wrong_secret_key() {
        let vector = basic();
        let result = verify(
            &wire_headers(&vector),
            &body(&vector),
            timestamp(&vector),
            |_| Some("not-the-key".into()),
        );
        expect_code(result, SIGNATURE_FAILURE);
    }

    #[test]
    fn verify_rejects_a_missing_authorization() {
        let result = verify_edited(&basic(), 0, |h, _| {
            h.remove("authorization");
        });
        expect_code(result, INVALID_AUTHORIZATION);
    }

    #[test]
    fn verify_rejects_a_missing_timestamp() {
        let result = verify_edited(&basic(), 0, |h, _| {
            h.remove("x-tc-timestamp");
        });
        expect_code(result, INVALID_AUTHORIZATION);
    }

    #[test]
    fn verify_rejects_a_timestamp_with_a_sign() {
        let result = verify_edited(&basic(), 0, |h, _| set(h, "x-tc-timestamp", "+1700000000"));
        expect_code(result, INVALID_AUTHORIZATION);
    }

    #[test]
    fn verify_rejects_authorization_separators_other_than_comma_space() {
        let vector = basic();
        let squeezed = text(&vector, "/signing/authorization").replace(", ", ",");
        let result = verify_edited(&vector, 0, |h, _| set(h, "authorization", &squeezed));
        expect_code(result, INVALID_AUTHORIZATION);
    }

    #[test]
    fn verify_rejects_a_credential_date_that_is_not_the_utc_date_of_the_timestamp() {
        let vector = basic();
        let next_day = text(&vector, "/signing/authorization").replace("2023-11-14", "2023-11-15");
        let result = verify_edited(&vector, 0, |h, _| set(h, "authorization", &next_day));
        let err = expect_code(result, INVALID_AUTHORIZATION);
        assert!(err.message.contains("2023-11-14"), "{err}");
    }

    #[test]
    fn verify_rejects_a_service_other_than_scf() {
        let vector = basic();
        let cvm = text(&vector, "/signing/authorization").replace("/scf/", "/cvm/");
        let result = verify_edited(&vector, 0, |h, _| set(h, "authorization", &cvm));
        expect_code(result, INVALID_AUTHORIZATION);
    }

    #[test]
    fn verify_requires_host_to_be_signed() {
        let vector = basic();
        let without_host = text(&vector, "/signing/authorization").replace(
            "SignedHeaders=content-type;host",
            "SignedHeaders=content-type",
        );
        let result = verify_edited(&vector, 0, |h, _| set(h, "authorization", &without_host));
        expect_code(result, INVALID_AUTHORIZATION);
    }

    #[test]
    fn verify_requires_every_signed_header_to_be_present() {
        let result = verify_edited(&basic(), 0, |h, _| {
            h.remove("content-type");
        });
        expect_code(result, INVALID_AUTHORIZATION);
    }

    #[test]
    fn verify_rejects_a_repeated_signed_header() {
        let result = verify_edited(&basic(), 0, |h, _| {
            h.append("host", HeaderValue::from_static("scf.tencentcloudapi.com"));
        });
        expect_code(result, INVALID_AUTHORIZATION);
    }

    #[test]
    fn verify_accepts_more_signed_headers_than_the_sdk_signs() {
        let vector = basic();
        let body = body(&vector);
        let headers = [
            ("content-type", "application/json"),
            ("host", "scf.tencentcloudapi.com"),
            ("x-tc-action", "getfunctionaddress"),
        ];
        let (signed, _) = compute(SERVICE, &headers, &body, 1_700_000_000, "AKIDx", "k");
        let mut map = wire_headers(&vector);
        set(&mut map, "x-tc-action", "getfunctionaddress");
        set(&mut map, "authorization", &signed.authorization);
        let result = verify(&map, &body, 1_700_000_000, |id| {
            (id == "AKIDx").then(|| "k".to_owned())
        });
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn verify_rejects_an_unsigned_payload() {
        let result = verify_edited(&basic(), 0, |h, _| {
            set(h, "x-tc-content-sha256", "UNSIGNED-PAYLOAD")
        });
        let err = expect_code(result, INVALID_AUTHORIZATION);
        assert!(err.message.contains("unsigned"), "{err}");
    }

    #[test]
    fn signature_failure_reports_what_was_computed_but_no_secret() {
        let vector = basic();
        let err = expect_code(
            verify_edited(&vector, 0, |_, body| body.push(b' ')),
            SIGNATURE_FAILURE,
        );
        assert!(err.message.contains("canonical request"), "{err}");
        assert!(
            err.message.contains("TC3-HMAC-SHA256\\n1700000000"),
            "{err}"
        );
        assert!(
            !err.message.contains(text(&vector, "/inputs/secret_key")),
            "{err}"
        );
    }
}
