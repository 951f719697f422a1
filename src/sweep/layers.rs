//! The layer stages of one function: every layer version its configuration names is resolved
//! (SCF / FC `GetLayerVersion`), fetched and verified by the package's own code
//! (`fetch_package`: the download slot, SHA-256 and CRC-64 in one pass), stored as a blob,
//! journaled (`layer` line, in the layer's own journal file) and recorded (`layers` row) —
//! once: a layer version is immutable, so one already recorded with its blob present costs no
//! API call at all. Two functions of one sweep naming the same new layer take turns on a
//! per-key lock, so the second finds the first's row instead of downloading it again.
//!
//! A layer that cannot be archived fails its function with the layer's name and version and
//! the cloud's error; the function then records nothing (its version row is never written).

use crate::archive::journal::{Event, LayerRecord};
use crate::capture::{LayerRef, Snapshot};
use crate::cloud::{self, Target};
use crate::shutdown::Shutdown;

use super::stages::Step;
use super::{Sweeper, with_attempts};

impl Sweeper {
    /// Stage layers: archives every layer `snapshot` names (those not archived yet) and
    /// returns their keys in the cloud's order.
    pub(super) async fn layer_stages(
        &self,
        client: &cloud::Client,
        target: &Target,
        snapshot: &Snapshot,
        shutdown: &Shutdown,
        bytes: &mut u64,
    ) -> Result<Step<Vec<String>>, String> {
        let mut keys = Vec::with_capacity(snapshot.layers.len());
        for l in &snapshot.layers {
            match self
                .archive_layer(client, target, l, shutdown, bytes)
                .await
                .map_err(|e| format!("layer {} version {}: {e}", l.name, l.version))?
            {
                Step::Done(k) => keys.push(k),
                Step::Interrupted => return Ok(Step::Interrupted),
            }
        }
        Ok(Step::Done(keys))
    }

    /// One layer version: already archived (row and blob) → nothing to do; else resolve →
    /// fetch+verify → store → journal → record. Returns its key.
    async fn archive_layer(
        &self,
        client: &cloud::Client,
        target: &Target,
        l: &LayerRef,
        shutdown: &Shutdown,
        bytes: &mut u64,
    ) -> Result<Step<String>, String> {
        let region = l.region.as_deref().unwrap_or(&target.region).to_string();
        let key = LayerRecord::key_of(&target.account, &region, &l.name, &l.version);
        let turn = {
            let mut locks = self.layer_locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        let _turn = turn.lock().await;
        let k = key.clone();
        let known = self
            .db(move |db| db.layer_by_key(&k))
            .await
            .map_err(|e| e.to_string())?;
        if let Some(row) = &known
            && self.blob_present(&row.sha256).await
        {
            return Ok(Step::Done(key));
        }

        let attempts = self.retry.attempts;
        let mut attempt = 0;
        let mut last_mismatch: Option<String> = None;
        let (downloaded, cloud_checksum) = loop {
            attempt += 1;
            client.pace().await;
            let resolved = client
                .resolve_layer(target, &region, &l.name, &l.version)
                .await;
            self.observer
                .api_call(target, resolved.as_ref().map(|_| ()));
            let location = match resolved {
                Ok(loc) => loc,
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
            let result = match self.fetch_package(target, &location, shutdown).await? {
                Step::Done(r) => r,
                Step::Interrupted => return Ok(Step::Interrupted),
            };
            match result {
                Ok(d) => break (d, location.checksum.to_db_string()),
                Err(e) => {
                    let got = e.mismatched_sha256().map(str::to_string);
                    if got.is_some() && got == last_mismatch {
                        return Err(with_attempts(
                            format!(
                                "{e}; the same bytes arrived twice, so the cloud's checksum does \
                                 not describe the layer it serves (not retried further)"
                            ),
                            attempt,
                        ));
                    }
                    last_mismatch = got;
                    if e.is_retryable() && attempt < attempts {
                        if !self
                            .backoff(target, attempt, None, &e.to_string(), shutdown)
                            .await
                        {
                            return Ok(Step::Interrupted);
                        }
                    } else {
                        return Err(with_attempts(e.to_string(), attempt));
                    }
                }
            }
        };
        let sha256 = downloaded.sha256_hex();
        if let Some(row) = &known
            && row.sha256 != sha256
        {
            // Immutable: the archived record stands, the different bytes are not kept.
            return Err(format!(
                "archived as blob {} but the cloud now serves {sha256} for this immutable \
                 layer version; the archived record is kept",
                row.sha256
            ));
        }
        let (crc64, size) = (downloaded.crc64, downloaded.size);
        *bytes += size;
        self.store_package(downloaded).await?;
        if known.is_some() {
            tracing::warn!(layer = %key, sha256 = %sha256, "restored a missing layer blob");
            return Ok(Step::Done(key));
        }
        let record = LayerRecord {
            key: key.clone(),
            cloud: target.cloud,
            account: target.account.clone(),
            region,
            name: l.name.clone(),
            version: l.version.clone(),
            cloud_checksum,
            sha256,
            crc64,
            size,
            first_seen: crate::time::now_rfc3339(),
        };
        let row = crate::recovery::layer_row(&record);
        let archive = self.archive.clone();
        let journaled =
            tokio::task::spawn_blocking(move || archive.journal().append(&Event::Layer(record)))
                .await;
        self.journaled(journaled)?;
        self.db(move |db| db.record_layer(&row))
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(layer = %key, size, "archived a layer version");
        Ok(Step::Done(key))
    }

    /// Links version `version_no` of `target` to `layers` (journal line, then rows) unless it
    /// has links already. A failure is only logged: the next sweep links it (the version's
    /// configuration still names its layers).
    pub(super) async fn link_layers(&self, target: &Target, version_no: i64, layers: &[String]) {
        if layers.is_empty() {
            return;
        }
        let key = target.key.clone();
        let keys = layers.to_vec();
        let linked = self
            .db(move |db| {
                let id: Option<i64> = db.version_id(&key, version_no)?;
                match id {
                    Some(id) => Ok(!db.layers_of_version(id)?.is_empty()),
                    None => Ok(true),
                }
            })
            .await;
        match linked {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(function = %target.key, "layers: {e}");
                return;
            }
        }
        let event = Event::Layers {
            key: target.key.clone(),
            version_no,
            layers: keys.clone(),
        };
        let archive = self.archive.clone();
        match tokio::task::spawn_blocking(move || archive.journal().append(&event)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(function = %target.key, "journal: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!(function = %target.key, "journal: {e}");
                return;
            }
        }
        let key = target.key.clone();
        if let Err(e) = self
            .db(move |db| db.link_layers(&key, version_no, &keys))
            .await
        {
            tracing::warn!(function = %target.key, "layers: {e}");
        }
    }
}
