//! The version and alias stage of a sweep (issue 14), between planning and the per-function
//! pipeline: for every function whose entry or rule asks (`versions = true`,
//! `aliases = true`), list its published versions and aliases, page by page, each call paced
//! by the account's limiter and retried like every call.
//!
//! - **Published versions** become targets of their own, `<function key without
//!   qualifier>@<version>`, and go through the same pipeline as every function (package,
//!   configuration, journal, row). A version is immutable: once archived it is not asked for
//!   again while the listing shows the same modified time for it (no call, no download); being
//!   listed counts as being seen live (its `last_seen`, as for an unchanged function). If
//!   the listing's time changes, the pipeline checks it again: an equal checksum downloads
//!   nothing; a different one is an anomaly (logged at WARN, [`anomalies`]) and is kept as a
//!   new archive version of that key, nothing overwritten.
//! - FC 2.0 versions snapshot a whole service: a version from before the function existed
//!   does not hold it. That is asked once (`cloud::Client::in_version`) and remembered
//!   (`published_versions.absent`), so it is neither a failure nor asked again.
//! - A version the listing no longer shows (twice in a row, since an offset-paged listing
//!   shifts when something is deleted meanwhile) is marked gone (`db::gone`); its archive
//!   stays and restores. Listed again, it is no longer gone.
//! - **Aliases**: each listed alias whose routing (versions and weights) differs from its
//!   recorded state is journaled (`archive::aliases`) and then recorded (`db::aliases`), with
//!   the sweep's time and the cloud's modified time. An alias the listing no longer shows
//!   (twice) is recorded as deleted.
//!
//! A failed listing fails that function's line of the sweep (`<key> (versions)` or
//! `<key> (aliases)`), never the others; nothing is concluded from a listing that did not
//! complete.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::StreamExt;

use super::{FunctionResult, Outcome, SweepError, Sweeper};
use crate::archive::aliases::AliasEvent;
use crate::cloud::versions::{AliasTargets, PublishedVersion, valid_alias, valid_version};
use crate::cloud::{self, Cursor, Target};
use crate::model::Follow;
use crate::shutdown::Shutdown;

/// At most this many pages per listing: a listing that never ends is an error, not a hang
/// (SCF allows 1000 versions per function, 10 pages of 100).
const MAX_PAGES: usize = 1000;

/// What the stage adds to a sweep.
#[derive(Default)]
pub(super) struct Followed {
    /// Published versions to run through the pipeline.
    pub targets: Vec<Target>,
    /// Listing failures, one line per function and listing.
    pub failures: Vec<FunctionResult>,
    /// For each published-version key the sweep checks: (function key, version, listed
    /// modified time), noted once the pipeline has archived it.
    pub published: HashMap<String, (String, String, Option<String>)>,
}

impl Sweeper {
    /// What `target` asks beyond itself: its `[[functions]]` entry's and every covering
    /// `[[discover]]` rule's `versions` / `aliases`.
    fn follow_of(&self, target: &Target) -> Follow {
        let mut f = self.follow.get(&target.key).copied().unwrap_or_default();
        for rule in self.discover.iter() {
            if rule.covers(target) {
                f = f.or(rule.follow);
            }
        }
        f
    }

    /// Lists versions and aliases of every function in `targets` that asks, once per
    /// function, `concurrency` functions at a time.
    pub(super) async fn follow_stage(
        &self,
        targets: &[Target],
        shutdown: &Shutdown,
    ) -> Result<Followed, SweepError> {
        // One listing per function without qualifier, whatever entries name it.
        let mut functions: BTreeMap<String, (Target, Follow)> = BTreeMap::new();
        for t in targets {
            let follow = self.follow_of(t);
            if !follow.any() {
                continue;
            }
            let entry = functions
                .entry(t.unqualified_key())
                .or_insert_with(|| (t.with_qualifier(None), Follow::default()));
            entry.1 = entry.1.or(follow);
        }
        let mut out = Followed::default();
        if functions.is_empty() {
            return Ok(out);
        }
        let already: HashSet<&str> = targets.iter().map(|t| t.key.as_str()).collect();
        let now = crate::time::now_rfc3339();
        let answers: Vec<Result<Followed, SweepError>> =
            futures_util::stream::iter(functions.into_values())
                .map(|(function, follow)| self.follow_one(function, follow, &now, shutdown))
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        for a in answers {
            let a = a?;
            out.targets.extend(
                a.targets
                    .into_iter()
                    .filter(|t| !already.contains(t.key.as_str())),
            );
            out.failures.extend(a.failures);
            out.published.extend(a.published);
        }
        Ok(out)
    }

