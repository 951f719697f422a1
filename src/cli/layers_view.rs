//! What `show`, `diff`, `restore --with-config` and `export --with-config` read of a
//! version's layers (`db::LayerRow`, in the cloud's order) and of a container-image version
//! (whose `cloud_checksum` is `image:<reference>` and whose blob is its configuration
//! document: there is no package).

use crate::db::{LayerRow, VersionRow};
use crate::sweep::{IMAGE_PREFIX, is_image};

use super::read_only::ReadOnly;

/// A container image version's reference, and its digest when the reference carries one
/// (`…@sha256:<hex>`).
pub(super) struct ImageRef {
    pub reference: String,
    pub digest: Option<String>,
}

/// The image of `v`, `None` for a package version.
pub(super) fn image_of(v: &VersionRow) -> Option<ImageRef> {
    if !is_image(&v.cloud_checksum) {
        return None;
    }
    let reference = v.cloud_checksum[IMAGE_PREFIX.len()..].to_string();
    let digest = reference
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .filter(|d| d.contains(':'));
    Some(ImageRef { reference, digest })
}

/// `show --json`'s `image`: `null` for a package.
pub(super) fn image_json(v: &VersionRow) -> serde_json::Value {
    match image_of(v) {
        Some(i) => serde_json::json!({"reference": i.reference, "digest": i.digest}),
        None => serde_json::Value::Null,
    }
}

/// The layers of `v`, in order.
pub(super) fn layers_of(ro: &ReadOnly, v: &VersionRow) -> anyhow::Result<Vec<LayerRow>> {
    Ok(ro.db.layers_of_version(v.id)?)
}

/// `show --json`'s `layers`: `[{name, version, sha256, size}]` in order.
pub(super) fn layers_json(layers: &[LayerRow]) -> serde_json::Value {
    layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "name": l.name, "version": l.version, "sha256": l.sha256, "size": l.size,
                "key": l.key,
            })
        })
        .collect()
}

/// One layer as a person reads it: `name version N`.
pub(super) fn label(l: &LayerRow) -> String {
    format!("{} version {}", l.name, l.version)
}

/// A layer difference between two versions.
pub(super) enum LayerChange<'a> {
    Added(usize, &'a LayerRow),
    Removed(usize, &'a LayerRow),
    /// The same layers in another order (which changes whose files win).
    Reordered,
}

/// The layer differences from `a` to `b` (by key; positions from 1).
pub(super) fn changes<'a>(a: &'a [LayerRow], b: &'a [LayerRow]) -> Vec<LayerChange<'a>> {
    let mut out = Vec::new();
    for (i, l) in a.iter().enumerate() {
        if !b.iter().any(|x| x.key == l.key) {
            out.push(LayerChange::Removed(i + 1, l));
        }
    }
    for (i, l) in b.iter().enumerate() {
        if !a.iter().any(|x| x.key == l.key) {
            out.push(LayerChange::Added(i + 1, l));
        }
    }
    if out.is_empty() && a.iter().map(|l| &l.key).ne(b.iter().map(|l| &l.key)) {
        out.push(LayerChange::Reordered);
    }
    out
}

/// `diff --json`'s `layers`.
pub(super) fn changes_json(changes: &[LayerChange<'_>]) -> serde_json::Value {
    changes
        .iter()
        .map(|c| match c {
            LayerChange::Added(n, l) => serde_json::json!({
                "change": "added", "position": n, "name": l.name, "version": l.version,
                "sha256": l.sha256,
            }),
            LayerChange::Removed(n, l) => serde_json::json!({
                "change": "removed", "position": n, "name": l.name, "version": l.version,
                "sha256": l.sha256,
            }),
            LayerChange::Reordered => serde_json::json!({"change": "reordered"}),
        })
        .collect()
}

/// `diff`'s layer lines (nothing when the layers are the same).
pub(super) fn print_changes(key: &str, from: i64, to: i64, changes: &[LayerChange<'_>]) {
    if changes.is_empty() {
        return;
    }
    println!(
        "{key} version {from} → {to}: layers: {} change(s)",
        changes.len()
    );
    for c in changes {
        match c {
            LayerChange::Added(n, l) => println!("  added    #{n} {}", label(l)),
            LayerChange::Removed(n, l) => println!("  removed  #{n} {}", label(l)),
            LayerChange::Reordered => println!("  reordered (the same layers in another order)"),
        }
    }
}
