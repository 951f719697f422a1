//! Discovery: list the functions `[[discover]]` blocks ask for, at the start of every sweep.
//!
//! Owns: walking SCF `ListNamespaces` → `ListFunctions`, FC 2.0 `ListServices` →
//! `ListFunctions` and FC 3.0 `ListFunctions` (one listing per region, scope
//! [`cloud::NO_SCOPE`]), page by page, paced by the account's limiter ([`cloud::Client::pace`]) and
//! retried like the sweep's API calls; validating every listed name like a config name (a name
//! from a cloud never becomes a path, and one that could is an error naming the scope); and
//! reporting which scopes could not be listed, so the caller fails only their functions and
//! never marks them gone. Calls `cloud` (listing), `config` (rules and name rules) and
//! `retry`. No database: the sweep decides what is gone.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::cloud::listed::Hint;
use crate::cloud::{self, Cursor, Target};
use crate::config::{Discover, RetrySettings, valid_cloud_name};
use crate::shutdown::Shutdown;

/// Page size asked for: FC's maximum; SCF documents no maximum, 100 is the usual figure.
pub const PAGE_SIZE: u32 = 100;
/// A listing longer than this many pages is refused: a cloud that never stops paging must not
/// keep a sweep busy forever.
const MAX_PAGES: usize = 10_000;

/// A namespace/service listing (`scope: None`) or one scope's function listing that failed.
#[derive(Debug, Clone)]
pub struct ScopeFailure {
    pub account: String,
    pub region: String,
    pub scope: Option<String>,
    /// Secret-free, names the cloud call, its code and request id.
    pub error: String,
}

impl ScopeFailure {
    /// `tc/ap-guangzhou/*` (the namespaces), `tc/ap-guangzhou/default/*` (one namespace) or
    /// `ali/cn-hangzhou/* (FC 3.0)` (the region's FC 3.0 functions).
    pub fn key(&self) -> String {
        match &self.scope {
            None => format!("{}/{}/*", self.account, self.region),
            // Distinct from the services listing above: both can fail in one sweep, and
            // failures are kept once per key.
            Some(s) if s.is_empty() => format!("{}/{}/* (FC 3.0)", self.account, self.region),
            Some(s) => format!("{}/{}/{s}/*", self.account, self.region),
        }
    }

    /// Whether `t` lives under the scope that could not be listed.
    pub fn covers(&self, t: &Target) -> bool {
        t.account == self.account
            && t.region == self.region
            && self.scope.as_ref().is_none_or(|s| *s == t.namespace)
    }
}

/// What one discovery run found.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Functions the rules want, sorted by key, no duplicates.
    pub targets: Vec<Target>,
    pub failures: Vec<ScopeFailure>,
    /// Shutdown came first: nothing may be concluded from what was (not) listed.
    pub interrupted: bool,
    /// Each listed function's change hints, by key (absent: its entry carried none).
    pub hints: HashMap<String, Hint>,
}

/// One listed name, and for a function its entry's change hints.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub hint: Option<Hint>,
}

impl Listing {
    /// Whether `t`, covered by a rule but not listed, is really gone (its scope was listed).
    /// (A second listing must confirm it: `confirm_missing`.)
    pub fn proves_gone(&self, t: &Target) -> bool {
        self.scope_listed(t)
            && self
                .targets
                .binary_search_by(|x| x.key.cmp(&t.key))
                .is_err()
    }

    /// Whether the scope of `t` was listed whole: no failure covers it and shutdown did not
    /// cut the listing short, so its absence from the listing means something.
    pub fn scope_listed(&self, t: &Target) -> bool {
        !self.interrupted && !self.failures.iter().any(|f| f.covers(t))
    }
}

