//! Checking the values of the file: accounts, `[[functions]]`, `[retention]`, `[schedule]`,
//! endpoints and the clouds' naming rules. Every error names the file, line and key.

use std::collections::HashMap;
use std::path::PathBuf;

use super::credentials::{SecretKeys, resolve_secret, standard_credentials};
use super::locate::{Locator, Seg};
use super::raw::{RawAccount, RawFunction, RawRetention, RawSchedule};
use super::{
    ALIYUN_DEFAULT_ENDPOINT, Account, AccountKind, AliyunSignature, ConfigError, CredentialMode,
    Credentials, DEFAULT_REQUESTS_PER_SECOND, RetentionPolicy, ScheduleSettings,
    TENCENT_DEFAULT_ENDPOINT,
};
use crate::model::{Cloud, Target};
use crate::secret::Secret;

pub(super) fn validate_account(
    a: &RawAccount,
    i: usize,
    loc: &Locator,
    env: &dyn Fn(&str) -> Option<String>,
    resolve_path: &dyn Fn(&str) -> PathBuf,
    credentials: CredentialMode,
) -> Result<Account, ConfigError> {
    let here = |key: &'static str| [Seg::Key("accounts"), Seg::Index(i), Seg::Key(key)];
    let err = |key: &'static str, msg: String| loc.err_at(&here(key), msg);

    if !valid_account_name(&a.name) {
        return Err(err(
            "name",
            format!(
                "`{}` is not a valid account name (letters, digits, `_`, `-`, `.`; up to 64)",
                a.name
            ),
        ));
    }
    let cloud = match a.cloud.as_str() {
        "tencent" => Cloud::Tencent,
        "aliyun" => Cloud::Aliyun,
        other => {
            return Err(err(
                "cloud",
                format!("unknown cloud `{other}` (expected \"tencent\" or \"aliyun\")"),
            ));
        }
    };

    // Keys of the other cloud are almost always a copy-paste slip: refuse them.
    let foreign: &[(&'static str, bool)] = match cloud {
        Cloud::Tencent => &[
            ("account_id", a.account_id.is_some()),
            ("access_key_id", a.access_key_id.is_some()),
            ("access_key_id_env", a.access_key_id_env.is_some()),
            ("access_key_id_file", a.access_key_id_file.is_some()),
            ("access_key_secret", a.access_key_secret.is_some()),
            ("access_key_secret_env", a.access_key_secret_env.is_some()),
            ("access_key_secret_file", a.access_key_secret_file.is_some()),
            ("security_token", a.security_token.is_some()),
            ("security_token_env", a.security_token_env.is_some()),
            ("security_token_file", a.security_token_file.is_some()),
            (
                "access_key_id_credential",
                a.access_key_id_credential.is_some(),
            ),
            (
                "access_key_secret_credential",
                a.access_key_secret_credential.is_some(),
            ),
            (
                "security_token_credential",
                a.security_token_credential.is_some(),
            ),
            ("signature", a.signature.is_some()),
        ],
        Cloud::Aliyun => &[
            ("secret_id", a.secret_id.is_some()),
            ("secret_id_env", a.secret_id_env.is_some()),
            ("secret_id_file", a.secret_id_file.is_some()),
            ("secret_key", a.secret_key.is_some()),
            ("secret_key_env", a.secret_key_env.is_some()),
            ("secret_key_file", a.secret_key_file.is_some()),
            ("session_token", a.session_token.is_some()),
            ("session_token_env", a.session_token_env.is_some()),
            ("session_token_file", a.session_token_file.is_some()),
            ("secret_id_credential", a.secret_id_credential.is_some()),
            ("secret_key_credential", a.secret_key_credential.is_some()),
            (
                "session_token_credential",
                a.session_token_credential.is_some(),
            ),
        ],
    };
    if let Some((key, _)) = foreign.iter().find(|(_, set)| *set) {
        return Err(err(
            key,
            format!("not a key for a `{}` account", cloud.as_str()),
        ));
    }

    let (endpoint, kind, std_env, id_keys, secret_keys, token_keys) = match cloud {
        Cloud::Tencent => {
            let endpoint = a
                .endpoint
                .clone()
                .unwrap_or_else(|| TENCENT_DEFAULT_ENDPOINT.to_string());
            let endpoint = normalize_endpoint(&endpoint)
                .and_then(|e| check_endpoint(&e, &[]).map(|_| e))
                .map_err(|m| err("endpoint", m))?;
            (
                endpoint,
                AccountKind::Tencent,
                (
                    "TENCENTCLOUD_SECRET_ID",
                    "TENCENTCLOUD_SECRET_KEY",
                    "TENCENTCLOUD_TOKEN",
                ),
                SecretKeys::new(
                    "secret_id",
                    &a.secret_id,
                    &a.secret_id_env,
                    &a.secret_id_file,
                    &a.secret_id_credential,
                ),
                SecretKeys::new(
                    "secret_key",
                    &a.secret_key,
                    &a.secret_key_env,
                    &a.secret_key_file,
                    &a.secret_key_credential,
                ),
                SecretKeys::new(
                    "session_token",
                    &a.session_token,
                    &a.session_token_env,
                    &a.session_token_file,
                    &a.session_token_credential,
                ),
            )
        }
        Cloud::Aliyun => {
            let account_id = a.account_id.clone().ok_or_else(|| {
                loc.err_at(
                    &[Seg::Key("accounts"), Seg::Index(i), Seg::Key("name")],
                    format!(
                        "aliyun account `{}` needs `account_id` (the main account's numeric UID)",
                        a.name
                    ),
                )
            })?;
            if account_id.is_empty() || !account_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(
                    "account_id",
                    format!("`{account_id}` is not a numeric account UID"),
                ));
            }
            let signature = match a.signature.as_deref() {
                None | Some("acs3") => AliyunSignature::Acs3,
                Some("fc") => AliyunSignature::Fc,
                Some(other) => {
                    return Err(err(
                        "signature",
                        format!("unknown signature `{other}` (expected \"acs3\" or \"fc\")"),
                    ));
                }
            };
            let endpoint = a
                .endpoint
                .clone()
                .unwrap_or_else(|| ALIYUN_DEFAULT_ENDPOINT.to_string());
            let endpoint = normalize_endpoint(&endpoint)
                .and_then(|e| check_endpoint(&e, &["account_id", "region"]).map(|_| e))
                .map_err(|m| err("endpoint", m))?;
            (
                endpoint,
                AccountKind::Aliyun {
                    account_id,
                    signature,
                },
                (
                    "ALIBABA_CLOUD_ACCESS_KEY_ID",
                    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                    "ALIBABA_CLOUD_SECURITY_TOKEN",
                ),
                SecretKeys::new(
                    "access_key_id",
                    &a.access_key_id,
                    &a.access_key_id_env,
                    &a.access_key_id_file,
                    &a.access_key_id_credential,
                ),
                SecretKeys::new(
                    "access_key_secret",
                    &a.access_key_secret,
                    &a.access_key_secret_env,
                    &a.access_key_secret_file,
                    &a.access_key_secret_credential,
                ),
                SecretKeys::new(
                    "security_token",
                    &a.security_token,
                    &a.security_token_env,
                    &a.security_token_file,
                    &a.security_token_credential,
                ),
            )
        }
    };
    if let Some(shown) = plain_http_remote(&endpoint) {
        // Signed requests and session tokens (X-TC-Token, x-acs-security-token) would cross
        // the network in clear. Allowed (a proxy or a private gateway may need it), but said.
        tracing::warn!(
            "{}",
            err(
                "endpoint",
                format!(
                    "plain http to `{shown}`: signed requests and any session token travel \
                     unencrypted; use https unless this is a trusted local gateway"
                )
            )
        );
    }

    let requests_per_second = match a.requests_per_second {
        None => DEFAULT_REQUESTS_PER_SECOND,
        Some(n) if (0..=10_000).contains(&n) => n as u32,
        Some(n) => {
            return Err(err(
                "requests_per_second",
                format!("{n} is out of range 0..=10000 (0 means no limit)"),
            ));
        }
    };
    if credentials == CredentialMode::Skip {
        return Ok(Account {
            name: a.name.clone(),
            endpoint,
            credentials: None,
            credential_error: None,
            kind,
            requests_per_second,
        });
    }
    // Everything below reads secrets from outside the file (files, variables, profiles). With
    // `PerAccount`, a failure here costs this account alone: its functions fail, the others run.
    let resolved = (|| -> Result<Credentials, ConfigError> {
        let resolve = |keys: &SecretKeys| -> Result<Option<(String, String)>, ConfigError> {
            resolve_secret(keys, i, loc, env, resolve_path)
        };
        if a.profile.is_some() && (id_keys.any() || secret_keys.any() || token_keys.any()) {
            return Err(err(
                "profile",
                format!(
                    "`profile` reads the keys from the cloud's profile file; remove it or the {} / {} keys",
                    id_keys.base, secret_keys.base
                ),
            ));
        }
        let id = resolve(&id_keys)?;
        let secret = resolve(&secret_keys)?;
        let token = resolve(&token_keys)?;

        let credentials = match (id, secret) {
            (Some((id, id_src)), Some((secret, secret_src))) => Credentials {
                key_id: id,
                secret: Secret::new(secret),
                token: token.as_ref().map(|(t, _)| Secret::new(t.clone())),
                source: {
                    let mut source = if id_src == secret_src {
                        id_src
                    } else {
                        format!("{id_src} + {secret_src}")
                    };
                    if let Some((_, token_src)) = &token {
                        source.push_str(&format!(" + {token_src}"));
                    }
                    source
                },
                // The secrets' key files (not `*_credential`: systemd keeps those private).
                files: [&secret_keys, &token_keys]
                    .iter()
                    .filter(|k| super::credentials::is_secret_key(k.base))
                    .filter_map(|k| {
                        let file = k.file.as_ref()?;
                        let named = loc.err_at(
                            &[
                                Seg::Key("accounts"),
                                Seg::Index(i),
                                Seg::Key(super::credentials::key_name(k.base, 2)),
                            ],
                            "",
                        );
                        Some(crate::config::SecretFile {
                            path: resolve_path(file),
                            key: named.key.unwrap_or_default(),
                            position: named.position,
                        })
                    })
                    .collect(),
            },
            (None, None) => {
                if token.is_some() {
                    return Err(loc.err_at(
                        &[Seg::Key("accounts"), Seg::Index(i), Seg::Key("name")],
                        format!(
                            "a {} is configured but no {} / {}",
                            token_keys.base, id_keys.base, secret_keys.base
                        ),
                    ));
                }
                standard_credentials(cloud, a, i, loc, env, std_env, &id_keys, &secret_keys)?
            }
            (Some(_), None) => {
                return Err(err(
                    id_keys.given_key().unwrap_or(id_keys.base),
                    format!(
                        "{} is configured but {} is not",
                        id_keys.base, secret_keys.base
                    ),
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    secret_keys.given_key().unwrap_or(secret_keys.base),
                    format!(
                        "{} is configured but {} is not",
                        secret_keys.base, id_keys.base
                    ),
                ));
            }
        };
        Ok(credentials)
    })();
    let (credentials, credential_error) = match (resolved, credentials) {
        (Ok(c), _) => (Some(c), None),
        (Err(e), CredentialMode::PerAccount) => (None, Some(e.to_string())),
        (Err(e), _) => return Err(e),
    };
    Ok(Account {
        name: a.name.clone(),
        endpoint,
        credentials,
        credential_error,
        kind,
        requests_per_second,
    })
}

