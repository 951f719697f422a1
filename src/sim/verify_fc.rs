//! The server side of FC request signing, for the simulator: checks an FC management request
//! signed with the classic `FC` scheme or ACS3-HMAC-SHA256 as strictly as the real gateway, so a
//! signing bug in fnvault fails in tests. The client side is `cloud::aliyun::sign`; the
//! canonicalisation is shared with it so the two cannot drift.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::Mac;
use http::HeaderMap;

use crate::cloud::aliyun::sign::*;

/// How far the request time may be from the server clock (FC docs: 15 minutes).
const MAX_SKEW_SECS: u64 = 15 * 60;

/// Headers every ACS3 request must sign: without them a signature could be replayed against
/// another host, at another time, or with another body.
const ACS3_REQUIRED_SIGNED: [&str; 4] = [
    "host",
    "x-acs-date",
    "x-acs-content-sha256",
    "x-acs-signature-nonce",
];

const INVALID_ARGUMENT: &str = "InvalidArgument";

const MISSING_REQUIRED_HEADER: &str = "MissingRequiredHeader";

const REQUEST_TIME_TOO_SKEWED: &str = "RequestTimeTooSkewed";

const INVALID_ACCESS_KEY_ID: &str = "InvalidAccessKeyID";

const SIGNATURE_NOT_MATCH: &str = "SignatureNotMatch";

/// Which of the two schemes a request was signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: FC <id>:<base64>`, as fc2 and the Go and Node SDKs send it.
    Fc,
    /// `Authorization: ACS3-HMAC-SHA256 …`, as the 2021-04-06 Tea client sends it.
    Acs3,
}

/// The caller that a request was verified to come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The AccessKeyId from `Authorization`, so the simulator can tell accounts apart.
    pub access_key_id: String,
    /// The scheme used, so tests can check that fnvault sends the one it was configured for.
    pub scheme: Scheme,
    /// The signed STS token (`x-acs-security-token` or `x-fc-security-token`), so the simulator
    /// can check temporary credentials; `None` for long-term keys.
    pub security_token: Option<String>,
}

/// Why a request was refused, in the gateway's own terms, so the simulator can answer with the
/// same status and code as the real service and fnvault's error handling is exercised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// The HTTP status the gateway answers with (400 or 403).
    pub status: u16,
    /// The FC error code, e.g. `SignatureNotMatch`.
    pub code: &'static str,
    /// A lowercase explanation; it may contain the string to sign but never a secret or token.
    pub message: String,
}

impl VerifyError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, INVALID_ARGUMENT, message)
    }

    fn missing(header: &str) -> Self {
        Self::new(
            400,
            MISSING_REQUIRED_HEADER,
            format!("required header {header} is missing"),
        )
    }

    fn skewed(message: impl Into<String>) -> Self {
        Self::new(403, REQUEST_TIME_TOO_SKEWED, message)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Server side, for the simulator: checks an FC management request signed with either scheme, as
/// strictly as the real gateway, so that a signing bug in fnvault fails in tests.
///
/// `raw_path` and `raw_query` are exactly as received, still percent-encoded (what
/// `http::Uri::path` and `http::Uri::query` return); `raw_query` is `None` when the URL has no `?`. Any header name sent twice is refused, because which of the
/// values was signed would be ambiguous.
pub fn verify(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
    secret_for: impl Fn(&str) -> Option<String>,
) -> Result<Verified, VerifyError> {
    for name in headers.keys() {
        if headers.get_all(name).iter().nth(1).is_some() {
            return Err(VerifyError::invalid(format!(
                "header {name} appears more than once"
            )));
        }
    }
    let authorization =
        header(headers, "authorization")?.ok_or_else(|| VerifyError::missing("authorization"))?;
    let incoming = Incoming {
        method,
        raw_path,
        raw_query,
        headers,
        body,
        now_unix,
        secret_for: &secret_for,
    };
    if let Some(credentials) = authorization.strip_prefix("FC ") {
        verify_fc(&incoming, credentials)
    } else if let Some(rest) = authorization.strip_prefix(ACS3) {
        verify_acs3(&incoming, rest)
    } else {
        Err(VerifyError::invalid(
            "authorization is neither `FC <id>:<signature>` nor `ACS3-HMAC-SHA256 …`",
        ))
    }
}

/// The arguments of [`verify`], passed on whole to the check of either scheme.
struct Incoming<'a> {
    method: &'a str,
    raw_path: &'a str,
    raw_query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a [u8],
    now_unix: i64,
    secret_for: &'a dyn Fn(&str) -> Option<String>,
}