    async fn follow_one(
        &self,
        function: Target,
        follow: Follow,
        now: &str,
        shutdown: &Shutdown,
    ) -> Result<Followed, SweepError> {
        let mut out = Followed::default();
        let Some(client) = self.clients.get(&function.account) else {
            out.failures.push(failed(
                &function,
                "versions and aliases",
                self.clients.why_not(&function.account),
            ));
            return Ok(out);
        };
        if follow.versions {
            match self.versions_of(client, &function, now, shutdown).await {
                Ok(Some(v)) => {
                    out.targets = v.targets;
                    out.published = v.published;
                }
                Ok(None) => {}
                Err(Listing::Failed(e)) => out.failures.push(failed(&function, "versions", e)),
                Err(Listing::Db(e)) => return Err(e),
            }
        }
        if follow.aliases {
            match self.aliases_of(client, &function, now, shutdown).await {
                Ok(()) => {}
                Err(Listing::Failed(e)) => out.failures.push(failed(&function, "aliases", e)),
                Err(Listing::Db(e)) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The published versions to check this sweep; marks deleted ones gone. `None`: shutdown
    /// came first.
    async fn versions_of(
        &self,
        client: &cloud::Client,
        function: &Target,
        now: &str,
        shutdown: &Shutdown,
    ) -> Result<Option<Followed>, Listing> {
        let Some(listed) = self.all_versions(client, function, shutdown).await? else {
            return Ok(None);
        };
        let fkey = function.key.clone();
        let key = fkey.clone();
        let (recorded, rows) = self
            .db(move |db| Ok((db.published_versions(&key)?, db.published_rows(&key)?)))
            .await
            .map_err(Listing::Db)?;
        let mut out = Followed::default();
        // Archived versions the listing still shows: seen live now, without a call.
        let mut still_listed: Vec<i64> = Vec::new();
        let mut absent: Vec<(String, Option<String>)> = Vec::new();
        for v in &listed {
            let target = function.with_qualifier(Some(&v.version));
            let archived = rows.iter().find(|r| r.version == v.version && r.archived);
            let noted = recorded.get(&v.version);
            let same_listing = noted.is_some_and(|(m, _)| *m == v.modified);
            if let Some(row) = archived
                && same_listing
            {
                still_listed.push(row.id);
                continue;
            }
            if same_listing && noted.is_some_and(|(_, gone)| *gone) {
                continue;
            }
            // FC 2.0: a version of the service from before the function existed does not
            // hold it; asked once, remembered while the listing says the same.
            if archived.is_none() && client.versions_are_per_scope(&target) {
                let held = self
                    .paced(client, &target, "GetFunction", shutdown, || {
                        client.in_version(&target)
                    })
                    .await?;
                match held {
                    None => return Ok(None),
                    Some(false) => {
                        absent.push((v.version.clone(), v.modified.clone()));
                        continue;
                    }
                    Some(true) => {}
                }
            }
            out.published.insert(
                target.key.clone(),
                (fkey.clone(), v.version.clone(), v.modified.clone()),
            );
            out.targets.push(target);
        }

        if !still_listed.is_empty() || !absent.is_empty() {
            let now = now.to_string();
            let key = fkey.clone();
            self.db(move |db| {
                for (version, modified) in &absent {
                    db.note_published(&key, version, modified.as_deref(), true, &now)?;
                }
                for id in still_listed {
                    if let Some(latest) = db.latest_version(id)? {
                        db.record_unchanged(id, latest.id, &now)?;
                    }
                }
                Ok(())
            })
            .await
            .map_err(Listing::Db)?;
        }

        // Gone: archived versions a complete listing misses, confirmed by a second listing.
        let listed_set: HashSet<&str> = listed.iter().map(|v| v.version.as_str()).collect();
        let mut missing: Vec<&crate::db::PublishedRow> = rows
            .iter()
            .filter(|r| r.gone_since.is_none() && !listed_set.contains(r.version.as_str()))
            .collect();
        if !missing.is_empty() {
            let Some(again) = self.all_versions(client, function, shutdown).await? else {
                return Ok(None);
            };
            let again: HashSet<&str> = again.iter().map(|v| v.version.as_str()).collect();
            missing.retain(|r| !again.contains(r.version.as_str()));
        }
        let gone: Vec<(i64, String)> = missing.iter().map(|r| (r.id, r.version.clone())).collect();
        let back: Vec<(i64, String)> = rows
            .iter()
            .filter(|r| r.gone_since.is_some() && listed_set.contains(r.version.as_str()))
            .map(|r| (r.id, r.version.clone()))
            .collect();
        if !gone.is_empty() || !back.is_empty() {
            let now = now.to_string();
            let (gone2, back2) = (gone.clone(), back.clone());
            self.db(move |db| {
                for (id, _) in &gone2 {
                    db.mark_gone(*id, &now)?;
                }
                for (id, _) in &back2 {
                    db.clear_gone(*id)?;
                }
                Ok(())
            })
            .await
            .map_err(Listing::Db)?;
            for (_, v) in gone {
                tracing::warn!(function = %fkey, version = %v, "published version deleted in the cloud: marked gone, its archive is kept");
            }
            for (_, v) in back {
                tracing::info!(function = %fkey, version = %v, "published version listed again: no longer gone");
            }
        }
        Ok(Some(out))
    }

    /// Records every alias state that differs from the recorded one, and deletions.
    async fn aliases_of(
        &self,
        client: &cloud::Client,
        function: &Target,
        now: &str,
        shutdown: &Shutdown,
    ) -> Result<(), Listing> {
        let Some(listed) = self.all_aliases(client, function, shutdown).await? else {
            return Ok(());
        };
        let key = function.key.clone();
        let current = self
            .db(move |db| db.current_aliases(&key))
            .await
            .map_err(Listing::Db)?;
        let mut events: Vec<AliasEvent> = Vec::new();
        for a in &listed {
            let same = current
                .iter()
                .any(|c| c.alias == a.name && c.same_routing(&a.versions, false));
            if !same {
                events.push(AliasEvent {
                    key: function.key.clone(),
                    alias: a.name.clone(),
                    versions: a.versions.clone(),
                    deleted: false,
                    cloud_modified: a.modified.clone(),
                    time: now.to_string(),
                });
            }
        }
        let names: HashSet<&str> = listed.iter().map(|a| a.name.as_str()).collect();
        let mut missing: Vec<&str> = current
            .iter()
            .filter(|c| !c.deleted && !names.contains(c.alias.as_str()))
            .map(|c| c.alias.as_str())
            .collect();
        if !missing.is_empty() {
            let Some(again) = self.all_aliases(client, function, shutdown).await? else {
                return Ok(());
            };
            missing.retain(|m| !again.iter().any(|a| a.name == *m));
        }
        for alias in missing {
            events.push(AliasEvent {
                key: function.key.clone(),
                alias: alias.to_string(),
                versions: Vec::new(),
                deleted: true,
                cloud_modified: None,
                time: now.to_string(),
            });
        }
        for event in events {
            // The journal first: a state is in the database only if a rebuild would bring
            // it back. A failed append records nothing; the next sweep sees the change again.
            let archive = self.archive.clone();
            let e = event.clone();
            match tokio::task::spawn_blocking(move || archive.alias_journal().append(&e)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Listing::Failed(format!("alias journal: {e}"))),
                Err(e) => return Err(Listing::Failed(format!("alias journal: {e}"))),
            }
            let e = event.clone();
            self.db(move |db| {
                db.record_alias_state(
                    &e.key,
                    &e.alias,
                    &e.versions,
                    e.deleted,
                    e.cloud_modified.as_deref(),
                    &e.time,
                )
            })
            .await
            .map_err(Listing::Db)?;
            if event.deleted {
                tracing::warn!(function = %event.key, alias = %event.alias, "alias deleted in the cloud: recorded as deleted");
            } else {
                tracing::info!(function = %event.key, alias = %event.alias, versions = %describe(&event.versions), "alias state recorded");
            }
        }
        Ok(())
    }

    /// Every published version, in listing order; checked names only.
    async fn all_versions(
        &self,
        client: &cloud::Client,
        function: &Target,
        shutdown: &Shutdown,
    ) -> Result<Option<Vec<PublishedVersion>>, Listing> {
        let action = client.versions_action(function);
        let mut all: Vec<PublishedVersion> = Vec::new();
        let mut cursor = Cursor::Start;
        for _ in 0..MAX_PAGES {
            let page = self
                .paced(client, function, action, shutdown, || {
                    client.list_versions(function, &cursor)
                })
                .await?;
            let Some(page) = page else { return Ok(None) };
            for v in page.versions {
                if !valid_version(&v.version) {
                    return Err(Listing::Failed(format!(
                        "{action} listed `{}`, which is not a version number",
                        v.version.escape_debug()
                    )));
                }
                if !all.iter().any(|x| x.version == v.version) {
                    all.push(v);
                }
            }
            match page.next {
                None => return Ok(Some(all)),
                Some(next) if next == cursor => {
                    return Err(Listing::Failed(format!(
                        "{action} answered the same next page twice"
                    )));
                }
                Some(next) => cursor = next,
            }
        }
        Err(Listing::Failed(format!(
            "{action} gave more than {MAX_PAGES} pages"
        )))
    }

    /// Every alias, by name; checked names only.
    async fn all_aliases(
        &self,
        client: &cloud::Client,
        function: &Target,
        shutdown: &Shutdown,
    ) -> Result<Option<Vec<AliasTargets>>, Listing> {
        let action = "ListAliases";
        let mut all: BTreeMap<String, AliasTargets> = BTreeMap::new();
        let mut cursor = Cursor::Start;
        for _ in 0..MAX_PAGES {
            let page = self
                .paced(client, function, action, shutdown, || {
                    client.list_aliases(function, &cursor)
                })
                .await?;
            let Some(page) = page else { return Ok(None) };
            for a in page.aliases {
                if !valid_alias(&a.name) {
                    return Err(Listing::Failed(format!(
                        "{action} listed the alias `{}`, which is not a valid name",
                        a.name.escape_debug()
                    )));
                }
                if let Some(bad) = a.versions.iter().find(|(v, _)| {
                    !valid_version(v) && v != crate::model::latest_alias(function.cloud)
                }) {
                    return Err(Listing::Failed(format!(
                        "{action}: alias `{}` routes to `{}`, which is not a version",
                        a.name,
                        bad.0.escape_debug()
                    )));
                }
                all.insert(a.name.clone(), a);
            }
            match page.next {
                None => return Ok(Some(all.into_values().collect())),
                Some(next) if next == cursor => {
                    return Err(Listing::Failed(format!(
                        "{action} answered the same next page twice"
                    )));
                }
                Some(next) => cursor = next,
            }
        }
        Err(Listing::Failed(format!(
            "{action} gave more than {MAX_PAGES} pages"
        )))
    }

    /// One listing call: paced by the account's limiter, retried when the error says
    /// retryable, with the sweep's backoff. `None`: shutdown came first.
    async fn paced<T, F, Fut>(
        &self,
        client: &cloud::Client,
        function: &Target,
        action: &str,
        shutdown: &Shutdown,
        call: F,
    ) -> Result<Option<T>, Listing>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, cloud::CloudError>>,
    {
        let mut attempt = 0;
        loop {
            if shutdown.is_stopping() {
                return Ok(None);
            }
            attempt += 1;
            client.pace().await;
            let answer = call().await;
            self.observer
                .api_call(function, answer.as_ref().map(|_| ()));
            match answer {
                Ok(t) => return Ok(Some(t)),
                Err(e) if e.is_retryable() && attempt < self.retry.attempts => {
                    if !self
                        .backoff(function, attempt, e.retry_after, &e.to_string(), shutdown)
                        .await
                    {
                        return Ok(None);
                    }
                }
                Err(e) => {
                    return Err(Listing::Failed(super::with_attempts(
                        format!("{e} ({action})"),
                        attempt,
                    )));
                }
            }
        }
    }

    /// After the pipeline: notes each published version it archived (or found unchanged)
    /// with its listed time, and reports a published version whose package or configuration
    /// changed, which clouds promise never happens.
    pub(super) async fn settle_published(
        &self,
        published: HashMap<String, (String, String, Option<String>)>,
        results: &[FunctionResult],
    ) -> Result<(), SweepError> {
        let mut notes = Vec::new();
        for r in results {
            let Some((fkey, version, modified)) = published.get(&r.key) else {
                continue;
            };
            match &r.outcome {
                Outcome::Changed {
                    version_no, sha256, ..
                } => {
                    anomalies(&r.key, *version_no, sha256);
                    notes.push((fkey.clone(), version.clone(), modified.clone()));
                }
                Outcome::New { .. } | Outcome::Unchanged => {
                    notes.push((fkey.clone(), version.clone(), modified.clone()));
                }
                Outcome::Failed { .. } | Outcome::Interrupted => {}
            }
        }
        if notes.is_empty() {
            return Ok(());
        }
        let now = crate::time::now_rfc3339();
        self.db(move |db| {
            for (fkey, version, modified) in &notes {
                db.note_published(fkey, version, modified.as_deref(), false, &now)?;
            }
            Ok(())
        })
        .await
    }
}

/// A published version's package or configuration changed although published versions are
/// immutable: the new state was kept as archive version `version_no` of `key` (nothing was
/// overwritten); said at WARN so an operator looks.
fn anomalies(key: &str, version_no: i64, sha256: &str) {
    tracing::warn!(
        function = %key,
        archive_version = version_no,
        sha256,
        "anomaly: a published version changed although published versions are immutable; \
         the new state is kept as a new archive version, the earlier one is untouched"
    );
}

/// Why a listing stage stopped.
enum Listing {
    /// The listing failed: that function's line of the sweep fails with this text.
    Failed(String),
    /// The database failed: the sweep fails.
    Db(SweepError),
}

impl From<SweepError> for Listing {
    fn from(e: SweepError) -> Listing {
        Listing::Db(e)
    }
}

fn failed(function: &Target, what: &str, error: String) -> FunctionResult {
    tracing::warn!(function = %function.key, "listing {what}: {error}");
    FunctionResult {
        key: format!("{} ({what})", function.key),
        outcome: Outcome::Failed {
            error: format!("listing {what}: {error}"),
        },
        bytes: 0,
    }
}

/// `2 (90%), 3 (10%)`: an alias's routing for people.
pub fn describe(versions: &[(String, f64)]) -> String {
    match versions {
        [] => "(deleted)".to_string(),
        [(v, _)] => v.clone(),
        many => many
            .iter()
            .map(|(v, w)| format!("{v} ({}%)", percent(*w)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A weight as a percentage without noise: `0.9` → `90`, `0.125` → `12.5`.
pub fn percent(weight: f64) -> String {
    let p = (weight * 10_000.0).round() / 100.0;
    let text = format!("{p:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
