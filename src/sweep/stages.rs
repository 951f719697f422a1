//! The pipeline of one function, stage by stage, per artifact:
//!
//! ```text
//! configuration: resolve_config  → compare (config_of_version) ─┐
//! package:       resolve_package → compare_package → fetch      ├→ store → record
//! ```
//!
//! - `resolve_config`: the cloud's configuration calls (`cloud::Client::read_config`), retried
//!   like any call, made canonical and secret-safe (`capture::canonical`) at once, so no clear
//!   secret outlives this stage;
//! - `resolve_package` + `compare_package` + `fetch_package`: where the package is, whether
//!   it is the archived one (checksum equal and blob present), and if not the verified
//!   download (SHA-256 and CRC-64 in one pass), retried with a fresh address each time;
//! - `store`: package blob, then configuration document, then the journal lines (`version`,
//!   `config`), on the blocking pool; nothing is journaled before every blob it names is
//!   durable;
//! - `record`: one database job per outcome (a new version with its configuration, a
//!   configuration attached to the current version, or "unchanged").
//!
//! What the stages decide together ([`Sweeper::try_process`]): a new version when the package
//! or the canonical configuration changed (`code_changed`, `config_changed`); a configuration
//! read for the first time for a version archived before configurations were read is
//! attached to it, which is not a change; a configuration-only change downloads nothing.

use crate::archive::journal::{ConfigRecord, Event, VersionRecord};
use crate::archive::{ArchiveError, Stored};
use crate::capture::{Protect, Snapshot};
use crate::cloud::{self, CodeLocation, Target};
use crate::config::SecretsMode;
use crate::db::{LatestVersion, NewVersion, VersionConfig};
use crate::fetch;
use crate::shutdown::Shutdown;

use super::check::PackageHint;
use super::{Outcome, Sweeper, next_version_no, with_attempts};

/// A stage's answer when shutdown may have stopped it.
pub(super) enum Step<T> {
    Done(T),
    Interrupted,
}

/// What `compare_package` found.
enum Package {
    /// The cloud serves the latest archived package and its blob is present.
    Unchanged,
    /// Downloaded and verified; not yet stored.
    Fetched(fetch::Downloaded),
}

/// What the resolve stages captured besides the package: the canonical configuration and
/// the keys of the layers it names (archived already), in order.
struct Captured {
    snapshot: Option<Snapshot>,
    layers: Vec<String>,
    /// The snapshot is byte for byte the latest version's document (so a missing blob of it
    /// may be written again; in `encrypt` mode an unchanged configuration reads as other
    /// bytes, which are not kept).
    document_is_latest: bool,
}

/// What the record stage writes.
enum Plan {
    /// Nothing new: the latest version is still live.
    Unchanged,
    /// The latest version gets its first configuration (an archive older than configuration
    /// snapshots): not a change.
    Attach,
    /// A new version: the package and/or the configuration changed.
    NewVersion {
        package: NewVersion,
        code_changed: bool,
        config_changed: bool,
    },
}