fn verify_fc(incoming: &Incoming<'_>, credentials: &str) -> Result<Verified, VerifyError> {
    let &Incoming {
        method,
        raw_path,
        headers,
        now_unix,
        secret_for,
        ..
    } = incoming;
    // Base64 has no `:`, so the last one separates id and signature even if an id had one.
    let (access_key_id, signature) = credentials
        .rsplit_once(':')
        .filter(|(id, sig)| !id.is_empty() && !sig.is_empty())
        .ok_or_else(|| VerifyError::invalid("authorization is not `FC <id>:<signature>`"))?;

    let date = header(headers, "date")?.ok_or_else(|| VerifyError::missing("date"))?;
    let Some(sent_at) = parse_exact(date, FC_DATE_FORMAT) else {
        return Err(VerifyError::skewed(format!(
            "date {date:?} is not in the form fc2 sends, like \"Tue, 02 Jan 2024 03:04:05 GMT\""
        )));
    };
    check_skew("date", date, sent_at, now_unix)?;

    let secret = known_secret(secret_for, access_key_id)?;

    let canonical_resource = percent_decode(raw_path, false).ok_or_else(|| {
        VerifyError::invalid("path has an invalid percent escape or is not utf-8")
    })?;
    let content_md5 = header(headers, "content-md5")?.unwrap_or("");
    let content_type = header(headers, "content-type")?.unwrap_or("");
    let fc_headers = prefixed_headers(headers, "x-fc-")?;
    let (_, string_to_sign) = fc_string_to_sign(
        method,
        content_md5,
        content_type,
        date,
        &fc_headers,
        &canonical_resource,
    );

    let given = BASE64.decode(signature).unwrap_or_default();
    if !mac_matches(secret.as_bytes(), &string_to_sign, &given) {
        let shown: Vec<(&str, &str)> = fc_headers.iter().map(mask_token).collect();
        let (_, shown) = fc_string_to_sign(
            method,
            content_md5,
            content_type,
            date,
            &shown,
            &canonical_resource,
        );
        return Err(VerifyError::new(
            403,
            SIGNATURE_NOT_MATCH,
            format!(
                "signature does not match; the server computed string to sign {shown:?} (security token masked)"
            ),
        ));
    }
    Ok(Verified {
        access_key_id: access_key_id.to_owned(),
        scheme: Scheme::Fc,
        security_token: header(headers, "x-fc-security-token")?.map(str::to_owned),
    })
}

