//! The configuration file: parsing, validation and credential resolution.
//!
//! Owns: turning a TOML file into a [`Config`] whose every value has been checked, with errors
//! that name the file, line and key. Nothing else in fnvault reads the file or the environment
//! for settings. Calls nothing else in the crate but [`crate::secret`] and [`crate::cloud`]'s
//! plain data types.
//!
//! The raw serde structs mirror the file one to one (`deny_unknown_fields`, so a misspelt key is
//! an error, not a silently ignored setting); [`Config::parse`] then validates them and resolves
//! each credential from its inline value, `*_env` variable, `*_file` or the cloud's standard
//! environment variables.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cloud::{Cloud, Target};
use crate::secret::Secret;

mod discover;
mod profiles;

pub use discover::Discover;
use discover::RawDiscover;

/// The example configuration shipped in the repository, printed by `fnvault config example`.
pub const EXAMPLE: &str = include_str!("../config.example.toml");

/// Default SCF API endpoint (the region goes in `X-TC-Region`, never in the host).
pub const TENCENT_DEFAULT_ENDPOINT: &str = "https://scf.tencentcloudapi.com";
/// Default FC endpoint template: the main account's UID and the region pick the host.
pub const ALIYUN_DEFAULT_ENDPOINT: &str = "https://{account_id}.{region}.fc.aliyuncs.com";

/// A configuration error: where in which file, which key, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    pub position: Option<(usize, usize)>,
    /// The dotted key, e.g. `functions[2].account`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from; relative paths in it were resolved against its folder.
    pub file: PathBuf,
    pub archive: ArchiveSettings,
    pub database_path: PathBuf,
    pub sync: SyncSettings,
    pub http: HttpSettings,
    pub retry: RetrySettings,
    /// `None` when the file has no `[schedule]`: `sync` works, `daemon` refuses to start.
    pub schedule: Option<ScheduleSettings>,
    /// `None` (no `[retention]`): keep every version; `prune` only removes unreferenced blobs.
    pub retention: Option<RetentionPolicy>,
    pub accounts: Vec<Account>,
    pub functions: Vec<Target>,
    /// `[metrics]`: where the daemon serves Prometheus metrics; `None` = not served.
    pub metrics: Option<MetricsSettings>,
    /// `[notify]`: failure alerts and healthchecks-style pings; `None` = none.
    pub notify: Option<NotifySettings>,
    /// `[[discover]]` blocks: functions listed from the clouds at the start of every sweep.
    pub discover: Vec<Discover>,
    /// Secrets written inline in the file (the key and its place), for the permission check.
    pub inline_secrets: Vec<InlineSecret>,
}

/// A secret written into the config file itself (`secret_key = "…"`).
#[derive(Debug, Clone)]
pub struct InlineSecret {
    /// The dotted key, e.g. `accounts[1].secret_key`.
    pub key: String,
    pub position: Option<(usize, usize)>,
}

/// How [`Config::load_with`] treats the file.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Accept a file readable by group or others although it holds an inline secret
    /// (`--allow-insecure-config`).
    pub allow_insecure: bool,
    /// A credential that cannot be read (a missing key file, an unset variable) fails only its
    /// account (`Account::credential_error`), unless no account is left: for `sync` and
    /// `daemon`, so one broken key does not stop every backup.
    pub per_account_credentials: bool,
}

/// How `parse_inner` treats the accounts' secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CredentialMode {
    /// Not read at all (read-only commands).
    Skip,
    /// Every account's must resolve, or the config is refused.
    Require,
    /// Resolved per account; a failure is kept on the account.
    PerAccount,
}

#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    pub dir: PathBuf,
    /// A package larger than this is refused: a guard against runaway bodies.
    pub max_package_size: u64,
}

#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Functions in flight at once (API call, compare, download).
    pub concurrency: usize,
    /// Downloads in flight at once; bounded separately because they cost bandwidth and disk.
    pub downloads: usize,
    /// After SIGTERM/SIGINT, how long in-flight downloads may take to finish before they are
    /// cancelled.
    pub shutdown_grace: Duration,
}

/// Which versions `fnvault prune` keeps, per function. A version is kept when any rule keeps
/// it; a function's latest version is always kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep the newest N versions.
    pub keep_last: Option<u32>,
    /// Keep every version that was live within this window.
    pub keep_within: Option<Duration>,
}

/// When the daemon sweeps.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// The expression as written (5-field expressions get a leading seconds field of `0`).
    pub cron: String,
    pub schedule: cron::Schedule,
    pub timezone: chrono_tz::Tz,
    /// Sweep once right after start, before the first tick.
    pub run_on_start: bool,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// Whole-request limit for a cloud API call.
    pub api_timeout: Duration,
    /// A download fails when no byte arrives for this long (a total limit would fail big packages).
    pub download_idle_timeout: Duration,
}

/// How failed calls and downloads are retried: capped exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// Tries per function and sweep, the first one included (1 = never retry).
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

/// API requests per second to one account when none is configured: SCF's published limit for
/// GetFunctionAddress. FC publishes no per-API figure; the same pace is a safe default there.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;

/// One cloud account: where to call and with which keys.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub endpoint: String,
    /// `None` when the config was loaded without credentials (read-only commands), or when
    /// they failed to resolve under `LoadOptions::per_account_credentials`.
    pub credentials: Option<Credentials>,
    /// Why the credentials did not resolve (file, line, key and what was tried), when loaded
    /// with `per_account_credentials`; the account's functions fail with it.
    pub credential_error: Option<String>,
    pub kind: AccountKind,
    /// API requests per second this account may receive from us; 0 means no limit.
    pub requests_per_second: u32,
}

#[derive(Debug, Clone)]
pub enum AccountKind {
    Tencent,
    Aliyun {
        account_id: String,
        signature: AliyunSignature,
    },
}

impl Account {
    pub fn cloud(&self) -> Cloud {
        match self.kind {
            AccountKind::Tencent => Cloud::Tencent,
            AccountKind::Aliyun { .. } => Cloud::Aliyun,
        }
    }
}

