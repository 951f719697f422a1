//! TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0, computed exactly as the
//! official Python SDK computes it for SCF (see `shared/api/tencent-scf.md` §2). The matching
//! server-side check is `sim::verify_tc`, which shares `compute` with the signer.
//!
//! Only `content-type` and `host` are signed, over `POST /` with an empty query: that is what the
//! SDK sends and what the vectors in `tests/vectors/tencent-tc3.json` were produced with.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name that opens the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// The service in the credential scope: the SDK's class constant, never derived from the host, so
/// it stays `scf` for international, regional and local endpoints alike.
pub const SERVICE: &str = "scf";

/// The last element of every credential scope, fixed by the protocol.
pub(crate) const TERMINATOR: &str = "tc3_request";

/// The only headers the SDK signs, in canonical order.
pub(crate) const SDK_SIGNED_HEADERS: [&str; 2] = ["content-type", "host"];

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// What is signed of one request: everything else the SDK sends (action, region, token,
/// language) travels unsigned, so it has no place here.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Service name for the credential scope; [`SERVICE`] for every SCF call.
    pub service: &'a str,
    /// The `Host` header value exactly as the HTTP client sends it, port included when the
    /// endpoint has one, because the signature covers those bytes.
    pub host: &'a str,
    /// The `Content-Type` header value exactly as sent; a charset the client appends would have
    /// to be signed too.
    pub content_type: &'a str,
    /// The body bytes exactly as sent: the signature covers bytes, not JSON.
    pub body: &'a [u8],
    /// Unix seconds; the same value must go into `X-TC-Timestamp`, and its UTC date into the
    /// credential scope.
    pub timestamp: i64,
}

/// Every intermediate string, so tests can compare each one and the simulator can report what it
/// computed.
///
/// `Debug` hides the derived keys, the signature and the `Authorization` value: the signing key
/// is valid for a whole day and the header is a replayable credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// Lowercase hex SHA-256 of the body.
    pub hashed_request_payload: String,
    /// `name:value\n` for each signed header, in signed order.
    pub canonical_headers: String,
    /// Signed header names joined by `;`.
    pub signed_headers: String,
    /// The six canonical lines joined by `\n`, without a trailing newline.
    pub canonical_request: String,
    /// Lowercase hex SHA-256 of the canonical request.
    pub hashed_canonical_request: String,
    /// `<UTC date>/<service>/tc3_request`.
    pub credential_scope: String,
    /// Algorithm, timestamp, scope and hashed canonical request joined by `\n`.
    pub string_to_sign: String,
    /// Hex of `HMAC("TC3" + SecretKey, date)`, the first key of the chain.
    pub k_date_hex: String,
    /// Hex of `HMAC(kDate, service)`.
    pub k_service_hex: String,
    /// Hex of `HMAC(kService, "tc3_request")`, the key that signs.
    pub k_signing_hex: String,
    /// Lowercase hex of `HMAC(kSigning, string_to_sign)`.
    pub signature: String,
    /// The complete `Authorization` header value.
    pub authorization: String,
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("hashed_request_payload", &self.hashed_request_payload)
            .field("canonical_headers", &self.canonical_headers)
            .field("signed_headers", &self.signed_headers)
            .field("canonical_request", &self.canonical_request)
            .field("hashed_canonical_request", &self.hashed_canonical_request)
            .field("credential_scope", &self.credential_scope)
            .field("string_to_sign", &self.string_to_sign)
            .field("k_date_hex", &"***")
            .field("k_service_hex", &"***")
            .field("k_signing_hex", &"***")
            .field("signature", &"***")
            .field("authorization", &"***")
            .finish()
    }
}

/// Signs one SCF API request the way the official SDK does, returning every intermediate value.
pub fn sign(req: &Request<'_>, secret_id: &str, secret_key: &str) -> Signed {
    let headers = [
        (SDK_SIGNED_HEADERS[0], req.content_type),
        (SDK_SIGNED_HEADERS[1], req.host),
    ];
    compute(
        req.service,
        &headers,
        req.body,
        req.timestamp,
        secret_id,
        secret_key,
    )
    .0
}