fn verify_acs3(incoming: &Incoming<'_>, after_algorithm: &str) -> Result<Verified, VerifyError> {
    let &Incoming {
        method,
        raw_path,
        raw_query,
        headers,
        body,
        now_unix,
        secret_for,
    } = incoming;
    let malformed = || {
        VerifyError::invalid(format!(
            "authorization is not `{ACS3} Credential=<id>,SignedHeaders=<a;b>,Signature=<hex>`"
        ))
    };
    let rest = after_algorithm
        .strip_prefix(" Credential=")
        .ok_or_else(malformed)?;
    let (access_key_id, rest) = rest.split_once(",SignedHeaders=").ok_or_else(malformed)?;
    let (signed_list, signature) = rest.split_once(",Signature=").ok_or_else(malformed)?;
    if access_key_id.is_empty() {
        return Err(malformed());
    }
    let signature = decode_lower_hex_32(signature)
        .ok_or_else(|| VerifyError::invalid("signature is not 64 lowercase hex digits"))?;
    let signed_names: Vec<&str> = signed_list.split(';').collect();
    for (i, name) in signed_names.iter().enumerate() {
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(VerifyError::invalid(format!(
                "signed header {name:?} is not a lowercase header name"
            )));
        }
        if signed_names[..i].contains(name) {
            return Err(VerifyError::invalid(format!(
                "signed header {name} is listed twice"
            )));
        }
    }

    for required in ACS3_REQUIRED_SIGNED {
        if !headers.contains_key(required) {
            return Err(VerifyError::missing(required));
        }
    }
    let date = header(headers, "x-acs-date")?.unwrap_or_default();
    let Some(sent_at) = parse_exact(date, ACS_DATE_FORMAT) else {
        return Err(VerifyError::skewed(format!(
            "x-acs-date {date:?} is not in the form \"2024-01-02T03:04:05Z\""
        )));
    };
    check_skew("x-acs-date", date, sent_at, now_unix)?;

    let must_sign = headers.keys().map(http::HeaderName::as_str).filter(|name| {
        ACS3_REQUIRED_SIGNED.contains(name)
            || name.starts_with("x-acs-")
            || name.starts_with("x-fc-")
    });
    for name in must_sign {
        if !signed_names.contains(&name) {
            return Err(VerifyError::invalid(format!(
                "header {name} is sent but not signed"
            )));
        }
    }
    let mut signed_headers = Vec::with_capacity(signed_names.len());
    for &name in &signed_names {
        let value = header(headers, name)?.ok_or_else(|| {
            VerifyError::invalid(format!("signed header {name} is not in the request"))
        })?;
        signed_headers.push((name, value));
    }

    let claimed_hash = header(headers, "x-acs-content-sha256")?.unwrap_or_default();
    if claimed_hash != hex_sha256(body) {
        return Err(VerifyError::invalid(
            "x-acs-content-sha256 is not the hex sha-256 of the body",
        ));
    }

    let secret = known_secret(secret_for, access_key_id)?;

    let query = parse_query(raw_query.unwrap_or(""))?;
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let req = Acs3Request {
        method,
        canonical_uri: raw_path,
        query: &query,
        headers: &signed_headers,
        body,
    };
    let computed = acs3_sign(&req, access_key_id, &secret);
    if !mac_matches(secret.as_bytes(), &computed.string_to_sign, &signature) {
        let shown: Vec<(&str, &str)> = signed_headers.iter().map(mask_token).collect();
        let (shown, _) = acs3_canonical_request(&Acs3Request {
            headers: &shown,
            ..req
        });
        return Err(VerifyError::new(
            403,
            SIGNATURE_NOT_MATCH,
            format!(
                "signature does not match; the server computed string to sign {:?} from canonical request {shown:?} (security token masked)",
                computed.string_to_sign
            ),
        ));
    }

    let token = match header(headers, "x-acs-security-token")? {
        Some(token) => Some(token),
        None => header(headers, "x-fc-security-token")?,
    };
    Ok(Verified {
        access_key_id: access_key_id.to_owned(),
        scheme: Scheme::Acs3,
        security_token: token.map(str::to_owned),
    })
}

/// Compares through the MAC so the check takes the same time however many bytes match.
fn mac_matches(key: &[u8], message: &str, given: &[u8]) -> bool {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(key).expect("hmac accepts keys of any length");
    mac.update(message.as_bytes());
    mac.verify_slice(given).is_ok()
}

fn known_secret(
    secret_for: &dyn Fn(&str) -> Option<String>,
    access_key_id: &str,
) -> Result<String, VerifyError> {
    secret_for(access_key_id).ok_or_else(|| {
        VerifyError::new(
            403,
            INVALID_ACCESS_KEY_ID,
            format!("access key id {access_key_id:?} is not known"),
        )
    })
}

fn check_skew(name: &str, text: &str, sent_at: i64, now_unix: i64) -> Result<(), VerifyError> {
    if now_unix.abs_diff(sent_at) > MAX_SKEW_SECS {
        return Err(VerifyError::skewed(format!(
            "{name} {text:?} is more than 15 minutes from server time {}",
            http_date(now_unix)
        )));
    }
    Ok(())
}

/// Parses `text` only if formatting the result gives `text` back, which rejects what chrono would
/// tolerate but fc2 never sends: an unpadded day, a wrong weekday, `+0000` for `GMT`.
fn parse_exact(text: &str, format: &str) -> Option<i64> {
    let unix = chrono::NaiveDateTime::parse_from_str(text, format)
        .ok()?
        .and_utc()
        .timestamp();
    (format_utc(unix, format) == text).then_some(unix)
}

/// One header as text; duplicates were refused up front, so the first value is the only one.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, VerifyError> {
    headers
        .get(name)
        .map(|value| {
            std::str::from_utf8(value.as_bytes())
                .map_err(|_| VerifyError::invalid(format!("header {name} is not valid utf-8")))
        })
        .transpose()
}

