//! The clouds' standard profile files, the last credential source an account falls back to.
//!
//! Owns: finding and reading `~/.tencentcloud/credentials` (INI, as the Tencent SDK's
//! `ProfileCredential`), `~/.aliyun/config.json` (the aliyun CLI's profiles) and
//! `~/.alibabacloud/credentials[.ini]` (INI, as the Alibaba credentials libraries), in that
//! cloud's order. See `shared/api/*.md` §Credentials. Only static keys (and Alibaba's `StsToken`
//! mode) are supported; role modes that need a network call are refused with their name.
//!
//! `env` stands in for the process environment (HOME, ALIBABA_CLOUD_PROFILE, …), so tests can
//! point HOME at a temp folder.

use std::path::{Path, PathBuf};

/// Keys found in a profile, and where (never the values).
pub(super) struct Found {
    pub key_id: String,
    pub secret: String,
    pub token: Option<String>,
    pub source: String,
    /// The profile file they were read from.
    pub path: PathBuf,
}

/// `Ok(Some)` found; `Ok(None)` not there, with what was tried appended to `tried`; `Err` a
/// file that exists but is broken or asks for something fnvault cannot do (named in the text).
pub(super) type Lookup = Result<Option<Found>, String>;

fn home(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// Tencent: `[<profile>]` with `secret_id`, `secret_key` (and, an fnvault extension, `token`)
/// in `~/.tencentcloud/credentials`, then `/etc/tencentcloud/credentials`. The SDK reads only
/// `[default]`; `profile = "name"` picks another section.
pub(super) fn tencent(
    profile: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    tried: &mut Vec<String>,
) -> Lookup {
    let section = profile.unwrap_or("default");
    let mut paths = Vec::new();
    if let Some(h) = home(env) {
        paths.push(h.join(".tencentcloud/credentials"));
    }
    paths.push(PathBuf::from("/etc/tencentcloud/credentials"));
    for path in paths {
        let Some(text) = read_optional(&path, tried)? else {
            continue;
        };
        let Some(values) = ini_section(&text, false, section, &path, tried) else {
            continue;
        };
        let get = |k: &str| values.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (Some(id), Some(secret)) = (get("secret_id"), get("secret_key")) else {
            return Err(format!(
                "profile [{section}] in {} needs both secret_id and secret_key",
                path.display()
            ));
        };
        let token = get("token").filter(|t| !t.is_empty());
        let mut source = format!("profile [{section}] in {}", path.display());
        if token.is_some() {
            source.push_str(", session token from its `token` key");
        }
        return Ok(Some(Found {
            key_id: id,
            secret,
            token,
            source,
            path: path.clone(),
        }));
    }
    Ok(None)
}

/// The `section` of an INI profile file, or `None` (noted in `tried`) when it has none.
fn ini_section(
    text: &str,
    inline_comments: bool,
    section: &str,
    path: &std::path::Path,
    tried: &mut Vec<String>,
) -> Option<Vec<(String, String)>> {
    let found = parse_ini(text, inline_comments)
        .into_iter()
        .find(|(name, _)| name == section)
        .map(|(_, values)| values);
    if found.is_none() {
        tried.push(format!(
            "profile [{section}] in {}: no such section",
            path.display()
        ));
    }
    found
}

/// Alibaba, in the order of the official default chain: the CLI's `~/.aliyun/config.json`
/// (profile `profile`, else `$ALIBABA_CLOUD_PROFILE`, else its `current`), then the INI file
/// (`$ALIBABA_CLOUD_CREDENTIALS_FILE`, else `~/.alibabacloud/credentials`, then `.ini`; section
/// `profile`, else `$ALIBABA_CLOUD_PROFILE`, else `default`).
pub(super) fn aliyun(
    profile: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    tried: &mut Vec<String>,
) -> Lookup {
    let named = profile
        .map(str::to_string)
        .or_else(|| env("ALIBABA_CLOUD_PROFILE").filter(|p| !p.is_empty()));
    let cli_disabled = env("ALIBABA_CLOUD_CLI_PROFILE_DISABLED").as_deref() == Some("true");
    if let Some(h) = home(env)
        && !cli_disabled
    {
        let path = h.join(".aliyun/config.json");
        if let Some(text) = read_optional(&path, tried)?
            && let Some(found) = aliyun_cli(&path, &text, named.as_deref(), tried)?
        {
            return Ok(Some(found));
        }
    }
    let mut paths = Vec::new();
    if let Some(p) = env("ALIBABA_CLOUD_CREDENTIALS_FILE").filter(|p| !p.is_empty()) {
        paths.push(PathBuf::from(p));
    } else if let Some(h) = home(env) {
        paths.push(h.join(".alibabacloud/credentials"));
        paths.push(h.join(".alibabacloud/credentials.ini"));
    }
    let section = named.as_deref().unwrap_or("default");
    for path in paths {
        let Some(text) = read_optional(&path, tried)? else {
            continue;
        };
        let Some(values) = ini_section(&text, true, section, &path, tried) else {
            continue;
        };
        let get = |k: &str| values.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match get("type").as_deref() {
            None | Some("access_key") => {}
            Some(other) => {
                return Err(format!(
                    "profile [{section}] in {} has type `{other}`; fnvault reads only \
                     `access_key` profiles",
                    path.display()
                ));
            }
        }
        let (Some(id), Some(secret)) = (get("access_key_id"), get("access_key_secret")) else {
            return Err(format!(
                "profile [{section}] in {} needs both access_key_id and access_key_secret",
                path.display()
            ));
        };
        return Ok(Some(Found {
            key_id: id,
            secret,
            token: None,
            source: format!("profile [{section}] in {}", path.display()),
            path: path.clone(),
        }));
    }
    Ok(None)
}

fn aliyun_cli(path: &Path, text: &str, named: Option<&str>, tried: &mut Vec<String>) -> Lookup {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    let name = match named {
        Some(n) => n.to_string(),
        None => match v.get("current").and_then(|c| c.as_str()) {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => {
                tried.push(format!("{}: no `current` profile", path.display()));
                return Ok(None);
            }
        },
    };
    let profiles = v
        .get("profiles")
        .and_then(|p| p.as_array())
        .ok_or_else(|| format!("{} has no `profiles` array", path.display()))?;
    let Some(p) = profiles
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(name.as_str()))
    else {
        tried.push(format!("profile `{name}` in {}: not there", path.display()));
        return Ok(None);
    };
    let get = |k: &str| {
        p.get(k)
            .and_then(|x| x.as_str())
            .filter(|x| !x.is_empty())
            .map(str::to_string)
    };
    let mode = get("mode").unwrap_or_else(|| "AK".to_string());
    let token = match mode.as_str() {
        "AK" => None,
        "StsToken" => Some(get("sts_token").ok_or_else(|| {
            format!(
                "profile `{name}` in {} is StsToken but has no sts_token",
                path.display()
            )
        })?),
        other => {
            return Err(format!(
                "profile `{name}` in {} has mode `{other}`; fnvault reads only `AK` and \
                 `StsToken` profiles",
                path.display()
            ));
        }
    };
    let (Some(id), Some(secret)) = (get("access_key_id"), get("access_key_secret")) else {
        return Err(format!(
            "profile `{name}` in {} needs access_key_id and access_key_secret",
            path.display()
        ));
    };
    let mut source = format!("profile `{name}` in {}", path.display());
    if token.is_some() {
        source.push_str(" (mode StsToken), session token from its `sts_token` key");
    }
    Ok(Some(Found {
        key_id: id,
        secret,
        token,
        source,
        path: path.to_path_buf(),
    }))
}

