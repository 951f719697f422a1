//! `[archive]` and `[[mirrors]]`: where the archive (and each copy of it) lives, a local folder
//! (`dir`) or an S3-compatible bucket (`url = "s3://bucket/prefix"` with `endpoint`, `region`,
//! keys and `path_style`). Keys come inline, from `*_env`, `*_file` or `*_credential`, like an
//! account's; a message names the key and never the value.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use super::credentials::{checked_value, read_secret_file};
use super::locate::{Locator, Seg};
use crate::archive::s3::S3Settings;
use crate::secret::Secret;

/// Where an archive or a mirror lives.
// A handful per config, built once: boxing the bucket's settings would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Location {
    Dir(PathBuf),
    S3(S3Settings),
}

impl Location {
    /// `dir /path` or `s3://bucket/prefix`, for messages and `status`.
    pub fn describe(&self) -> String {
        match self {
            Location::Dir(p) => p.display().to_string(),
            Location::S3(s) => s.url.clone(),
        }
    }
}

/// One `[[mirrors]]` entry.
#[derive(Debug, Clone)]
pub struct MirrorSettings {
    pub name: String,
    pub location: Location,
}

/// The keys shared by `[archive]` and `[[mirrors]]` entries.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    /// A mirror's name (`[[mirrors]]` only).
    pub(super) name: Option<String>,
    /// `[archive]` only.
    pub(super) max_package_size: Option<String>,
    pub(super) dir: Option<String>,
    pub(super) url: Option<String>,
    pub(super) endpoint: Option<String>,
    pub(super) region: Option<String>,
    pub(super) path_style: Option<bool>,
    pub(super) access_key_id: Option<String>,
    pub(super) access_key_id_env: Option<String>,
    pub(super) access_key_id_file: Option<String>,
    pub(super) access_key_id_credential: Option<String>,
    pub(super) secret_access_key: Option<String>,
    pub(super) secret_access_key_env: Option<String>,
    pub(super) secret_access_key_file: Option<String>,
    pub(super) secret_access_key_credential: Option<String>,
    pub(super) session_token: Option<String>,
    pub(super) session_token_env: Option<String>,
    pub(super) session_token_file: Option<String>,
    pub(super) session_token_credential: Option<String>,
}

