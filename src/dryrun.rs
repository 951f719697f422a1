//! `fnvault sync --dry-run`: ask the cloud about every function and say what a sweep would
//! download, without downloading or recording anything.
//!
//! Owns: the plan. It makes one signed API call per function (retrying what a sweep would
//! retry), compares the checksum with the latest recorded version and looks for its blob, and
//! stops there. It writes nothing: no sweep row, no check time, no temp file; it takes no lock
//! and opens the database read-only, so it works beside a running daemon (its API calls count
//! against the same per-account limits, as a second process's would). Calls `cloud`, `db`
//! (read-only), `archive` (read-only), `http` and `retry`.

use std::collections::HashMap;

use futures_util::StreamExt;

use crate::cloud::{self, Target};
use crate::config::Config;
use crate::db::{Db, DbError, LatestVersion};
use crate::shutdown::Shutdown;
use crate::sweep::SetupError;

/// Why a sweep would download a function's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Nothing archived for it yet.
    New,
    /// The cloud's checksum differs from the latest archived version's.
    Changed,
    /// The checksum matches, but the latest version's blob is missing from the archive.
    BlobMissing,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::Changed => "changed",
            Reason::BlobMissing => "blob missing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Download {
        reason: Reason,
        /// What the cloud says the package hashes to (SCF: SHA-256 hex; FC: CRC-64 decimal).
        cloud_checksum: String,
    },
    UpToDate,
    Failed {
        error: String,
    },
    /// Shutdown came first.
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct PlanItem {
    pub key: String,
    pub plan: Plan,
}

/// Plans a sweep of `targets`, in their order.
pub async fn plan(
    config: &Config,
    explicit: &[Target],
    only: Option<&crate::select::Only>,
    shutdown: &Shutdown,
) -> Result<Vec<PlanItem>, SetupError> {
    let http = crate::http::client(&config.http).map_err(|e| SetupError::Http(e.to_string()))?;
    let clients = cloud::Clients::new(&http, &config.accounts, &config.http)
        .map_err(SetupError::NoCredentials)?;
    // What a real sweep would check: the explicit functions and what `[[discover]]` lists now
    // (nothing is marked gone or failed here: a dry run records nothing).
    let mut targets = explicit.to_vec();
    let mut listing_failures = Vec::new();
    if !config.discover.is_empty() {
        let listing = crate::discover::list(
            &config.discover,
            &clients,
            &config.retry,
            shutdown,
            &[0; 32],
        )
        .await;
        // A set of the keys taken, not a scan of `targets` per listed function (review P2).
        let mut taken: std::collections::HashSet<String> =
            targets.iter().map(|t| t.key.clone()).collect();
        for t in listing.targets {
            if !taken.contains(&t.key) && only.is_none_or(|o| o.matches(&t)) {
                taken.insert(t.key.clone());
                targets.push(t);
            }
        }
        for f in &listing.failures {
            listing_failures.push(PlanItem {
                key: f.key(),
                plan: Plan::Failed {
                    error: format!("listing failed: {}", f.error),
                },
            });
        }
    }
    let targets = &targets[..];
    let latest = read_latest(config, targets).await?;
    let items = futures_util::stream::iter(targets)
        .map(|t| {
            let latest = latest.get(&t.key).cloned().flatten();
            let client = clients.get(&t.account);
            let why_not = client.is_none().then(|| clients.why_not(&t.account));
            async move {
                let plan = match client {
                    None => Plan::Failed {
                        error: why_not.unwrap_or_default(),
                    },
                    Some(c) => plan_one(config, c, t, latest, shutdown).await,
                };
                PlanItem {
                    key: t.key.clone(),
                    plan,
                }
            }
        })
        .buffered(config.sync.concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut items = items;
    items.extend(listing_failures);
    Ok(items)
}

/// The latest recorded version of each target, from a read-only connection (none at all
/// when the database does not exist yet).
async fn read_latest(
    config: &Config,
    targets: &[Target],
) -> Result<HashMap<String, Option<LatestVersion>>, SetupError> {
    let path = config.database_path.clone();
    let keys: Vec<String> = targets.iter().map(|t| t.key.clone()).collect();
    tokio::task::spawn_blocking(move || {
        let mut out = HashMap::new();
        let db = Db::open_read_only(&path)?;
        for k in keys {
            let latest = match &db {
                Some(db) => db.latest_version_by_key(&k)?,
                None => None,
            };
            out.insert(k, latest);
        }
        Ok::<_, DbError>(out)
    })
    .await
    .map_err(|e| {
        SetupError::Db(DbError::Other {
            path: config.database_path.clone(),
            message: format!("reading task failed: {e}"),
        })
    })?
    .map_err(SetupError::Db)
}

async fn plan_one(
    config: &Config,
    client: &cloud::Client,
    target: &Target,
    latest: Option<LatestVersion>,
    shutdown: &Shutdown,
) -> Plan {
    if shutdown.is_stopping() {
        return Plan::Interrupted;
    }
    let resolved = crate::retry::call(
        Some(client),
        &config.retry,
        shutdown,
        |attempt, _, e| tracing::info!(function = %target.key, attempt, "retrying: {e}"),
        || client.resolve(target),
    )
    .await;
    let location = match resolved {
        crate::retry::Attempted::Done(l) => l,
        crate::retry::Attempted::Interrupted => return Plan::Interrupted,
        crate::retry::Attempted::Failed { error, attempts } => {
            return Plan::Failed {
                error: crate::retry::with_attempts(error.to_string(), attempts),
            };
        }
    };
    let cloud_checksum = location.checksum.to_db_string();
    let reason = match &latest {
        None => Reason::New,
        Some(l) if l.cloud_checksum != cloud_checksum => Reason::Changed,
        Some(l) if !crate::archive::blob_present_in(&config.archive, &config.http, &l.sha256) => {
            Reason::BlobMissing
        }
        Some(_) => return Plan::UpToDate,
    };
    Plan::Download {
        reason,
        cloud_checksum,
    }
}
