//! Which functions a sweep checks by the listing alone, and which get a full check (their own
//! API calls) — issue 16's list-based change detection.
//!
//! Owns: the rules.
//! - A function is checked **by the listing** when its entry in this sweep's `ListFunctions`
//!   has the same fingerprint as the one its last full check saw, that fingerprint is settled
//!   (below), its latest version's blob is in the archive, and it is not due a full check.
//! - Otherwise it gets a **full check**: its configuration calls (SCF `GetFunction`; FC
//!   `GetService`/`GetFunction`/`ListTriggers`) and the package. For SCF the package always
//!   costs `GetFunctionAddress` (the listing has no hash). For FC the listing's
//!   `codeChecksum`/`codeSize`/`lastModifiedTime` decide: all three as the last full check saw
//!   them (and the checksum the latest version's) → no `GetFunctionCode`; a different
//!   checksum → `GetFunctionCode` and the download; the same CRC-64 with a different size or
//!   modified time → `GetFunctionCode`, the download and a SHA-256 comparison, so a deploy is
//!   never hidden by a forged CRC-64.
//! - **Due**: every function gets a full check at least once per `[sync]
//!   full_check_interval` (plus up to one sweep period). Time is cut into slots of that length,
//!   each function's slots shifted by a stable hash of its key; a function is due in the first
//!   sweep after its slot boundary, so the full checks of a fleet archived at one moment are
//!   spread evenly over the interval instead of coming in one burst. `0s`: always due.
//! - **Settled**: SCF's `ModTime` has one-second resolution, so two deploys in the same second
//!   around a full check would look alike. An SCF fingerprint is trusted only once two full
//!   checks in a row saw it (a changed one costs one more full check, one sweep later, by when
//!   that second is over). FC entries carry the checksum and the configuration, so they settle
//!   at once.
//!
//! Trigger settings and FC service settings are not in the function listing: a change to only
//! those is archived at the function's next full check (README "Guarantees").

use std::time::Duration;

use super::{FunctionResult, Outcome, Sweeper, Work};
use crate::cloud::listed::Hint;
use crate::cloud::{Cloud, Target};
use crate::db::{LatestVersion, ListingCheck};
use crate::shutdown::Shutdown;

/// How one function is checked in this sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The listing vouches for it: no call of its own.
    Listing,
    /// Its own calls; what the listing already says about the package.
    Full(PackageHint),
}

/// What the listing says about the package, for a full check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageHint {
    /// Nothing (SCF, no entry, no earlier full check): ask the cloud, compare its checksum.
    Unknown,
    /// FC: checksum, size and modified time as the last full check saw them: no
    /// `GetFunctionCode` unless the blob went missing.
    Same,
    /// FC: another checksum: ask, download.
    Changed,
    /// FC: the same CRC-64 but another size or modified time: ask, download, compare SHA-256.
    Suspect,
}

/// Whether the listing of `cloud` shows every change the fingerprint must catch without a
/// second full check (see the module doc).
pub fn settles_at_once(cloud: Cloud) -> bool {
    cloud == Cloud::Aliyun
}

/// The check `target` gets. `now_ms`: milliseconds since the Unix epoch.
pub fn decide(
    target: &Target,
    hint: Option<&Hint>,
    state: Option<&ListingCheck>,
    latest: Option<&LatestVersion>,
    interval: Duration,
    now_ms: i64,
) -> Check {
    let (Some(hint), Some(state), Some(latest)) = (hint, state, latest) else {
        return Check::Full(PackageHint::Unknown);
    };
    let same_entry = state.fingerprint.as_deref() == Some(hint.fingerprint.as_str());
    let due = due(
        &target.key,
        state.last_full_check.as_deref(),
        interval,
        now_ms,
    );
    if same_entry && state.settled && !due {
        return Check::Listing;
    }
    let package = match &hint.code_checksum {
        None => PackageHint::Unknown,
        // No package hints kept yet (a full check without a listing entry).
        Some(_) if state.code_checksum.is_none() => PackageHint::Unknown,
        Some(c) if *c != latest.cloud_checksum => PackageHint::Changed,
        Some(c)
            if state.code_checksum.as_ref() == Some(c)
                && state.code_size == hint.code_size
                && state.modified.as_deref() == Some(hint.modified.as_str()) =>
        {
            PackageHint::Same
        }
        Some(_) => PackageHint::Suspect,
    };
    Check::Full(package)
}