pub(super) fn parse_retention(
    r: &RawRetention,
    loc: &Locator,
) -> Result<RetentionPolicy, ConfigError> {
    if r.keep_last.is_none() && r.keep_within.is_none() {
        return Err(loc.err(
            &["retention"],
            "an empty [retention] is refused: set keep_last, keep_within or both \
             (without a [retention] section every version is kept)",
        ));
    }
    let keep_last = match r.keep_last {
        None => None,
        Some(n) if (1..=1_000_000).contains(&n) => Some(n as u32),
        Some(n) => {
            return Err(loc.err(
                &["retention", "keep_last"],
                format!("{n} is out of range 1..=1000000"),
            ));
        }
    };
    let keep_within = match &r.keep_within {
        None => None,
        Some(s) => match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => return Err(loc.err(&["retention", "keep_within"], "must be more than 0")),
            Err(e) => {
                return Err(loc.err(
                    &["retention", "keep_within"],
                    format!("`{s}` is not a duration ({e}; examples: \"365d\", \"12weeks\")"),
                ));
            }
        },
    };
    Ok(RetentionPolicy {
        keep_last,
        keep_within,
    })
}

pub(super) fn parse_schedule(
    s: &RawSchedule,
    loc: &Locator,
) -> Result<ScheduleSettings, ConfigError> {
    use std::str::FromStr;
    let expr = s.cron.trim();
    // The common 5-field form (minute hour day month weekday) gets a seconds field.
    let full = if expr.split_whitespace().count() == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    };
    let schedule = cron::Schedule::from_str(&full).map_err(|e| {
        loc.err(
            &["schedule", "cron"],
            format!("`{expr}` is not a cron expression ({e}); examples: \"*/15 * * * *\", \"0 0 3 * * *\""),
        )
    })?;
    let timezone = match &s.timezone {
        None => chrono_tz::UTC,
        Some(tz) => chrono_tz::Tz::from_str(tz).map_err(|_| {
            loc.err(
                &["schedule", "timezone"],
                format!("`{tz}` is not an IANA time zone name (like \"UTC\" or \"Asia/Shanghai\")"),
            )
        })?,
    };
    Ok(ScheduleSettings {
        cron: full,
        schedule,
        timezone,
        run_on_start: s.run_on_start.unwrap_or(true),
    })
}