impl Sweeper {
    /// The pipeline for one function. `Err` is the one-line reason it failed. `package_hint`:
    /// what this sweep's listing says about the package (`sweep/check.rs`).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn try_process(
        &self,
        target: &Target,
        function_id: i64,
        latest: Option<LatestVersion>,
        sweep_id: i64,
        shutdown: &Shutdown,
        bytes: &mut u64,
        package_hint: PackageHint,
    ) -> Result<Outcome, String> {
        let client = self
            .clients
            .get(&target.account)
            .ok_or_else(|| self.clients.why_not(&target.account))?;

        // Configuration first: a failed read fails the function before any download.
        let snapshot = match self.resolve_config(client, target, shutdown).await? {
            Step::Done(s) => s,
            Step::Interrupted => return Ok(Outcome::Interrupted),
        };
        let previous_config = match &latest {
            Some(l) => {
                let id = l.id;
                self.db(move |db| db.config_of_version(id))
                    .await
                    .map_err(|e| e.to_string())?
            }
            None => None,
        };

        // Layers next: each one the configuration names is archived once; a failure fails
        // the function before its package is fetched or anything of it recorded.
        let layers = match &snapshot {
            Some(s) if !s.layers.is_empty() => {
                match self
                    .layer_stages(client, target, s, shutdown, bytes)
                    .await?
                {
                    Step::Done(keys) => keys,
                    Step::Interrupted => return Ok(Outcome::Interrupted),
                }
            }
            _ => Vec::new(),
        };

        // Decide what this sweep records.
        let config_changed = match (&snapshot, &previous_config) {
            (Some(s), Some(p)) if s.sha256 == p.config_sha256 => false,
            // `encrypt` mode: a re-encryption (fresh nonces) of the same values is not a
            // change; their keyed hashes say so without decrypting.
            (Some(s), Some(p)) if self.capture == SecretsMode::Encrypt => {
                !self.same_values(s, &p.config_sha256).await
            }
            (Some(_), Some(_)) => true,
            // A new function: its configuration is new with it.
            (Some(_), None) => latest.is_none(),
            (None, _) => false,
        };

        let document_is_latest = match (&snapshot, &previous_config) {
            (Some(s), Some(p)) => s.sha256 == p.config_sha256,
            _ => false,
        };

        // A container-image function has no package: its configuration document (which names
        // the image) is the version's blob.
        if let Some(s) = &snapshot
            && let Some(image) = &s.image
        {
            let plan = image_plan(s, image, &latest, &previous_config, config_changed);
            return self
                .store_and_record(
                    target,
                    function_id,
                    &latest,
                    Captured {
                        snapshot,
                        layers,
                        document_is_latest,
                    },
                    plan,
                    (sweep_id, shutdown),
                )
                .await;
        }

        let (package, cloud_checksum) = match self
            .package_stages(client, target, &latest, package_hint, shutdown)
            .await?
        {
            Step::Done(p) => p,
            Step::Interrupted => return Ok(Outcome::Interrupted),
        };

        let plan = match package {
            Package::Fetched(d) => {
                let sha256 = d.sha256_hex();
                // An unchanged checksum whose blob had gone missing: the download restores it.
                let restored = latest
                    .as_ref()
                    .is_some_and(|l| l.cloud_checksum == cloud_checksum && l.sha256 == sha256);
                *bytes += d.size;
                let package = NewVersion {
                    cloud_checksum: cloud_checksum.clone(),
                    sha256,
                    crc64: d.crc64,
                    size: d.size,
                };
                let stored = self.store_package(d).await?;
                if let Stored::ReplacedCorrupt { quarantined } = &stored {
                    tracing::warn!(
                        function = %target.key,
                        sha256 = %package.sha256,
                        quarantined = %quarantined.display(),
                        "the archived blob of this package was corrupt: moved aside and replaced by the verified download"
                    );
                }
                if restored && package_hint == PackageHint::Suspect {
                    tracing::info!(function = %target.key, "the listing showed a new size or modified time with the same CRC-64; downloaded: the same SHA-256, unchanged");
                    self.plan_same_package(&latest, &snapshot, &previous_config, config_changed)
                        .await?
                } else if restored {
                    tracing::warn!(function = %target.key, sha256 = %package.sha256, "restored a missing blob");
                    self.plan_same_package(&latest, &snapshot, &previous_config, config_changed)
                        .await?
                } else {
                    Plan::NewVersion {
                        package,
                        code_changed: true,
                        config_changed,
                    }
                }
            }
            Package::Unchanged => {
                self.plan_same_package(&latest, &snapshot, &previous_config, config_changed)
                    .await?
            }
        };
        self.store_and_record(
            target,
            function_id,
            &latest,
            Captured {
                snapshot,
                layers,
                document_is_latest,
            },
            plan,
            (sweep_id, shutdown),
        )
        .await
    }

    /// The plan when the package is the latest version's: unchanged, a first configuration
    /// to attach, or a configuration-only new version (which keeps the package).
    async fn plan_same_package(
        &self,
        latest: &Option<LatestVersion>,
        snapshot: &Option<Snapshot>,
        previous_config: &Option<VersionConfig>,
        config_changed: bool,
    ) -> Result<Plan, String> {
        let Some(latest) = latest else {
            return Err("internal: an unchanged package without a latest version".into());
        };
        Ok(match (snapshot, previous_config) {
            (None, _) => Plan::Unchanged,
            (Some(_), None) => Plan::Attach,
            // The same document (its blob, if it went missing, is written again by `store`).
            (Some(_), Some(_)) if !config_changed => Plan::Unchanged,
            (Some(_), Some(_)) => {
                let id = latest.id;
                let package = self
                    .db(move |db| db.package_of_version(id))
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("version {} has no row", latest.version_no))?;
                Plan::NewVersion {
                    package,
                    code_changed: false,
                    config_changed: true,
                }
            }
        })
    }

    /// `encrypt` mode: whether `s` holds the same values as the archived document
    /// `previous` (their comparable forms are equal). A document that cannot be read counts
    /// as different (a new version is recorded, nothing is lost).
    async fn same_values(&self, s: &Snapshot, previous: &str) -> bool {
        let cached = self
            .comparable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(previous)
            .cloned();
        let old = match cached {
            Some(c) => c,
            None => {
                let (archive, sha) = (self.archive.clone(), previous.to_string());
                let read = tokio::task::spawn_blocking(move || archive.read_document(&sha)).await;
                match read {
                    Ok(Ok(bytes)) => {
                        let c = crate::capture::comparable_sha256(&bytes);
                        self.comparable
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(previous.to_string(), c.clone());
                        c
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(
                            configuration = previous,
                            "reading the archived configuration to compare: {e}"
                        );
                        return false;
                    }
                    Err(e) => {
                        tracing::warn!(
                            configuration = previous,
                            "reading the archived configuration to compare: {e}"
                        );
                        return false;
                    }
                }
            }
        };
        old == crate::capture::comparable_sha256(&s.bytes)
    }

    /// Stage resolve (configuration): the cloud's configuration calls, retried like the
    /// package's, made canonical and secret-safe at once. `None` when the cloud's
    /// configuration is not read for this kind of function (none today; kept for new kinds).
    async fn resolve_config(
        &self,
        client: &cloud::Client,
        target: &Target,
        shutdown: &Shutdown,
    ) -> Result<Step<Option<Snapshot>>, String> {
        // `read_config` paces each of its calls itself.
        let read = crate::retry::call(
            None,
            &self.retry,
            shutdown,
            |attempt, delay, e| {
                self.observer.retry(target);
                tracing::info!(function = %target.key, attempt, delay_ms = delay.as_millis() as u64, "retrying: {e}");
            },
            || async {
                let read = client.read_config(target).await;
                self.observer.api_call(target, read.as_ref().map(|_| ()));
                read
            },
        )
        .await;
        let answer = match read {
            crate::retry::Attempted::Done(a) => a,
            crate::retry::Attempted::Interrupted => return Ok(Step::Interrupted),
            crate::retry::Attempted::Failed { error, attempts } => {
                return Err(with_attempts(
                    format!("{error} (reading the configuration)"),
                    attempts,
                ));
            }
        };
        let Some(answer) = answer else {
            return Ok(Step::Done(None));
        };
        let protect = match self.capture {
            SecretsMode::Hash => Protect::Hash(&self.capture_key),
            SecretsMode::Plain => Protect::Plain,
            SecretsMode::Encrypt => Protect::Encrypt {
                key: &self.capture_key,
                recipients: &self.age_recipients,
            },
        };
        crate::capture::canonical(answer, protect)
            .map(|s| Step::Done(Some(s)))
            .map_err(|e| format!("{} configuration: {e}", target.cloud.display_name()))
    }

    /// Stages resolve, compare and fetch+verify of the package. Each try asks for a fresh
    /// address: presigned URLs expire, and a failed download may have been served by a bad
    /// node. Returns what was found and the cloud's checksum (database form).
    async fn package_stages(
        &self,
        client: &cloud::Client,
        target: &Target,
        latest: &Option<LatestVersion>,
        package_hint: PackageHint,
        shutdown: &Shutdown,
    ) -> Result<Step<(Package, String)>, String> {
        // The listing showed the package as the last full check saw it: no call for it.
        if package_hint == PackageHint::Same
            && let Some(l) = latest
            && self.blob_present(&l.sha256).await
        {
            return Ok(Step::Done((Package::Unchanged, l.cloud_checksum.clone())));
        }
        // The same CRC-64 with another size or modified time: the bytes decide (SHA-256).
        let force_download = package_hint == PackageHint::Suspect;
        let attempts = self.retry.attempts;
        let mut attempt = 0;
        // The SHA-256 of the last download that did not match the cloud's checksum.
        let mut last_mismatch: Option<String> = None;
        loop {
            attempt += 1;
            let location = match self.resolve_package(client, target).await {
                Ok(l) => l,
                Err(e) if e.is_retryable() && attempt < attempts => {
                    if !self
                        .backoff(target, attempt, e.retry_after, &e.to_string(), shutdown)
                        .await
                    {
                        return Ok(Step::Interrupted);
                    }
                    continue;
                }
                Err(e) => return Err(with_attempts(e.to_string(), attempt)),
            };
            let cloud_checksum = location.checksum.to_db_string();
            if !force_download && self.compare_package(latest, &cloud_checksum).await {
                return Ok(Step::Done((Package::Unchanged, cloud_checksum)));
            }
            let result = match self.fetch_package(target, &location, shutdown).await? {
                Step::Done(r) => r,
                Step::Interrupted => return Ok(Step::Interrupted),
            };
            let same_wrong_bytes = match &result {
                Err(e) => {
                    let got = e.mismatched_sha256().map(str::to_string);
                    let again = got.is_some() && got == last_mismatch;
                    last_mismatch = got;
                    again
                }
                Ok(_) => false,
            };
            match result {
                Ok(d) => return Ok(Step::Done((Package::Fetched(d), cloud_checksum))),
                Err(e) if same_wrong_bytes => {
                    return Err(with_attempts(
                        format!(
                            "{e}; the same bytes arrived twice, so the cloud's checksum does not \
                             describe the package it serves (not retried further)"
                        ),
                        attempt,
                    ));
                }
                Err(e) if e.is_retryable() && attempt < attempts => {
                    if !self
                        .backoff(target, attempt, None, &e.to_string(), shutdown)
                        .await
                    {
                        return Ok(Step::Interrupted);
                    }
                }
                Err(e) => return Err(with_attempts(e.to_string(), attempt)),
            }
        }
    }

    /// Stage resolve (package): one paced call for the package's address and checksum.
    async fn resolve_package(
        &self,
        client: &cloud::Client,
        target: &Target,
    ) -> Result<CodeLocation, cloud::CloudError> {
        client.pace().await;
        let resolved = client.resolve(target).await;
        self.observer
            .api_call(target, resolved.as_ref().map(|_| ()));
        resolved
    }

    /// Stage compare (package): the cloud serves the latest archived package, and its blob is
    /// on disk.
    async fn compare_package(&self, latest: &Option<LatestVersion>, cloud_checksum: &str) -> bool {
        match latest {
            Some(l) if l.cloud_checksum == cloud_checksum => self.blob_present(&l.sha256).await,
            _ => false,
        }
    }

    /// Whether blob `sha256` is in the archive. On object storage this is a HEAD request, so
    /// it runs off the async workers.
    pub(super) async fn blob_present(&self, sha256: &str) -> bool {
        let (archive, sha) = (self.archive.clone(), sha256.to_string());
        tokio::task::spawn_blocking(move || archive.contains(&sha))
            .await
            .unwrap_or(false)
    }

    /// Stage fetch+verify: one download slot, the streamed and hashed download.
    pub(super) async fn fetch_package(
        &self,
        target: &Target,
        location: &CodeLocation,
        shutdown: &Shutdown,
    ) -> Result<Step<Result<fetch::Downloaded, fetch::FetchError>>, String> {
        // After a stop, a download still waiting for its slot is new work: it never starts
        // (review A2); only those already running get the grace period.
        let _permit = tokio::select! {
            biased;
            _ = shutdown.stopped() => return Ok(Step::Interrupted),
            permit = self.downloads.acquire() => {
                permit.map_err(|_| "download slots closed".to_string())?
            }
        };
        let observer = &self.observer;
        let progress = |p: fetch::Progress| match p {
            fetch::Progress::Started { expected } => observer.download_started(target, expected),
            fetch::Progress::Received(n) => observer.download_received(target, n),
        };
        let result = fetch::download_with_progress(
            &self.http,
            location,
            &self.archive,
            self.max_package_size,
            &progress,
        )
        .await;
        observer.download_ended(target);
        Ok(Step::Done(result))
    }

    /// Stage store (package): the verified temp file becomes a durable blob. Nothing is
    /// journaled yet, so a failure here leaves at most an unreferenced blob.
    pub(super) async fn store_package(&self, d: fetch::Downloaded) -> Result<Stored, String> {
        let archive = self.archive.clone();
        let sha = d.sha256_hex();
        tokio::task::spawn_blocking(move || archive.store(d.tmp, &sha))
            .await
            .map_err(|e| format!("storing the blob: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// Stages store (configuration document, journal lines) and record (database), for the
    /// plan decided above.
    async fn store_and_record(
        &self,
        target: &Target,
        function_id: i64,
        latest: &Option<LatestVersion>,
        captured: Captured,
        plan: Plan,
        (sweep_id, shutdown): (i64, &Shutdown),
    ) -> Result<Outcome, String> {
        let Captured {
            snapshot,
            layers,
            document_is_latest,
        } = captured;
        let layers = &layers[..];
        let now = crate::time::now_rfc3339();
        let (package, code_changed, config_changed) = match plan {
            Plan::Unchanged => {
                // Only a missing document blob is written again (same bytes, same name).
                if let Some(s) = snapshot
                    && document_is_latest
                    && !self.blob_present(&s.sha256).await
                {
                    self.store_document(s.bytes).await?;
                }
                // A version archived before layers were gets its links now (not a change).
                if let Some(l) = latest {
                    self.link_layers(target, l.version_no, layers).await;
                }
                return self
                    .record_unchanged(target, function_id, latest, &now)
                    .await;
            }
            Plan::Attach => {
                let (Some(s), Some(l)) = (snapshot, latest) else {
                    return Err("internal: nothing to attach".into());
                };
                // A version archived before configurations were read was made by a package
                // change; whether its configuration changed then is not known.
                let config = VersionConfig {
                    config_sha256: s.sha256.clone(),
                    code_changed: true,
                    config_changed: false,
                    cloud_modified: s.cloud_modified.clone(),
                };
                let record = ConfigRecord {
                    key: target.key.clone(),
                    version_no: l.version_no,
                    config_sha256: s.sha256.clone(),
                    code_changed: config.code_changed,
                    config_changed: config.config_changed,
                    cloud_modified: config.cloud_modified.clone(),
                };
                let archive = self.archive.clone();
                let journaled = tokio::task::spawn_blocking(move || {
                    archive.store_document(&s.bytes)?;
                    archive.journal().append(&Event::Config(record))
                })
                .await;
                self.journaled(journaled)?;
                let version_no = l.version_no;
                let (version_id, at) = (l.id, now.clone());
                self.db(move |db| {
                    db.attach_config(function_id, version_no, &config, &at)?;
                    db.record_unchanged(function_id, version_id, &at)
                })
                .await
                .map_err(|e| e.to_string())?;
                self.link_layers(target, version_no, layers).await;
                tracing::info!(function = %target.key, version = version_no, "attached the function's first configuration snapshot to its current version");
                return Ok(Outcome::Unchanged);
            }
            Plan::NewVersion {
                package,
                code_changed,
                config_changed,
            } => (package, code_changed, config_changed),
        };

        let config = snapshot.as_ref().map(|s| VersionConfig {
            config_sha256: s.sha256.clone(),
            code_changed,
            config_changed,
            cloud_modified: s.cloud_modified.clone(),
        });
        let record = VersionRecord {
            target: target.clone(),
            version_no: 0, // numbered below, from the journal and the database together
            cloud_checksum: package.cloud_checksum.clone(),
            sha256: package.sha256.clone(),
            crc64: package.crc64,
            size: package.size,
            first_seen: now.clone(),
            previous_last_seen: latest.as_ref().map(|l| l.last_seen.clone()),
        };
        let db_latest_no = latest.as_ref().map(|l| l.version_no);
        let archive = self.archive.clone();
        let document = snapshot.map(|s| s.bytes);
        let journal_config = config.clone();
        let journaled = tokio::task::spawn_blocking(move || {
            // Every blob durable → journal lines durable → database row: a row never lacks
            // its lines, and lines without a row are adopted by the next writer.
            if let Some(bytes) = &document {
                archive.store_document(bytes)?;
            }
            let mut record = record;
            let version_no = next_version_no(&archive, &record.target.key, db_latest_no)?;
            record.version_no = version_no;
            let key = record.target.key.clone();
            archive.journal().append(&Event::Version(record))?;
            if let Some(c) = journal_config {
                archive.journal().append(&Event::Config(ConfigRecord {
                    key,
                    version_no,
                    config_sha256: c.config_sha256,
                    code_changed: c.code_changed,
                    config_changed: c.config_changed,
                    cloud_modified: c.cloud_modified,
                }))?;
            }
            Ok::<_, ArchiveError>(version_no)
        })
        .await;
        let version_no = self.journaled(journaled)?;
        let sha256 = package.sha256.clone();
        let cloud_checksum_of_record = package.cloud_checksum.clone();
        let size = package.size;
        let at = now.clone();
        let recorded = self
            .db(move |db| match &config {
                Some(c) => db.record_version_with_config(
                    function_id,
                    version_no,
                    &package,
                    c,
                    Some(sweep_id),
                    &at,
                ),
                None => db.record_journaled_version(
                    function_id,
                    version_no,
                    &package,
                    Some(sweep_id),
                    &at,
                ),
            })
            .await;
        if let Err(e) = recorded {
            self.journal_ahead
                .store(true, std::sync::atomic::Ordering::SeqCst);
            return Err(e.to_string());
        }
        self.link_layers(target, version_no, layers).await;
        if code_changed && !is_image(&cloud_checksum_of_record) {
            // The version is recorded: a stop does not wait for this best-effort read (the
            // next sweep's catch-up reads the manifest), and the function still counts as
            // archived (`process_inner` prefers a finished pipeline to the abort).
            tokio::select! {
                biased;
                _ = shutdown.aborted() => {}
                _ = self.read_manifest(target, &sha256) => {}
            }
        }
        tracing::info!(
            function = %target.key,
            version = version_no,
            size,
            sha256 = %sha256,
            code_changed,
            config_changed,
            "archived"
        );
        Ok(if latest.is_none() {
            Outcome::New {
                version_no,
                size,
                sha256,
            }
        } else {
            Outcome::Changed {
                version_no,
                size,
                sha256,
            }
        })
    }

    /// A journal step's result. Whatever failed once an append may have been attempted, the
    /// next sweep adopts what the journal holds before numbering (and numbers from it anyway).
    pub(super) fn journaled<T>(
        &self,
        r: Result<Result<T, ArchiveError>, tokio::task::JoinError>,
    ) -> Result<T, String> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.journal_ahead
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Err(e.to_string())
            }
            Err(e) => {
                self.journal_ahead
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Err(format!("storing the blob: {e}"))
            }
        }
    }

    async fn store_document(&self, bytes: Vec<u8>) -> Result<(), String> {
        let archive = self.archive.clone();
        tokio::task::spawn_blocking(move || archive.store_document(&bytes).map(|_| ()))
            .await
            .map_err(|e| format!("storing the configuration: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// Stage record when nothing changed: the check in the database (the sighting reaches
    /// the journal's `sightings.json` at the end of the sweep).
    async fn record_unchanged(
        &self,
        target: &Target,
        function_id: i64,
        latest: &Option<LatestVersion>,
        now: &str,
    ) -> Result<Outcome, String> {
        let Some(latest) = latest else {
            return Err("internal: unchanged without a latest version".into());
        };
        let (version_id, now) = (latest.id, now.to_string());
        self.db(move |db| db.record_unchanged(function_id, version_id, &now))
            .await
            .map_err(|e| e.to_string())?;
        tracing::debug!(function = %target.key, "unchanged");
        Ok(Outcome::Unchanged)
    }
}

/// The `cloud_checksum` of a container-image version: `image:` and the image reference. The
/// version's blob is its configuration document (there is no package).
pub const IMAGE_PREFIX: &str = "image:";

/// Whether a version's `cloud_checksum` says it is a container image.
pub fn is_image(cloud_checksum: &str) -> bool {
    cloud_checksum.starts_with(IMAGE_PREFIX)
}

/// The plan for a container-image function: the image reference stands in for the package
/// checksum (a new image or digest is a code change), the configuration document for the
/// package blob.
fn image_plan(
    s: &Snapshot,
    image: &str,
    latest: &Option<LatestVersion>,
    previous_config: &Option<VersionConfig>,
    config_changed: bool,
) -> Plan {
    let cloud_checksum = format!("{IMAGE_PREFIX}{image}");
    let package = NewVersion {
        cloud_checksum: cloud_checksum.clone(),
        sha256: s.sha256.clone(),
        crc64: crate::fetch::crc64(&s.bytes),
        size: s.bytes.len() as u64,
    };
    let Some(l) = latest else {
        return Plan::NewVersion {
            package,
            code_changed: true,
            config_changed: true,
        };
    };
    let code_changed = l.cloud_checksum != cloud_checksum;
    match previous_config {
        // The same image and document: nothing new.
        Some(_) if !code_changed && !config_changed => Plan::Unchanged,
        // An image version always has its configuration; one without was a package version
        // (the function became an image): a change.
        _ => Plan::NewVersion {
            package,
            code_changed,
            config_changed: config_changed || previous_config.is_none(),
        },
    }
}
