//! Keeping the database and the self-describing archive in agreement, and rebuilding the
//! database from the archive alone.
//!
//! Owns: the reconciliation run by every writer when it takes the locks ([`reconcile`]),
//! manifest back-filling ([`fill_manifests`]), the list of blobs no version references
//! ([`unreferenced_blobs`]) and `fnvault reindex` ([`reindex`]). Calls `archive` (blobs and
//! journal), `db` and `manifest`.
//!
//! Crash windows of a new version, and what the next writer does about each:
//! 1. killed before the blob's rename: nothing in `blobs/` (the temp file is cleaned);
//! 2. after the rename, before the journal line: an unreferenced blob. It is adopted when the
//!    next sweep archives the same package (the store finds it present), and `prune` deletes
//!    it otherwise. No sweep deletes a blob: a blob without a row may be all that is left of
//!    a lost database;
//! 3. after the journal line, before the row: [`reconcile`] adopts the version from the
//!    journal;
//! 4. after the row: complete.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::archive::journal::{ConfigRecord, Event, LayerRecord, VersionRecord};
use crate::archive::{Archive, ArchiveError, BlobFile, LockGuard};
use crate::db::{Adopted, Db, DbError, VersionConfig};
use crate::manifest;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Refused(String),
}

/// What [`reconcile`] did.
#[derive(Debug, Default, Clone)]
pub struct Reconciled {
    /// Versions the journal had and the database lacked, now inserted.
    pub adopted: usize,
    /// Versions the database had and the journal lacked (archives older than the journal),
    /// now journaled.
    pub journaled: usize,
    /// Configurations the journal had and the database lacked, now attached.
    pub adopted_configs: usize,
    /// Layer versions and version→layer links the journal had and the database lacked.
    pub adopted_layers: usize,
    /// `key@version` of adopted versions whose blob is missing (verify will report them).
    pub missing_blobs: Vec<String>,
    /// Journal lines that disagree with the database or could not be read.
    pub problems: Vec<String>,
    /// Alias states rebuilt from the alias journal because the database's differed.
    pub alias_states: usize,
    /// Whether this was the full reconcile (every journal file read whole) rather than a read
    /// of what the journal gained since the watermarks.
    pub full: bool,
    /// Journal files read (whole, or from their watermark on).
    pub files_read: usize,
}

/// The `journal` names of the watermarks (`journal_watermarks`, migration 0012).
const META: &str = "meta";
const ALIASES: &str = "aliases";

/// Makes the journal and the database agree: adopts journaled versions the database lacks
/// (skipping pruned ones) with their latest `seen` time, and journals versions the database
/// has that the journal lacks. The database wins a disagreement; it is reported.
///
/// Reads only what the journal gained since the last reconcile of this database (a watermark
/// per journal file, migration 0012): everything before a watermark was adopted (or reported)
/// then, and every writer appends journal lines only while it holds the locks, after the
/// reconcile that opened it. A database without watermarks (new, lost, restored from a backup
/// older than 0012, upgraded), a journal file gone or shorter than its watermark (a replaced
/// or restored archive), a file whose watermark is not where a line starts, or a merge of
/// latest-alias histories gets the full reconcile instead. `reindex` builds a new database,
/// so it always gets the full one.
pub fn reconcile(
    archive: &Archive,
    db: &mut Db,
    _lock: &LockGuard,
) -> Result<Reconciled, RecoveryError> {
    reconcile_held(archive, db)
}

/// [`reconcile`] for a caller that cannot show the guard but only exists while its opener
/// holds both locks (a `Sweeper`).
pub(crate) fn reconcile_held(archive: &Archive, db: &mut Db) -> Result<Reconciled, RecoveryError> {
    if db.full_reconcile_done()?.is_some() {
        match reconcile_since_watermarks(archive, db)? {
            Since::Done(r) => return Ok(r),
            Since::NeedsFull(why) => {
                tracing::warn!("{why}: reading the whole journal (the full reconcile)");
            }
        }
    }
    reconcile_full(archive, db)
}

/// What reading from the watermarks found.
enum Since {
    Done(Reconciled),
    /// Only the full reconcile can make the two agree; why, for the log.
    NeedsFull(String),
}

