//! `fnvault restore` and `fnvault export`: archived packages back out as files, each one
//! verified against its SHA-256 while it is written. A package is written to a temp file in
//! the destination folder and renamed into place only once its hash matched and it was
//! fsynced, so a corrupt blob leaves nothing behind. Read-only towards the archive: no lock.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use sha2::{Digest, Sha256};

use super::Fatal;
use super::layers_view;
use super::read_only::{ReadOnly, manifest_of, open_read_only, pick_version, print_table};
use super::resolve;
use crate::config::Config;
use crate::db::{FunctionRow, VersionRow};

/// Why a verified copy failed.
#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error("{path} already exists; use --force to replace it")]
    Exists { path: PathBuf },
    #[error(
        "blob {sha256} is corrupt (its content hashes to {actual}); nothing was written. \
         `fnvault verify` lists every damaged blob; delete a damaged blob file and the next sweep \
         downloads it again if the cloud still serves that package"
    )]
    Corrupt { sha256: String, actual: String },
    #[error("blob {sha256} is missing from the archive ({path}); nothing was written")]
    Missing { sha256: String, path: PathBuf },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CopyError + '_ {
    // Not a `source`: the message already says it, and a chain would repeat it.
    move |error| CopyError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Copies blob `sha256` of `ro`'s archive to `dest`, hashing as it goes.
fn copy_verified(ro: &ReadOnly, sha256: &str, dest: &Path, force: bool) -> Result<(), CopyError> {
    if !force && fs::symlink_metadata(dest).is_ok() {
        return Err(CopyError::Exists {
            path: dest.to_path_buf(),
        });
    }
    let local = match ro.archive.local_copy(sha256) {
        Ok(l) => l,
        Err(crate::archive::ArchiveError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(CopyError::Missing {
                sha256: sha256.to_string(),
                path: PathBuf::from(ro.archive.blob_location(sha256)),
            });
        }
        Err(e) => {
            return Err(io(Path::new(&ro.archive.blob_location(sha256)))(
                std::io::Error::other(e.to_string()),
            ));
        }
    };
    let blob = local.to_path_buf();
    let mut src = match File::open(&blob) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CopyError::Missing {
                sha256: sha256.to_string(),
                path: blob,
            });
        }
        Err(e) => return Err(io(&blob)(e)),
    };
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Same folder as the destination: the final rename cannot cross filesystems.
    let mut tmp = tempfile::Builder::new()
        .prefix(".fnvault-restore-")
        .tempfile_in(&parent)
        .map_err(io(&parent))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = src.read(&mut buf).map_err(io(&blob))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).map_err(io(tmp.path()))?;
    }
    let actual = hex::encode(hasher.finalize());
    if actual != sha256 {
        // Dropping `tmp` deletes it.
        return Err(CopyError::Corrupt {
            sha256: sha256.to_string(),
            actual,
        });
    }
    tmp.as_file().sync_all().map_err(io(tmp.path()))?;
    if force {
        tmp.persist(dest).map_err(|e| io(dest)(e.error))?;
    } else {
        // No-clobber even if the file appeared since the check above.
        tmp.persist_noclobber(dest).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                CopyError::Exists {
                    path: dest.to_path_buf(),
                }
            } else {
                io(dest)(e.error)
            }
        })?;
    }
    File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(io(&parent))?;
    Ok(())
}

fn copy_error(e: CopyError) -> Fatal {
    match e {
        // The user asked for a path that is taken: a usage error.
        CopyError::Exists { .. } => Fatal::Other(e.into()),
        _ => Fatal::Failed(e.into()),
    }
}

