//! What `history`, `show`, `diff` and `restore --with-config` read of a version's
//! configuration: the `version_configs` row and the canonical document (hash-checked on the
//! way out), and how a document is shown to a person (one `path = value` line per field, a
//! protected secret as `(secret)`).

use anyhow::anyhow;

use super::read_only::ReadOnly;
use crate::db::{VersionConfig, VersionRow};

/// A version's configuration: its row and its document.
pub(super) struct Shown {
    pub row: VersionConfig,
    /// The canonical document, or why it could not be read (a missing or damaged blob).
    pub document: Result<serde_json::Value, String>,
}

/// The configuration of `v`, `None` for a version archived before configurations were read
/// (or of a function whose configuration is not read: FC 3.0).
pub(super) fn of(ro: &ReadOnly, v: &VersionRow) -> anyhow::Result<Option<Shown>> {
    let Some(row) = ro.db.config_of_version(v.id)? else {
        return Ok(None);
    };
    let document = ro
        .archive
        .read_document(&row.config_sha256)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            serde_json::from_slice(&b)
                .map_err(|e| format!("configuration {} is not JSON: {e}", row.config_sha256))
        });
    Ok(Some(Shown { row, document }))
}

/// The document, or the error saying why it is unreadable.
pub(super) fn document(s: &Shown) -> anyhow::Result<&serde_json::Value> {
    s.document
        .as_ref()
        .map_err(|e| anyhow!("configuration {}: {e}", s.row.config_sha256))
}

/// `path = value` lines of a document, sorted; protected values as `(secret)`.
pub(super) fn lines(doc: &serde_json::Value) -> Vec<String> {
    // A diff against an empty document lists every field as added, with its shown value.
    crate::capture::diff(&serde_json::Value::Null, doc)
        .into_iter()
        .filter_map(|c| match c {
            crate::capture::Change::Added { path, value } => Some(format!("{path} = {value}")),
            _ => None,
        })
        .collect()
}

/// `yes`/`no` for a table cell.
pub(super) fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
