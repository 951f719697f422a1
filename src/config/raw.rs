//! The file as written: serde structs that mirror it one to one (`deny_unknown_fields`, so a
//! misspelt key is an error, not a silently ignored setting). Nothing here checks a value;
//! `validate` does.

use serde::Deserialize;

use super::discover::RawDiscover;
use super::ops::{RawMetrics, RawNotify};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) archive: super::archive::RawStore,
    pub(super) database: RawDatabase,
    #[serde(default)]
    pub(super) sync: RawSync,
    #[serde(default)]
    pub(super) http: RawHttp,
    #[serde(default)]
    pub(super) retry: RawRetry,
    pub(super) schedule: Option<RawSchedule>,
    pub(super) retention: Option<RawRetention>,
    #[serde(default)]
    pub(super) accounts: Vec<RawAccount>,
    #[serde(default)]
    pub(super) functions: Vec<RawFunction>,
    #[serde(default)]
    pub(super) discover: Vec<RawDiscover>,
    #[serde(default)]
    pub(super) mirrors: Vec<super::archive::RawStore>,
    pub(super) metrics: Option<RawMetrics>,
    pub(super) notify: Option<RawNotify>,
    pub(super) capture: Option<RawCapture>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapture {
    pub(super) secrets: Option<String>,
    pub(super) age_recipients: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub(super) path: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    pub(super) concurrency: Option<i64>,
    pub(super) downloads: Option<i64>,
    pub(super) shutdown_grace: Option<String>,
    pub(super) full_check_interval: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) cron: String,
    pub(super) timezone: Option<String>,
    pub(super) run_on_start: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub(super) keep_last: Option<i64>,
    pub(super) keep_within: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub(super) connect_timeout: Option<String>,
    pub(super) api_timeout: Option<String>,
    pub(super) download_idle_timeout: Option<String>,
    pub(super) allow_http_downloads: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    pub(super) attempts: Option<i64>,
    pub(super) initial_backoff: Option<String>,
    pub(super) max_backoff: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    pub(super) name: String,
    pub(super) cloud: String,
    pub(super) endpoint: Option<String>,
    pub(super) requests_per_second: Option<i64>,
    // Tencent
    pub(super) secret_id: Option<String>,
    pub(super) secret_id_env: Option<String>,
    pub(super) secret_id_file: Option<String>,
    pub(super) secret_key: Option<String>,
    pub(super) secret_key_env: Option<String>,
    pub(super) secret_key_file: Option<String>,
    pub(super) session_token: Option<String>,
    pub(super) session_token_env: Option<String>,
    pub(super) session_token_file: Option<String>,
    // Aliyun
    pub(super) account_id: Option<String>,
    pub(super) access_key_id: Option<String>,
    pub(super) access_key_id_env: Option<String>,
    pub(super) access_key_id_file: Option<String>,
    pub(super) access_key_secret: Option<String>,
    pub(super) access_key_secret_env: Option<String>,
    pub(super) access_key_secret_file: Option<String>,
    pub(super) security_token: Option<String>,
    pub(super) security_token_env: Option<String>,
    pub(super) security_token_file: Option<String>,
    pub(super) signature: Option<String>,
    // systemd credentials ($CREDENTIALS_DIRECTORY/<name>) and profile files: see `credentials`.
    pub(super) secret_id_credential: Option<String>,
    pub(super) secret_key_credential: Option<String>,
    pub(super) session_token_credential: Option<String>,
    pub(super) access_key_id_credential: Option<String>,
    pub(super) access_key_secret_credential: Option<String>,
    pub(super) security_token_credential: Option<String>,
    pub(super) profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFunction {
    pub(super) account: String,
    pub(super) region: String,
    pub(super) namespace: Option<String>,
    pub(super) service: Option<String>,
    pub(super) name: String,
    pub(super) qualifier: Option<String>,
    /// Archive every published version (issue 14).
    pub(super) versions: Option<bool>,
    /// Record every alias's targets and weights (issue 14).
    pub(super) aliases: Option<bool>,
}