pub(super) fn restore(
    config: &Config,
    spec: &str,
    to: &Path,
    at: Option<&str>,
    force: bool,
) -> Result<ExitCode, Fatal> {
    let ro = open_read_only(config)?;
    let (f, v) = pick_version(&ro, spec, at)?;
    if let Some(i) = layers_view::image_of(&v) {
        return Err(Fatal::Failed(anyhow!(
            "{}@{} is a container image ({}): there is no package to restore (images are not \
             copied). `restore --with-config --to DIR` writes its function.json and layers",
            f.target.key,
            v.version_no,
            super::output::shown(&i.reference)
        )));
    }
    copy_verified(&ro, &v.sha256, to, force).map_err(copy_error)?;
    eprintln!(
        "restored {}@{} ({} bytes, sha256 {} verified) to {}",
        f.target.key,
        v.version_no,
        v.size,
        v.sha256,
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `restore --with-config`: the package and `function.json` (the version's configuration
/// document, byte for byte) into the new or empty folder `to`, each verified against its
/// SHA-256 on the way out. A version without a configuration writes nothing.
pub(super) fn restore_whole(
    config: &Config,
    spec: &str,
    to: &Path,
    at: Option<&str>,
    identity: Option<&Path>,
) -> Result<ExitCode, Fatal> {
    // Read first: a bad identity file is reported before anything is written.
    let identities = identity.map(read_identities).transpose()?;
    let ro = open_read_only(config)?;
    let (f, v) = pick_version(&ro, spec, at)?;
    let Some(c) = ro.db.config_of_version(v.id).map_err(anyhow::Error::from)? else {
        return Err(Fatal::Failed(anyhow!(
            "{}@{} has no configuration recorded (archived before configurations were read,              or a kind of function whose configuration is not read yet); nothing was written.              `restore` without --with-config writes its package",
            f.target.key,
            v.version_no
        )));
    };
    let layers = layers_view::layers_of(&ro, &v).map_err(Fatal::Failed)?;
    let image = layers_view::image_of(&v);
    new_or_empty(to)?;
    // Everything written so far: on a failure all of it is removed (all or nothing).
    let mut written: Vec<PathBuf> = Vec::new();
    let undo = |written: &[PathBuf]| {
        for p in written.iter().rev() {
            let _ = fs::remove_file(p).or_else(|_| fs::remove_dir(p));
        }
    };
    let package = match &image {
        // A container image has no package (its blob is the configuration document).
        Some(_) => None,
        None => {
            let is_zip = manifest_of(&ro, &v.sha256)
                .map(|p| p.is_zip)
                .unwrap_or(true);
            let package = to.join(export_path(&f, is_zip).file_name().unwrap_or_default());
            copy_verified(&ro, &v.sha256, &package, false).map_err(copy_error)?;
            written.push(package.clone());
            Some(package)
        }
    };
    let function_json = to.join("function.json");
    let mut decrypted = 0;
    let wrote = match &identities {
        None => copy_verified(&ro, &c.config_sha256, &function_json, false).map_err(copy_error),
        Some((ids, file)) => {
            decrypt_into(&ro, &c.config_sha256, ids, file, &function_json).map(|n| decrypted = n)
        }
    };
    if let Err(e) = wrote {
        // Both or neither: the package alone is not what was asked for.
        undo(&written);
        return Err(e);
    }
    written.push(function_json);
    if let Err(e) = write_layers(&ro, &layers, &to.join("layers"), &mut written) {
        undo(&written);
        return Err(e);
    }
    let what = match (&package, &image) {
        (Some(p), _) => format!(
            "{} (sha256 {} verified)",
            p.file_name().unwrap_or_default().to_string_lossy(),
            v.sha256
        ),
        (None, Some(i)) => format!(
            "no package (a container image, {}: images are not copied)",
            super::output::shown(&i.reference)
        ),
        (None, None) => "no package".to_string(),
    };
    let json_note = match &identities {
        Some(_) => format!(
            "document sha256 {} verified, {decrypted} secret(s) decrypted",
            c.config_sha256
        ),
        None => format!("sha256 {} verified", c.config_sha256),
    };
    eprintln!(
        "restored {}@{} to {}: {what}, function.json ({json_note}){}",
        f.target.key,
        v.version_no,
        to.display(),
        if layers.is_empty() {
            String::new()
        } else {
            format!(
                " and {} layer(s) under layers/ (sha256 verified, in the cloud's order)",
                layers.len()
            )
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The identities of an age identity file (`AGE-SECRET-KEY-1…` lines), and its path for
/// messages. Errors name the file.
fn read_identities(path: &Path) -> Result<(Vec<Box<dyn age::Identity>>, PathBuf), Fatal> {
    let text = path.display().to_string();
    let file = age::IdentityFile::from_file(text.clone())
        .map_err(|e| anyhow!("--identity {text}: {e}"))?;
    let ids = file
        .into_identities()
        .map_err(|e| anyhow!("--identity {text}: {e}"))?;
    if ids.is_empty() {
        return Err(anyhow!("--identity {text}: holds no age identity").into());
    }
    Ok((ids, path.to_path_buf()))
}

/// Writes configuration `sha256` (hash-checked on the way out) to `dest` with its
/// `encrypt`-mode secrets decrypted; owner-only, since it now holds clear secrets. Returns
/// how many values were decrypted.
fn decrypt_into(
    ro: &ReadOnly,
    sha256: &str,
    ids: &[Box<dyn age::Identity>],
    identity_file: &Path,
    dest: &Path,
) -> Result<usize, Fatal> {
    let bytes = ro
        .archive
        .read_document(sha256)
        .map_err(|e| Fatal::Failed(anyhow!("configuration {sha256}: {e}; nothing was written")))?;
    let mut doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Fatal::Failed(anyhow!("configuration {sha256} is not JSON: {e}")))?;
    let n = crate::capture::decrypt_document(&mut doc, ids).map_err(|e| {
        Fatal::Failed(anyhow!(
            "configuration {sha256}: {e} (identity file {})",
            identity_file.display()
        ))
    })?;
    let mut out = Vec::new();
    crate::capture::write_canonical(&doc, &mut out);
    out.push(b'\n');
    let written = {
        use std::os::unix::fs::OpenOptionsExt as _;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
            .and_then(|mut f| f.write_all(&out).and_then(|()| f.sync_all()))
    };
    if let Err(e) = written {
        // Leave no partial file (the folder was new or empty).
        let _ = fs::remove_file(dest);
        return Err(Fatal::Failed(anyhow!("writing {}: {e}", dest.display())));
    }
    Ok(n)
}

/// `<n>-<name>-<version>.zip`, `n` the layer's position from 1 (the order decides whose
/// files win).
fn layer_file(n: usize, l: &crate::db::LayerRow) -> String {
    component(&format!("{n}-{}-{}.zip", l.name, l.version))
}

/// Writes `layers` into the folder `dir` (created when there are any), each verified,
/// pushing every file (and the folder) written onto `written`.
fn write_layers(
    ro: &ReadOnly,
    layers: &[crate::db::LayerRow],
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), Fatal> {
    if layers.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    written.push(dir.to_path_buf());
    for (i, l) in layers.iter().enumerate() {
        let dest = dir.join(layer_file(i + 1, l));
        copy_verified(ro, &l.sha256, &dest, false)
            .map_err(copy_error)
            .map_err(|e| match e {
                Fatal::Failed(e) => Fatal::Failed(e.context(format!("layer {}", l.key))),
                other => other,
            })?;
        written.push(dest);
    }
    Ok(())
}

/// Makes sure `to` is a new (then created) or empty folder.
fn new_or_empty(to: &Path) -> Result<(), Fatal> {
    match fs::read_dir(to) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(anyhow!(
                    "{} is not empty: this writes into a new or empty folder",
                    to.display()
                )
                .into());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
        }
        Err(e) => return Err(anyhow!("{}: {e}", to.display()).into()),
    }
    Ok(())
}

/// One path component from a name that came from a config or a cloud: never `.`, `..`,
/// empty, or containing a separator, NUL or a control character. Such bytes (and `%`) are
/// percent-escaped, so distinct names stay distinct (a property test checks both).
fn component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '/' | '\\' | '%' | '\0' => out.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_control() => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    match out.as_str() {
        // Not `%00`, which is what a lone NUL becomes: a bare `%` is no escape's output.
        "" => "%".to_string(),
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => out,
    }
}

/// `<account>/<region>/<namespace>/<name>[@qualifier].zip` (`.bin` for a non-zip package);
/// `<account>/<region>/<name>…` for an FC 3.0 function, as its key.
fn export_path(f: &FunctionRow, is_zip: bool) -> PathBuf {
    let t = &f.target;
    let mut file = t.name.clone();
    if let Some(q) = &t.qualifier {
        file.push('@');
        file.push_str(q);
    }
    file.push_str(if is_zip { ".zip" } else { ".bin" });
    // An FC 3.0 function has no service, so no folder for one.
    [
        Some(component(&t.account)),
        Some(component(&t.region)),
        (!t.is_fc3()).then(|| component(&t.namespace)),
        Some(component(&file)),
    ]
    .iter()
    .flatten()
    .collect()
}

pub(super) fn export(
    config: &Config,
    to: &Path,
    at: Option<&str>,
    with_config: bool,
) -> Result<ExitCode, Fatal> {
    let at = at.map(resolve::time).transpose()?;
    let ro = open_read_only(config)?;
    new_or_empty(to)?;
    let mut packages = Vec::new();
    let mut skipped = Vec::new();
    let mut failed = 0;
    let mut rows = Vec::new();
    // Every function's version in one statement each, not a query (and a whole history)
    // per function (review P6).
    let mut chosen = match &at {
        Some(t) => ro.db.versions_at(t),
        None => ro.db.latest_versions(),
    }
    .map_err(anyhow::Error::from)?;
    // What each chosen package is, and each chosen version's configuration: one statement
    // each for all functions (not one per function).
    let is_zip_of = ro
        .db
        .zip_flags(
            &chosen
                .values()
                .map(|v| v.sha256.as_str())
                .collect::<Vec<_>>(),
        )
        .map_err(anyhow::Error::from)?;
    let (mut config_of, mut layers_of) = if with_config {
        let ids = chosen.values().map(|v| v.id).collect::<Vec<_>>();
        (
            ro.db
                .configs_of_versions(&ids)
                .map_err(anyhow::Error::from)?,
            ro.db
                .layers_of_versions(&ids)
                .map_err(anyhow::Error::from)?,
        )
    } else {
        Default::default()
    };
    for f in ro.functions()? {
        let v: Option<VersionRow> = chosen.remove(&f.id);
        let Some(v) = v else {
            let reason = match &at {
                Some(t) => format!("no version archived at {t}"),
                None => "no version archived".to_string(),
            };
            skipped.push(serde_json::json!({ "function": f.target.key, "reason": reason }));
            continue;
        };
        let image = layers_view::image_of(&v);
        if let Some(i) = &image
            && !with_config
        {
            skipped.push(serde_json::json!({
                "function": f.target.key,
                "version": v.version_no,
                "reason": format!(
                    "a container image ({}): no package (images are not copied); \
                     --with-config writes its function.json",
                    i.reference
                ),
            }));
            continue;
        }
        // Known from the database for every package a sweep has read; only a package never
        // read (no row yet) is opened to find out.
        let is_zip = match &image {
            Some(_) => true,
            None => match is_zip_of.get(&v.sha256).copied() {
                Some(z) => z,
                None => manifest_of(&ro, &v.sha256)
                    .map(|p| p.is_zip)
                    .unwrap_or(true),
            },
        };
        let rel = export_path(f, is_zip);
        let dest = to.join(&rel);
        let result = dest
            .parent()
            .map(|p| fs::create_dir_all(p).map_err(io(p)))
            .unwrap_or(Ok(()))
            .and_then(|()| match &image {
                // An image's only blob is its configuration, written below.
                Some(_) => Ok(()),
                None => copy_verified(&ro, &v.sha256, &dest, false),
            });
        if let Err(e) = result {
            // Leave no empty folders behind for a package that was not written: remove the
            // ones now empty, up to the export root (`remove_dir` refuses non-empty ones).
            let mut dir = dest.parent();
            while let Some(d) = dir.filter(|d| d.starts_with(to) && *d != to) {
                if fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
            failed += 1;
            eprintln!(
                "failed: {}@{}: {}",
                f.target.key,
                v.version_no,
                super::output::shown(&e.to_string())
            );
            skipped.push(serde_json::json!({
                "function": f.target.key,
                "version": v.version_no,
                "reason": e.to_string(),
            }));
            rows.push(vec![
                f.target.key.clone(),
                v.version_no.to_string(),
                "FAILED".into(),
            ]);
            continue;
        }
        // The configuration document beside the package, verified like it.
        let mut configuration = serde_json::Value::Null;
        if with_config && let Some(c) = config_of.remove(&v.id) {
            let name = format!(
                "{}.function.json",
                rel.file_stem().unwrap_or_default().to_string_lossy()
            );
            let crel = rel.with_file_name(name);
            match copy_verified(&ro, &c.config_sha256, &to.join(&crel), false) {
                Ok(()) => {
                    configuration = serde_json::json!({
                        "path": crel.display().to_string(),
                        "sha256": c.config_sha256,
                    });
                }
                Err(e) => {
                    failed += 1;
                    eprintln!(
                        "failed: {}@{} (configuration): {}",
                        f.target.key,
                        v.version_no,
                        super::output::shown(&e.to_string())
                    );
                }
            }
        }
        // Its layers, in order, in `<stem>.layers/`, verified like the package.
        let mut layer_entries = Vec::new();
        if with_config {
            let layers = layers_of.remove(&v.id).unwrap_or_default();
            let dir_rel = rel.with_file_name(format!(
                "{}.layers",
                rel.file_stem().unwrap_or_default().to_string_lossy()
            ));
            let mut written = Vec::new();
            match write_layers(&ro, &layers, &to.join(&dir_rel), &mut written) {
                Ok(()) => {
                    for (i, l) in layers.iter().enumerate() {
                        layer_entries.push(serde_json::json!({
                            "name": l.name, "version": l.version, "sha256": l.sha256,
                            "size": l.size,
                            "path": dir_rel.join(layer_file(i + 1, l)).display().to_string(),
                        }));
                    }
                }
                Err(e) => {
                    failed += 1;
                    let e = match e {
                        Fatal::Failed(e) | Fatal::Other(e) => format!("{e:#}"),
                        other => other.to_string(),
                    };
                    eprintln!(
                        "failed: {}@{} (layers): {}",
                        f.target.key,
                        v.version_no,
                        super::output::shown(&e)
                    );
                }
            }
        }
        let t = &f.target;
        rows.push(vec![
            t.key.clone(),
            v.version_no.to_string(),
            rel.display().to_string(),
        ]);
        packages.push(serde_json::json!({
            "function": t.key,
            "cloud": t.cloud.as_str(),
            "account": t.account,
            "region": t.region,
            "namespace": t.namespace,
            "name": t.name,
            "qualifier": t.qualifier,
            "version": v.version_no,
            "first_seen": v.first_seen,
            "last_seen": v.last_seen,
            "size": v.size,
            "sha256": v.sha256,
            "crc64": v.crc64,
            "cloud_checksum": v.cloud_checksum,
            "format": if image.is_some() { "image" } else if is_zip { "zip" } else { "not-zip" },
            "path": if image.is_some() { serde_json::Value::Null } else { rel.display().to_string().into() },
            "image": layers_view::image_json(&v),
            "configuration": configuration,
            "layers": layer_entries,
        }));
    }
    let manifest = serde_json::json!({
        "exported_at": crate::time::now_rfc3339(),
        "at": at,
        "packages": packages,
        "not_exported": skipped,
    });
    let manifest_path = to.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest).map_err(anyhow::Error::from)? + "\n";
    // Owner-only like the packages beside it (it names every function and its checksum).
    let written = {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&manifest_path)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
    };
    written
        .with_context(|| format!("writing {}", manifest_path.display()))
        .map_err(Fatal::Failed)?;
    print_table(&["FUNCTION", "VERSION", "FILE"], &rows)?;
    eprintln!(
        "exported {} package(s) to {} (manifest.json lists them with checksums){}",
        packages.len(),
        to.display(),
        if failed > 0 {
            format!("; {failed} failed")
        } else {
            String::new()
        }
    );
    if failed > 0 {
        Err(Fatal::Failed(anyhow!(
            "{failed} package(s) could not be exported (listed under not_exported in manifest.json)"
        )))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_escape_their_folder() {
        assert_eq!(component(".."), "%2E%2E");
        assert_eq!(component("."), "%2E");
        assert_eq!(component("a/b"), "a%2Fb");
        assert_eq!(component("a\0b"), "a%00b");
        assert_eq!(component("100%"), "100%25");
        assert_eq!(component("order-api@$LATEST"), "order-api@$LATEST");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any name becomes one harmless path component, and distinct names stay distinct
        /// (two functions never export to the same file).
        #[test]
        fn any_name_is_one_component_and_distinct_names_stay_distinct(
            a in "(?s).{0,24}",
            b in "(?s).{0,24}",
        ) {
            for name in [&a, &b] {
                let c = component(name);
                proptest::prop_assert!(!c.is_empty() && c != "." && c != "..", "{name:?} -> {c:?}");
                proptest::prop_assert!(!c.contains(['/', '\\', '\0']), "{name:?} -> {c:?}");
                proptest::prop_assert!(!c.chars().any(char::is_control), "{name:?} -> {c:?}");
                let joined = std::path::Path::new("/export").join(&c);
                proptest::prop_assert_eq!(joined.parent(), Some(std::path::Path::new("/export")));
            }
            if a != b {
                proptest::prop_assert_ne!(component(&a), component(&b));
            }
            proptest::prop_assert_ne!(component(""), component("\0"));
        }
    }
}
