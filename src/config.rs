//! The configuration file: parsing, validation and credential resolution.
//!
//! Owns: turning a TOML file into a [`Config`] whose every value has been checked, with errors
//! that name the file, line and key. Nothing else in fnvault reads the file or the environment
//! for settings. Calls nothing else in the crate but [`crate::secret`] and the leaf
//! [`crate::model`] (`Cloud`, `Target`).
//!
//! The raw serde structs (`raw`) mirror the file one to one (`deny_unknown_fields`, so a misspelt
//! key is an error, not a silently ignored setting); [`Config::parse`] then validates them
//! (`validate`, `discover`, `ops`) and resolves each credential from its inline value, `*_env`
//! variable, `*_file` or the cloud's standard environment variables (`credentials`,
//! `profiles`). `locate` turns a key path into the file's line and column for every error.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::model::{Cloud, Target};
use crate::secret::Secret;

mod archive;
mod credentials;
mod discover;
mod locate;
mod ops;
mod profiles;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

pub use archive::{Location, MirrorSettings};
pub use discover::Discover;
pub use ops::{DEFAULT_MIRROR_LAG_ALERT, MetricsSettings, NotifySettings};
pub use validate::valid_cloud_name;

use locate::{Locator, Seg};
use ops::{parse_metrics, parse_notify};
use raw::RawConfig;
use validate::{
    find_account, parse_retention, parse_schedule, parse_size, valid_fc_name, valid_qualifier,
    valid_region, valid_scf_name, validate_account, validate_function,
};

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
    /// `[[mirrors]]`: copies of the archive, filled after each sweep and by `fnvault mirror`.
    pub mirrors: Vec<MirrorSettings>,
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
    /// `versions` / `aliases` of the `[[functions]]` entries that ask for either, by key.
    pub follow: HashMap<String, crate::model::Follow>,
    /// `[metrics]`: where the daemon serves Prometheus metrics; `None` = not served.
    pub metrics: Option<MetricsSettings>,
    /// `[notify]`: failure alerts and healthchecks-style pings; `None` = none.
    pub notify: Option<NotifySettings>,
    /// `[[discover]]` blocks: functions listed from the clouds at the start of every sweep.
    pub discover: Vec<Discover>,
    /// Secrets written inline in the file (the key and its place), for the permission check.
    pub inline_secrets: Vec<InlineSecret>,
    /// The archive's and the mirrors' secret key files (`secret_access_key_file`,
    /// `session_token_file`), held to the same permission check as the accounts' key files.
    pub store_secret_files: Vec<SecretFile>,
    /// `[capture]`: how configuration snapshots keep secret values.
    pub capture: CaptureSettings,
}

/// `[capture] secrets`: what a configuration snapshot keeps of a secret value (environment
/// variable values, secret-bearing trigger settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretsMode {
    /// A keyed HMAC-SHA256 of the value, with the archive's own random key: changes show,
    /// values are not stored.
    #[default]
    Hash,
    /// The value as read, in clear.
    Plain,
    /// The value encrypted to `[capture] age_recipients`, beside its keyed hash (so changes
    /// are detected without decrypting): the daemon holds only public keys.
    Encrypt,
}

impl SecretsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretsMode::Hash => "hash",
            SecretsMode::Plain => "plain",
            SecretsMode::Encrypt => "encrypt",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CaptureSettings {
    pub secrets: SecretsMode,
    /// `[capture] age_recipients` (X25519 `age1…` public keys), validated; only with
    /// `secrets = "encrypt"`, which requires at least one.
    pub age_recipients: Vec<age::x25519::Recipient>,
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
pub(super) enum CredentialMode {
    /// Not read at all (read-only commands).
    Skip,
    /// Every account's must resolve, or the config is refused.
    Require,
    /// Resolved per account; a failure is kept on the account.
    PerAccount,
}

#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    /// The local folder: the archive itself, or for one on object storage (`remote`) the
    /// spool (`tmp/`) and the writers' `.lock`. Without `dir` beside `url`, it is the folder
    /// `archive-spool` beside the database.
    pub dir: PathBuf,
    /// `url = "s3://…"`: the archive lives in this bucket.
    pub remote: Option<crate::archive::s3::S3Settings>,
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
    /// Every function gets a full check (its per-function calls) at least this often; between
    /// full checks a function the listing shows unchanged is checked by the listing alone.
    /// Zero: every sweep is a full check.
    pub full_check_interval: Duration,
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
    /// Accept plain-http download URLs from hosts that are neither loopback nor the cloud's
    /// object storage (`cloud::download_url`).
    pub allow_http_downloads: bool,
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
    /// The key files (`*_file` of a secret) and profile file read for them: like an inline
    /// secret, each is refused when group or others can read it (`check_private`).
    pub files: Vec<SecretFile>,
}