/// Validates one store's keys at `at` (`["archive"]` or `["mirrors", i]`). `keys` says whether
/// credentials are resolved (`false` for `config check` without keys: then they are left empty
/// and the store cannot be opened).
pub(super) fn parse_store(
    raw: &RawStore,
    at: &[Seg],
    loc: &Locator,
    env: &dyn Fn(&str) -> Option<String>,
    resolve_path: &dyn Fn(&str) -> PathBuf,
    keys: bool,
) -> Result<Location, ConfigError> {
    let key = |k: &'static str| {
        let mut p = at.to_vec();
        p.push(Seg::Key(k));
        p
    };
    match (&raw.dir, &raw.url) {
        (Some(_), Some(_)) => {
            return Err(loc.err_at(&key("url"), "give either `dir` or `url`, not both"));
        }
        (None, None) => {
            return Err(loc.err_at(
                &key("dir"),
                "missing: give `dir` (a local folder) or `url` (s3://bucket/prefix)",
            ));
        }
        (Some(dir), None) => {
            if dir.trim().is_empty() {
                return Err(loc.err_at(&key("dir"), "must not be empty"));
            }
            for (k, set) in [
                ("endpoint", raw.endpoint.is_some()),
                ("region", raw.region.is_some()),
                ("path_style", raw.path_style.is_some()),
                (
                    "access_key_id",
                    raw.access_key_id.is_some() || raw.access_key_id_env.is_some(),
                ),
            ] {
                if set {
                    return Err(
                        loc.err_at(&key(k), "only for an archive on object storage (`url`)")
                    );
                }
            }
            return Ok(Location::Dir(resolve_path(dir)));
        }
        (None, Some(_)) => {}
    }
    let url = raw.url.as_deref().unwrap_or_default();
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        loc.err_at(
            &key("url"),
            format!("`{url}` is not an s3://bucket/prefix URL"),
        )
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/').to_string();
    if !valid_bucket(bucket) {
        return Err(loc.err_at(
            &key("url"),
            format!("`{bucket}` is not a bucket name (3-63 of a-z 0-9 . -)"),
        ));
    }
    if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
        return Err(loc.err_at(&key("url"), "the prefix has an empty, `.` or `..` segment"));
    }
    let endpoint_text = raw
        .endpoint
        .as_deref()
        .ok_or_else(|| loc.err_at(&key("endpoint"), "missing: the store's https:// endpoint"))?;
    let endpoint = url::Url::parse(endpoint_text)
        .map_err(|e| loc.err_at(&key("endpoint"), format!("`{endpoint_text}`: {e}")))?;
    let loopback = crate::http::is_loopback(&endpoint);
    if endpoint.scheme() != "https" && !(endpoint.scheme() == "http" && loopback) {
        return Err(loc.err_at(
            &key("endpoint"),
            "must be https:// (plain http only for a store on this machine)",
        ));
    }
    if endpoint.path() != "/" || endpoint.query().is_some() || !endpoint.username().is_empty() {
        return Err(loc.err_at(
            &key("endpoint"),
            "must be scheme://host[:port] only (the bucket and prefix go in `url`)",
        ));
    }
    let region = raw
        .region
        .clone()
        .ok_or_else(|| loc.err_at(&key("region"), "missing (for example \"ap-guangzhou\")"))?;
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(loc.err_at(&key("region"), format!("`{region}` is not a region name")));
    }
    let resolve = |base: &'static str,
                   ways: [&Option<String>; 4],
                   names: [&'static str; 4]|
     -> Result<Option<String>, ConfigError> {
        let given: Vec<usize> = (0..4).filter(|i| ways[*i].is_some()).collect();
        if given.len() > 1 {
            return Err(loc.err_at(
                &key(names[given[1]]),
                format!(
                    "give {base} only one way: inline, {base}_env, {base}_file or {base}_credential"
                ),
            ));
        }
        let Some(&which) = given.first() else {
            return Ok(None);
        };
        if !keys {
            return Ok(Some(String::new()));
        }
        let value = ways[which].clone().unwrap_or_default();
        let got = match which {
            0 => checked_value(value, base),
            1 => env(&value)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("environment variable `{value}` is not set or empty"))
                .and_then(|v| checked_value(v, &value)),
            2 => read_secret_file(&resolve_path(&value)),
            _ => match env("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
                Some(dir) if !value.contains('/') && !value.is_empty() => {
                    read_secret_file(&PathBuf::from(dir).join(&value))
                }
                Some(_) => Err(format!(
                    "`{value}` is not a credential name (a file name, no `/`)"
                )),
                None => Err(format!(
                    "$CREDENTIALS_DIRECTORY is not set: `{value}` can only be read when systemd passes credentials"
                )),
            },
        };
        got.map(Some).map_err(|m| loc.err_at(&key(names[which]), m))
    };
    let id = resolve(
        "access_key_id",
        [
            &raw.access_key_id,
            &raw.access_key_id_env,
            &raw.access_key_id_file,
            &raw.access_key_id_credential,
        ],
        [
            "access_key_id",
            "access_key_id_env",
            "access_key_id_file",
            "access_key_id_credential",
        ],
    )?;
    let secret = resolve(
        "secret_access_key",
        [
            &raw.secret_access_key,
            &raw.secret_access_key_env,
            &raw.secret_access_key_file,
            &raw.secret_access_key_credential,
        ],
        [
            "secret_access_key",
            "secret_access_key_env",
            "secret_access_key_file",
            "secret_access_key_credential",
        ],
    )?;
    let token = resolve(
        "session_token",
        [
            &raw.session_token,
            &raw.session_token_env,
            &raw.session_token_file,
            &raw.session_token_credential,
        ],
        [
            "session_token",
            "session_token_env",
            "session_token_file",
            "session_token_credential",
        ],
    )?;
    let (Some(id), Some(secret)) = (id, secret) else {
        return Err(loc.err_at(
            &key("access_key_id"),
            "an archive on object storage needs access_key_id and secret_access_key \
             (each inline, _env, _file or _credential)",
        ));
    };
    Ok(Location::S3(S3Settings {
        url: url.to_string(),
        bucket: bucket.to_string(),
        prefix,
        endpoint,
        region,
        access_key_id: id,
        secret_access_key: Secret::new(secret),
        session_token: token.map(Secret::new),
        path_style: raw.path_style.unwrap_or(false),
    }))
}

fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && !b.starts_with(['.', '-'])
        && !b.ends_with(['.', '-'])
}

/// Validates `[[mirrors]]`: unique names (the ones `mirror --name` and `status` use).
pub(super) fn parse_mirrors(
    raw: &[RawStore],
    loc: &Locator,
    env: &dyn Fn(&str) -> Option<String>,
    resolve_path: &dyn Fn(&str) -> PathBuf,
    keys: bool,
) -> Result<Vec<MirrorSettings>, ConfigError> {
    let mut out: Vec<MirrorSettings> = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let at = [Seg::Key("mirrors"), Seg::Index(i)];
        let name_at = [Seg::Key("mirrors"), Seg::Index(i), Seg::Key("name")];
        let Some(name) = &m.name else {
            return Err(loc.err_at(&name_at, "missing: every mirror has a name"));
        };
        if m.max_package_size.is_some() {
            return Err(loc.err_at(
                &[
                    Seg::Key("mirrors"),
                    Seg::Index(i),
                    Seg::Key("max_package_size"),
                ],
                "only in [archive]",
            ));
        }
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(loc.err_at(
                &name_at,
                format!("`{name}` is not a mirror name (letters, digits, - and _)"),
            ));
        }
        if out.iter().any(|o| &o.name == name) {
            return Err(loc.err_at(&name_at, format!("mirror `{name}` is listed twice")));
        }
        out.push(MirrorSettings {
            name: name.clone(),
            location: parse_store(m, &at, loc, env, resolve_path, keys)?,
        });
    }
    Ok(out)
}