/// Whether `key`'s full check is due: its last one (`None`: never) was in an earlier slot
/// (see module doc).
pub fn due(key: &str, last_full_check: Option<&str>, interval: Duration, now_ms: i64) -> bool {
    let period = interval.as_millis().min(i64::MAX as u128) as i64;
    if period == 0 {
        return true;
    }
    let Some(last) = last_full_check
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
    else {
        return true;
    };
    let digest = crate::fetch::sha256(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let shift = (u64::from_be_bytes(first) % period as u64) as i64;
    let slot = |t: i64| (t.saturating_add(shift)).div_euclid(period);
    slot(now_ms) > slot(last)
}

impl Sweeper {
    /// One function's check as decided by [`decide`]: by the listing, or the full pipeline
    /// (`try_process`), whose success records what the listing showed for the next sweep.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn checked_process(
        &self,
        target: &Target,
        function_id: i64,
        latest: Option<LatestVersion>,
        sweep_id: i64,
        shutdown: &Shutdown,
        bytes: &mut u64,
        check: Check,
        hint: Option<Hint>,
    ) -> Result<Outcome, String> {
        let package = match check {
            // Only a function whose blob went missing comes here (`check_by_listing`).
            Check::Listing => PackageHint::Unknown,
            Check::Full(p) => p,
        };
        let outcome = self
            .try_process(
                target,
                function_id,
                latest,
                sweep_id,
                shutdown,
                bytes,
                package,
            )
            .await?;
        if outcome != Outcome::Interrupted {
            let at_once = settles_at_once(target.cloud);
            let now = crate::time::now_rfc3339();
            // Losing this costs one more full check next sweep, never a missed change.
            if let Err(e) = self
                .db(move |db| db.record_full_check(function_id, hint.as_ref(), at_once, &now))
                .await
            {
                tracing::warn!(function = %target.key, "recording the full check: {e}");
            }
        }
        Ok(outcome)
    }

    /// The functions the listing vouches for, recorded checked and unchanged in one database
    /// job (one commit, however many there are: at 100,000 functions a job each was ≈ 3,000
    /// group commits). Returns their results and, as full checks, those whose latest blob is
    /// missing from the folder archive (the full check stores it again).
    ///
    /// On object storage the blobs are not asked for one by one here: that would be a HEAD
    /// request per function per sweep. A blob deleted from the bucket behind fnvault's back is
    /// found at the function's next full check (at least once per `full_check_interval`), which
    /// always looks, or by `fnvault verify`.
    pub(super) async fn check_by_listing(
        &self,
        vouched: Vec<Vouched<'_>>,
        shutdown: &Shutdown,
    ) -> (Vec<FunctionResult>, Vec<Work>) {
        if vouched.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let (vouched, missing) = self.split_missing_blobs(vouched).await;
        let outcomes: Vec<Outcome> = if shutdown.is_stopping() {
            vec![Outcome::Interrupted; vouched.len()]
        } else {
            let items: Vec<(i64, i64)> = vouched
                .iter()
                .map(|v| (v.function_id, v.latest.id))
                .collect();
            let now = crate::time::now_rfc3339();
            match self
                .db(move |db| db.record_listing_checks(&items, &now))
                .await
            {
                Ok(()) => vec![Outcome::Unchanged; vouched.len()],
                Err(e) => {
                    let error = format!("recording the check: {e}");
                    tracing::warn!(functions = vouched.len(), "{error}");
                    vec![Outcome::Failed { error }; vouched.len()]
                }
            }
        };
        tracing::debug!(functions = vouched.len(), "unchanged (by the listing)");
        let results = vouched
            .iter()
            .zip(outcomes)
            .map(|(v, outcome)| {
                let result = FunctionResult {
                    key: v.target.key.clone(),
                    outcome,
                    bytes: 0,
                };
                self.observer.function_finished(v.target, &result);
                result
            })
            .collect();
        (results, missing)
    }

    /// Splits off, as full checks, the vouched functions whose latest blob is not in the
    /// folder archive (one blocking pass of `stat`s; none on object storage, see above).
    async fn split_missing_blobs<'t>(
        &self,
        vouched: Vec<Vouched<'t>>,
    ) -> (Vec<Vouched<'t>>, Vec<Work>) {
        if self.archive.remote().is_some() {
            return (vouched, Vec::new());
        }
        let archive = self.archive.clone();
        let shas: Vec<String> = vouched.iter().map(|v| v.latest.sha256.clone()).collect();
        let present = tokio::task::spawn_blocking(move || {
            shas.iter().map(|s| archive.contains(s)).collect::<Vec<_>>()
        })
        .await
        // The pool failing to run it: let each full check look for itself.
        .unwrap_or_else(|_| vec![false; vouched.len()]);
        let mut kept = Vec::with_capacity(vouched.len());
        let mut missing = Vec::new();
        for (v, present) in vouched.into_iter().zip(present) {
            if present {
                kept.push(v);
            } else {
                missing.push(Work {
                    target: v.target.clone(),
                    function_id: v.function_id,
                    latest: Some(v.latest),
                    check: Check::Listing,
                    hint: v.hint,
                });
            }
        }
        (kept, missing)
    }
}