/// The reconcile of what each journal file gained since its watermark: lines are read from
/// the watermark on, one file at a time, and each is looked up in the database by key and
/// number (no version is loaded otherwise). Returns `NeedsFull` (having changed nothing that
/// the full reconcile would not) when the watermarks cannot be trusted.
fn reconcile_since_watermarks(archive: &Archive, db: &mut Db) -> Result<Since, RecoveryError> {
    use crate::archive::journal::Tail;
    let journal = archive.journal();
    // Both sorted by name: walked side by side (at 100,000 files, hashing every name was a
    // tenth of a start).
    let marks = db.watermarks_sorted(META)?;
    let files = journal.files_with_sizes()?;
    let gone = |name: &str| {
        Since::NeedsFull(format!(
            "journal file {name}, reconciled before, is gone (a replaced or restored archive)"
        ))
    };
    let mut marks_left = marks.iter().peekable();
    let mut changed = Vec::new();
    for f in &files {
        let mut from = 0;
        if let Some((name, offset)) = marks_left.peek() {
            match name.as_str().cmp(f.name.as_str()) {
                // A watermark for a name before this file's, not matched so far: no file.
                std::cmp::Ordering::Less => return Ok(gone(name)),
                std::cmp::Ordering::Equal => {
                    from = *offset;
                    marks_left.next();
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        if f.size == from {
            continue;
        }
        if f.size < from {
            return Ok(Since::NeedsFull(format!(
                "journal file {} holds {} bytes, fewer than the {from} reconciled before (a replaced or restored archive)",
                journal.path_of(&f.name).display(),
                f.size
            )));
        }
        changed.push((f, journal.path_of(&f.name), from));
    }
    if let Some((name, _)) = marks_left.next() {
        return Ok(gone(name));
    }
    let mut out = Reconciled {
        files_read: changed.len(),
        ..Reconciled::default()
    };
    // Per file: the watermark it gets (never past a line that gave a problem).
    let mut new_marks: HashMap<String, u64> = HashMap::new();
    // Links name layers that may be in a file read later: linked once every file is read.
    let mut links: Vec<(String, i64, Vec<String>, String, u64)> = Vec::new();
    let mut adopted_ids: HashSet<(String, i64)> = HashSet::new();
    let now = crate::time::now_rfc3339();
    for (f, path, from) in changed {
        let (lines, end) = match journal.read_tail(&path, from)? {
            Tail::Lines { lines, end } => (lines, end),
            Tail::Misaligned => {
                return Ok(Since::NeedsFull(format!(
                    "journal file {}: its watermark ({from}) is not where a line starts (a replaced archive)",
                    path.display()
                )));
            }
        };
        let mut clean = end;
        let mut pruned: HashSet<(String, i64)> = HashSet::new();
        let mut seen: HashMap<(String, i64), String> = HashMap::new();
        for line in &lines {
            let events = match &line.parsed {
                Ok(events) => events,
                Err(why) => {
                    out.problems
                        .push(format!("{}@{}: {why}", path.display(), line.start));
                    clean = clean.min(line.start);
                    continue;
                }
            };
            for e in events {
                match e {
                    // Merges are the full reconcile's (`merge_latest_aliases`): a line from an
                    // fnvault that kept latest-alias keys, or a merge, needs every file.
                    Event::Merged { .. } => {
                        return Ok(Since::NeedsFull(format!(
                            "journal file {}: a merge of latest-alias histories",
                            path.display()
                        )));
                    }
                    Event::Version(v)
                        if v.target.qualifier.as_deref()
                            == Some(crate::cloud::latest_alias(v.target.cloud)) =>
                    {
                        return Ok(Since::NeedsFull(format!(
                            "journal file {}: a version kept under the latest alias `{}`",
                            path.display(),
                            v.target.key
                        )));
                    }
                    Event::Version(v) => {
                        if let Some(t) = &v.previous_last_seen {
                            note_time(&mut seen, &v.target.key, v.version_no - 1, t);
                        }
                    }
                    Event::Seen {
                        key,
                        version_no,
                        time,
                    } => note_time(&mut seen, key, *version_no, time),
                    Event::Pruned {
                        key, version_no, ..
                    } => {
                        pruned.insert((key.clone(), *version_no));
                    }
                    _ => {}
                }
            }
        }
        for line in &lines {
            let Ok(events) = &line.parsed else {
                continue;
            };
            for e in events {
                let problem = apply_new_event(
                    archive,
                    db,
                    e,
                    &pruned,
                    &now,
                    &mut out,
                    &mut adopted_ids,
                    &mut links,
                    &f.name,
                    line.start,
                )?;
                if problem {
                    clean = clean.min(line.start);
                }
            }
        }
        for (id, time) in &seen {
            if adopted_ids.contains(id) {
                db.note_seen(&id.0, id.1, time)?;
            }
        }
        new_marks.insert(f.name.clone(), clean);
    }
    for (key, version_no, keys, file, start) in links {
        if let Some(problem) = link_new(db, &key, version_no, &keys, &mut out)? {
            out.problems.push(problem);
            let mark = new_marks.entry(file).or_insert(start);
            *mark = (*mark).min(start);
        }
    }
    if !adopted_ids.is_empty() {
        // The current version's last sighting is kept in `sightings.json`, not in a line.
        match journal.read_sightings() {
            Ok(list) => {
                for s in list {
                    if adopted_ids.contains(&(s.key.clone(), s.version_no)) {
                        db.note_seen(&s.key, s.version_no, &s.last_seen)?;
                    }
                }
            }
            Err(e) => out.problems.push(e),
        }
    }
    reconcile_aliases(archive, db, &mut out, false)?;
    let set: Vec<(String, u64)> = new_marks.into_iter().collect();
    db.record_watermarks(META, &set, &[])?;
    Ok(Since::Done(out))
}

/// Keeps the latest of the times `key@version_no` was seen.
fn note_time(seen: &mut HashMap<(String, i64), String>, key: &str, version_no: i64, time: &str) {
    let slot = seen.entry((key.to_string(), version_no)).or_default();
    if time > slot.as_str() {
        *slot = time.to_string();
    }
}

/// Applies one event of a journal line read past its file's watermark, as the full reconcile
/// would: a version, configuration or layer the database lacks is recorded; a disagreement is
/// reported and the database's kept. Returns whether it gave a problem (the file's watermark
/// then stays before the line, so the problem is reported again).
#[allow(clippy::too_many_arguments)]
fn apply_new_event(
    archive: &Archive,
    db: &mut Db,
    event: &Event,
    pruned: &HashSet<(String, i64)>,
    now: &str,
    out: &mut Reconciled,
    adopted_ids: &mut HashSet<(String, i64)>,
    links: &mut Vec<(String, i64, Vec<String>, String, u64)>,
    file: &str,
    start: u64,
) -> Result<bool, RecoveryError> {
    match event {
        Event::Version(v) => {
            let id = (v.target.key.clone(), v.version_no);
            if pruned.contains(&id) {
                return Ok(false);
            }
            match db.version_sha256(&id.0, id.1)? {
                Some(sha) if sha == v.sha256 => Ok(false),
                Some(sha) => {
                    out.problems.push(format!(
                        "{}@{}: the journal says blob {}, the database {sha}; keeping the database's",
                        id.0, id.1, v.sha256
                    ));
                    Ok(true)
                }
                None => match db.adopt_version(v)? {
                    Adopted::Inserted => {
                        out.adopted += 1;
                        if !archive.contains(&v.sha256) {
                            out.missing_blobs.push(format!("{}@{}", id.0, id.1));
                        }
                        adopted_ids.insert(id);
                        Ok(false)
                    }
                    Adopted::AlreadyThere => Ok(false),
                    Adopted::Conflict { db_sha256 } => {
                        out.problems.push(format!(
                            "{}@{}: the journal has two packages for this version ({} and {db_sha256}); keeping the first",
                            id.0, id.1, v.sha256
                        ));
                        Ok(true)
                    }
                },
            }
        }
        Event::Config(c) => {
            let id = (c.key.clone(), c.version_no);
            if pruned.contains(&id) {
                return Ok(false);
            }
            let Some(version_id) = db.version_id(&c.key, c.version_no)? else {
                // No version to attach it to (the full reconcile does the same: nothing).
                return Ok(false);
            };
            match db.config_of_version(version_id)? {
                Some(have) if have.config_sha256 == c.config_sha256 => Ok(false),
                Some(have) => {
                    out.problems.push(format!(
                        "{}@{}: the journal says configuration {}, the database {}; keeping the database's",
                        id.0, id.1, c.config_sha256, have.config_sha256
                    ));
                    Ok(true)
                }
                None => {
                    if db.attach_config_by_key(&c.key, c.version_no, &version_config(c), now)? {
                        out.adopted_configs += 1;
                        if !archive.contains(&c.config_sha256) {
                            out.missing_blobs
                                .push(format!("{}@{} (configuration)", id.0, id.1));
                        }
                    }
                    Ok(false)
                }
            }
        }
        Event::Layer(l) => {
            if db.record_layer(&layer_row(l))? {
                out.adopted_layers += 1;
                if !archive.contains(&l.sha256) {
                    out.missing_blobs.push(format!("{} (layer)", l.key));
                }
            }
            Ok(false)
        }
        Event::Layers {
            key,
            version_no,
            layers,
        } => {
            if !pruned.contains(&(key.clone(), *version_no)) {
                links.push((
                    key.clone(),
                    *version_no,
                    layers.clone(),
                    file.to_string(),
                    start,
                ));
            }
            Ok(false)
        }
        Event::Seen { .. } | Event::Pruned { .. } | Event::Merged { .. } => Ok(false),
    }
}

/// Links a version read past a watermark to its layers, unless linked already; a problem
/// (different layers, or a layer not archived) is returned.
fn link_new(
    db: &mut Db,
    key: &str,
    version_no: i64,
    keys: &[String],
    out: &mut Reconciled,
) -> Result<Option<String>, RecoveryError> {
    let Some(version_id) = db.version_id(key, version_no)? else {
        return Ok(None);
    };
    let have: Vec<String> = db
        .layers_of_version(version_id)?
        .into_iter()
        .map(|l| l.key)
        .collect();
    if have.is_empty() {
        return Ok(match db.link_layers(key, version_no, keys) {
            Ok(true) => {
                out.adopted_layers += 1;
                None
            }
            Ok(false) => None,
            Err(e) => Some(e.to_string()),
        });
    }
    Ok((have != keys).then(|| {
        format!(
            "{key}@{version_no}: the journal and the database name different layers; keeping the database's"
        )
    }))
}

/// The alias journal: its states are rebuilt (when the database's differ) from the whole
/// alias journal, which is read only when `full` or when a file of it changed since its
/// watermark (alias states are a function of each alias's whole history).
fn reconcile_aliases(
    archive: &Archive,
    db: &mut Db,
    out: &mut Reconciled,
    full: bool,
) -> Result<(), RecoveryError> {
    let alias_journal = archive.alias_journal();
    let files = alias_journal.files_with_sizes()?;
    if !full {
        let marks = db.watermarks(ALIASES)?;
        let unchanged =
            marks.len() == files.len() && files.iter().all(|f| marks.get(&f.name) == Some(&f.size));
        if unchanged {
            return Ok(());
        }
    }
    let aliases = alias_journal.read_all()?;
    let clean = aliases.problems.is_empty();
    out.problems.extend(aliases.problems);
    let states = alias_states(&aliases.events);
    if states != db.all_alias_states()? {
        db.replace_alias_states(&states)?;
        out.alias_states = states.len();
    }
    // With a problem, no watermark: the alias journal is read, and the problem reported,
    // again at the next start.
    let mut set = Vec::new();
    if clean {
        for f in files {
            set.push((f.name.clone(), alias_journal.watermark_for(&f)?));
        }
    }
    db.replace_watermarks(ALIASES, &set)?;
    Ok(())
}

/// The full reconcile: every journal file read whole, every version of the database compared
/// with them. Records the watermarks the next reconcile reads from.
fn reconcile_full(archive: &Archive, db: &mut Db) -> Result<Reconciled, RecoveryError> {
    // One commit for everything: a kill part-way leaves the database as it was (and no
    // watermarks), and the next writer does it all again (adopting is idempotent).
    db.in_one_transaction(|db| reconcile_full_in(archive, db))
}

fn reconcile_full_in(archive: &Archive, db: &mut Db) -> Result<Reconciled, RecoveryError> {
    use crate::archive::journal::file_name;
    let journal = archive.journal();
    let mut contents = journal.read_all()?;
    if merge_latest_aliases(archive, db, &contents)? > 0 {
        // The merge superseded lines: read what the journal says now.
        contents = journal.read_all()?;
    }
    let mut out = Reconciled {
        problems: std::mem::take(&mut contents.problems),
        full: true,
        files_read: contents.files,
        ..Reconciled::default()
    };
    // Files with a problem get no watermark: the next reconcile reads them (and reports the
    // problem) again, so `prune` keeps refusing until it is mended.
    let mut dirty: HashSet<String> = std::mem::take(&mut contents.problem_files);
    let mut dirty_key = |key: &str| {
        dirty.insert(file_name(&journal.file_for(key)));
    };
    let mut in_db: HashMap<(String, i64), String> = HashMap::new();
    db.for_each_version_key(|key, version_no, sha256, _| {
        in_db.insert((key, version_no), sha256);
    })?;
    let mut pruned = HashSet::new();
    let mut seen: HashMap<(String, i64), String> = HashMap::new();
    let mut versions: Vec<&VersionRecord> = Vec::new();
    let mut configs: Vec<&ConfigRecord> = Vec::new();
    let mut layers: Vec<&LayerRecord> = Vec::new();
    let mut links: Vec<(&String, i64, &Vec<String>)> = Vec::new();
    let mut saw = |key: &str, version_no: i64, time: &str| {
        let slot = seen.entry((key.to_string(), version_no)).or_default();
        if time > slot.as_str() {
            *slot = time.to_string();
        }
    };
    match journal.read_sightings() {
        Ok(list) => {
            for s in list {
                saw(&s.key, s.version_no, &s.last_seen);
            }
        }
        Err(e) => out.problems.push(e),
    }
    for event in &contents.events {
        match event {
            Event::Version(v) => {
                if let Some(t) = &v.previous_last_seen {
                    saw(&v.target.key, v.version_no - 1, t);
                }
                versions.push(v)
            }
            Event::Pruned {
                key, version_no, ..
            } => {
                pruned.insert((key.clone(), *version_no));
            }
            Event::Seen {
                key,
                version_no,
                time,
            } => saw(key, *version_no, time),
            Event::Merged { .. } => {}
            Event::Config(c) => configs.push(c),
            Event::Layer(l) => layers.push(l),
            Event::Layers {
                key,
                version_no,
                layers,
            } => links.push((key, *version_no, layers)),
        }
    }
    let mut journaled: HashSet<(String, i64)> = HashSet::new();
    let mut adopted_keys = Vec::new();
    for v in versions {
        let id = (v.target.key.clone(), v.version_no);
        journaled.insert(id.clone());
        if pruned.contains(&id) {
            continue;
        }
        match in_db.get(&id) {
            Some(sha) if *sha == v.sha256 => continue,
            Some(sha) => {
                out.problems.push(format!(
                    "{}@{}: the journal says blob {}, the database {sha}; keeping the database's",
                    id.0, id.1, v.sha256
                ));
                dirty_key(&id.0);
                continue;
            }
            None => {}
        }
        match db.adopt_version(v)? {
            Adopted::Inserted => {
                out.adopted += 1;
                if !archive.contains(&v.sha256) {
                    out.missing_blobs.push(format!("{}@{}", id.0, id.1));
                }
                in_db.insert(id.clone(), v.sha256.clone());
                adopted_keys.push(id);
            }
            Adopted::AlreadyThere => {}
            Adopted::Conflict { db_sha256 } => {
                out.problems.push(format!(
                    "{}@{}: the journal has two packages for this version ({} and {db_sha256}); keeping the first",
                    id.0, id.1, v.sha256
                ));
                dirty_key(&id.0);
            }
        }
    }
    for id in adopted_keys {
        if let Some(time) = seen.get(&id) {
            db.note_seen(&id.0, id.1, time)?;
        }
    }
    // Configurations: the journal's are attached to versions that have none (a kill between
    // the line and the row, or a rebuild); the database's win a disagreement, reported.
    let in_db_configs = db.all_configs()?;
    let now = crate::time::now_rfc3339();
    let mut config_journaled: HashSet<(String, i64)> = HashSet::new();
    for c in configs {
        let id = (c.key.clone(), c.version_no);
        config_journaled.insert(id.clone());
        if pruned.contains(&id) {
            continue;
        }
        match in_db_configs.get(&id) {
            Some(have) if have.config_sha256 == c.config_sha256 => {}
            Some(have) => {
                out.problems.push(format!(
                    "{}@{}: the journal says configuration {}, the database {}; keeping the database's",
                    id.0, id.1, c.config_sha256, have.config_sha256
                ));
                dirty_key(&id.0);
            }
            None => {
                if db.attach_config_by_key(&c.key, c.version_no, &version_config(c), &now)? {
                    out.adopted_configs += 1;
                    if !archive.contains(&c.config_sha256) {
                        out.missing_blobs
                            .push(format!("{}@{} (configuration)", id.0, id.1));
                    }
                }
            }
        }
    }
    for ((key, version_no), c) in &in_db_configs {
        if config_journaled.contains(&(key.clone(), *version_no)) {
            continue;
        }
        journal.append(&Event::Config(ConfigRecord {
            key: key.clone(),
            version_no: *version_no,
            config_sha256: c.config_sha256.clone(),
            code_changed: c.code_changed,
            config_changed: c.config_changed,
            cloud_modified: c.cloud_modified.clone(),
        }))?;
    }
    let layer_problems = out.problems.len();
    reconcile_layers(archive, db, &layers, &links, &pruned, &mut out)?;
    if out.problems.len() > layer_problems {
        // Which link gave it is not kept: every file with links is read again next time.
        for (key, _, _) in &links {
            dirty_key(key);
        }
    }
    // Archives written before the journal existed: give every recorded version its line.
    // Only the full reconcile does this (once per database, then whenever a journal file is
    // gone or shorter than its watermark): with the journal written before every row since,
    // a row without a line arises only from an archive older than the journal, or from a
    // journal file lost or replaced, which the watermarks detect. Scanning every version at
    // each start to find none was most of the start-up's time at 1,000,000 versions.
    // Only the rows without a line are read whole (all of them only for an archive older
    // than the journal).
    drop(in_db);
    let mut unjournaled = Vec::new();
    db.for_each_version_key(|key, version_no, _, id| {
        if !journaled.contains(&(key, version_no)) {
            unjournaled.push(id);
        }
    })?;
    for (f, v) in db.versions_with_functions_by_ids(&unjournaled)? {
        let crc64 = v.crc64.parse::<u64>().map_err(|_| DbError::Other {
            path: db.path().to_path_buf(),
            message: format!(
                "{}@{}: crc64 `{}` is not a decimal u64",
                f.target.key, v.version_no, v.crc64
            ),
        })?;
        journal.append(&Event::Version(VersionRecord {
            target: f.target.clone(),
            version_no: v.version_no,
            cloud_checksum: v.cloud_checksum.clone(),
            sha256: v.sha256.clone(),
            crc64,
            size: v.size.max(0) as u64,
            first_seen: v.first_seen.clone(),
            previous_last_seen: None,
        }))?;
        if v.last_seen != v.first_seen {
            journal.append(&Event::Seen {
                key: f.target.key.clone(),
                version_no: v.version_no,
                time: v.last_seen.clone(),
            })?;
        }
        out.journaled += 1;
    }
    reconcile_aliases(archive, db, &mut out, true)?;
    // Watermarks last: a kill before this leaves the database without (or with the old)
    // ones, and the next writer does this again (adopting is idempotent).
    let mut set = Vec::new();
    for f in journal.files_with_sizes()? {
        if !dirty.contains(&f.name) {
            set.push((f.name.clone(), journal.watermark_for(&f, &contents)?));
        }
    }
    db.replace_watermarks(META, &set)?;
    db.mark_full_reconcile(&crate::time::now_rfc3339())?;
    Ok(out)
}

/// Layers: journaled layer versions and links the database lacks are recorded (a kill
/// between a line and its row, or a rebuild); rows and links the journal lacks are journaled
/// (a merge of histories supersedes the function's earlier lines).
fn reconcile_layers(
    archive: &Archive,
    db: &mut Db,
    layers: &[&LayerRecord],
    links: &[(&String, i64, &Vec<String>)],
    pruned: &HashSet<(String, i64)>,
    out: &mut Reconciled,
) -> Result<(), RecoveryError> {
    let journal = archive.journal();
    let mut journaled_layers: HashSet<&str> = HashSet::new();
    for l in layers {
        journaled_layers.insert(&l.key);
        if db.record_layer(&layer_row(l))? {
            out.adopted_layers += 1;
            if !archive.contains(&l.sha256) {
                out.missing_blobs.push(format!("{} (layer)", l.key));
            }
        }
    }
    for l in db.all_layers()? {
        if journaled_layers.contains(l.key.as_str()) {
            continue;
        }
        let Some(cloud) = crate::cloud::Cloud::parse(&l.cloud) else {
            out.problems
                .push(format!("layer {}: unknown cloud `{}`", l.key, l.cloud));
            continue;
        };
        journal.append(&Event::Layer(LayerRecord {
            key: l.key.clone(),
            cloud,
            account: l.account.clone(),
            region: l.region.clone(),
            name: l.name.clone(),
            version: l.version.clone(),
            cloud_checksum: l.cloud_checksum.clone(),
            sha256: l.sha256.clone(),
            crc64: l.crc64,
            size: l.size,
            first_seen: l.first_seen.clone(),
        }))?;
    }
    let in_db = db.all_layer_links()?;
    let mut journaled_links: HashSet<(String, i64)> = HashSet::new();
    for (key, version_no, keys) in links {
        let id = ((*key).clone(), *version_no);
        journaled_links.insert(id.clone());
        if pruned.contains(&id) {
            continue;
        }
        match in_db.get(&id) {
            Some(have) if have == *keys => {}
            Some(_) => out.problems.push(format!(
                "{}@{}: the journal and the database name different layers; keeping the database's",
                id.0, id.1
            )),
            None => match db.link_layers(key, *version_no, keys) {
                Ok(true) => out.adopted_layers += 1,
                Ok(false) => {}
                Err(e) => out.problems.push(e.to_string()),
            },
        }
    }
    for ((key, version_no), keys) in in_db {
        if !journaled_links.contains(&(key.clone(), version_no)) {
            journal.append(&Event::Layers {
                key,
                version_no,
                layers: keys,
            })?;
        }
    }
    Ok(())
}

/// A journal `layer` line as the database keeps it.
pub(crate) fn layer_row(l: &LayerRecord) -> crate::db::LayerRow {
    crate::db::LayerRow {
        key: l.key.clone(),
        cloud: l.cloud.as_str().to_string(),
        account: l.account.clone(),
        region: l.region.clone(),
        name: l.name.clone(),
        version: l.version.clone(),
        cloud_checksum: l.cloud_checksum.clone(),
        sha256: l.sha256.clone(),
        crc64: l.crc64,
        size: l.size,
        first_seen: l.first_seen.clone(),
    }
}

/// The alias histories the alias journal describes (issue 14): per alias, each event opens a
/// state that the next one closes; an event that routes like the state before it changes
/// nothing, and a deletion of an alias never seen is nothing, as when a sweep records them
/// (`Db::record_alias_state`).
pub fn alias_states(events: &[crate::archive::aliases::AliasEvent]) -> Vec<crate::db::AliasState> {
    let mut by_alias: std::collections::BTreeMap<(&str, &str), Vec<crate::db::AliasState>> =
        std::collections::BTreeMap::new();
    for e in events {
        let states = by_alias.entry((&e.key, &e.alias)).or_default();
        match states.last_mut() {
            Some(last) if last.same_routing(&e.versions, e.deleted) => continue,
            Some(last) => last.to = Some(e.time.clone()),
            None if e.deleted => continue,
            None => {}
        }
        states.push(crate::db::AliasState {
            function_key: e.key.clone(),
            alias: e.alias.clone(),
            versions: e.versions.clone(),
            deleted: e.deleted,
            cloud_modified: e.cloud_modified.clone(),
            from: e.time.clone(),
            to: None,
        });
    }
    by_alias.into_values().flatten().collect()
}

/// A journal `config` line as the database keeps it.
pub(crate) fn version_config(c: &ConfigRecord) -> VersionConfig {
    VersionConfig {
        config_sha256: c.config_sha256.clone(),
        code_changed: c.code_changed,
        config_changed: c.config_changed,
        cloud_modified: c.cloud_modified.clone(),
    }
}

/// One version of a history being merged, with where it came from.
struct Candidate {
    key: String,
    version_no: i64,
    in_db: bool,
    cloud_checksum: String,
    sha256: String,
    crc64: u64,
    size: u64,
    first_seen: String,
    last_seen: String,
    /// Its configuration, which the merged history carries along.
    config: Option<VersionConfig>,
}

/// Merges what an older fnvault recorded under a function's latest alias (`name@$LATEST` on
/// SCF, `name@LATEST` on FC: the same code as `name`, now one canonical key) into one history
/// under the canonical key. Returns how many functions were merged; a no-op once done.
///
/// Per function: every version of the canonical key and of its alias keys, from the database
/// and the journal (a version the journal marks pruned is left out, as prune would have), is
/// ordered by first sighting (then key, then old number) and numbered 1..N. Duplicates are kept
/// (two keys that archived one package each have their row: nothing is dropped). The journal
/// gets a `merged` line in the canonical key's file followed by the whole merged history
/// (versions, with `seen` lines for their last sighting), fsynced, **before** the database is
/// changed in one transaction. A kill between the two is finished by the next writer: the
/// journal's merged history (the lines the `merged` line supersedes are no longer read) is
/// then the one adopted. `reindex` reads the same lines, so it rebuilds the merged history.
fn merge_latest_aliases(
    archive: &Archive,
    db: &mut Db,
    contents: &crate::archive::journal::Contents,
) -> Result<usize, RecoveryError> {
    use crate::cloud::{Target, latest_alias};
    use std::collections::{BTreeMap, BTreeSet};
    let is_alias = |t: &Target| t.qualifier.as_deref() == Some(latest_alias(t.cloud));
    let canonical_of = |t: &Target| {
        Target::new(
            t.cloud,
            &t.account,
            &t.region,
            &t.namespace,
            &t.name,
            t.qualifier.as_deref(),
        )
    };
    let journal = archive.journal();
    let mut groups: BTreeMap<String, (Target, BTreeSet<String>)> = BTreeMap::new();
    let mut note = |t: &Target| {
        if is_alias(t) {
            let c = canonical_of(t);
            groups
                .entry(c.key.clone())
                .or_insert_with(|| (c, BTreeSet::new()))
                .1
                .insert(t.key.clone());
        }
    };
    for e in &contents.events {
        if let Event::Version(v) = e {
            note(&v.target);
        }
    }
    for f in db.functions()? {
        note(&f.target);
    }
    let merged = groups.len();
    if merged == 0 {
        return Ok(0);
    }
    let rows = db.versions_with_functions()?;
    let db_configs = db.all_configs()?;
    for (key, (canonical, aliases)) in groups {
        // A kill after the journal's merge and before the database's: the journal's merged
        // history (all that `read_all` still gives for this key) is the one to record.
        let journaled = contents.events.iter().any(|e| {
            matches!(e, Event::Merged { key: k, from } if *k == key
                && aliases.iter().all(|a| from.contains(a)))
        });
        let belongs = |k: &str| k == key || (!journaled && aliases.contains(k));
        let mut pruned: HashSet<(String, i64)> = HashSet::new();
        let mut seen: HashMap<(String, i64), String> = HashMap::new();
        let mut saw = |k: &str, no: i64, time: &str| {
            let slot = seen.entry((k.to_string(), no)).or_default();
            if time > slot.as_str() {
                *slot = time.to_string();
            }
        };
        let mut candidates: BTreeMap<(String, i64), Candidate> = BTreeMap::new();
        let mut journal_configs: HashMap<(String, i64), VersionConfig> = HashMap::new();
        for e in &contents.events {
            if let Event::Config(c) = e
                && belongs(&c.key)
            {
                journal_configs.insert((c.key.clone(), c.version_no), version_config(c));
            }
        }
        for e in &contents.events {
            match e {
                Event::Version(v) if belongs(&v.target.key) => {
                    if let Some(t) = &v.previous_last_seen {
                        saw(&v.target.key, v.version_no - 1, t);
                    }
                    candidates
                        .entry((v.target.key.clone(), v.version_no))
                        .or_insert_with(|| Candidate {
                            key: v.target.key.clone(),
                            version_no: v.version_no,
                            in_db: false,
                            cloud_checksum: v.cloud_checksum.clone(),
                            sha256: v.sha256.clone(),
                            crc64: v.crc64,
                            size: v.size,
                            first_seen: v.first_seen.clone(),
                            last_seen: v.first_seen.clone(),
                            config: journal_configs
                                .get(&(v.target.key.clone(), v.version_no))
                                .cloned(),
                        });
                }
                Event::Seen {
                    key: k,
                    version_no,
                    time,
                } if belongs(k) => saw(k, *version_no, time),
                Event::Pruned {
                    key: k, version_no, ..
                } if belongs(k) => {
                    pruned.insert((k.clone(), *version_no));
                }
                _ => {}
            }
        }
        // The database wins a disagreement, as in `reconcile` (unless the journal already
        // holds the merged history: then the database's rows are the unmerged ones).
        for (f, v) in rows
            .iter()
            .filter(|(f, _)| !journaled && belongs(&f.target.key))
        {
            let crc64 = v.crc64.parse::<u64>().map_err(|_| DbError::Other {
                path: db.path().to_path_buf(),
                message: format!(
                    "{}@{}: crc64 `{}` is not a decimal u64",
                    f.target.key, v.version_no, v.crc64
                ),
            })?;
            candidates.insert(
                (f.target.key.clone(), v.version_no),
                Candidate {
                    key: f.target.key.clone(),
                    version_no: v.version_no,
                    in_db: true,
                    cloud_checksum: v.cloud_checksum.clone(),
                    sha256: v.sha256.clone(),
                    crc64,
                    size: v.size.max(0) as u64,
                    first_seen: v.first_seen.clone(),
                    last_seen: v.last_seen.clone(),
                    // The database's configuration wins, as its row does; else the journal's.
                    config: db_configs
                        .get(&(f.target.key.clone(), v.version_no))
                        .or_else(|| journal_configs.get(&(f.target.key.clone(), v.version_no)))
                        .cloned(),
                },
            );
        }
        let mut history: Vec<Candidate> = candidates
            .into_iter()
            .filter(|(id, _)| !pruned.contains(id))
            .map(|(id, mut c)| {
                if let Some(t) = seen.get(&id)
                    && *t > c.last_seen
                {
                    c.last_seen = t.clone();
                }
                c
            })
            .collect();
        history.sort_by(|a, b| {
            (&a.first_seen, &a.key, a.version_no).cmp(&(&b.first_seen, &b.key, b.version_no))
        });

        let mut merged_rows = Vec::with_capacity(history.len());
        let mut restated = Vec::with_capacity(history.len());
        for (i, c) in history.iter().enumerate() {
            // Already journaled: its numbers are 1..N in this order already.
            let version_no = if journaled {
                c.version_no
            } else {
                i as i64 + 1
            };
            merged_rows.push(crate::db::MergedVersion {
                version_no,
                was: c.in_db.then(|| (c.key.clone(), c.version_no)),
                cloud_checksum: c.cloud_checksum.clone(),
                sha256: c.sha256.clone(),
                crc64: c.crc64,
                size: c.size,
                first_seen: c.first_seen.clone(),
                last_seen: c.last_seen.clone(),
            });
            restated.push(crate::archive::journal::MergedRecord {
                record: VersionRecord {
                    target: canonical.clone(),
                    version_no,
                    cloud_checksum: c.cloud_checksum.clone(),
                    sha256: c.sha256.clone(),
                    crc64: c.crc64,
                    size: c.size,
                    first_seen: c.first_seen.clone(),
                    previous_last_seen: None,
                },
                last_seen: c.last_seen.clone(),
                config: c.config.as_ref().map(|v| ConfigRecord {
                    key: canonical.key.clone(),
                    version_no,
                    config_sha256: v.config_sha256.clone(),
                    code_changed: v.code_changed,
                    config_changed: v.config_changed,
                    cloud_modified: v.cloud_modified.clone(),
                }),
            });
        }
        let aliases: Vec<String> = aliases.into_iter().collect();
        if !journaled {
            // Journal first, in one line: the database follows the journal, never the reverse.
            journal.append_merged(&canonical, &aliases, &restated)?;
        }
        let now = crate::time::now_rfc3339();
        db.replace_merged_history(&canonical, &aliases, &merged_rows, &now)?;
        // Rows moved in place keep their configuration (it hangs on the row's id); versions
        // only the journal knew get theirs here.
        for r in &restated {
            if let Some(c) = &r.config {
                db.attach_config_by_key(&canonical.key, c.version_no, &version_config(c), &now)?;
            }
        }
        tracing::warn!(
            function = %key,
            from = %aliases.join(", "),
            versions = merged_rows.len(),
            "merged the history recorded under the cloud's latest alias into the function's key"
        );
    }
    Ok(merged)
}

/// Reads the manifest of every referenced blob that has none yet. A blob that cannot be read
/// is skipped (and counted); it never fails the caller. Returns (read, skipped).
///
/// The blobs come from `manifest_queue`, which triggers keep equal to "referenced, without a
/// `packages` row" (migration 0012): finding them no longer compares every version with
/// `packages` at each start.
pub fn fill_manifests(archive: &Archive, db: &mut Db) -> Result<(usize, usize), DbError> {
    let mut read = 0;
    let mut skipped = 0;
    for sha in db.manifest_queue()? {
        let blob = match archive.local_copy(&sha) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(sha256 = %sha, "cannot read the package's manifest: {e}");
                skipped += 1;
                continue;
            }
        };
        match manifest::read(&blob) {
            Ok(package) => {
                db.save_manifest(&sha, &package)?;
                read += 1;
            }
            Err(e) => {
                tracing::warn!(sha256 = %sha, "cannot read the package's manifest: {e}");
                skipped += 1;
            }
        }
    }
    Ok((read, skipped))
}

/// Files under `blobs/` that no version row references (including stray, misnamed files).
pub fn unreferenced_blobs(archive: &Archive, db: &Db) -> Result<Vec<BlobFile>, RecoveryError> {
    let mut referenced: HashSet<String> =
        db.all_versions()?.into_iter().map(|v| v.sha256).collect();
    // Configuration documents are blobs too, referenced by their versions.
    referenced.extend(db.config_hashes()?);
    // Layer versions' zips too (every archived layer is kept: README, prune).
    referenced.extend(db.all_layers()?.into_iter().map(|l| l.sha256));
    Ok(archive
        .list_blobs()?
        .into_iter()
        .filter(|b| !(b.well_formed && referenced.contains(&b.name)))
        .collect())
}

/// What [`reindex`] did.
#[derive(Debug)]
pub struct Reindexed {
    /// Where the replaced database (and its -wal/-shm) went, if there was one.
    pub moved_aside: Option<PathBuf>,
    pub functions: usize,
    pub reconciled: Reconciled,
    pub manifests: usize,
    /// Blobs no journal line describes (their metadata is lost; `prune` removes them).
    pub unreferenced: usize,
}

/// Rebuilds the database at `db_path` from the archive's journal and blobs. An existing
/// database that opens, passes SQLite's check and holds versions is only replaced with
/// `force`; a replaced database is renamed aside, never deleted. The caller holds both locks.
pub fn reindex(
    archive: &Archive,
    db_path: &Path,
    force: bool,
    lock: &LockGuard,
) -> Result<Reindexed, RecoveryError> {
    let mut moved_aside = None;
    if db_path.exists() {
        let healthy = match Db::open_read_only(db_path) {
            Ok(Some(db)) => match db.quick_check() {
                Ok(()) => Some(db.version_count()?),
                Err(e) => {
                    tracing::warn!("{e}");
                    None
                }
            },
            Ok(None) => None,
            // Another schema version is not damage: replacing it would lose sweep statistics
            // and failure streaks for nothing (`sync` upgrades an older one).
            Err(e @ DbError::SchemaMismatch { .. }) if !force => {
                return Err(RecoveryError::Refused(format!(
                    "{e}\n  `fnvault reindex --force` replaces it anyway (the old file is kept beside it)"
                )));
            }
            Err(e) => {
                tracing::warn!("the database cannot be used: {e}");
                None
            }
        };
        if let Some(n) = healthy
            && n > 0
            && !force
        {
            return Err(RecoveryError::Refused(format!(
                "{} is a healthy database with {n} version(s); `fnvault reindex --force` \
                 replaces it (the old file is kept beside it)",
                db_path.display()
            )));
        }
    } else {
        // A -wal left behind by a deleted database would be replayed into the new one.
        move_sidecars_aside(db_path)?;
    }
    // The new database is built beside the target and renamed into place only when complete:
    // a rebuild that fails half-way (a full disk, an I/O error, a kill) must not leave a
    // partial database that the next `reindex` calls healthy and the next `sync` trusts.
    let building = with_suffix(db_path, ".reindexing");
    remove_database_files(&building)?;
    let mut db = Db::open(&building)?;
    let reconciled = reconcile(archive, &mut db, lock)?;
    let (manifests, _) = fill_manifests(archive, &mut db)?;
    let functions = db.functions()?.len();
    let unreferenced = unreferenced_blobs(archive, &db)?.len();
    // The renamed file must hold every row by itself: fold the WAL in (fsynced, as
    // synchronous=FULL) before closing, which then removes the empty WAL.
    db.checkpoint_into_file()?;
    drop(db);
    if db_path.exists() {
        moved_aside = Some(move_aside(db_path)?);
    }
    std::fs::rename(&building, db_path).map_err(|e| ArchiveError::Io {
        path: building.clone(),
        source: e,
    })?;
    if let Some(parent) = db_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::archive::sync_dir(parent)?;
    }
    Ok(Reindexed {
        moved_aside,
        functions,
        reconciled,
        manifests,
        unreferenced,
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Removes a database file and its sidecars (a rebuild a kill interrupted).
fn remove_database_files(path: &Path) -> Result<(), RecoveryError> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = with_suffix(path, suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ArchiveError::Io {
                    path: file,
                    source: e,
                }
                .into());
            }
        }
    }
    Ok(())
}

fn move_aside(db_path: &Path) -> Result<PathBuf, RecoveryError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let dest = with_suffix(db_path, &format!(".replaced-{stamp}"));
    for suffix in ["", "-wal", "-shm"] {
        let from = with_suffix(db_path, suffix);
        if from.exists() {
            let to = with_suffix(&dest, suffix);
            std::fs::rename(&from, &to).map_err(|e| ArchiveError::Io {
                path: from.clone(),
                source: e,
            })?;
        }
    }
    Ok(dest)
}

fn move_sidecars_aside(db_path: &Path) -> Result<(), RecoveryError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    for suffix in ["-wal", "-shm"] {
        let from = with_suffix(db_path, suffix);
        if from.exists() {
            let to = with_suffix(db_path, &format!(".orphaned-{stamp}{suffix}"));
            std::fs::rename(&from, &to).map_err(|e| ArchiveError::Io {
                path: from.clone(),
                source: e,
            })?;
        }
    }
    Ok(())
}