/// Lists every rule's functions. Each (account, region) and (account, region, scope) is listed
/// once per run, however many rules ask for it.
pub async fn list(
    rules: &[Discover],
    clients: &cloud::Clients,
    retry: &RetrySettings,
    shutdown: &Shutdown,
    hint_key: &[u8; 32],
) -> Listing {
    let mut scopes_cache: HashMap<(String, String), Result<Vec<Listed>, String>> = HashMap::new();
    let mut functions_cache: HashMap<(String, String, String), Result<Vec<Listed>, String>> =
        HashMap::new();
    let mut hints: HashMap<String, Hint> = HashMap::new();
    let mut found: BTreeMap<String, Target> = BTreeMap::new();
    let mut failures: Vec<ScopeFailure> = Vec::new();
    let mut fail = |f: ScopeFailure| {
        if !failures.iter().any(|x| x.key() == f.key()) {
            tracing::warn!(scope = %f.key(), "listing failed: {}", f.error);
            failures.push(f);
        }
    };

    for rule in rules {
        let Some(client) = clients.get(&rule.account) else {
            for region in &rule.regions {
                fail(ScopeFailure {
                    account: rule.account.clone(),
                    region: region.clone(),
                    scope: None,
                    error: clients.why_not(&rule.account),
                });
            }
            continue;
        };
        for region in &rule.regions {
            if shutdown.is_stopping() {
                return Listing {
                    targets: found.into_values().collect(),
                    failures,
                    interrupted: true,
                    hints,
                };
            }
            let scopes: Vec<String> = match &rule.scopes {
                Some(named) => named.clone(),
                None => {
                    let key = (rule.account.clone(), region.clone());
                    if !scopes_cache.contains_key(&key) {
                        let r =
                            list_all(client, rule, region, None, retry, shutdown, hint_key).await;
                        scopes_cache.insert(key.clone(), r);
                    }
                    match &scopes_cache[&key] {
                        Ok(s) => s.iter().map(|l| l.name.clone()).collect(),
                        Err(error) => {
                            fail(ScopeFailure {
                                account: rule.account.clone(),
                                region: region.clone(),
                                scope: None,
                                error: error.clone(),
                            });
                            continue;
                        }
                    }
                }
            };
            for scope in scopes {
                if shutdown.is_stopping() {
                    return Listing {
                        targets: found.into_values().collect(),
                        failures,
                        interrupted: true,
                        hints,
                    };
                }
                let key = (rule.account.clone(), region.clone(), scope.clone());
                if !functions_cache.contains_key(&key) {
                    let r = list_all(
                        client,
                        rule,
                        region,
                        Some(&scope),
                        retry,
                        shutdown,
                        hint_key,
                    )
                    .await;
                    functions_cache.insert(key.clone(), r);
                }
                match &functions_cache[&key] {
                    Ok(listed) => {
                        for l in listed.iter().filter(|l| rule.wants_name(&l.name)) {
                            let t = rule.target(region, &scope, &l.name);
                            if let Some(h) = &l.hint {
                                hints.entry(t.key.clone()).or_insert_with(|| h.clone());
                            }
                            found.entry(t.key.clone()).or_insert(t);
                        }
                    }
                    Err(error) => fail(ScopeFailure {
                        account: rule.account.clone(),
                        region: region.clone(),
                        scope: Some(scope.clone()),
                        error: error.clone(),
                    }),
                }
            }
        }
    }
    let targets: Vec<Target> = found.into_values().collect();
    tracing::info!(
        discovered = targets.len(),
        failed_scopes = failures.len(),
        "discovery finished"
    );
    Listing {
        targets,
        failures,
        interrupted: shutdown.is_stopping(),
        hints,
    }
}

/// What a second listing says about functions the first one missed.
#[derive(Debug, Default)]
pub struct Confirmation {
    /// Keys the second listing missed too: gone.
    pub gone: std::collections::HashSet<String>,
    /// Functions the second listing found after all (the first one's offsets shifted): they
    /// are swept like any listed function.
    pub found: Vec<Target>,
}

