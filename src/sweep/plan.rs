//! The start of a sweep when `[[discover]]` is configured: list the clouds, merge the listed
//! functions with the explicit ones, and settle what the listing says about known functions.
//!
//! Owns: the rules "gone only when its scope was listed completely", "a failed listing fails
//! exactly the functions under its scope" and "a listed function is not gone". The listing is
//! `crate::discover`; the rows are `db::gone`.

use std::collections::HashSet;
use std::sync::Arc;

use super::{FunctionResult, Outcome, SweepError, Sweeper};
use crate::cloud::Target;
use crate::shutdown::Shutdown;

impl Sweeper {
    /// The sweep's targets (explicit ones first, in config order, then the discovered ones by
    /// key, no key twice), the failures the listing already decided, and the listings' change
    /// hints (`sweep/check.rs`), explicit functions' included.
    pub(super) async fn plan(
        &self,
        explicit: &[Target],
        shutdown: &Shutdown,
    ) -> Result<(Vec<Target>, Vec<FunctionResult>, Hints), SweepError> {
        let (targets, failures, mut hints) = self.plan_discovered(explicit, shutdown).await?;
        self.explicit_hints(explicit, &mut hints, shutdown).await?;
        Ok((targets, failures, hints))
    }

    /// [`Sweeper::plan`] without the explicit functions' hints.
    async fn plan_discovered(
        &self,
        explicit: &[Target],
        shutdown: &Shutdown,
    ) -> Result<(Vec<Target>, Vec<FunctionResult>, Hints), SweepError> {
        if self.discover.is_empty() {
            return Ok((explicit.to_vec(), Vec::new(), Hints::new()));
        }
        let listing = self
            .while_listing(crate::discover::list(
                &self.discover,
                &self.clients,
                &self.retry,
                shutdown,
                &self.capture_key,
            ))
            .await;
        let explicit_keys: HashSet<String> = explicit.iter().map(|t| t.key.clone()).collect();
        let mut listing = listing;
        let hints = std::mem::take(&mut listing.hints);
        // The listed keys, sorted as `Listing::targets` is: what the gone bookkeeping below
        // looks up, so the targets themselves move into the sweep instead of being copied (at
        // 100,000 functions each copy is tens of MiB).
        let mut listed: Vec<String> = listing.targets.iter().map(|t| t.key.clone()).collect();
        let mut targets = explicit.to_vec();
        targets.extend(
            std::mem::take(&mut listing.targets)
                .into_iter()
                .filter(|t| !explicit_keys.contains(&t.key)),
        );
        if let Some(only) = &self.only {
            // A typo must not become a silent no-op sweep (unless a listing failed: what it
            // would have listed is unknown, and its failure is reported).
            let unmatched = only.unmatched(&targets);
            if !unmatched.is_empty() && listing.failures.is_empty() && !listing.interrupted {
                let quoted: Vec<String> = unmatched.iter().map(|p| format!("`{p}`")).collect();
                return Err(SweepError::NothingSelected(quoted.join(", ")));
            }
            targets.retain(|t| only.matches(t));
        }
        if listing.interrupted {
            // Shutdown came first: nothing is concluded from a partial listing, and the targets
            // below are all reported as interrupted by `process`.
            return Ok((targets, Vec::new(), Hints::new()));
        }

        // Gone means gone: a known function the listing missed is marked gone only when a
        // second listing of its scope misses it too (offset paging shifts when something is
        // deleted mid-listing; a scope's NotFound may be transient). Only the known functions
        // that are unlisted or marked gone matter here, and only they are read into memory.
        let rules = Arc::clone(&self.discover);
        let listed_now = Arc::new(listed);
        let known = {
            let listed = Arc::clone(&listed_now);
            self.db(move |db| {
                db.known_functions_where(|k| {
                    k.gone_since.is_some() || !is_listed(&listed, &k.target.key)
                })
            })
            .await?
        };
        listed = Arc::try_unwrap(listed_now).unwrap_or_else(|shared| (*shared).clone());
        let missing: Vec<Target> = known
            .iter()
            .filter(|k| k.gone_since.is_none())
            .map(|k| &k.target)
            .filter(|t| {
                !explicit_keys.contains(&t.key)
                    && !is_listed(&listed, &t.key)
                    && rules.iter().any(|r| r.covers(t))
                    && listing.scope_listed(t)
            })
            .cloned()
            .collect();
        let confirmation = if missing.is_empty() {
            crate::discover::Confirmation::default()
        } else {
            crate::discover::confirm_missing(
                &self.discover,
                &self.clients,
                &self.retry,
                shutdown,
                &missing,
            )
            .await
        };
        for t in &confirmation.found {
            if self.only.as_ref().is_none_or(|o| o.matches(t)) {
                targets.push(t.clone());
            }
        }
        listed.extend(confirmation.found.iter().map(|t| t.key.clone()));
        listed.sort_unstable();
        let confirmed_gone = confirmation.gone;

        let failed = self
            .db(move |db| {
                let now = crate::time::now_rfc3339();
                let mut failed: Vec<(String, String)> = Vec::new();
                let mut used = vec![false; listing.failures.len()];
                for known in known {
                    let t = &known.target;
                    // Explicit functions are checked directly; rules speak only for the rest.
                    if explicit_keys.contains(&t.key) || !rules.iter().any(|r| r.covers(t)) {
                        continue;
                    }
                    if is_listed(&listed, &t.key) {
                        if known.gone_since.is_some() && db.clear_gone(known.id)? {
                            tracing::info!(function = %t.key, "listed again: no longer gone");
                        }
                    } else if let Some((i, f)) = listing
                        .failures
                        .iter()
                        .enumerate()
                        .find(|(_, f)| f.covers(t))
                    {
                        used[i] = true;
                        let error = format!("listing {} failed: {}", f.key(), f.error);
                        db.record_failure(known.id, &error, &now)?;
                        failed.push((t.key.clone(), error));
                    } else if listing.scope_listed(t)
                        && confirmed_gone.contains(&t.key)
                        && db.mark_gone(known.id, &now)?
                    {
                        tracing::warn!(
                            function = %t.key,
                            "no longer listed by the cloud: marked gone, its archive is kept"
                        );
                    }
                }
                // A scope that failed before any of its functions was known still fails the sweep.
                for (f, used) in listing.failures.iter().zip(used) {
                    if !used {
                        failed.push((f.key(), format!("listing failed: {}", f.error)));
                    }
                }
                Ok(failed)
            })
            .await?;
        let results = failed
            .into_iter()
            .filter(|(key, _)| self.only.as_ref().is_none_or(|o| o.matches_key(key)))
            .map(|(key, error)| FunctionResult {
                key,
                outcome: Outcome::Failed { error },
                bytes: 0,
            })
            .collect();
        Ok((targets, results, hints))
    }
}