/// Which request signature an FC account sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliyunSignature {
    /// ACS3-HMAC-SHA256: what the official SDK for API 2021-04-06 sends.
    Acs3,
    /// The classic `Authorization: FC id:sig` scheme of fc2 and the Go/Node SDKs.
    Fc,
}

/// Resolved credentials. `key_id` is not secret (it is sent in every Authorization header).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub key_id: String,
    pub secret: Secret,
    pub token: Option<Secret>,
    /// Where the pair came from, for `check` and error messages (never the value).
    pub source: String,
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    archive: RawArchive,
    database: RawDatabase,
    #[serde(default)]
    sync: RawSync,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    retry: RawRetry,
    schedule: Option<RawSchedule>,
    retention: Option<RawRetention>,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    #[serde(default)]
    functions: Vec<RawFunction>,
    #[serde(default)]
    discover: Vec<RawDiscover>,
    metrics: Option<RawMetrics>,
    notify: Option<RawNotify>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArchive {
    dir: String,
    max_package_size: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    path: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSync {
    concurrency: Option<i64>,
    downloads: Option<i64>,
    shutdown_grace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    cron: String,
    timezone: Option<String>,
    run_on_start: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    keep_last: Option<i64>,
    keep_within: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    connect_timeout: Option<String>,
    api_timeout: Option<String>,
    download_idle_timeout: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    attempts: Option<i64>,
    initial_backoff: Option<String>,
    max_backoff: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: String,
    cloud: String,
    endpoint: Option<String>,
    requests_per_second: Option<i64>,
    // Tencent
    secret_id: Option<String>,
    secret_id_env: Option<String>,
    secret_id_file: Option<String>,
    secret_key: Option<String>,
    secret_key_env: Option<String>,
    secret_key_file: Option<String>,
    session_token: Option<String>,
    session_token_env: Option<String>,
    session_token_file: Option<String>,
    // Aliyun
    account_id: Option<String>,
    access_key_id: Option<String>,
    access_key_id_env: Option<String>,
    access_key_id_file: Option<String>,
    access_key_secret: Option<String>,
    access_key_secret_env: Option<String>,
    access_key_secret_file: Option<String>,
    security_token: Option<String>,
    security_token_env: Option<String>,
    security_token_file: Option<String>,
    signature: Option<String>,
    // systemd credentials ($CREDENTIALS_DIRECTORY/<name>) and profile files: see `credentials`.
    secret_id_credential: Option<String>,
    secret_key_credential: Option<String>,
    session_token_credential: Option<String>,
    access_key_id_credential: Option<String>,
    access_key_secret_credential: Option<String>,
    security_token_credential: Option<String>,
    profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    account: String,
    region: String,
    namespace: Option<String>,
    service: Option<String>,
    name: String,
    qualifier: Option<String>,
}

// ---------------------------------------------------------------------------------------------

impl Config {
    /// Reads and validates the file, resolving credentials from the process environment. A
    /// file readable by group or others that holds an inline secret is refused.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, LoadOptions::default())
    }

    /// [`Config::load`], with the permission check relaxed when `options` say so.
    pub fn load_with(path: &Path, options: LoadOptions) -> Result<Config, ConfigError> {
        let src = read(path)?;
        let mode = if options.per_account_credentials {
            CredentialMode::PerAccount
        } else {
            CredentialMode::Require
        };
        let config = Config::parse_inner(&src, path, &|name| std::env::var(name).ok(), mode)?;
        if !options.allow_insecure {
            check_private(&config)?;
        }
        Ok(config)
    }

    /// Reads and validates the file but leaves credentials alone: read-only commands (`list`)
    /// must work for an auditor who has the config and the archive but not the keys.
    pub fn load_without_credentials(path: &Path) -> Result<Config, ConfigError> {
        let src = read(path)?;
        Config::parse_inner(&src, path, &|_| None, CredentialMode::Skip)
    }

    /// Validates `src` as if read from `path`; `env` stands in for the environment (tests pass
    /// their own, so they never depend on the machine's variables).
    pub fn parse(
        src: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_inner(src, path, env, CredentialMode::Require)
    }

    fn parse_inner(
        src: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        credentials: CredentialMode,
    ) -> Result<Config, ConfigError> {
        let loc = Locator::new(src, path);
        let raw: RawConfig = toml::from_str(src).map_err(|e| loc.toml_error(&e))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let resolve_path = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        if raw.archive.dir.trim().is_empty() {
            return Err(loc.err(&["archive", "dir"], "must not be empty"));
        }
        if raw.database.path.trim().is_empty() {
            return Err(loc.err(&["database", "path"], "must not be empty"));
        }
        let max_package_size = match &raw.archive.max_package_size {
            None => 1 << 30,
            Some(s) => parse_size(s).ok_or_else(|| {
                loc.err(
                    &["archive", "max_package_size"],
                    format!("`{s}` is not a size (examples: \"1 GiB\", \"512 MiB\", \"1048576\")"),
                )
            })?,
        };
        if max_package_size == 0 {
            return Err(loc.err(&["archive", "max_package_size"], "must be more than 0"));
        }
        let archive = ArchiveSettings {
            dir: resolve_path(&raw.archive.dir),
            max_package_size,
        };

        let positive = |v: Option<i64>,
                        key: &'static str,
                        default: usize|
         -> Result<usize, ConfigError> {
            match v {
                None => Ok(default),
                Some(n) if (1..=1024).contains(&n) => Ok(n as usize),
                Some(n) => Err(loc.err(&["sync", key], format!("{n} is out of range 1..=1024"))),
            }
        };

        let duration = |section: &'static str,
                        key: &'static str,
                        v: &Option<String>,
                        default: Duration|
         -> Result<Duration, ConfigError> {
            match v {
                None => Ok(default),
                Some(s) => match humantime::parse_duration(s) {
                    Ok(d) if !d.is_zero() => Ok(d),
                    Ok(_) => Err(loc.err(&[section, key], "must be more than 0")),
                    Err(e) => Err(loc.err(
                        &[section, key],
                        format!("`{s}` is not a duration ({e}; examples: \"10s\", \"2m\")"),
                    )),
                },
            }
        };
        let secs = Duration::from_secs;
        let http = HttpSettings {
            connect_timeout: duration(
                "http",
                "connect_timeout",
                &raw.http.connect_timeout,
                secs(10),
            )?,
            api_timeout: duration("http", "api_timeout", &raw.http.api_timeout, secs(30))?,
            download_idle_timeout: duration(
                "http",
                "download_idle_timeout",
                &raw.http.download_idle_timeout,
                secs(60),
            )?,
        };
        let sync = SyncSettings {
            concurrency: positive(raw.sync.concurrency, "concurrency", 32)?,
            downloads: positive(raw.sync.downloads, "downloads", 4)?,
            shutdown_grace: duration("sync", "shutdown_grace", &raw.sync.shutdown_grace, secs(30))?,
        };
        let schedule = match &raw.schedule {
            None => None,
            Some(s) => Some(parse_schedule(s, &loc)?),
        };
        let retention = match &raw.retention {
            None => None,
            Some(r) => Some(parse_retention(r, &loc)?),
        };
        let retry = RetrySettings {
            attempts: match raw.retry.attempts {
                None => 4,
                Some(n) if (1..=20).contains(&n) => n as u32,
                Some(n) => {
                    return Err(loc.err(
                        &["retry", "attempts"],
                        format!("{n} is out of range 1..=20"),
                    ));
                }
            },
            initial_backoff: duration(
                "retry",
                "initial_backoff",
                &raw.retry.initial_backoff,
                secs(1),
            )?,
            max_backoff: duration("retry", "max_backoff", &raw.retry.max_backoff, secs(30))?,
        };
        if retry.max_backoff < retry.initial_backoff {
            return Err(loc.err(
                &["retry", "max_backoff"],
                "must not be shorter than retry.initial_backoff",
            ));
        }

        let mut accounts = Vec::with_capacity(raw.accounts.len());
        let mut names = HashSet::new();
        for (i, a) in raw.accounts.iter().enumerate() {
            let account = validate_account(a, i, &loc, env, &resolve_path, credentials)?;
            if !names.insert(account.name.clone()) {
                return Err(loc.err_at(
                    &[Seg::Key("accounts"), Seg::Index(i), Seg::Key("name")],
                    format!("account `{}` is defined twice", account.name),
                ));
            }
            accounts.push(account);
        }
        // Per-account credentials still need one account that works: otherwise nothing can
        // run, and that is the config's fault.
        if credentials == CredentialMode::PerAccount
            && !accounts.is_empty()
            && accounts.iter().all(|a| a.credential_error.is_some())
        {
            let errors: Vec<&str> = accounts
                .iter()
                .filter_map(|a| a.credential_error.as_deref())
                .collect();
            return Err(ConfigError {
                file: path.to_path_buf(),
                position: None,
                key: None,
                message: format!(
                    "no account has usable credentials:\n  {}",
                    errors.join("\n  ")
                ),
            });
        }

        let by_name: HashMap<&str, &Account> =
            accounts.iter().map(|a| (a.name.as_str(), a)).collect();
        let mut functions = Vec::with_capacity(raw.functions.len());
        let mut keys = HashSet::new();
        for (i, f) in raw.functions.iter().enumerate() {
            let target = validate_function(f, i, &loc, &by_name)?;
            if !keys.insert(target.key.clone()) {
                return Err(loc.err_at(
                    &[Seg::Key("functions"), Seg::Index(i), Seg::Key("name")],
                    format!("function `{}` is listed twice", target.key),
                ));
            }
            functions.push(target);
        }

        let mut discover = Vec::with_capacity(raw.discover.len());
        for (i, d) in raw.discover.iter().enumerate() {
            discover.push(discover::validate(d, i, &loc, &by_name)?);
        }
        let mut inline_secrets = Vec::new();
        for (i, a) in raw.accounts.iter().enumerate() {
            for (key, set) in [
                ("secret_key", a.secret_key.is_some()),
                ("session_token", a.session_token.is_some()),
                ("access_key_secret", a.access_key_secret.is_some()),
                ("security_token", a.security_token.is_some()),
            ] {
                if set {
                    let e = loc.err_at(&[Seg::Key("accounts"), Seg::Index(i), Seg::Key(key)], "");
                    inline_secrets.push(InlineSecret {
                        key: e.key.unwrap_or_default(),
                        position: e.position,
                    });
                }
            }
        }

        Ok(Config {
            file: path.to_path_buf(),
            discover,
            inline_secrets,
            archive,
            database_path: resolve_path(&raw.database.path),
            sync,
            http,
            retry,
            schedule,
            retention,
            accounts,
            functions,
            metrics: parse_metrics(raw.metrics.as_ref(), &loc)?,
            notify: parse_notify(raw.notify.as_ref(), &loc, &resolve_path)?,
        })
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

fn validate_account(
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

/// No keys configured: the cloud's standard environment variables (unless `profile` is set),
/// then its standard profile files. A miss names every source that was tried.
#[allow(clippy::too_many_arguments)]
fn standard_credentials(
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
            Ok(Credentials {
                key_id: checked_value(f.key_id, &what).map_err(|m| loc.err_at(at, m))?,
                secret: Secret::new(checked_value(f.secret, &what).map_err(|m| loc.err_at(at, m))?),
                token: f
                    .token
                    .map(|t| checked_value(t, &what).map(Secret::new))
                    .transpose()
                    .map_err(|m| loc.err_at(at, m))?,
                source: f.source,
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

fn parse_retention(r: &RawRetention, loc: &Locator) -> Result<RetentionPolicy, ConfigError> {
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

fn parse_schedule(s: &RawSchedule, loc: &Locator) -> Result<ScheduleSettings, ConfigError> {
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

/// A secret in a file other users can read is a secret shared with them: refuse, naming the
/// file, its mode and the key (the value is never printed).
fn check_private(config: &Config) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let Some(first) = config.inline_secrets.first() else {
        return Ok(());
    };
    let mode = std::fs::metadata(&config.file)
        .map_err(|e| ConfigError {
            file: config.file.clone(),
            position: None,
            key: None,
            message: format!("cannot read the config file's permissions: {e}"),
        })?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    Err(ConfigError {
        file: config.file.clone(),
        position: first.position,
        key: Some(first.key.clone()),
        message: format!(
            "the file holds an inline secret but is readable by group or others (mode {:04o}): \
             `chmod 600` it, move the secret to a *_file/*_credential/*_env key, or pass \
             --allow-insecure-config",
            mode & 0o7777
        ),
    })
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        position: None,
        key: None,
        message: format!("cannot read the config file: {e}"),
    })
}

/// The four ways one secret can be given: inline, `*_env`, `*_file`, `*_credential`.
struct SecretKeys<'a> {
    base: &'static str,
    inline: &'a Option<String>,
    env: &'a Option<String>,
    file: &'a Option<String>,
    credential: &'a Option<String>,
}

impl<'a> SecretKeys<'a> {
    fn new(
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

    fn any(&self) -> bool {
        self.inline.is_some()
            || self.env.is_some()
            || self.file.is_some()
            || self.credential.is_some()
    }

    fn given_key(&self) -> Option<&'static str> {
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

fn key_name(base: &'static str, which: usize) -> &'static str {
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
fn resolve_secret(
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
fn is_secret_key(base: &str) -> bool {
    matches!(
        base,
        "secret_key" | "session_token" | "access_key_secret" | "security_token"
    )
}

/// A key file: one trailing newline (as editors and `echo` write) is removed, nothing else.
fn read_secret_file(path: &Path) -> Result<String, String> {
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
fn checked_value(v: String, what: &str) -> Result<String, String> {
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

/// The account a `[[functions]]` or `[[discover]]` entry names, or a message listing those
/// that exist.
fn find_account<'a>(
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

fn validate_function(
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
            let service = f
                .service
                .clone()
                .ok_or_else(|| err("name", "FC functions need `service`".to_string()))?;
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
    let name_ok = match cloud {
        Cloud::Tencent => valid_scf_name(&f.name, 128),
        Cloud::Aliyun => valid_fc_name(&f.name, 64),
    };
    if !name_ok {
        return Err(err(
            "name",
            format!(
                "`{}` is not a valid {} function name",
                f.name,
                cloud.display_name()
            ),
        ));
    }
    if let Some(q) = &f.qualifier {
        let ok = match cloud {
            Cloud::Tencent => q == "$LATEST" || valid_scf_name(q, 128),
            Cloud::Aliyun => valid_qualifier(q),
        };
        if !ok {
            return Err(err("qualifier", format!("`{q}` is not a valid qualifier")));
        }
    }
    Ok(Target::new(
        cloud,
        &account.name,
        &f.region,
        &namespace,
        &f.name,
        f.qualifier.as_deref(),
    ))
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

fn valid_account_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !s.starts_with('.')
}

fn valid_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// SCF names: letters, digits, `_` and `-`. Checked so that no name needs escaping anywhere and
/// none can smuggle a `/` into the canonical key.
fn valid_scf_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// FC names (`[A-Za-z_][A-Za-z0-9_-]*`), per the 2021-04-06 models; no percent-escaping is ever
/// needed for them, so every signer variant signs the same bytes.
fn valid_fc_name(s: &str, max: usize) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    s.len() <= max && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

fn valid_qualifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// `scf.intl.tencentcloudapi.com` means `https://scf.intl.tencentcloudapi.com`, as in the SDKs.
fn normalize_endpoint(e: &str) -> Result<String, String> {
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

/// An endpoint (after placeholder substitution) must be a plain http(s) origin.
fn check_endpoint(e: &str, placeholders: &[&str]) -> Result<(), String> {
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
fn parse_size(s: &str) -> Option<u64> {
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

// ---------------------------------------------------------------------------------------------
// Finding the line of a key, for errors found after deserialisation.

#[derive(Clone, Copy)]
enum Seg {
    Key(&'static str),
    Index(usize),
}

struct Locator<'a> {
    src: &'a str,
    file: &'a Path,
    /// Parsed only when a place is asked for (an error, an inline secret): a valid config
    /// never pays for a second parse — a measurable part of start-up with 10,000 functions.
    doc: std::cell::OnceCell<Option<toml_edit::Document<&'a str>>>,
}

impl<'a> Locator<'a> {
    fn new(src: &'a str, file: &'a Path) -> Self {
        Locator {
            src,
            file,
            doc: std::cell::OnceCell::new(),
        }
    }

    fn doc(&self) -> Option<&toml_edit::Document<&'a str>> {
        self.doc
            .get_or_init(|| toml_edit::Document::parse(self.src).ok())
            .as_ref()
    }

    /// A parse or type error from serde/toml. toml's message names at most the field, so the
    /// dotted key is found from the error's place in the file.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            position: e.span().map(|s| self.line_col(s.start)),
            key: e.span().and_then(|s| self.key_at(s.start)),
            message: e.message().trim_end().to_string(),
        }
    }

    /// The dotted key (1-based indexes, as in every other message) of the innermost key, value,
    /// array element or table header whose text holds `offset`: a wrong type points at the
    /// value, an unknown field at its key, a missing field at its table's header.
    fn key_at(&self, offset: usize) -> Option<String> {
        let doc = self.doc()?;
        let mut path = Vec::new();
        if !find_in_table(doc.as_table(), offset, &mut path) || path.is_empty() {
            return None;
        }
        Some(path.concat())
    }

    fn err(&self, path: &[&'static str], msg: impl Into<String>) -> ConfigError {
        let segs: Vec<Seg> = path.iter().map(|k| Seg::Key(k)).collect();
        self.err_at(&segs, msg)
    }

    fn err_at(&self, path: &[Seg], msg: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            position: self.span(path).map(|s| self.line_col(s)),
            key: Some(dotted(path)),
            message: msg.into(),
        }
    }

    /// The start of the key at `path`, or of the closest enclosing table that exists.
    fn span(&self, path: &[Seg]) -> Option<usize> {
        let doc = self.doc()?;
        let mut best = None;
        let mut node: &dyn toml_edit::TableLike = doc.as_table();
        let mut segs = path.iter().peekable();
        while let Some(seg) = segs.next() {
            let Seg::Key(k) = seg else { return best };
            let Some((key, value)) = node.get_key_value(k) else {
                return best;
            };
            best = key.span().map(|s| s.start).or(best);
            node = match segs.peek() {
                Some(Seg::Index(n)) => {
                    segs.next();
                    let table = value.as_array_of_tables()?.get(*n)?;
                    best = table.span().map(|s| s.start).or(best);
                    table
                }
                Some(Seg::Key(_)) => match value.as_table_like() {
                    Some(t) => t,
                    None => return best,
                },
                None => return best,
            };
        }
        best
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.src[..offset.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map(|n| before.len() - n)
            .unwrap_or(before.len() + 1);
        (line, col)
    }
}

/// Whether a toml_edit span holds `offset` (an empty span holds its start).
fn holds(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start == offset || s.contains(&offset))
}

/// Searches `table` for what holds `offset`, leaving its path in `path` (segments `.key`,
/// `[n]`) when found. Children first, so the innermost match wins.
fn find_in_table(table: &dyn toml_edit::TableLike, offset: usize, path: &mut Vec<String>) -> bool {
    for (name, _) in table.iter() {
        let Some((key, item)) = table.get_key_value(name) else {
            continue;
        };
        path.push(if path.is_empty() {
            name.to_string()
        } else {
            format!(".{name}")
        });
        if holds(key.span(), offset) || find_in_item(item, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_item(item: &toml_edit::Item, offset: usize, path: &mut Vec<String>) -> bool {
    match item {
        toml_edit::Item::None => false,
        toml_edit::Item::Value(v) => find_in_value(v, offset, path),
        toml_edit::Item::Table(t) => find_in_table(t, offset, path) || holds(t.span(), offset),
        toml_edit::Item::ArrayOfTables(tables) => {
            for (i, t) in tables.iter().enumerate() {
                path.push(format!("[{}]", i + 1));
                if find_in_table(t, offset, path) || holds(t.span(), offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
    }
}

fn find_in_value(value: &toml_edit::Value, offset: usize, path: &mut Vec<String>) -> bool {
    match value {
        toml_edit::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(format!("[{}]", i + 1));
                if find_in_value(v, offset, path) {
                    return true;
                }
                path.pop();
            }
        }
        toml_edit::Value::InlineTable(t) if find_in_table(t, offset, path) => return true,
        _ => {}
    }
    holds(value.span(), offset)
}

fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            // Shown 1-based: "the 3rd [[functions]]" reads as functions[3].
            Seg::Index(n) => out.push_str(&format!("[{}]", n + 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Config, ConfigError> {
        let env = |name: &str| match name {
            "TC_ID" => Some("AKIDexample".to_string()),
            "TC_KEY" => Some("tc-secret".to_string()),
            _ => None,
        };
        Config::parse(src, Path::new("/etc/fnvault/config.toml"), &env)
    }

    const BASE: &str = r#"
[archive]
dir = "archive"
[database]
path = "/var/lib/fnvault/fnvault.db"

[[accounts]]
name = "tc-prod"
cloud = "tencent"
secret_id_env = "TC_ID"
secret_key_env = "TC_KEY"

[[accounts]]
name = "ali-prod"
cloud = "aliyun"
account_id = "1234567890123456"
access_key_id = "LTAIexample"
access_key_secret = "ali-secret"

[[functions]]
account = "tc-prod"
region = "ap-guangzhou"
name = "order-api"
qualifier = "$LATEST"

[[functions]]
account = "ali-prod"
region = "cn-shanghai"
service = "orders"
name = "checkout"
"#;

    #[test]
    fn relative_paths_are_relative_to_the_config_folder() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.archive.dir, Path::new("/etc/fnvault/archive"));
        assert_eq!(c.database_path, Path::new("/var/lib/fnvault/fnvault.db"));
    }

    #[test]
    fn canonical_keys_name_account_region_namespace_name_and_qualifier() {
        let c = parse(BASE).unwrap();
        let keys: Vec<_> = c.functions.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "tc-prod/ap-guangzhou/default/order-api@$LATEST",
                "ali-prod/cn-shanghai/orders/checkout"
            ]
        );
    }

    #[test]
    fn secrets_resolve_from_env_and_inline_and_say_where_they_came_from() {
        let c = parse(BASE).unwrap();
        let tc = c.account("tc-prod").unwrap();
        let creds = tc.credentials.as_ref().unwrap();
        assert_eq!(creds.key_id, "AKIDexample");
        assert_eq!(creds.secret.expose(), "tc-secret");
        assert_eq!(creds.source, "environment $TC_ID + environment $TC_KEY");
        assert_eq!(tc.endpoint, TENCENT_DEFAULT_ENDPOINT);
        let ali = c.account("ali-prod").unwrap();
        assert_eq!(ali.endpoint, ALIYUN_DEFAULT_ENDPOINT);
        assert!(matches!(
            ali.kind,
            AccountKind::Aliyun {
                signature: AliyunSignature::Acs3,
                ..
            }
        ));
    }

    #[test]
    fn an_unknown_key_is_an_error_with_its_line() {
        let src = BASE.replace(
            "name = \"checkout\"",
            "name = \"checkout\"\nqualifer = \"LATEST\"",
        );
        let e = parse(&src).unwrap_err();
        let line = src.lines().position(|l| l.starts_with("qualifer")).unwrap() + 1;
        assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
        assert!(e.to_string().contains("qualifer"), "{e}");
    }

    #[test]
    fn a_function_naming_a_missing_account_points_at_its_account_key() {
        let src = BASE.replace("account = \"ali-prod\"", "account = \"ali-staging\"");
        let e = parse(&src).unwrap_err();
        let line = src.lines().position(|l| l.contains("ali-staging")).unwrap() + 1;
        assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
        assert_eq!(e.key.as_deref(), Some("functions[2].account"));
        assert!(e.message.contains("ali-prod, tc-prod"), "{e}");
    }

    #[test]
    fn a_missing_environment_variable_is_named() {
        let src = BASE.replace("TC_KEY", "TC_NOPE");
        let e = parse(&src).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("accounts[1].secret_key_env"));
        assert!(e.message.contains("TC_NOPE"), "{e}");
    }

    #[test]
    fn no_credentials_anywhere_names_the_standard_variables() {
        let src = BASE
            .replace("secret_id_env = \"TC_ID\"\n", "")
            .replace("secret_key_env = \"TC_KEY\"\n", "");
        let e = parse(&src).unwrap_err();
        assert!(e.message.contains("TENCENTCLOUD_SECRET_ID"), "{e}");
    }

    #[test]
    fn half_a_standard_variable_pair_names_the_missing_variable() {
        let src = BASE
            .replace("secret_id_env = \"TC_ID\"\n", "")
            .replace("secret_key_env = \"TC_KEY\"\n", "");
        let only_id =
            |name: &str| (name == "TENCENTCLOUD_SECRET_ID").then(|| "AKIDstd".to_string());
        let e = Config::parse(&src, Path::new("c.toml"), &only_id).unwrap_err();
        assert!(
            e.message.contains(
                "environment $TENCENTCLOUD_SECRET_ID is set but $TENCENTCLOUD_SECRET_KEY is not"
            ),
            "{e}"
        );
        let only_key =
            |name: &str| (name == "TENCENTCLOUD_SECRET_KEY").then(|| "std-secret".to_string());
        let e = Config::parse(&src, Path::new("c.toml"), &only_key).unwrap_err();
        assert!(
            e.message.contains(
                "environment $TENCENTCLOUD_SECRET_KEY is set but $TENCENTCLOUD_SECRET_ID is not"
            ),
            "{e}"
        );
    }

    #[test]
    fn standard_variables_are_used_when_no_key_is_configured() {
        let src = BASE
            .replace("secret_id_env = \"TC_ID\"\n", "")
            .replace("secret_key_env = \"TC_KEY\"\n", "");
        let env = |name: &str| match name {
            "TENCENTCLOUD_SECRET_ID" => Some("AKIDstd".to_string()),
            "TENCENTCLOUD_SECRET_KEY" => Some("std-secret".to_string()),
            "TENCENTCLOUD_TOKEN" => Some("tok".to_string()),
            _ => None,
        };
        let c = Config::parse(&src, Path::new("c.toml"), &env).unwrap();
        let creds = c.account("tc-prod").unwrap().credentials.clone().unwrap();
        assert_eq!(creds.key_id, "AKIDstd");
        assert_eq!(creds.token.as_ref().map(Secret::expose), Some("tok"));
        assert_eq!(
            creds.source,
            "environment $TENCENTCLOUD_SECRET_ID, $TENCENTCLOUD_SECRET_KEY, session token $TENCENTCLOUD_TOKEN"
        );
    }

    #[test]
    fn an_fc_name_that_would_need_escaping_is_refused() {
        let src = BASE.replace("name = \"checkout\"", "name = \"../etc\"");
        let e = parse(&src).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("functions[2].name"));
    }

    #[test]
    fn a_key_of_the_other_cloud_is_refused() {
        let src = BASE.replace(
            "cloud = \"tencent\"",
            "cloud = \"tencent\"\nsignature = \"fc\"",
        );
        let e = parse(&src).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("accounts[1].signature"));
    }

    #[test]
    fn a_bad_endpoint_is_refused_with_its_key() {
        let src = BASE.replace(
            "cloud = \"aliyun\"",
            "cloud = \"aliyun\"\nendpoint = \"ftp://{account_id}.x\"",
        );
        let e = parse(&src).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("accounts[2].endpoint"));
    }

    #[test]
    fn the_same_function_twice_is_refused() {
        let src = format!(
            "{BASE}\n[[functions]]\naccount = \"ali-prod\"\nregion = \"cn-shanghai\"\nservice = \"orders\"\nname = \"checkout\"\n"
        );
        let e = parse(&src).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("functions[3].name"));
    }

    #[test]
    fn a_five_field_cron_expression_is_accepted() {
        let c = parse(&format!("{BASE}\n[schedule]\ncron = \"*/15 * * * *\"\n")).unwrap();
        let s = c.schedule.unwrap();
        assert_eq!(s.cron, "0 */15 * * * *");
        assert!(s.run_on_start);
    }

    #[test]
    fn a_bad_cron_expression_names_the_key() {
        let e = parse(&format!("{BASE}\n[schedule]\ncron = \"every day\"\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("schedule.cron"));
    }

    #[test]
    fn an_unknown_time_zone_names_the_key() {
        let e = parse(&format!(
            "{BASE}\n[schedule]\ncron = \"0 * * * *\"\ntimezone = \"Mars/Olympus\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("schedule.timezone"));
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("10 MB"), Some(10_000_000));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("1 parsec"), None);
    }

    fn discover_error(block: &str) -> ConfigError {
        let src = format!("{BASE}\n[[discover]]\n{block}\n");
        parse(&src).unwrap_err()
    }

    #[test]
    fn a_discover_block_becomes_a_rule_with_globs() {
        let c = parse(&format!(
            "{BASE}\n[[discover]]\naccount = \"tc-prod\"\nregions = [\"ap-guangzhou\", \"ap-shanghai\"]\n\
             namespaces = [\"*\"]\ninclude = [\"order-*\"]\nexclude = [\"*-test\"]\n"
        ))
        .unwrap();
        let d = &c.discover[0];
        assert_eq!(d.scopes, None);
        assert!(d.wants_name("order-api"));
        assert!(!d.wants_name("order-test"));
        assert!(!d.wants_name("billing"));
        let t = d.target("ap-shanghai", "batch", "order-x");
        assert_eq!(t.key, "tc-prod/ap-shanghai/batch/order-x");
        assert!(d.covers(&t));
        assert!(!d.covers(&d.target("ap-beijing", "batch", "order-x")));
    }

    #[test]
    fn discover_errors_name_their_key_and_line() {
        let e = discover_error("account = \"tc-prod\"\nregions = []");
        assert_eq!(e.key.as_deref(), Some("discover[1].regions"));
        assert!(e.position.is_some(), "{e}");
        let e = discover_error(
            "account = \"tc-prod\"\nregions = [\"ap-guangzhou\"]\nservices = [\"x\"]",
        );
        assert_eq!(e.key.as_deref(), Some("discover[1].services"));
        let e = discover_error(
            "account = \"tc-prod\"\nregions = [\"ap-guangzhou\"]\ninclude = [\"[z-a\"]",
        );
        assert_eq!(e.key.as_deref(), Some("discover[1].include"));
        let e = discover_error(
            "account = \"ali-prod\"\nregions = [\"cn-shanghai\"]\nservices = [\"*\", \"orders\"]",
        );
        assert_eq!(e.key.as_deref(), Some("discover[1].services"));
        let e = discover_error(
            "account = \"ali-prod\"\nregions = [\"cn-shanghai\"]\nservices = [\"../x\"]",
        );
        assert_eq!(e.key.as_deref(), Some("discover[1].services"));
        let e = discover_error("account = \"tc-prod\"\nregion = [\"ap-guangzhou\"]");
        assert!(e.to_string().contains("region"), "{e}");
    }

    #[test]
    fn a_type_error_inside_a_list_names_the_element_one_based() {
        let e = discover_error("account = \"tc-prod\"\nregions = [\"ap-guangzhou\", 3]");
        assert_eq!(e.key.as_deref(), Some("discover[1].regions[2]"), "{e}");
        let e = parse(&format!("{BASE}\n[sync]\nconcurrency = \"4\"\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("sync.concurrency"), "{e}");
    }

    #[test]
    fn listed_names_follow_the_config_rules() {
        assert!(valid_cloud_name(Cloud::Tencent, false, "order-api"));
        for bad in ["../evil", "a/b", "a\0b", "..", ""] {
            assert!(!valid_cloud_name(Cloud::Tencent, false, bad), "{bad:?}");
            assert!(!valid_cloud_name(Cloud::Aliyun, true, bad), "{bad:?}");
        }
    }

    #[test]
    fn a_secret_given_two_ways_is_refused_at_the_second() {
        let src = BASE.replace(
            "secret_key_env = \"TC_KEY\"",
            "secret_key_env = \"TC_KEY\"\nsecret_key_credential = \"k\"",
        );
        let e = parse(&src).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("accounts[1].secret_key_credential"));
    }

    #[test]
    fn profile_and_explicit_keys_conflict() {
        let src = BASE.replace(
            "secret_key_env = \"TC_KEY\"",
            "secret_key_env = \"TC_KEY\"\nprofile = \"prod\"",
        );
        let e = parse(&src).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("accounts[1].profile"));
    }

    #[test]
    fn inline_secrets_are_noted_for_the_permission_check() {
        let c = parse(BASE).unwrap();
        let keys: Vec<_> = c.inline_secrets.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["accounts[2].access_key_secret"]);
        assert!(c.inline_secrets[0].position.is_some());
    }

    #[test]
    fn the_example_config_is_valid() {
        let env = |_: &str| Some("example-value".to_string());
        let c = Config::parse(EXAMPLE, Path::new("/etc/fnvault/config.toml"), &env)
            .unwrap_or_else(|e| panic!("config.example.toml: {e}"));
        assert!(!c.functions.is_empty());
    }

    #[test]
    fn without_retention_every_version_is_kept() {
        assert_eq!(parse(BASE).unwrap().retention, None);
    }

    #[test]
    fn retention_reads_keep_last_and_keep_within() {
        let c = parse(&format!(
            "{BASE}\n[retention]\nkeep_last = 3\nkeep_within = \"365d\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.retention,
            Some(RetentionPolicy {
                keep_last: Some(3),
                keep_within: Some(Duration::from_secs(365 * 86_400)),
            })
        );
    }

    #[test]
    fn an_empty_retention_section_is_refused_naming_it() {
        let e = parse(&format!("{BASE}\n[retention]\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("retention"));
        assert!(e.message.contains("empty [retention]"), "{e}");
        assert!(e.position.is_some(), "{e}");
    }

    #[test]
    fn keep_last_zero_and_a_bad_keep_within_are_refused() {
        let e = parse(&format!("{BASE}\n[retention]\nkeep_last = 0\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("retention.keep_last"));
        let e = parse(&format!("{BASE}\n[retention]\nkeep_within = \"a year\"\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("retention.keep_within"));
    }
}

// ---------------------------------------------------------------------------------------------
// [metrics] and [notify]: operations.

/// `[metrics]`: the daemon's Prometheus endpoint.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// Where `GET /metrics` is served (its own listener, separate from anything else).
    pub listen: std::net::SocketAddr,
}

/// `[notify]`: who is told when sweeps fail, and the dead man's switch.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// POSTed a JSON body when a sweep ends with failures. It may hold a token, so it is
    /// never printed whole.
    pub webhook: Option<crate::secret::SecretUrl>,
    /// Run with the same JSON body on stdin: program and arguments, no shell.
    pub command: Option<Vec<String>>,
    /// healthchecks.io-style: `<ping_url>/start`, `<ping_url>` (success), `<ping_url>/fail`.
    pub ping_url: Option<crate::secret::SecretUrl>,
    /// Alert only for functions that failed this many sweeps in a row (1 = every failure).
    pub after_failures: u32,
    /// Limit of each webhook call, ping and command run.
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    webhook: Option<String>,
    command: Option<Vec<String>>,
    ping_url: Option<String>,
    after_failures: Option<i64>,
    timeout: Option<String>,
}

fn parse_metrics(
    raw: Option<&RawMetrics>,
    loc: &Locator,
) -> Result<Option<MetricsSettings>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let listen = raw.listen.trim().parse().map_err(|_| {
        loc.err(
            &["metrics", "listen"],
            format!(
                "`{}` is not an address and port (example: \"127.0.0.1:9464\")",
                raw.listen
            ),
        )
    })?;
    Ok(Some(MetricsSettings { listen }))
}

fn parse_notify(
    raw: Option<&RawNotify>,
    loc: &Locator,
    resolve_path: &dyn Fn(&str) -> PathBuf,
) -> Result<Option<NotifySettings>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let http_url = |key: &'static str, v: &Option<String>| match v {
        None => Ok(None),
        Some(u) => match url::Url::parse(u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {
                Ok(Some(crate::secret::SecretUrl::new(u.clone())))
            }
            // The value may hold a token: show only what is needed to spot the mistake.
            Ok(p) => Err(loc.err(
                &["notify", key],
                format!(
                    "must be an http:// or https:// URL with a host, not `{}:`",
                    p.scheme()
                ),
            )),
            Err(e) => Err(loc.err(&["notify", key], format!("is not a URL ({e})"))),
        },
    };
    let webhook = http_url("webhook", &raw.webhook)?;
    let ping_url = http_url("ping_url", &raw.ping_url)?;
    let command = match &raw.command {
        None => None,
        Some(c) if c.first().is_none_or(|p| p.trim().is_empty()) => {
            return Err(loc.err(
                &["notify", "command"],
                "must name a program: [\"/path/to/program\", \"arg\", ...]",
            ));
        }
        Some(c) => {
            let mut c = c.clone();
            // A relative path with a folder in it (`./alert.sh`, `bin/alert`) means the same as
            // the `*_file` keys: relative to the config file's folder, not to wherever the
            // daemon was started. A bare name (`curl`) is looked up in $PATH, as exec does.
            if let Some(program) = c.first_mut()
                && program.contains('/')
                && !Path::new(program.as_str()).is_absolute()
            {
                *program = resolve_path(program).to_string_lossy().into_owned();
            }
            Some(c)
        }
    };
    if webhook.is_none() && command.is_none() && ping_url.is_none() {
        return Err(loc.err(
            &["notify"],
            "set at least one of `webhook`, `command` or `ping_url` (or remove [notify])",
        ));
    }
    let after_failures = match raw.after_failures {
        None => 1,
        Some(n) if (1..=10_000).contains(&n) => n as u32,
        Some(n) => {
            return Err(loc.err(
                &["notify", "after_failures"],
                format!("{n} is out of range 1..=10000"),
            ));
        }
    };
    let timeout = match &raw.timeout {
        None => Duration::from_secs(10),
        Some(s) => match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() && d <= Duration::from_secs(300) => d,
            Ok(_) => {
                return Err(loc.err(&["notify", "timeout"], "must be more than 0 and at most 5m"));
            }
            Err(e) => {
                return Err(loc.err(
                    &["notify", "timeout"],
                    format!("`{s}` is not a duration ({e}; examples: \"10s\", \"1m\")"),
                ));
            }
        },
    };
    Ok(Some(NotifySettings {
        webhook,
        command,
        ping_url,
        after_failures,
        timeout,
    }))
}

#[cfg(test)]
mod ops_tests {
    use super::*;

    const BASE: &str = "[archive]\ndir = \"a\"\n[database]\npath = \"d\"\n";

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!("{BASE}{extra}"), Path::new("/etc/f.toml"), &|_| {
            None
        })
    }

    #[test]
    fn metrics_and_notify_are_off_unless_configured() {
        let c = parse("").unwrap();
        assert!(c.metrics.is_none() && c.notify.is_none());
    }

    #[test]
    fn a_metrics_address_must_have_a_port() {
        let e = parse("[metrics]\nlisten = \"127.0.0.1\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("metrics.listen"));
        assert_eq!(e.position.map(|p| p.0), Some(6));
        let c = parse("[metrics]\nlisten = \"127.0.0.1:9464\"\n").unwrap();
        assert_eq!(c.metrics.unwrap().listen.port(), 9464);
    }

    #[test]
    fn notify_takes_a_webhook_a_command_and_a_ping_url() {
        let c = parse(
            "[notify]\nwebhook = \"https://h.example/hook?token=s3cret\"\ncommand = [\"/bin/true\", \"x\"]\nping_url = \"https://hc.example/abc\"\nafter_failures = 3\ntimeout = \"2s\"\n",
        )
        .unwrap();
        let n = c.notify.unwrap();
        assert_eq!(n.after_failures, 3);
        assert_eq!(n.timeout, Duration::from_secs(2));
        assert_eq!(n.command.unwrap(), vec!["/bin/true", "x"]);
        assert!(!format!("{:?}", n.webhook).contains("s3cret"));
    }

    #[test]
    fn a_relative_command_path_is_relative_to_the_config_folder() {
        let program = |c: &str| {
            parse(&format!("[notify]\ncommand = [\"{c}\", \"x\"]\n"))
                .unwrap()
                .notify
                .unwrap()
                .command
                .unwrap()
        };
        assert_eq!(program("bin/alert"), vec!["/etc/bin/alert", "x"]);
        assert_eq!(program("./alert.sh"), vec!["/etc/./alert.sh", "x"]);
        assert_eq!(program("/usr/bin/alert"), vec!["/usr/bin/alert", "x"]);
        // A bare name is left for the $PATH lookup.
        assert_eq!(program("curl"), vec!["curl", "x"]);
    }

    #[test]
    fn an_empty_notify_section_is_refused() {
        let e = parse("[notify]\nafter_failures = 2\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify"));
    }

    #[test]
    fn a_webhook_that_is_not_http_is_refused_without_echoing_it() {
        let e = parse("[notify]\nwebhook = \"ftp://u:pw@h.example/x\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify.webhook"));
        assert!(!e.to_string().contains("pw"), "{e}");
        let e = parse("[notify]\ncommand = []\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify.command"));
    }
}