/// Lists once more the scope of each function in `missing` (known, covered by a rule, not in a
/// complete listing), so one listing never decides `gone` alone: SCF pages by offset, and a
/// deletion between two pages shifts the rest by one, hiding a live function; a NotFound
/// answer for a scope may be transient. A scope that fails or is interrupted again confirms
/// nothing (those functions are simply not marked gone this sweep).
pub async fn confirm_missing(
    rules: &[Discover],
    clients: &cloud::Clients,
    retry: &RetrySettings,
    shutdown: &Shutdown,
    missing: &[Target],
) -> Confirmation {
    let mut out = Confirmation::default();
    // Each scope's names as a set: every missing function of a scope is looked up in it.
    let mut listed: HashMap<(String, String, String), Option<HashSet<String>>> = HashMap::new();
    for t in missing {
        let Some(rule) = rules.iter().find(|r| r.covers(t)) else {
            continue;
        };
        let Some(client) = clients.get(&t.account) else {
            continue;
        };
        let key = (t.account.clone(), t.region.clone(), t.namespace.clone());
        if !listed.contains_key(&key) {
            if shutdown.is_stopping() {
                break;
            }
            let r = list_all(
                client,
                rule,
                &t.region,
                Some(&t.namespace),
                retry,
                shutdown,
                &[0; 32],
            )
            .await;
            let names = match r {
                Ok(listed) if !shutdown.is_stopping() => {
                    Some(listed.into_iter().map(|l| l.name).collect())
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(
                        scope = %format!("{}/{}/{}/*", t.account, t.region, t.namespace),
                        "listing again to confirm missing functions failed: {e}"
                    );
                    None
                }
            };
            listed.insert(key.clone(), names);
        }
        match &listed[&key] {
            Some(names) if names.contains(t.name.as_str()) => {
                tracing::info!(function = %t.key, "missing from the first listing, listed by the second: not gone");
                out.found.push(t.clone());
            }
            Some(_) => {
                out.gone.insert(t.key.clone());
            }
            None => {}
        }
    }
    out
}

/// Every page of one listing: the scopes of a region (`scope: None`) or the functions of one
/// scope. `Err` is a one-line, secret-free reason naming the call.
async fn list_all(
    client: &cloud::Client,
    rule: &Discover,
    region: &str,
    scope: Option<&str>,
    retry: &RetrySettings,
    shutdown: &Shutdown,
    hint_key: &[u8; 32],
) -> Result<Vec<Listed>, String> {
    let call = ListCall {
        client,
        cloud: rule.cloud,
        region,
        scope,
        max_pages: MAX_PAGES,
    };
    list_pages(&call, retry, shutdown, hint_key).await
}

/// One listing to page through: the scopes of a region (`scope: None`) or the functions of
/// one scope, at most `max_pages` pages.
pub struct ListCall<'a> {
    pub client: &'a cloud::Client,
    pub cloud: cloud::Cloud,
    pub region: &'a str,
    pub scope: Option<&'a str>,
    pub max_pages: usize,
}

/// Why [`list_pages`] gave up.
#[derive(Debug)]
pub enum ListError {
    /// The listing has more than `max_pages` pages (it was stopped there).
    TooLong { pages: usize },
    /// A one-line, secret-free reason naming the call.
    Failed(String),
}

/// Every page of one listing, each paced and retried; a listed name failing the naming rules,
/// a repeated cursor or more than `max_pages` pages ends it with an error.
pub async fn list_pages(
    call: &ListCall<'_>,
    retry: &RetrySettings,
    shutdown: &Shutdown,
    hint_key: &[u8; 32],
) -> Result<Vec<Listed>, String> {
    match list_bounded(call, retry, shutdown, hint_key).await {
        Ok((l, _)) => Ok(l),
        Err(ListError::Failed(e)) => Err(e),
        Err(ListError::TooLong { .. }) => Err(format!(
            "{} listing has more than {} pages; stopped",
            call.cloud.display_name(),
            call.max_pages
        )),
    }
}