/// The file's text, `None` (noted in `tried`) when it does not exist, `Err` when unreadable.
fn read_optional(path: &Path, tried: &mut Vec<String>) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tried.push(format!("{}: not found", path.display()));
            Ok(None)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

type Section = (String, Vec<(String, String)>);

/// A minimal INI reader: `[section]`, `key = value`, `#`/`;` comment lines. With
/// `inline_comments`, a value ends at its first `#` (the Alibaba libraries do this).
fn parse_ini(text: &str, inline_comments: bool) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((name.trim().to_string(), Vec::new()));
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = if inline_comments {
            v.split('#').next().unwrap_or("")
        } else {
            v
        };
        if let Some((_, values)) = out.last_mut() {
            values.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tencent_profile_with_a_token_says_so_in_its_source() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".tencentcloud")).unwrap();
        std::fs::write(
            home.path().join(".tencentcloud/credentials"),
            "[default]\nsecret_id = AKIDx\nsecret_key = k\ntoken = the-token\n",
        )
        .unwrap();
        let h = home.path().to_string_lossy().into_owned();
        let env = |v: &str| (v == "HOME").then(|| h.clone());
        let found = tencent(None, &env, &mut Vec::new()).unwrap().unwrap();
        assert_eq!(found.token.as_deref(), Some("the-token"));
        assert!(
            found
                .source
                .ends_with("/.tencentcloud/credentials, session token from its `token` key"),
            "{}",
            found.source
        );
        assert!(!found.source.contains("the-token"));
    }

    #[test]
    fn ini_sections_keys_and_alibaba_inline_comments() {
        let ini = parse_ini(
            "# c\n[default]\nsecret_id = AKID # x\n[other]\n; c\nsecret_key=k\n",
            true,
        );
        assert_eq!(ini.len(), 2);
        assert_eq!(ini[0].1, vec![("secret_id".into(), "AKID".into())]);
        assert_eq!(ini[1].1, vec![("secret_key".into(), "k".into())]);
        let raw = parse_ini("[d]\na = b # c\n", false);
        assert_eq!(raw[0].1[0].1, "b # c");
    }
}