fn prefixed_headers<'h>(
    headers: &'h HeaderMap,
    prefix: &str,
) -> Result<Vec<(&'h str, &'h str)>, VerifyError> {
    headers
        .keys()
        .map(http::HeaderName::as_str)
        .filter(|name| name.starts_with(prefix))
        .map(|name| Ok((name, header(headers, name)?.unwrap_or_default())))
        .collect()
}

/// Replaces an STS token by `***` so an error message can show what was signed without leaking it.
fn mask_token<'a>(&(name, value): &(&'a str, &'a str)) -> (&'a str, &'a str) {
    if name.eq_ignore_ascii_case("x-fc-security-token")
        || name.eq_ignore_ascii_case("x-acs-security-token")
    {
        (name, "***")
    } else {
        (name, value)
    }
}

/// Form-decodes a raw query (`+` is a space, `%XX` a byte) into pairs, as the Tea client's
/// `urlencode` produced it; a piece without `=` is a key with an empty value.
fn parse_query(raw: &str) -> Result<Vec<(String, String)>, VerifyError> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            match (percent_decode(key, true), percent_decode(value, true)) {
                (Some(key), Some(value)) => Ok((key, value)),
                _ => Err(VerifyError::invalid(format!(
                    "query parameter {piece:?} has an invalid percent escape or is not utf-8"
                ))),
            }
        })
        .collect()
}

