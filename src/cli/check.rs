//! `fnvault check`: the config is valid, every credential resolves, and every account's keys
//! work — proved with one read-only API call per account and API generation (FC 2.0 and FC 3.0
//! are separate APIs), nothing written anywhere.

use std::process::ExitCode;

use anyhow::Context;

use crate::cloud::{self, Cloud, Cursor};
use crate::config::{Config, Discover};

/// Prints one line per account and returns 0 when every account answered, 1 otherwise.
pub async fn run(config: &Config) -> anyhow::Result<ExitCode> {
    println!(
        "config {}: valid ({} account(s), {} function(s), {} discover rule(s))",
        config.file.display(),
        config.accounts.len(),
        config.functions.len(),
        config.discover.len()
    );
    let http = crate::http::client(&config.http).context("cannot build the HTTP client")?;
    let mut all_ok = true;
    for account in &config.accounts {
        let Some(credentials) = account.credentials.clone() else {
            println!("account {}: FAILED: no credentials loaded", account.name);
            all_ok = false;
            continue;
        };
        println!(
            "account {}: {} credentials from {}",
            account.name,
            account.cloud().as_str(),
            credentials.source
        );
        let region = probe_region(config, &account.name, account.cloud());
        let client =
            cloud::Client::new(http.clone(), account, credentials, config.http.api_timeout);
        // One read-only call per API generation the account is used with (FC 2.0 and 3.0
        // are separate APIs; either may be refused while the other works).
        let fc3 = account.cloud() == Cloud::Aliyun && uses_fc3(config, &account.name);
        let fc2 = account.cloud() != Cloud::Aliyun || uses_fc2(config, &account.name) || !fc3;
        let probes = [
            fc2.then(|| (client.scopes_action(), None)),
            fc3.then_some(("ListFunctions (FC 3.0)", Some(cloud::NO_SCOPE))),
        ];
        for (action, scope) in probes.into_iter().flatten() {
            // No shutdown handling here: `check` is short and its API timeout bounds it.
            let result = match crate::retry::call(
                Some(&client),
                &config.retry,
                &crate::shutdown::Shutdown::new(),
                |_, _, e| tracing::info!(account = %account.name, "retrying {action}: {e}"),
                || async {
                    match scope {
                        None => client.list_scopes(&region, &Cursor::Start, 1).await,
                        Some(s) => client.list_functions(&region, s, &Cursor::Start, 1).await,
                    }
                },
            )
            .await
            {
                crate::retry::Attempted::Done(page) => Ok(page),
                crate::retry::Attempted::Failed { error, .. } => Err(error),
                // Never: nothing stops this shutdown.
                crate::retry::Attempted::Interrupted => {
                    Err(crate::cloud::CloudError::invalid_response(
                        account.cloud(),
                        0,
                        None,
                        "interrupted",
                    ))
                }
            };
            match result {
                Ok(page) => println!(
                    "account {}: OK ({} {action} in {region}{})",
                    account.name,
                    account.cloud().display_name(),
                    page.request_id
                        .map(|id| format!(", request id {id}"))
                        .unwrap_or_default()
                ),
                Err(e) => {
                    all_ok = false;
                    println!(
                        "account {}: FAILED: {}",
                        account.name,
                        super::output::shown(&e.to_string())
                    );
                }
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Whether the account has FC 3.0 functions or an `fc_version = "3.0"` rule.
fn uses_fc3(config: &Config, account: &str) -> bool {
    config
        .functions
        .iter()
        .any(|f| f.account == account && f.is_fc3())
        || config
            .discover
            .iter()
            .any(|d| d.account == account && d.fc3)
}

/// Whether the account has FC 2.0 functions or FC 2.0 rules.
fn uses_fc2(config: &Config, account: &str) -> bool {
    config
        .functions
        .iter()
        .any(|f| f.account == account && !f.is_fc3())
        || config
            .discover
            .iter()
            .any(|d| d.account == account && !d.fc3)
}

/// The first region the config uses with this account (the call must go somewhere; FC's
/// endpoint is per region), else the cloud's usual first region.
fn probe_region(config: &Config, account: &str, cloud: Cloud) -> String {
    config
        .functions
        .iter()
        .filter(|f| f.account == account)
        .map(|f| f.region.clone())
        .chain(
            config
                .discover
                .iter()
                .filter(|d| d.account == account)
                .flat_map(|d| d.regions.clone()),
        )
        .next()
        .unwrap_or_else(|| match cloud {
            Cloud::Tencent => "ap-guangzhou".to_string(),
            Cloud::Aliyun => "cn-hangzhou".to_string(),
        })
}

/// One line describing a `[[discover]]` rule, for `config check`.
pub fn describe_rule(d: &Discover) -> String {
    let scopes = match &d.scopes {
        None => "*".to_string(),
        Some(s) => s.join(","),
    };
    let mut line = if d.fc3 {
        format!(
            "discover[{}]: {}/{{{}}}/* (FC 3.0)",
            d.index,
            d.account,
            d.regions.join(",")
        )
    } else {
        format!(
            "discover[{}]: {}/{{{}}}/{{{scopes}}}/*",
            d.index,
            d.account,
            d.regions.join(",")
        )
    };
    if !d.include.is_empty() {
        line.push_str(&format!(" include {}", d.include.join(",")));
    }
    if !d.exclude.is_empty() {
        line.push_str(&format!(" exclude {}", d.exclude.join(",")));
    }
    if let Some(q) = &d.qualifier {
        line.push_str(&format!(" @{q}"));
    }
    line
}