/// A file a secret was read from, and the key (or account) that led to it.
#[derive(Debug, Clone)]
pub struct SecretFile {
    pub path: PathBuf,
    /// The dotted key, e.g. `accounts[1].secret_key_file`, or `accounts[1].profile`.
    pub key: String,
    pub position: Option<(usize, usize)>,
}

// ---------------------------------------------------------------------------------------------

impl Config {
    /// `[notify] mirror_lag_alert`, or its default of 48 h without one: `status`, the lag
    /// alert and the metrics all judge a mirror by it.
    pub fn mirror_lag_alert(&self) -> std::time::Duration {
        self.notify
            .as_ref()
            .map_or(DEFAULT_MIRROR_LAG_ALERT, |n| n.mirror_lag_alert)
    }

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
        let mut raw: RawConfig = toml::from_str(src).map_err(|e| loc.toml_error(&e))?;
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

        if raw.database.path.trim().is_empty() {
            return Err(loc.err(&["database", "path"], "must not be empty"));
        }
        // The archive's own keys are needed by every command that reads it, so they are read
        // from the real environment even where the accounts' are not (read-only commands).
        let real_env = |name: &str| std::env::var(name).ok();
        let store_env: &dyn Fn(&str) -> Option<String> = if credentials == CredentialMode::Skip {
            &real_env
        } else {
            env
        };
        if raw.archive.name.is_some() {
            return Err(loc.err(&["archive", "name"], "only for [[mirrors]] entries"));
        }
        let (archive_dir, remote) = {
            // `dir` beside `url` names the local spool folder of an archive on object storage.
            let mut store = std::mem::take(&mut raw.archive);
            let spool = if store.url.is_some() {
                store.dir.take()
            } else {
                None
            };
            let location = archive::parse_store(
                &store,
                &[locate::Seg::Key("archive")],
                &loc,
                store_env,
                &resolve_path,
                true,
            )?;
            raw.archive = store;
            match location {
                Location::Dir(d) => (d, None),
                Location::S3(s) => {
                    let dir = match spool {
                        Some(d) if !d.trim().is_empty() => resolve_path(&d),
                        _ => resolve_path(&raw.database.path)
                            .parent()
                            .map(|p| p.join("archive-spool"))
                            .unwrap_or_else(|| PathBuf::from("archive-spool")),
                    };
                    (dir, Some(s))
                }
            }
        };
        let mirrors = archive::parse_mirrors(&raw.mirrors, &loc, store_env, &resolve_path, true)?;
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
            dir: archive_dir,
            remote,
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
            allow_http_downloads: raw.http.allow_http_downloads.unwrap_or(false),
        };
        let sync = SyncSettings {
            concurrency: positive(raw.sync.concurrency, "concurrency", 32)?,
            downloads: positive(raw.sync.downloads, "downloads", 4)?,
            shutdown_grace: duration("sync", "shutdown_grace", &raw.sync.shutdown_grace, secs(30))?,
            // "0s" is allowed here (unlike the other durations): it means "always".
            full_check_interval: match &raw.sync.full_check_interval {
                None => secs(24 * 3600),
                Some(s) => humantime::parse_duration(s).map_err(|e| {
                    loc.err(
                        &["sync", "full_check_interval"],
                        format!("`{s}` is not a duration ({e}; examples: \"24h\", \"0s\")"),
                    )
                })?,
            },
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
        let mut follow = HashMap::new();
        for (i, f) in raw.functions.iter().enumerate() {
            let target = validate_function(f, i, &loc, &by_name)?;
            let wanted = validate::validate_follow(f);
            if wanted.any() {
                follow.insert(target.key.clone(), wanted);
            }
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
        // The archive's and the mirrors' inline secrets are held to the same permission check.
        let stores = std::iter::once((vec![Seg::Key("archive")], &raw.archive)).chain(
            raw.mirrors
                .iter()
                .enumerate()
                .map(|(i, m)| (vec![Seg::Key("mirrors"), Seg::Index(i)], m)),
        );
        let mut store_secret_files = Vec::new();
        for (at, store) in stores {
            for (key, file) in [
                ("secret_access_key_file", &store.secret_access_key_file),
                ("session_token_file", &store.session_token_file),
            ] {
                if let Some(file) = file {
                    let mut path = at.clone();
                    path.push(Seg::Key(key));
                    let e = loc.err_at(&path, "");
                    store_secret_files.push(SecretFile {
                        path: resolve_path(file),
                        key: e.key.unwrap_or_default(),
                        position: e.position,
                    });
                }
            }
            for (key, set) in [
                ("secret_access_key", store.secret_access_key.is_some()),
                ("session_token", store.session_token.is_some()),
            ] {
                if set {
                    let mut path = at.clone();
                    path.push(Seg::Key(key));
                    let e = loc.err_at(&path, "");
                    inline_secrets.push(InlineSecret {
                        key: e.key.unwrap_or_default(),
                        position: e.position,
                    });
                }
            }
        }
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
            store_secret_files,
            archive,
            mirrors,
            database_path: resolve_path(&raw.database.path),
            sync,
            http,
            retry,
            schedule,
            retention,
            accounts,
            functions,
            follow,
            metrics: parse_metrics(raw.metrics.as_ref(), &loc)?,
            notify: parse_notify(raw.notify.as_ref(), &loc, &resolve_path)?,
            capture: parse_capture(raw.capture.as_ref(), &loc)?,
        })
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

