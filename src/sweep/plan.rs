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
    /// key, no key twice) and the failures the listing already decided.
    pub(super) async fn plan(
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
        let mut targets = explicit.to_vec();
        targets.extend(
            listing
                .targets
                .iter()
                .filter(|t| !explicit_keys.contains(&t.key))
                .cloned(),
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
        // deleted mid-listing; a scope's NotFound may be transient).
        let rules = Arc::clone(&self.discover);
        let known = self.db(|db| db.known_functions()).await?;
        let listed: HashSet<&str> = listing.targets.iter().map(|t| t.key.as_str()).collect();
        let missing: Vec<Target> = known
            .iter()
            .filter(|k| k.gone_since.is_none())
            .map(|k| &k.target)
            .filter(|t| {
                !explicit_keys.contains(&t.key)
                    && !listed.contains(t.key.as_str())
                    && rules.iter().any(|r| r.covers(t))
                    && listing.proves_gone(t)
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
        let mut listing = listing;
        let hints = std::mem::take(&mut listing.hints);
        for t in &confirmation.found {
            if self.only.as_ref().is_none_or(|o| o.matches(t)) {
                targets.push(t.clone());
            }
        }
        listing.targets.extend(confirmation.found);
        // `Listing::proves_gone` looks keys up in sorted order.
        listing.targets.sort_by(|a, b| a.key.cmp(&b.key));
        let confirmed_gone = confirmation.gone;

        let failed = self
            .db(move |db| {
                let now = crate::time::now_rfc3339();
                let mut failed: Vec<(String, String)> = Vec::new();
                let mut used = vec![false; listing.failures.len()];
                let listed: HashSet<&str> =
                    listing.targets.iter().map(|t| t.key.as_str()).collect();
                for known in known {
                    let t = &known.target;
                    // Explicit functions are checked directly; rules speak only for the rest.
                    if explicit_keys.contains(&t.key) || !rules.iter().any(|r| r.covers(t)) {
                        continue;
                    }
                    if listed.contains(t.key.as_str()) {
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
                    } else if listing.proves_gone(t)
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