/// Whether `key` is in `listed` (sorted).
fn is_listed(listed: &[String], key: &str) -> bool {
    listed.binary_search_by(|k| k.as_str().cmp(key)).is_ok()
}

/// API calls a full check of one function of each kind costs when nothing changed: what a
/// listing page must beat (SCF `GetFunction` + `GetFunctionAddress`; FC 2.0 `GetService` +
/// `GetFunction` + `ListTriggers` + `GetFunctionCode`; FC 3.0 without `GetService`).
fn full_check_calls(t: &Target) -> usize {
    match t.cloud {
        crate::cloud::Cloud::Tencent => 2,
        crate::cloud::Cloud::Aliyun if t.is_fc3() => 3,
        crate::cloud::Cloud::Aliyun => 4,
    }
}

/// How long a scope's recorded page count is trusted before it is measured again.
const SCOPE_REMEASURE: chrono::TimeDelta = chrono::TimeDelta::days(1);

impl Sweeper {
    /// Listing hints for the explicit `[[functions]]` that discovery did not list: per scope
    /// (account, region, namespace/service; FC 3.0: the region), the scope is listed when
    /// that costs fewer requests than the full checks of its functions would, and its
    /// functions are asked one by one otherwise. A scope's page count is kept
    /// (`scope_listings`); one never measured is listed with a page budget one below what
    /// asking each would cost, and stopped there when it is longer. A failed listing only
    /// means full checks: explicit functions are never failed or marked gone by a listing.
    /// Functions with a qualifier are not in the listing (it shows the latest code). A scope
    /// none of whose functions the listing could vouch for (none had a full check, or all are
    /// due one) is not listed: its functions get full checks anyway.
    async fn explicit_hints(
        &self,
        explicit: &[Target],
        hints: &mut Hints,
        shutdown: &Shutdown,
    ) -> Result<(), SweepError> {
        // Scope → its unlisted, unqualified explicit functions.
        let mut scopes: std::collections::BTreeMap<String, Vec<&Target>> = Default::default();
        for t in explicit {
            if t.qualifier.is_none() && !hints.contains_key(&t.key) {
                let scope = format!("{}/{}/{}", t.account, t.region, t.namespace);
                scopes.entry(scope).or_default().push(t);
            }
        }
        if scopes.is_empty() {
            return Ok(());
        }
        let (known, full_checks) = self
            .db(|db| Ok((db.scope_listings()?, db.last_full_checks()?)))
            .await?;
        let now = chrono::Utc::now();
        let now_ms = now.timestamp_millis();
        for (scope, targets) in scopes {
            if shutdown.is_stopping() {
                break;
            }
            // A listing helps only a function the listing may vouch for: one that had a full
            // check and is not due another. When every function of the scope needs a full
            // check anyway (the first sweep, `full_check_interval = "0s"`), it is not listed.
            let helps = targets.iter().any(|t| {
                full_checks.get(&t.key).is_some_and(|last| {
                    !super::check::due(&t.key, Some(last), self.full_check_interval, now_ms)
                })
            });
            if !helps {
                continue;
            }
            let first = targets[0];
            let Some(client) = self.clients.get(&first.account) else {
                continue;
            };
            let ask_each: usize = targets.iter().map(|t| full_check_calls(t)).sum();
            let budget = ask_each - 1;
            let measured = known.get(&scope).filter(|(_, at)| {
                chrono::DateTime::parse_from_rfc3339(at)
                    .is_ok_and(|at| now.signed_duration_since(at) < SCOPE_REMEASURE)
            });
            if let Some((pages, _)) = measured
                && *pages > budget
            {
                tracing::debug!(
                    scope,
                    pages,
                    ask_each,
                    "asking each function: its listing costs more"
                );
                continue;
            }
            if budget == 0 {
                continue;
            }
            let call = crate::discover::ListCall {
                client,
                cloud: first.cloud,
                region: &first.region,
                scope: Some(&first.namespace),
                max_pages: budget,
            };
            let pages = match crate::discover::list_bounded(
                &call,
                &self.retry,
                shutdown,
                &self.capture_key,
            )
            .await
            {
                Ok((listed, pages)) => {
                    let by_name: std::collections::HashMap<&str, &crate::discover::Listed> =
                        listed.iter().map(|l| (l.name.as_str(), l)).collect();
                    for t in &targets {
                        if let Some(h) = by_name.get(t.name.as_str()).and_then(|l| l.hint.clone()) {
                            hints.insert(t.key.clone(), h);
                        }
                    }
                    pages
                }
                Err(crate::discover::ListError::TooLong { pages }) => {
                    tracing::info!(
                        scope,
                        "listing costs more than asking each function: asking each"
                    );
                    pages + 1
                }
                Err(crate::discover::ListError::Failed(e)) => {
                    tracing::warn!(
                        scope,
                        "listing for change hints failed, full checks instead: {e}"
                    );
                    continue;
                }
            };
            let at = crate::time::now_rfc3339();
            self.db(move |db| db.record_scope_listing(&scope, pages, &at))
                .await?;
        }
        Ok(())
    }
}

/// The listing's change hints of this sweep's functions, by key.
pub(super) type Hints = std::collections::HashMap<String, crate::cloud::listed::Hint>;

/// How often a running `[[discover]]` listing tells the observers it is still under way.
const LISTING_TICK: std::time::Duration = std::time::Duration::from_secs(10);

impl Sweeper {
    /// Awaits `listing`, telling the observers [`SweepObserver::listing`] every
    /// [`LISTING_TICK`] meanwhile. A listing of many pages produces no other hook, and the
    /// systemd watchdog (fed only while a sweep moves) would otherwise take a long one for a
    /// stuck sweep. A listing cannot hang: every page has `http.api_timeout` and bounded
    /// retries.
    ///
    /// [`SweepObserver::listing`]: crate::observe::SweepObserver::listing
    async fn while_listing<F: std::future::Future>(&self, listing: F) -> F::Output {
        let mut listing = std::pin::pin!(listing);
        let mut tick = tokio::time::interval(LISTING_TICK);
        loop {
            tokio::select! {
                out = &mut listing => return out,
                _ = tick.tick() => self.observer.listing(),
            }
        }
    }
}