/// `[capture]`: `secrets` and, for `encrypt`, the age recipients (each parsed here, so a bad
/// one is named with its line before anything runs).
fn parse_capture(
    raw: Option<&raw::RawCapture>,
    loc: &Locator,
) -> Result<CaptureSettings, ConfigError> {
    let Some(raw) = raw else {
        return Ok(CaptureSettings::default());
    };
    let secrets = match raw.secrets.as_deref() {
        None | Some("hash") => SecretsMode::Hash,
        Some("plain") => SecretsMode::Plain,
        Some("encrypt") => SecretsMode::Encrypt,
        Some(other) => {
            return Err(loc.err(
                &["capture", "secrets"],
                format!(
                    "`{}` is not one of \"hash\", \"encrypt\", \"plain\"",
                    other.escape_default()
                ),
            ));
        }
    };
    let mut age_recipients = Vec::new();
    match (&raw.age_recipients, secrets) {
        (Some(list), SecretsMode::Encrypt) => {
            for (i, r) in list.iter().enumerate() {
                // The key, not the element: the locator points at array-of-tables entries.
                let parsed = r.trim().parse::<age::x25519::Recipient>().map_err(|e| {
                    loc.err(
                        &["capture", "age_recipients"],
                        format!(
                            "recipient {} (`{}`) is not an age X25519 recipient (age1…): {e}",
                            i + 1,
                            r.escape_default()
                        ),
                    )
                })?;
                age_recipients.push(parsed);
            }
            if age_recipients.is_empty() {
                return Err(loc.err(
                    &["capture", "age_recipients"],
                    "secrets = \"encrypt\" needs at least one recipient",
                ));
            }
        }
        (None, SecretsMode::Encrypt) => {
            return Err(loc.err(
                &["capture", "secrets"],
                "secrets = \"encrypt\" needs [capture] age_recipients = [\"age1…\"] (the \
                 public keys whose identities can decrypt; the daemon holds only these)",
            ));
        }
        (Some(_), _) => {
            return Err(loc.err(
                &["capture", "age_recipients"],
                "age_recipients is used only with secrets = \"encrypt\"",
            ));
        }
        (None, _) => {}
    }
    Ok(CaptureSettings {
        secrets,
        age_recipients,
    })
}

/// A secret in a file other users can read is a secret shared with them: refuse, naming the
/// file, its mode and the key (the value is never printed).
fn check_private(config: &Config) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    // systemd's credential folders restrict access to the unit's user themselves; the mode
    // bits of a file there may show an ACL mask (0440) that grants nobody else anything.
    let credentials_dir = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let systemd_managed = |p: &Path| {
        p.starts_with("/run/credentials")
            || credentials_dir.as_ref().is_some_and(|d| p.starts_with(d))
    };
    for f in config
        .accounts
        .iter()
        .filter_map(|a| a.credentials.as_ref())
        .flat_map(|c| &c.files)
        .chain(&config.store_secret_files)
        .filter(|f| !systemd_managed(&f.path))
    {
        // The file was just read, so its metadata is there; a race that removed it since is
        // not a secret shared with anyone.
        let Ok(meta) = std::fs::metadata(&f.path) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(ConfigError {
                file: config.file.clone(),
                position: f.position,
                key: Some(f.key.clone()),
                message: format!(
                    "`{}` holds a secret but is readable by group or others (mode {:04o}): \
                     `chmod 600` it, or pass --allow-insecure-config",
                    f.path.display(),
                    mode & 0o7777
                ),
            });
        }
    }
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