/// Decodes `%XX` escapes (either case); with `plus_is_space`, as in form encoding, `+` means a
/// space. `None` for a broken escape or bytes that are not UTF-8, which a client cannot have
/// meant to sign.
fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex_value(*bytes.get(i + 1)?)?;
                let lo = hex_value(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn decode_lower_hex_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::aliyun::sign::tests::*;
    use http::{HeaderName, HeaderValue};
    use serde_json::Value;

    /// Verifies `vector` as it went over the wire, after `edit` has changed the request.
    fn verify_edited(
        vector: &Value,
        now_offset: i64,
        edit: impl FnOnce(&mut WireRequest),
    ) -> Result<Verified, VerifyError> {
        let raw_query = text(vector, "/request/query");
        let mut wire = WireRequest {
            method: text(vector, "/request/method").to_owned(),
            path: text(vector, "/request/path").to_owned(),
            query: (!raw_query.is_empty()).then(|| raw_query.to_owned()),
            headers: header_map(vector),
            body: body(vector),
        };
        edit(&mut wire);
        verify(
            &wire.method,
            &wire.path,
            wire.query.as_deref(),
            &wire.headers,
            &wire.body,
            unix_time(vector) + now_offset,
            secrets(),
        )
    }

    struct WireRequest {
        method: String,
        path: String,
        query: Option<String>,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl WireRequest {
        fn set(&mut self, name: &'static str, value: &str) {
            self.headers
                .insert(name, HeaderValue::from_str(value).unwrap());
        }
    }

    fn expect_error(result: Result<Verified, VerifyError>, status: u16, code: &str) -> VerifyError {
        match result {
            Ok(v) => panic!("expected {status} {code}, but {v:?} was accepted"),
            Err(e) => {
                assert_eq!((e.status, e.code), (status, code), "unexpected error {e}");
                e
            }
        }
    }

    fn fc_basic() -> Value {
        named("FC", "get_function_code")
    }

    fn acs3_basic() -> Value {
        named("ACS3-HMAC-SHA256", "tea_get_function_code_qualifier")
    }

    /// A self-signed ACS3 POST with a body, for behaviours the body-less vectors cannot show.
    fn acs3_post(body: &[u8], sign_nonce: bool) -> (HeaderMap, Vec<u8>) {
        let hash = hex_sha256(body);
        let date = acs_date(1_700_000_000);
        let mut headers = vec![
            ("host", "example.cn-hangzhou.fc.aliyuncs.com"),
            ("x-acs-date", date.as_str()),
            ("x-acs-content-sha256", hash.as_str()),
            ("x-acs-signature-nonce", "n-1"),
            ("content-type", "application/json"),
        ];
        if !sign_nonce {
            headers.retain(|(n, _)| *n != "x-acs-signature-nonce");
        }
        let signed = acs3_sign(
            &Acs3Request {
                method: "POST",
                canonical_uri: "/2021-04-06/services",
                query: &[("prefix", "a b")],
                headers: &headers,
                body,
            },
            "LTAI5tFakeAccessKeyId01",
            "FakeAccessKeySecretForOracle0001",
        );
        let mut map = HeaderMap::new();
        for (n, v) in &headers {
            map.insert(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map.insert("x-acs-signature-nonce", HeaderValue::from_static("n-1"));
        map.insert(
            "authorization",
            HeaderValue::from_str(&signed.authorization).unwrap(),
        );
        (map, body.to_vec())
    }

    fn verify_post(
        headers: &HeaderMap,
        body: &[u8],
        raw_query: &str,
    ) -> Result<Verified, VerifyError> {
        verify(
            "POST",
            "/2021-04-06/services",
            Some(raw_query),
            headers,
            body,
            1_700_000_000,
            secrets(),
        )
    }

    #[test]
    fn verify_accepts_every_fc_scheme_vector_as_sent() {
        for vector in vectors("FC") {
            let result = verify_edited(&vector, 0, |_| {});
            let verified = result.unwrap_or_else(|e| panic!("vector {}: {e}", name(&vector)));
            assert_eq!(verified.scheme, Scheme::Fc, "vector {}", name(&vector));
            assert_eq!(
                verified.access_key_id,
                text(&vector, "/inputs/access_key_id"),
                "vector {}",
                name(&vector)
            );
        }
    }

    #[test]
    fn verify_accepts_every_acs3_vector_as_sent() {
        for vector in vectors("ACS3-HMAC-SHA256") {
            let result = verify_edited(&vector, 0, |_| {});
            let verified = result.unwrap_or_else(|e| panic!("vector {}: {e}", name(&vector)));
            assert_eq!(verified.scheme, Scheme::Acs3, "vector {}", name(&vector));
            assert_eq!(
                verified.access_key_id,
                text(&vector, "/inputs/access_key_id"),
                "vector {}",
                name(&vector)
            );
        }
    }

    #[test]
    fn fc_scheme_rejects_an_altered_signed_header() {
        for vector in vectors("FC") {
            let result = verify_edited(&vector, 0, |w| w.set("content-type", "text/plain"));
            expect_error(result, 403, SIGNATURE_NOT_MATCH);
        }
    }

    #[test]
    fn fc_scheme_rejects_an_altered_x_fc_header() {
        let vector = named("FC", "get_function_code_x_fc_headers_sts");
        let result = verify_edited(&vector, 0, |w| w.set("x-fc-trace-id", "trace-0002"));
        expect_error(result, 403, SIGNATURE_NOT_MATCH);
    }

    #[test]
    fn fc_scheme_rejects_an_added_x_fc_header() {
        let result = verify_edited(&fc_basic(), 0, |w| {
            w.set("x-fc-account-id", "1234567890123456")
        });
        expect_error(result, 403, SIGNATURE_NOT_MATCH);
    }

    #[test]
    fn fc_scheme_rejects_an_altered_path() {
        for vector in vectors("FC") {
            let result = verify_edited(&vector, 0, |w| w.path.push('x'));
            expect_error(result, 403, SIGNATURE_NOT_MATCH);
        }
    }

    #[test]
    fn fc_scheme_signs_the_decoded_path() {
        let vector = named("FC", "get_function_code_invalid_names");
        assert!(text(&vector, "/request/path").contains("my%20svc"));
        assert!(verify_edited(&vector, 0, |_| {}).is_ok());
    }

    #[test]
    fn fc_scheme_ignores_the_query_string() {
        let result = verify_edited(&fc_basic(), 0, |w| {
            w.query = Some("qualifier=prod&limit=5".into())
        });
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn fc_scheme_rejects_a_date_20_minutes_off() {
        expect_error(
            verify_edited(&fc_basic(), 20 * 60, |_| {}),
            403,
            REQUEST_TIME_TOO_SKEWED,
        );
        expect_error(
            verify_edited(&fc_basic(), -20 * 60, |_| {}),
            403,
            REQUEST_TIME_TOO_SKEWED,
        );
    }

    #[test]
    fn fc_scheme_accepts_a_date_15_minutes_off() {
        assert!(verify_edited(&fc_basic(), 15 * 60, |_| {}).is_ok());
    }

    #[test]
    fn fc_scheme_rejects_a_numeric_time_zone() {
        let result = verify_edited(&fc_basic(), 0, |w| {
            w.set("date", "Tue, 14 Nov 2023 22:13:20 +0000")
        });
        expect_error(result, 403, REQUEST_TIME_TOO_SKEWED);
    }

    #[test]
    fn fc_scheme_rejects_an_unpadded_day() {
        let vector = named("FC", "get_function_code_sts");
        let result = verify_edited(&vector, 0, |w| {
            w.set("date", "Tue, 2 Jan 2024 03:04:05 GMT")
        });
        expect_error(result, 403, REQUEST_TIME_TOO_SKEWED);
    }

    #[test]
    fn fc_scheme_requires_a_date_header() {
        let result = verify_edited(&fc_basic(), 0, |w| {
            w.headers.remove("date");
        });
        expect_error(result, 400, MISSING_REQUIRED_HEADER);
    }

    #[test]
    fn fc_scheme_rejects_an_unknown_access_key_id() {
        let vector = fc_basic();
        let forged =
            text(&vector, "/authorization").replace("LTAI5tFakeAccessKeyId01", "LTAIunknown");
        let result = verify_edited(&vector, 0, |w| w.set("authorization", &forged));
        expect_error(result, 403, INVALID_ACCESS_KEY_ID);
    }

    #[test]
    fn fc_scheme_rejects_a_duplicated_header() {
        let result = verify_edited(&named("FC", "get_function_code_sts"), 0, |w| {
            w.headers.append(
                "x-fc-security-token",
                HeaderValue::from_static("another-token"),
            );
        });
        expect_error(result, 400, INVALID_ARGUMENT);
    }

    #[test]
    fn fc_scheme_returns_the_security_token() {
        let vector = named("FC", "get_function_code_sts");
        let verified = verify_edited(&vector, 0, |_| {}).unwrap();
        assert_eq!(
            verified.security_token.as_deref(),
            opt_text(&vector, "/inputs/security_token")
        );
    }

    #[test]
    fn fc_scheme_mismatch_reports_the_string_to_sign_without_secrets() {
        let vector = named("FC", "get_function_code_sts");
        let err = expect_error(
            verify_edited(&vector, 0, |w| w.path.push('x')),
            403,
            SIGNATURE_NOT_MATCH,
        );
        assert!(
            err.message.contains("/functions/demo_function/codex"),
            "{err}"
        );
        assert!(err.message.contains("x-fc-security-token:***"), "{err}");
        assert!(
            !err.message
                .contains(text(&vector, "/inputs/access_key_secret")),
            "{err}"
        );
        assert!(
            !err.message
                .contains(text(&vector, "/inputs/security_token")),
            "{err}"
        );
    }

    #[test]
    fn verify_requires_an_authorization_header() {
        let result = verify_edited(&fc_basic(), 0, |w| {
            w.headers.remove("authorization");
        });
        expect_error(result, 400, MISSING_REQUIRED_HEADER);
    }

    #[test]
    fn verify_rejects_an_unknown_authorization_scheme() {
        let result = verify_edited(&fc_basic(), 0, |w| w.set("authorization", "acs LTAI:abc="));
        expect_error(result, 400, INVALID_ARGUMENT);
    }

    #[test]
    fn acs3_rejects_an_altered_signed_header() {
        for vector in vectors("ACS3-HMAC-SHA256") {
            let result = verify_edited(&vector, 0, |w| w.set("user-agent", "fnvault/0.1.0"));
            expect_error(result, 403, SIGNATURE_NOT_MATCH);
        }
    }

    #[test]
    fn acs3_rejects_an_altered_path() {
        for vector in vectors("ACS3-HMAC-SHA256") {
            let result = verify_edited(&vector, 0, |w| w.path.push('x'));
            expect_error(result, 403, SIGNATURE_NOT_MATCH);
        }
    }

    #[test]
    fn acs3_signs_the_encoded_path() {
        let vector = named("ACS3-HMAC-SHA256", "tea_get_function_code_invalid_names");
        let result = verify_edited(&vector, 0, |w| {
            w.path = w.path.replace("a%2Fb", "a/b");
        });
        expect_error(result, 403, SIGNATURE_NOT_MATCH);
    }

    #[test]
    fn acs3_signs_the_query_string() {
        let result = verify_edited(&acs3_basic(), 0, |w| {
            w.query = Some("qualifier=test".into())
        });
        expect_error(result, 403, SIGNATURE_NOT_MATCH);
    }

    #[test]
    fn acs3_accepts_the_query_in_any_order_and_encoding() {
        let vector = named("ACS3-HMAC-SHA256", "tea_list_functions_paged");
        let result = verify_edited(&vector, 0, |w| {
            w.query = Some("prefix=demo&nextToken=eyJrIjoiYSJ9%2b%2F%3d&limit=100".into())
        });
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn acs3_decodes_a_plus_in_the_query_as_a_space() {
        let (headers, body) = acs3_post(b"{}", true);
        assert!(verify_post(&headers, &body, "prefix=a+b").is_ok());
        assert!(verify_post(&headers, &body, "prefix=a%20b").is_ok());
    }

    #[test]
    fn acs3_rejects_an_x_acs_date_20_minutes_off() {
        expect_error(
            verify_edited(&acs3_basic(), 20 * 60, |_| {}),
            403,
            REQUEST_TIME_TOO_SKEWED,
        );
        expect_error(
            verify_edited(&acs3_basic(), -20 * 60, |_| {}),
            403,
            REQUEST_TIME_TOO_SKEWED,
        );
    }

    #[test]
    fn acs3_rejects_an_unknown_access_key_id() {
        let vector = acs3_basic();
        let forged =
            text(&vector, "/authorization").replace("LTAI5tFakeAccessKeyId01", "LTAIunknown");
        let result = verify_edited(&vector, 0, |w| w.set("authorization", &forged));
        expect_error(result, 403, INVALID_ACCESS_KEY_ID);
    }

    #[test]
    fn acs3_rejects_a_body_that_does_not_match_its_hash() {
        let (headers, _) = acs3_post(b"{}", true);
        let result = verify_post(&headers, b"{\"x\":1}", "prefix=a+b");
        expect_error(result, 400, INVALID_ARGUMENT);
    }

    #[test]
    fn acs3_accepts_a_body_that_matches_its_hash() {
        let (headers, body) = acs3_post(b"{\"limit\":100}", true);
        let verified = verify_post(&headers, &body, "prefix=a+b").unwrap();
        assert_eq!(verified.scheme, Scheme::Acs3);
    }

    #[test]
    fn acs3_requires_the_nonce_to_be_signed() {
        let (headers, body) = acs3_post(b"{}", false);
        let result = verify_post(&headers, &body, "prefix=a+b");
        let err = expect_error(result, 400, INVALID_ARGUMENT);
        assert!(err.message.contains("x-acs-signature-nonce"), "{err}");
    }

    #[test]
    fn acs3_requires_a_nonce() {
        let result = verify_edited(&acs3_basic(), 0, |w| {
            w.headers.remove("x-acs-signature-nonce");
        });
        expect_error(result, 400, MISSING_REQUIRED_HEADER);
    }

    #[test]
    fn acs3_requires_every_x_fc_header_to_be_signed() {
        let result = verify_edited(&acs3_basic(), 0, |w| w.set("x-fc-trace-id", "trace-0001"));
        let err = expect_error(result, 400, INVALID_ARGUMENT);
        assert!(err.message.contains("x-fc-trace-id"), "{err}");
    }

    #[test]
    fn acs3_requires_an_x_acs_date() {
        let result = verify_edited(&acs3_basic(), 0, |w| {
            w.headers.remove("x-acs-date");
        });
        expect_error(result, 400, MISSING_REQUIRED_HEADER);
    }

    #[test]
    fn acs3_returns_the_security_token() {
        let vector = named("ACS3-HMAC-SHA256", "tea_get_function_code_sts");
        let verified = verify_edited(&vector, 0, |_| {}).unwrap();
        assert_eq!(
            verified.security_token.as_deref(),
            opt_text(&vector, "/inputs/security_token")
        );
    }

    #[test]
    fn acs3_mismatch_reports_the_string_to_sign_without_secrets() {
        let vector = named("ACS3-HMAC-SHA256", "tea_get_function_code_sts");
        let err = expect_error(
            verify_edited(&vector, 0, |w| w.path.push('x')),
            403,
            SIGNATURE_NOT_MATCH,
        );
        assert!(err.message.contains("ACS3-HMAC-SHA256\\n"), "{err}");
        assert!(err.message.contains("x-acs-security-token:***"), "{err}");
        assert!(
            !err.message
                .contains(text(&vector, "/inputs/access_key_secret")),
            "{err}"
        );
        assert!(
            !err.message
                .contains(text(&vector, "/inputs/security_token")),
            "{err}"
        );
    }
}
