//! The one time format fnvault stores and prints: RFC 3339 UTC with milliseconds
//! (`2026-11-23T09:41:00.123Z`), which sorts lexicographically in SQLite as it does in time.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, formatted for storage.
pub fn now_rfc3339() -> String {
    format_rfc3339(Utc::now())
}

pub fn format_rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Seconds since the Unix epoch, as the request signers need it.
pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}