/// The account a `[[functions]]` or `[[discover]]` entry names, or a message listing those
/// that exist.
pub(super) fn find_account<'a>(
    accounts: &HashMap<&str, &'a Account>,
    name: &str,
) -> Result<&'a Account, String> {
    accounts.get(name).copied().ok_or_else(|| {
        let mut known: Vec<&str> = accounts.keys().copied().collect();
        known.sort_unstable();
        format!(
            "no account named `{name}` (defined: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })
}

pub(super) fn validate_function(
    f: &RawFunction,
    i: usize,
    loc: &Locator,
    accounts: &HashMap<&str, &Account>,
) -> Result<Target, ConfigError> {
    let here = |key: &'static str| [Seg::Key("functions"), Seg::Index(i), Seg::Key(key)];
    let err = |key: &'static str, msg: String| loc.err_at(&here(key), msg);

    let account = find_account(accounts, &f.account).map_err(|m| err("account", m))?;
    if !valid_region(&f.region) {
        return Err(err(
            "region",
            format!("`{}` is not a region name (like `ap-guangzhou`)", f.region),
        ));
    }
    let cloud = account.cloud();
    let namespace = match cloud {
        Cloud::Tencent => {
            if f.service.is_some() {
                return Err(err(
                    "service",
                    "SCF functions have a `namespace`, not a `service`".to_string(),
                ));
            }
            let ns = f.namespace.clone().unwrap_or_else(|| "default".to_string());
            if !valid_scf_name(&ns, 64) {
                return Err(err(
                    "namespace",
                    format!("`{ns}` is not a valid SCF namespace"),
                ));
            }
            ns
        }
        Cloud::Aliyun => {
            if f.namespace.is_some() {
                return Err(err(
                    "namespace",
                    "FC functions have a `service`, not a `namespace`".to_string(),
                ));
            }
            // No `service`: an FC 3.0 function, which has none (API 2023-03-30).
            let Some(service) = f.service.clone() else {
                return Ok(Target::new(
                    cloud,
                    &account.name,
                    &f.region,
                    crate::model::NO_SCOPE,
                    &checked_name(f, cloud).map_err(|m| err("name", m))?,
                    checked_qualifier(f, cloud).map_err(|m| err("qualifier", m))?,
                ));
            };
            if !valid_fc_name(&service, 128) {
                return Err(err(
                    "service",
                    format!(
                        "`{service}` is not a valid FC service name (letters, digits, `_`, `-`; \
                         not starting with a digit or `-`; up to 128)"
                    ),
                ));
            }
            service
        }
    };
    Ok(Target::new(
        cloud,
        &account.name,
        &f.region,
        &namespace,
        &checked_name(f, cloud).map_err(|m| err("name", m))?,
        checked_qualifier(f, cloud).map_err(|m| err("qualifier", m))?,
    ))
}

/// `versions` / `aliases` of a `[[functions]]` entry (issue 14): both default to false; a
/// value that is not a boolean is a serde error naming its line and key.
pub(super) fn validate_follow(f: &RawFunction) -> crate::model::Follow {
    crate::model::Follow {
        versions: f.versions.unwrap_or(false),
        aliases: f.aliases.unwrap_or(false),
    }
}

fn checked_name(f: &RawFunction, cloud: Cloud) -> Result<String, String> {
    let name_ok = match cloud {
        Cloud::Tencent => valid_scf_name(&f.name, 128),
        Cloud::Aliyun => valid_fc_name(&f.name, 64),
    };
    if !name_ok {
        return Err(format!(
            "`{}` is not a valid {} function name",
            f.name,
            cloud.display_name()
        ));
    }
    Ok(f.name.clone())
}

fn checked_qualifier(f: &RawFunction, cloud: Cloud) -> Result<Option<&str>, String> {
    if let Some(q) = &f.qualifier {
        let ok = match cloud {
            Cloud::Tencent => q == "$LATEST" || valid_scf_name(q, 128),
            Cloud::Aliyun => valid_qualifier(q),
        };
        if !ok {
            return Err(format!("`{q}` is not a valid qualifier"));
        }
    }
    Ok(f.qualifier.as_deref())
}

/// The clouds' naming rules, for names that come from a listing instead of the file: a
/// namespace/service (`scope`) or a function name. None of them can hold `/`, `.` or NUL.
pub fn valid_cloud_name(cloud: Cloud, scope: bool, s: &str) -> bool {
    match (cloud, scope) {
        (Cloud::Tencent, true) => valid_scf_name(s, 64),
        (Cloud::Tencent, false) => valid_scf_name(s, 128),
        (Cloud::Aliyun, true) => valid_fc_name(s, 128),
        (Cloud::Aliyun, false) => valid_fc_name(s, 64),
    }
}

pub(super) fn valid_account_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !s.starts_with('.')
}

pub(super) fn valid_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// SCF names: letters, digits, `_` and `-`. Checked so that no name needs escaping anywhere and
/// none can smuggle a `/` into the canonical key.
pub(super) fn valid_scf_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// FC names (`[A-Za-z_][A-Za-z0-9_-]*`), per the 2021-04-06 models; no percent-escaping is ever
/// needed for them, so every signer variant signs the same bytes.
pub(super) fn valid_fc_name(s: &str, max: usize) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    s.len() <= max && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

pub(super) fn valid_qualifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// `scf.intl.tencentcloudapi.com` means `https://scf.intl.tencentcloudapi.com`, as in the SDKs.
pub(super) fn normalize_endpoint(e: &str) -> Result<String, String> {
    let e = e.trim_end_matches('/');
    if e.is_empty() {
        return Err("must not be empty".to_string());
    }
    if e.contains("://") {
        Ok(e.to_string())
    } else {
        Ok(format!("https://{e}"))
    }
}

/// `endpoint` when it is `http://` and not on this machine (loopback or `localhost`): one that
/// deserves a warning.
pub(super) fn plain_http_remote(endpoint: &str) -> Option<String> {
    let probe = endpoint
        .replace("{account_id}", "x0")
        .replace("{region}", "x0");
    let url = url::Url::parse(&probe).ok()?;
    (url.scheme() == "http" && !crate::http::is_loopback(&url)).then(|| endpoint.to_string())
}

/// An endpoint (after placeholder substitution) must be a plain http(s) origin.
pub(super) fn check_endpoint(e: &str, placeholders: &[&str]) -> Result<(), String> {
    let mut probe = e.to_string();
    for p in placeholders {
        probe = probe.replace(&format!("{{{p}}}"), "x0");
    }
    if let Some(start) = probe.find('{') {
        let end = probe[start..]
            .find('}')
            .map(|n| start + n + 1)
            .unwrap_or(probe.len());
        return Err(format!(
            "unknown placeholder `{}` (known: {})",
            &probe[start..end],
            if placeholders.is_empty() {
                "none".to_string()
            } else {
                placeholders
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    let url = url::Url::parse(&probe).map_err(|err| format!("`{e}` is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{e}`: only http and https endpoints are supported"
        ));
    }
    if url.host_str().is_none() {
        return Err(format!("`{e}` has no host"));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(format!("`{e}` must not have a path"));
    }
    if url.query().is_some() || url.username() != "" || url.password().is_some() {
        return Err(format!("`{e}` must not have a query or user info"));
    }
    Ok(())
}

/// "1 GiB", "512MiB", "10 MB", "1048576".
pub(super) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("10 MB"), Some(10_000_000));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("1 parsec"), None);
    }
}
