//! What one listing entry (`ListFunctions`) says about a function, kept so the next sweep can
//! tell from the listing alone whether the function changed (issue 16).
//!
//! Owns: which fields of an entry are read as change hints and which are left out of its
//! fingerprint. FC 2.0 and 3.0 entries carry `codeChecksum` (CRC-64), `codeSize`,
//! `lastModifiedTime` and the function's configuration; SCF entries carry `ModTime` and a few
//! configuration fields (no hash, no size). An entry without the fields a hint needs gives no
//! hint, and its function gets a full check every sweep, as before listings were used.
//!
//! The fingerprint is a keyed hash (the archive's `capture.key`, as for configuration
//! secrets): FC entries hold environment variable values in clear, and an unkeyed hash of a
//! short secret could be reversed by trying values.

use serde_json::Value;

use super::Cloud;

/// A listing entry's change hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// Keyed hash of the entry without its state fields (see [`VOLATILE`]).
    pub fingerprint: String,
    /// The cloud's last-modified time as it prints it (FC `lastModifiedTime`, SCF `ModTime`);
    /// compared for equality only, never with fnvault's clock (SCF gives no time zone).
    pub modified: String,
    /// FC only: `codeChecksum` in database form (CRC-64 as a decimal string).
    pub code_checksum: Option<String>,
    /// FC only: `codeSize` in bytes.
    pub code_size: Option<u64>,
}

/// Entry fields that describe a moment's state rather than the deployed function: a function
/// going idle or busy must not look like a deploy. A deploy changes the modified time, which
/// stays in the fingerprint.
const VOLATILE: &[&str] = &[
    // FC 3.0
    "state",
    "stateReason",
    "stateReasonCode",
    "lastUpdateStatus",
    "lastUpdateStatusReason",
    "lastUpdateStatusReasonCode",
    // SCF
    "Status",
    "StatusDesc",
    "StatusReasons",
    "AvailableStatus",
];

/// The hint of one `ListFunctions` entry of `cloud`; `None` when the entry lacks the fields
/// the listing needs to vouch for the function (then it gets a full check).
pub fn hint(cloud: Cloud, entry: &Value, key: &[u8; 32]) -> Option<Hint> {
    let object = entry.as_object()?;
    let (modified, code_checksum, code_size) = match cloud {
        Cloud::Tencent => (object.get("ModTime")?.as_str()?.to_string(), None, None),
        Cloud::Aliyun => {
            let checksum = match object.get("codeChecksum")? {
                Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                    s.parse::<u64>().ok()?.to_string()
                }
                Value::Number(n) => n.as_u64()?.to_string(),
                _ => return None,
            };
            (
                object.get("lastModifiedTime")?.as_str()?.to_string(),
                Some(checksum),
                Some(object.get("codeSize")?.as_u64()?),
            )
        }
    };
    let kept: serde_json::Map<String, Value> = object
        .iter()
        .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut canonical = Vec::new();
    crate::capture::write_canonical(&Value::Object(kept), &mut canonical);
    let fingerprint = crate::capture::keyed_hash(key, &String::from_utf8_lossy(&canonical));
    Some(Hint {
        fingerprint,
        modified,
        code_checksum,
        code_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fc_entries_give_package_hints_and_state_does_not_change_the_fingerprint() {
        let key = [7u8; 32];
        let entry = serde_json::json!({"functionName": "f", "codeChecksum": "123",
            "codeSize": 10, "lastModifiedTime": "2026-01-01T00:00:00Z", "memorySize": 128,
            "state": "Active"});
        let h = hint(Cloud::Aliyun, &entry, &key).unwrap();
        assert_eq!(h.code_checksum.as_deref(), Some("123"));
        assert_eq!(h.code_size, Some(10));
        let mut idle = entry.clone();
        idle["state"] = "Inactive".into();
        assert_eq!(hint(Cloud::Aliyun, &idle, &key).unwrap(), h);
        let mut bigger = entry.clone();
        bigger["memorySize"] = 256.into();
        assert_ne!(
            hint(Cloud::Aliyun, &bigger, &key).unwrap().fingerprint,
            h.fingerprint
        );
        // Another archive's key gives another fingerprint (no cross-archive guessing).
        assert_ne!(
            hint(Cloud::Aliyun, &entry, &[8u8; 32]).unwrap().fingerprint,
            h.fingerprint
        );
        // Without the package fields the listing cannot vouch for the function.
        let mut bare = entry.clone();
        bare.as_object_mut().unwrap().remove("codeChecksum");
        assert_eq!(hint(Cloud::Aliyun, &bare, &key), None);
        bare["codeChecksum"] = "not a number".into();
        assert_eq!(hint(Cloud::Aliyun, &bare, &key), None);
    }

    #[test]
    fn scf_entries_need_a_mod_time() {
        let key = [1u8; 32];
        let entry = serde_json::json!({"FunctionName": "f", "ModTime": "2026-01-01 00:00:00",
            "Runtime": "Python3.9", "Status": "Active"});
        let h = hint(Cloud::Tencent, &entry, &key).unwrap();
        assert_eq!(h.modified, "2026-01-01 00:00:00");
        assert_eq!(h.code_checksum, None);
        let mut updating = entry.clone();
        updating["Status"] = "Updating".into();
        assert_eq!(hint(Cloud::Tencent, &updating, &key).unwrap(), h);
        assert_eq!(
            hint(
                Cloud::Tencent,
                &serde_json::json!({"FunctionName": "f"}),
                &key
            ),
            None
        );
    }
}
