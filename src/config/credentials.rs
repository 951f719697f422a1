//! Resolving an account's keys: inline, `*_env`, `*_file`, `*_credential` (systemd), or the
//! cloud's standard environment variables and profile files. No message ever holds a value.

use std::path::{Path, PathBuf};

use super::locate::{Locator, Seg, dotted};
use super::raw::RawAccount;
use super::{ConfigError, Credentials, profiles};
use crate::model::Cloud;
use crate::secret::Secret;

/// No keys configured: the cloud's standard environment variables (unless `profile` is set),
/// then its standard profile files. A miss names every source that was tried.
#[allow(clippy::too_many_arguments)]
pub(super) fn standard_credentials(
    cloud: Cloud,
    a: &RawAccount,
    i: usize,
    loc: &Locator,
    env: &dyn Fn(&str) -> Option<String>,
    (id_var, secret_var, token_var): (&str, &str, &str),
    id_keys: &SecretKeys,
    secret_keys: &SecretKeys,
) -> Result<Credentials, ConfigError> {
    let at_name = [Seg::Key("accounts"), Seg::Index(i), Seg::Key("name")];
    let at_profile = [Seg::Key("accounts"), Seg::Index(i), Seg::Key("profile")];
    let mut tried = vec![format!(
        "{b}/{c} keys (inline, {b}_env, {b}_file, {b}_credential): none set",
        b = id_keys.base,
        c = secret_keys.base
    )];
    if a.profile.is_none() {
        let get = |v: &str| env(v).filter(|s| !s.is_empty());
        let token = get(token_var);
        match (get(id_var), get(secret_var)) {
            (Some(id), Some(secret)) => {
                let checked =
                    |v: String, var: &str| checked_value(v, var).map_err(|m| loc.err_at(&at_name, m));
                let mut source = format!("environment ${id_var}, ${secret_var}");
                if token.is_some() {
                    source.push_str(&format!(", session token ${token_var}"));
                }
                return Ok(Credentials {
                    key_id: checked(id, id_var)?,
                    secret: Secret::new(checked(secret, secret_var)?),
                    token: token.map(|t| checked(t, token_var)).transpose()?.map(Secret::new),
                    source,
                    files: Vec::new(),
                });
            }
            // Half a pair is most likely a slip: say exactly which half is missing.
            (Some(_), None) => tried.push(format!(
                "environment ${id_var} is set but ${secret_var} is not"
            )),
            (None, Some(_)) => tried.push(format!(
                "environment ${secret_var} is set but ${id_var} is not"
            )),
            (None, None) if token.is_some() => tried.push(format!(
                "environment ${id_var} and ${secret_var}: not set (${token_var} is set, but a session token is used only with them)"
            )),
            (None, None) => tried.push(format!("environment ${id_var} and ${secret_var}: not set")),
        }
    } else {
        tried.push(format!(
            "environment ${id_var}/${secret_var}: skipped, `profile` is set"
        ));
    }
    let at = if a.profile.is_some() {
        &at_profile
    } else {
        &at_name
    };
    let found = match cloud {
        Cloud::Tencent => profiles::tencent(a.profile.as_deref(), env, &mut tried),
        Cloud::Aliyun => profiles::aliyun(a.profile.as_deref(), env, &mut tried),
    }
    .map_err(|m| loc.err_at(at, m))?;
    match found {
        Some(f) => {
            let what = f.source.clone();
            let named = loc.err_at(at, "");
            let file = crate::config::SecretFile {
                path: f.path.clone(),
                key: named.key.unwrap_or_default(),
                position: named.position,
            };
            Ok(Credentials {
                key_id: checked_value(f.key_id, &what).map_err(|m| loc.err_at(at, m))?,
                secret: Secret::new(checked_value(f.secret, &what).map_err(|m| loc.err_at(at, m))?),
                token: f
                    .token
                    .map(|t| checked_value(t, &what).map(Secret::new))
                    .transpose()
                    .map_err(|m| loc.err_at(at, m))?,
                source: f.source,
                files: vec![file],
            })
        }
        None => Err(loc.err_at(
            at,
            format!(
                "no credentials for account `{}`; tried: {}",
                a.name,
                tried.join("; ")
            ),
        )),
    }
}

/// The four ways one secret can be given: inline, `*_env`, `*_file`, `*_credential`.
pub(super) struct SecretKeys<'a> {
    pub(super) base: &'static str,
    pub(super) inline: &'a Option<String>,
    pub(super) env: &'a Option<String>,
    pub(super) file: &'a Option<String>,
    pub(super) credential: &'a Option<String>,
}

impl<'a> SecretKeys<'a> {
    pub(super) fn new(
        base: &'static str,
        inline: &'a Option<String>,
        env: &'a Option<String>,
        file: &'a Option<String>,
        credential: &'a Option<String>,
    ) -> Self {
        SecretKeys {
            base,
            inline,
            env,
            file,
            credential,
        }
    }

    pub(super) fn any(&self) -> bool {
        self.inline.is_some()
            || self.env.is_some()
            || self.file.is_some()
            || self.credential.is_some()
    }

    pub(super) fn given_key(&self) -> Option<&'static str> {
        // The key names are static strings built from `base`; leak-free via a match table.
        let which = if self.inline.is_some() {
            0
        } else if self.env.is_some() {
            1
        } else if self.file.is_some() {
            2
        } else if self.credential.is_some() {
            3
        } else {
            return None;
        };
        Some(key_name(self.base, which))
    }
}