/// [`list_pages`], telling a listing longer than `max_pages` apart from a failure; with the
/// number of pages it took.
pub async fn list_bounded(
    call: &ListCall<'_>,
    retry: &RetrySettings,
    shutdown: &Shutdown,
    hint_key: &[u8; 32],
) -> Result<(Vec<Listed>, usize), ListError> {
    let ListCall {
        client,
        cloud: rule_cloud,
        region,
        scope,
        max_pages,
    } = *call;
    let mut names: Vec<Listed> = Vec::new();
    // Names already taken, as a set: one scope (SCF's `default`) may hold the whole fleet,
    // and a scan per name was quadratic in it (review P2).
    let mut taken: HashSet<String> = HashSet::new();
    let mut cursor = Cursor::Start;
    let mut seen_tokens: Vec<Cursor> = Vec::new();
    for pages in 1..=max_pages {
        let page = page_with_retries(client, region, scope, &cursor, retry, shutdown)
            .await
            .map_err(ListError::Failed)?;
        for (i, name) in page.names.iter().enumerate() {
            if !valid_cloud_name(rule_cloud, scope.is_none(), name) {
                let what = if scope.is_none() {
                    client.scopes_action()
                } else {
                    "ListFunctions"
                };
                return Err(ListError::Failed(format!(
                    "{} {what} answered a name that is not a valid {} name: \"{}\"{}",
                    rule_cloud.display_name(),
                    if scope.is_none() {
                        "namespace/service"
                    } else {
                        "function"
                    },
                    shorten(&name.escape_debug().to_string()),
                    page.request_id
                        .as_deref()
                        .map(|id| format!(" (request id {id})"))
                        .unwrap_or_default()
                )));
            }
            if taken.insert(name.clone()) {
                // Scopes have no hints: a service's own settings are read at full checks.
                let hint = match (scope, page.entries.get(i)) {
                    (Some(_), Some(entry)) => cloud::listed::hint(rule_cloud, entry, hint_key),
                    _ => None,
                };
                names.push(Listed {
                    name: name.clone(),
                    hint,
                });
            }
        }
        match page.next {
            None => return Ok((names, pages)),
            Some(next) => {
                // A token or offset that comes back again would page forever.
                if seen_tokens.contains(&next) {
                    return Err(ListError::Failed(format!(
                        "{} listing returned the same page cursor twice; stopped",
                        rule_cloud.display_name()
                    )));
                }
                seen_tokens.push(next.clone());
                cursor = next;
            }
        }
    }
    Err(ListError::TooLong { pages: max_pages })
}

async fn page_with_retries(
    client: &cloud::Client,
    region: &str,
    scope: Option<&str>,
    cursor: &Cursor,
    retry: &RetrySettings,
    shutdown: &Shutdown,
) -> Result<cloud::Page, String> {
    let attempted = crate::retry::call(
        Some(client),
        retry,
        shutdown,
        |attempt, delay, e| {
            tracing::info!(
                region,
                scope,
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying listing: {e}"
            );
        },
        || async {
            match scope {
                None => client.list_scopes(region, cursor, PAGE_SIZE).await,
                Some(s) => match client.list_functions(region, s, cursor, PAGE_SIZE).await {
                    // A namespace/service named in the config that no longer exists has no
                    // functions: they are gone, which is what the caller concludes from an
                    // empty listing. Not for FC 3.0's region-wide listing: a 404 there means
                    // a wrong endpoint or API, never "no functions", and would otherwise mark
                    // every function gone.
                    Err(e) if s != cloud::NO_SCOPE && e.kind == cloud::ErrorKind::NotFound => {
                        tracing::warn!(region, scope, "listed scope does not exist: {e}");
                        Ok(cloud::Page {
                            names: Vec::new(),
                            entries: Vec::new(),
                            next: None,
                            request_id: e.request_id,
                        })
                    }
                    other => other,
                },
            }
        },
    )
    .await;
    match attempted {
        crate::retry::Attempted::Done(page) => Ok(page),
        crate::retry::Attempted::Interrupted => Err("interrupted".to_string()),
        crate::retry::Attempted::Failed { error, attempts } => {
            Err(crate::retry::with_attempts(error.to_string(), attempts))
        }
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}