/// A function the listing vouches for in this sweep ([`decide`] said [`Check::Listing`]).
pub(super) struct Vouched<'t> {
    pub target: &'t Target,
    pub function_id: i64,
    pub latest: LatestVersion,
    pub hint: Option<Hint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Target {
        Target::new(Cloud::Aliyun, "ali", "cn-hangzhou", "svc", name, None)
    }

    fn hint(fp: &str, crc: &str, size: u64, modified: &str) -> Hint {
        Hint {
            fingerprint: fp.into(),
            modified: modified.into(),
            code_checksum: Some(crc.into()),
            code_size: Some(size),
        }
    }

    fn state(h: &Hint, last: &str) -> ListingCheck {
        ListingCheck {
            fingerprint: Some(h.fingerprint.clone()),
            settled: true,
            modified: Some(h.modified.clone()),
            code_checksum: h.code_checksum.clone(),
            code_size: h.code_size,
            last_full_check: Some(last.into()),
        }
    }

    fn latest(crc: &str) -> LatestVersion {
        LatestVersion {
            id: 1,
            version_no: 1,
            cloud_checksum: crc.into(),
            sha256: "00".into(),
            last_seen: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);
    const T0: &str = "2026-01-01T00:00:00.000Z";
    const T0_MS: i64 = 1_767_225_600_000;

    #[test]
    fn the_listing_decides_what_each_function_costs() {
        let t = target("f");
        let h = hint("a", "11", 10, "m1");
        let s = state(&h, T0);
        let l = latest("11");
        let decide_at =
            |h: &Hint, s: &ListingCheck, now| decide(&t, Some(h), Some(s), Some(&l), DAY, now);
        assert_eq!(decide_at(&h, &s, T0_MS + 1000), Check::Listing);
        // New configuration in the entry, same package: configuration calls only.
        let config = hint("b", "11", 10, "m1");
        assert_eq!(
            decide_at(&config, &s, T0_MS),
            Check::Full(PackageHint::Same)
        );
        let redeploy = hint("c", "12", 11, "m2");
        assert_eq!(
            decide_at(&redeploy, &s, T0_MS),
            Check::Full(PackageHint::Changed)
        );
        // A forged CRC-64: same checksum, another modified time or size.
        let forged = hint("d", "11", 10, "m2");
        assert_eq!(
            decide_at(&forged, &s, T0_MS),
            Check::Full(PackageHint::Suspect)
        );
        let forged = hint("d", "11", 12, "m1");
        assert_eq!(
            decide_at(&forged, &s, T0_MS),
            Check::Full(PackageHint::Suspect)
        );
        // Unsettled: a full check, the package judged by the listing.
        let unsettled = ListingCheck {
            settled: false,
            ..s.clone()
        };
        assert_eq!(
            decide_at(&h, &unsettled, T0_MS),
            Check::Full(PackageHint::Same)
        );
        // No entry, no state, no version: today's full check.
        assert_eq!(
            decide(&t, None, Some(&s), Some(&l), DAY, T0_MS),
            Check::Full(PackageHint::Unknown)
        );
        assert_eq!(
            decide(&t, Some(&h), None, Some(&l), DAY, T0_MS),
            Check::Full(PackageHint::Unknown)
        );
        assert_eq!(
            decide(&t, Some(&h), Some(&s), None, DAY, T0_MS),
            Check::Full(PackageHint::Unknown)
        );
        // "0s": always a full check.
        assert_eq!(
            decide(&t, Some(&h), Some(&s), Some(&l), Duration::ZERO, T0_MS),
            Check::Full(PackageHint::Same)
        );
    }

    #[test]
    fn full_checks_come_once_per_interval_spread_over_it() {
        let h = hint("a", "11", 10, "m1");
        let s = state(&h, T0);
        let l = latest("11");
        let mut first_due = Vec::new();
        for i in 0..1000 {
            let t = target(&format!("f{i}"));
            // Sweeps every 10 minutes after a fleet-wide full check at T0.
            let due_at = (1..=144 * 2)
                .map(|n| T0_MS + n * 600_000)
                .find(|&now| decide(&t, Some(&h), Some(&s), Some(&l), DAY, now) != Check::Listing)
                .expect("due within two days");
            // At most one interval (plus one sweep period) after the last full check.
            assert!(due_at - T0_MS <= 86_400_000 + 600_000, "{due_at}");
            first_due.push(due_at);
        }
        // Spread: no ten-minute sweep gets more than a few percent of the fleet.
        let mut per_sweep = std::collections::HashMap::new();
        for d in &first_due {
            *per_sweep.entry(*d).or_insert(0) += 1;
        }
        let busiest = per_sweep.values().max().copied().unwrap_or(0);
        assert!(busiest <= 30, "{busiest} of 1000 in one sweep");
        assert!(per_sweep.len() > 100, "{} sweeps", per_sweep.len());
    }
}