/// Signs with an arbitrary list of headers so that `sign` and `verify` share one computation;
/// also returns the raw signing key for the constant-time comparison.
pub(crate) fn compute(
    service: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timestamp: i64,
    secret_id: &str,
    secret_key: &str,
) -> (Signed, [u8; 32]) {
    let date = utc_date(timestamp);
    let hashed_request_payload = hex::encode(Sha256::digest(body));
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    // The query line is empty because every call is a POST to `/`.
    let canonical_request = [
        "POST",
        "/",
        "",
        &canonical_headers,
        &signed_headers,
        &hashed_request_payload,
    ]
    .join("\n");
    let hashed_canonical_request = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    let credential_scope = format!("{date}/{service}/{TERMINATOR}");
    let string_to_sign =
        format!("{ALGORITHM}\n{timestamp}\n{credential_scope}\n{hashed_canonical_request}");

    let k_date = mac_bytes(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = mac_bytes(&k_date, service.as_bytes());
    let k_signing = mac_bytes(&k_service, TERMINATOR.as_bytes());
    let signature = hex::encode(mac_bytes(&k_signing, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={secret_id}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}"
    );

    let signed = Signed {
        hashed_request_payload,
        canonical_headers,
        signed_headers,
        canonical_request,
        hashed_canonical_request,
        credential_scope,
        string_to_sign,
        k_date_hex: hex::encode(k_date),
        k_service_hex: hex::encode(k_service),
        k_signing_hex: hex::encode(k_signing),
        signature,
        authorization,
    };
    (signed, k_signing)
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(key).expect("hmac accepts keys of any length");
    mac.update(message);
    mac
}

pub(crate) fn mac_bytes(key: &[u8], message: &[u8]) -> [u8; 32] {
    hmac_sha256(key, message).finalize().into_bytes().into()
}

/// The UTC calendar date of `timestamp`: the scope uses UTC even though the service is in
/// Beijing, so one second before UTC midnight still belongs to the previous day.
///
/// A timestamp beyond chrono's range (±262,000 years) cannot come from a clock; it yields the
/// epoch's date, and so a signature the service rejects, instead of a panic.
pub(crate) fn utc_date(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use http::{HeaderMap, HeaderName, HeaderValue};
    use serde_json::Value;

    pub(crate) const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/tencent-tc3.json"
    );

    pub(crate) fn vectors_file() -> Value {
        let text = std::fs::read_to_string(VECTORS)
            .unwrap_or_else(|e| panic!("cannot read {VECTORS}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {VECTORS}: {e}"))
    }

    pub(crate) fn entries(section: &str) -> Vec<Value> {
        let list = vectors_file()[section]
            .as_array()
            .unwrap_or_else(|| panic!("{VECTORS} has no array {section}"))
            .clone();
        assert!(!list.is_empty(), "{VECTORS} has an empty {section}");
        list
    }

    pub(crate) fn text<'v>(value: &'v Value, pointer: &str) -> &'v str {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("vector {} has no string at {pointer}", name(value)))
    }

    pub(crate) fn name(vector: &Value) -> &str {
        vector["name"].as_str().unwrap_or("<unnamed>")
    }

    pub(crate) fn body(vector: &Value) -> Vec<u8> {
        hex::decode(text(vector, "/request/body_hex"))
            .unwrap_or_else(|e| panic!("vector {}: body_hex: {e}", name(vector)))
    }

    pub(crate) fn timestamp(vector: &Value) -> i64 {
        vector["inputs"]["timestamp"]
            .as_i64()
            .unwrap_or_else(|| panic!("vector {} has no inputs.timestamp", name(vector)))
    }

    pub(crate) fn sign_vector(vector: &Value) -> Signed {
        let body = body(vector);
        let req = Request {
            service: text(vector, "/inputs/service"),
            host: text(vector, "/inputs/host"),
            content_type: text(vector, "/request/content_type"),
            body: &body,
            timestamp: timestamp(vector),
        };
        sign(
            &req,
            text(vector, "/inputs/secret_id"),
            text(vector, "/inputs/secret_key"),
        )
    }

    /// Compares every `signing.*` field of each vector and lists all differences, each with the
    /// vector's name, so one run shows every step that drifted.
    pub(crate) fn check_signing(section: &str) {
        let mut failures = Vec::new();
        for vector in entries(section) {
            let got = sign_vector(&vector);
            let fields = [
                ("hashed_request_payload", &got.hashed_request_payload),
                ("canonical_headers", &got.canonical_headers),
                ("signed_headers", &got.signed_headers),
                ("canonical_request", &got.canonical_request),
                ("hashed_canonical_request", &got.hashed_canonical_request),
                ("credential_scope", &got.credential_scope),
                ("string_to_sign", &got.string_to_sign),
                ("hmac_chain/k_date_hex", &got.k_date_hex),
                ("hmac_chain/k_service_hex", &got.k_service_hex),
                ("hmac_chain/k_signing_hex", &got.k_signing_hex),
                ("signature", &got.signature),
                ("authorization", &got.authorization),
            ];
            for (field, actual) in fields {
                let expected = text(&vector, &format!("/signing/{field}"));
                if actual != expected {
                    failures.push(format!(
                        "vector {}: signing.{field}\n  expected {expected:?}\n  computed {actual:?}",
                        name(&vector)
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    pub(crate) fn wire_headers(vector: &Value) -> HeaderMap {
        let mut map = HeaderMap::new();
        let pairs = vector["request"]["wire_headers"]
            .as_array()
            .unwrap_or_else(|| panic!("vector {} has no wire_headers", name(vector)));
        for pair in pairs {
            let (Some(n), Some(v)) = (pair[0].as_str(), pair[1].as_str()) else {
                panic!("vector {}: wire header {pair} is not a pair", name(vector));
            };
            map.append(
                HeaderName::from_bytes(n.as_bytes()).expect("vector header name"),
                HeaderValue::from_str(v).expect("vector header value"),
            );
        }
        map
    }

    pub(crate) fn secrets_of(vector: &Value) -> impl Fn(&str) -> Option<String> + use<> {
        let id = text(vector, "/inputs/secret_id").to_owned();
        let key = text(vector, "/inputs/secret_key").to_owned();
        move |asked: &str| (asked == id).then(|| key.clone())
    }

    #[test]
    fn every_scf_vector_is_reproduced_byte_for_byte() {
        check_signing("vectors");
    }

    #[test]
    fn the_published_cvm_example_is_reproduced_byte_for_byte() {
        check_signing("cross_checks");
    }

    #[test]
    fn debug_output_hides_keys_and_signature() {
        let vector = basic();
        let shown = format!("{:?}", sign_vector(&vector));
        assert!(
            !shown.contains(text(&vector, "/signing/signature")),
            "{shown}"
        );
        assert!(
            !shown.contains(text(&vector, "/signing/hmac_chain/k_signing_hex")),
            "{shown}"
        );
    }

    pub(crate) fn basic() -> Value {
        entries("vectors")
            .into_iter()
            .find(|v| name(v) == "get_function_address_basic")
            .expect("vector get_function_address_basic")
    }
}