pub(super) fn key_name(base: &'static str, which: usize) -> &'static str {
    const NAMES: &[(&str, [&str; 4])] = &[
        (
            "secret_id",
            [
                "secret_id",
                "secret_id_env",
                "secret_id_file",
                "secret_id_credential",
            ],
        ),
        (
            "secret_key",
            [
                "secret_key",
                "secret_key_env",
                "secret_key_file",
                "secret_key_credential",
            ],
        ),
        (
            "session_token",
            [
                "session_token",
                "session_token_env",
                "session_token_file",
                "session_token_credential",
            ],
        ),
        (
            "access_key_id",
            [
                "access_key_id",
                "access_key_id_env",
                "access_key_id_file",
                "access_key_id_credential",
            ],
        ),
        (
            "access_key_secret",
            [
                "access_key_secret",
                "access_key_secret_env",
                "access_key_secret_file",
                "access_key_secret_credential",
            ],
        ),
        (
            "security_token",
            [
                "security_token",
                "security_token_env",
                "security_token_file",
                "security_token_credential",
            ],
        ),
    ];
    NAMES
        .iter()
        .find(|(b, _)| *b == base)
        .map(|(_, n)| n[which])
        .unwrap_or(base)
}

/// Returns the value and a description of its source (never the value itself).
pub(super) fn resolve_secret(
    keys: &SecretKeys,
    i: usize,
    loc: &Locator,
    env: &dyn Fn(&str) -> Option<String>,
    resolve_path: &dyn Fn(&str) -> PathBuf,
) -> Result<Option<(String, String)>, ConfigError> {
    let ways = [keys.inline, keys.env, keys.file, keys.credential];
    let at = |which: usize| {
        [
            Seg::Key("accounts"),
            Seg::Index(i),
            Seg::Key(key_name(keys.base, which)),
        ]
    };
    if ways.iter().filter(|v| v.is_some()).count() > 1 {
        // Point at the second way given: the first one is usually the intended one.
        let second = ways
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_some())
            .nth(1)
            .map(|(n, _)| n)
            .unwrap_or(1);
        return Err(loc.err_at(
            &at(second),
            format!(
                "give {b} only one way: inline, {b}_env, {b}_file or {b}_credential",
                b = keys.base
            ),
        ));
    }
    if let Some(v) = keys.inline {
        let v = checked_value(v.clone(), keys.base).map_err(|m| loc.err_at(&at(0), m))?;
        if is_secret_key(keys.base) {
            tracing::warn!(
                file = %loc.file.display(),
                key = %dotted(&at(0)),
                "a secret is written inline in the config file; prefer {}_file, {}_credential or {}_env",
                keys.base,
                keys.base,
                keys.base
            );
        }
        return Ok(Some((v, format!("inline `{}`", keys.base))));
    }
    if let Some(var) = keys.env {
        let v = env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
            loc.err_at(
                &at(1),
                format!("environment variable `{var}` is not set or empty"),
            )
        })?;
        let v = checked_value(v, var).map_err(|m| loc.err_at(&at(1), m))?;
        return Ok(Some((v, format!("environment ${var}"))));
    }
    if let Some(file) = keys.file {
        let path = resolve_path(file);
        let v = read_secret_file(&path).map_err(|m| loc.err_at(&at(2), m))?;
        return Ok(Some((v, format!("file {}", path.display()))));
    }
    if let Some(name) = keys.credential {
        // systemd's LoadCredential=/SetCredential= hand the service a private folder.
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(loc.err_at(
                &at(3),
                format!("`{name}` is not a credential name (a file name, no `/`)"),
            ));
        }
        let dir = env("CREDENTIALS_DIRECTORY")
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                loc.err_at(
                    &at(3),
                    format!(
                        "$CREDENTIALS_DIRECTORY is not set: `{name}` can only be read when systemd \
                     passes credentials (LoadCredential={name}:/path in the unit)"
                    ),
                )
            })?;
        let path = Path::new(&dir).join(name);
        let v = read_secret_file(&path).map_err(|m| loc.err_at(&at(3), m))?;
        return Ok(Some((
            v,
            format!("systemd credential `{name}` ({})", path.display()),
        )));
    }
    Ok(None)
}

/// Only these hold secrets; key IDs are sent in every Authorization header.
pub(super) fn is_secret_key(base: &str) -> bool {
    matches!(
        base,
        "secret_key" | "session_token" | "access_key_secret" | "security_token"
    )
}

/// A key file: one trailing newline (as editors and `echo` write) is removed, nothing else.
pub(super) fn read_secret_file(path: &Path) -> Result<String, String> {
    let content = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let v = content
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&content)
        .to_string();
    if v.is_empty() {
        return Err(format!("`{}` is empty", path.display()));
    }
    checked_value(v, &path.display().to_string())
}

/// Keys with surrounding whitespace or line breaks are always a mistake, and would be signed
/// wrongly; the official SDKs refuse them too. The message never contains the value.
pub(super) fn checked_value(v: String, what: &str) -> Result<String, String> {
    if v.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if v.trim() != v || v.contains(['\n', '\r']) {
        return Err(format!(
            "{what} has leading or trailing whitespace or a line break"
        ));
    }
    Ok(v)
}
