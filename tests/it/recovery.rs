//! The self-describing archive: `reindex`, adoption of what a kill left half-recorded, the
//! database's own lock, and `prune`.

use fnvault::sim::SimFunction;

use crate::common::*;

/// Every function's `history --json` versions, keyed by function.
async fn all_history(env: &Env) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for key in [ORDER_API, REPORT, CHECKOUT, REFUND] {
        let h = env.json(&["history", key, "--json"], 0).await;
        out.push((key.to_string(), h["versions"].clone()));
    }
    out
}

fn remove_database(env: &Env) {
    for suffix in ["", "-wal", "-shm"] {
        let p = env.path(&format!("fnvault.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(p).unwrap();
        }
    }
}

fn sql(env: &Env, statement: &str) {
    let conn = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    conn.execute_batch(statement).unwrap();
}

/// The fleet archived, then checkout redeployed twice: six versions in all.
async fn fleet_with_history(env: &Env) -> Fleet {
    let fleet = Fleet::deploy(env);
    env.sync_ok().await;
    env.sim
        .deploy(&fleet.checkout, package("checkout v2", 91_000));
    env.sync_ok().await;
    env.sim
        .deploy(&fleet.checkout, package("checkout v3", 92_000));
    env.sync_ok().await;
    fleet
}

crate::both_backends! {
async fn reindex_reproduces_every_version_after_the_database_is_deleted() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    let before = all_history(&env).await;
    remove_database(&env);

    let run = env.fnvault(&["reindex"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("4 function(s), 6 version(s)"),
        "{}",
        run.stdout
    );
    assert_eq!(all_history(&env).await, before);
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
    // Nothing to download: the rebuilt database knows every checksum the cloud announces.
    let downloads = env.sim.stats().downloads;
    env.sync_ok().await;
    assert_eq!(env.sim.stats().downloads, downloads);
}
}

crate::both_backends! {
async fn reindex_refuses_to_replace_a_healthy_database_unless_forced_and_keeps_the_old_one() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    let before = all_history(&env).await;

    let refused = env.fnvault(&["reindex"]).await;
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);

    let forced = env.fnvault(&["reindex", "--force"]).await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(forced.stderr.contains("moved to"), "{}", forced.stderr);
    assert_eq!(all_history(&env).await, before);
    let kept = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("fnvault.db.replaced-")
        });
    assert!(kept, "the replaced database is kept");
}
}

/// A database of another schema version (a binary upgraded before its first `sync`) is not
/// damaged: `reindex` must not replace it, and lose its statistics, without `--force`.
#[tokio::test(flavor = "multi_thread")]
async fn reindex_refuses_a_healthy_database_of_another_schema_version_unless_forced() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    sql(&env, "PRAGMA user_version = 1");

    let refused = env.fnvault(&["reindex"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("schema version 1"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    let conn = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    let sweeps: i64 = conn
        .query_row("SELECT COUNT(*) FROM sweeps", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sweeps, 3, "the database was left as it was");
    drop(conn);

    let forced = env.fnvault(&["reindex", "--force"]).await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(forced.stderr.contains("moved to"), "{}", forced.stderr);
}

crate::both_backends! {
async fn reindex_replaces_a_corrupt_database() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    let before = all_history(&env).await;
    remove_database(&env);
    std::fs::write(env.path("fnvault.db"), b"this is not an SQLite file at all").unwrap();

    let run = env.fnvault(&["reindex"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(all_history(&env).await, before);
}
}

crate::both_backends! {
async fn a_sync_on_a_lost_database_adopts_the_journal_instead_of_starting_over() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    let before = all_history(&env).await;
    let downloads = env.sim.stats().downloads;
    remove_database(&env);

    env.sync_ok().await;

    assert_eq!(
        env.sim.stats().downloads,
        downloads,
        "nothing downloaded again"
    );
    let after = all_history(&env).await;
    for ((k, a), (_, b)) in before.iter().zip(&after) {
        let numbers = |v: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| (x["version"].clone(), x["sha256"].clone()))
                .collect()
        };
        assert_eq!(numbers(a), numbers(b), "{k}");
    }
}
}

crate::both_backends! {
async fn a_version_journaled_but_not_recorded_is_adopted_by_the_next_sweep() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let v2 = package("checkout v2", 91_000);
    env.sim.deploy(&fleet.checkout, v2.clone());
    env.sync_ok().await;
    // What a kill between the journal's fsync and the database commit leaves behind.
    sql(
        &env,
        "DELETE FROM versions WHERE version_no = 2 AND function_id =
           (SELECT id FROM functions WHERE key = 'ali/cn-shanghai/orders/checkout')",
    );
    let downloads = env.sim.stats().downloads;

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("journal but not in the database"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.sim.stats().downloads,
        downloads,
        "adopted, not downloaded again"
    );
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 2);
    assert_eq!(h["versions"][1]["sha256"], sha256_hex(&v2));
}
}

crate::both_backends! {
async fn an_orphan_blob_is_adopted_when_its_package_is_archived_again() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let v2 = package("checkout v2", 91_000);
    let orphan = env.plant_blob(&v2);
    env.sim.deploy(&fleet.checkout, v2.clone());

    env.sync_ok().await;

    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(h["versions"][1]["sha256"], sha256_hex(&v2));
    assert!(env.has_blob(&orphan));
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
}
}

crate::both_backends! {
async fn an_orphan_blob_no_function_serves_is_kept_by_sweeps_and_removed_by_prune() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let orphan = env.plant_blob(&package("never recorded", 4_000));

    // A start no longer lists every blob to count these (issue 16): `verify` reports them.
    env.sync_ok().await;
    assert!(env.has_blob(&orphan), "a sweep never deletes a blob");
    assert_eq!(
        env.json(&["verify", "--json"], 1).await["unreferenced"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let dry = env.json(&["prune", "--dry-run", "--json"], 0).await;
    assert_eq!(dry["removed_blobs"].as_array().unwrap().len(), 1);
    assert!(env.has_blob(&orphan), "a dry run changes nothing");
    let pruned = env.json(&["prune", "--json"], 0).await;
    assert_eq!(
        pruned["pruned"],
        serde_json::json!([]),
        "no [retention]: no version pruned"
    );
    assert_eq!(pruned["removed_blobs"].as_array().unwrap().len(), 1);
    assert!(!env.has_blob(&orphan));
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
}
}

crate::both_backends! {
/// A journal line this fnvault cannot read (a newer kind of event, here) may be the only
/// description of a blob: `prune` must not delete what it cannot account for.
async fn prune_deletes_nothing_while_a_journal_line_cannot_be_read_unless_forced() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let orphan = env.plant_blob(&package("described by a newer line", 4_000));
    let mut text = env.journal_text(CHECKOUT);
    text.push_str(&format!(
        "{{\"event\":\"version_from_the_future\",\"key\":\"{CHECKOUT}\",\"sha256\":\"{orphan}\"}}\n"
    ));
    env.set_journal_text(CHECKOUT, &text);
    // Starts read only what changed since the last one (issue 16): the line must be read,
    // and reported, at every one, not only at the first after it was written.
    for _ in 0..2 {
        let run = env.fnvault(&["sync"]).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains("version_from_the_future"),
            "{}",
            run.stderr
        );
    }

    let dry = env.fnvault(&["prune", "--dry-run"]).await;
    assert_eq!(dry.code, 1, "{}", dry.stderr);
    let run = env.fnvault(&["prune"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("refusing to prune"), "{}", run.stderr);
    assert!(
        run.stderr.contains("version_from_the_future"),
        "{}",
        run.stderr
    );
    assert!(
        env.has_blob(&orphan),
        "prune deleted a blob a journal line describes"
    );

    let forced = env.json(&["prune", "--force", "--json"], 0).await;
    assert_eq!(forced["removed_blobs"].as_array().unwrap().len(), 1);
    assert!(!env.has_blob(&orphan));
}
}

crate::both_backends! {
async fn prune_refuses_to_empty_an_archive_whose_database_knows_nothing() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    remove_database(&env);
    env.remove_all_journals();

    let run = env.fnvault(&["prune"]).await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("refusing to delete"), "{}", run.stderr);
    assert_eq!(env.package_blob_count(), 4);
}
}

crate::both_backends! {
async fn two_configs_sharing_a_database_cannot_both_write() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    // Same database, another archive: only the database's own lock can catch this.
    let other = env.path("other.toml");
    let config = std::fs::read_to_string(env.path("config.toml"))
        .unwrap()
        .replace("dir = \"archive\"", "dir = \"archive-2\"");
    std::fs::write(&other, config).unwrap();
    let _held = fnvault::archive::lock_database(&env.path("fnvault.db")).unwrap();

    let run = run_fnvault(&other, &["sync"]).await;

    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("fnvault.db.lock is locked"),
        "{}",
        run.stderr
    );
}
}

fn with_retention(env: &Env, retention: &str) {
    let path = env.path("config.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{config}\n[retention]\n{retention}\n")).unwrap();
}

/// Five versions of one function, one sweep each.
async fn five_versions(env: &Env) -> SimFunction {
    let f = SimFunction::scf("ap-guangzhou", "default", "api", None);
    env.write_config(&scf("ap-guangzhou", "default", "api", None));
    for i in 1..=5 {
        env.sim.deploy(&f, package(&format!("api v{i}"), 3_000));
        env.sync_ok().await;
    }
    f
}

fn version_numbers(h: &serde_json::Value) -> Vec<i64> {
    h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect()
}

const API: &str = "tc/ap-guangzhou/default/api";

crate::both_backends! {
async fn prune_keeps_exactly_the_newest_keep_last_versions_rows_and_blobs() {
    let env = Env::new().await;
    five_versions(&env).await;
    with_retention(&env, "keep_last = 2");

    let dry = env.json(&["prune", "--dry-run", "--json"], 0).await;
    let doomed: Vec<i64> = dry["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_i64().unwrap())
        .collect();
    assert_eq!(doomed, [1, 2, 3]);
    assert_eq!(
        version_numbers(&env.json(&["history", API, "--json"], 0).await),
        [1, 2, 3, 4, 5]
    );

    // A file someone else put under blobs/, not named like a blob: never fnvault's to delete.
    env.plant_stray("00/00aa", b"not ours");

    let run = env.json(&["prune", "--json"], 0).await;
    assert_eq!(run["pruned"].as_array().unwrap().len(), 3);
    assert_eq!(run["removed_blobs"].as_array().unwrap().len(), 3);
    assert_eq!(
        version_numbers(&env.json(&["history", API, "--json"], 0).await),
        [4, 5]
    );
    assert_eq!(env.package_blob_count(), 3, "prune deleted a file that is not a blob");
    match env.bucket() {
        None => std::fs::remove_file(env.path("archive/blobs/00/00aa")).unwrap(),
        Some(b) => b.delete("blobs/00/00aa").unwrap(),
    }
    assert_eq!(env.package_blob_count(), 2);
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
    // A rebuild honours the prune instead of resurrecting rows without blobs.
    assert_eq!(env.fnvault(&["reindex", "--force"]).await.code, 0);
    assert_eq!(
        version_numbers(&env.json(&["history", API, "--json"], 0).await),
        [4, 5]
    );
    // Numbering carries on after the kept versions.
    let f = SimFunction::scf("ap-guangzhou", "default", "api", None);
    env.sim.deploy(&f, package("api v6", 3_000));
    env.sync_ok().await;
    assert_eq!(
        version_numbers(&env.json(&["history", API, "--json"], 0).await),
        [4, 5, 6]
    );
}
}

crate::both_backends! {
async fn prune_keeps_versions_live_within_keep_within_and_always_the_latest() {
    let env = Env::new().await;
    five_versions(&env).await;
    // v1..v3 replaced in 2024, v4 replaced in 2026 (now-ish), v5 latest.
    sql(
        &env,
        "UPDATE versions SET first_seen = '2024-01-0' || version_no || 'T00:00:00.000Z',
                             last_seen  = '2024-01-0' || version_no || 'T00:00:00.000Z'
         WHERE version_no <= 4",
    );
    with_retention(&env, "keep_within = \"30d\"");

    let run = env.json(&["prune", "--json"], 0).await;

    let doomed: Vec<i64> = run["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_i64().unwrap())
        .collect();
    assert_eq!(doomed, [1, 2, 3]);
    assert_eq!(
        version_numbers(&env.json(&["history", API, "--json"], 0).await),
        [4, 5]
    );
}
}

crate::both_backends! {
async fn a_clock_far_ahead_of_the_last_sweep_cannot_age_history_out() {
    let env = Env::new().await;
    five_versions(&env).await;
    // Every sweep happened in early 2024; the wall clock is years later. keep_within counts
    // back from the newest recorded sighting, so all five were live within the window.
    sql(
        &env,
        "UPDATE versions SET first_seen = '2024-01-0' || version_no || 'T00:00:00.000Z',
                             last_seen  = '2024-01-0' || version_no || 'T00:00:00.000Z'",
    );
    with_retention(&env, "keep_within = \"30d\"");

    let run = env.json(&["prune", "--json"], 0).await;

    assert_eq!(run["pruned"], serde_json::json!([]));
    assert_eq!(run["reference_time"], "2024-01-05T00:00:00.000Z");
    assert_eq!(
        version_numbers(&env.json(&["history", API, "--json"], 0).await),
        [1, 2, 3, 4, 5]
    );
}
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_retention_section_is_a_config_error() {
    let env = Env::new().await;
    five_versions(&env).await;
    with_retention(&env, "");

    let run = env.fnvault(&["prune"]).await;

    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("retention: an empty [retention] is refused"),
        "{}",
        run.stderr
    );
    let conn = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    let versions: i64 = conn
        .query_row("SELECT COUNT(*) FROM versions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(versions, 5);
}

crate::both_backends! {
async fn an_archive_from_before_the_journal_gets_one_at_the_next_sweep() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    let before = all_history(&env).await;
    // As if archived by a version of fnvault that had no journal.
    env.remove_all_journals();
    env.sync_ok().await;
    let before_loss = all_history(&env).await;
    remove_database(&env);

    let run = env.fnvault(&["reindex"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("6 version(s)"), "{}", run.stdout);
    assert_eq!(all_history(&env).await, before_loss);
    assert_eq!(before.len(), before_loss.len());
}
}

crate::both_backends! {
async fn a_sync_on_a_damaged_database_refuses_and_points_at_reindex() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    remove_database(&env);
    std::fs::write(env.path("fnvault.db"), b"this is not an SQLite file at all").unwrap();

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("fnvault reindex"), "{}", run.stderr);
    assert_eq!(env.package_blob_count(), 4, "the archive is untouched");
}
}

crate::both_backends! {
async fn verify_reports_where_the_journal_and_the_database_disagree() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    assert_eq!(
        env.json(&["verify", "--json"], 0).await["journal"],
        serde_json::json!([])
    );
    sql(
        &env,
        "DELETE FROM versions WHERE version_no = 3 AND function_id =
           (SELECT id FROM functions WHERE key = 'ali/cn-shanghai/orders/checkout')",
    );
    env.remove_journal_of(REFUND);

    let v = env.json(&["verify", "--json"], 1).await;

    let journal = v["journal"].as_array().unwrap();
    let what: Vec<&str> = journal
        .iter()
        .map(|j| j["what"].as_str().unwrap())
        .collect();
    assert_eq!(what.len(), 2, "{v}");
    assert!(what.contains(&format!("{REFUND}@1").as_str()), "{v}");
    assert!(what.contains(&format!("{CHECKOUT}@3").as_str()), "{v}");
    // The next sync mends both, and verify agrees.
    env.sync_ok().await;
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
}
}

/// An archive an older fnvault kept under both `checkout` and `checkout@LATEST` (FC's latest
/// alias, the same code): two histories of one function. Builds the alias history by hand,
/// as that fnvault would have left it (rows, journal lines, blobs), beside the canonical one
/// a sync made. Returns the merged history expected: (sha256, first_seen) in time order.
async fn archive_with_a_latest_alias_history(env: &Env) -> Vec<(String, String)> {
    let fleet = Fleet::deploy(env);
    env.sync_ok().await;
    env.sim
        .deploy(&fleet.checkout, package("checkout v2", 91_000));
    env.sync_ok().await;
    let canonical: Vec<(String, String)> =
        env.json(&["history", CHECKOUT, "--json"], 0).await["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["sha256"].as_str().unwrap().to_string(),
                    v["first_seen"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    let alias_key = format!("{CHECKOUT}@LATEST");
    let old = package("checkout from 2001", 4_000);
    env.plant_blob(&old);
    let alias_versions = [
        (sha256_hex(&old), "2001-01-01T00:00:00.000Z".to_string()),
        (
            canonical[0].0.clone(),
            "2002-01-01T00:00:00.000Z".to_string(),
        ),
    ];
    let sizes = [old.len(), 90_000];
    sql(
        env,
        &format!(
            "INSERT INTO functions (key, cloud, account, region, namespace, name, qualifier, first_seen)
             VALUES ('{alias_key}', 'aliyun', 'ali', 'cn-shanghai', 'orders', 'checkout', 'LATEST',
                     '2001-01-01T00:00:00.000Z');"
        ),
    );
    let template: serde_json::Value =
        serde_json::from_str(env.journal_text(CHECKOUT).lines().next().unwrap()).unwrap();
    let mut lines = String::new();
    for (i, (sha, first_seen)) in alias_versions.iter().enumerate() {
        let no = i + 1;
        sql(
            env,
            &format!(
                "INSERT INTO versions (function_id, version_no, cloud_checksum, sha256, crc64, size,
                                       first_seen, last_seen)
                 SELECT id, {no}, 'legacy', '{sha}', '0', {}, '{first_seen}', '{first_seen}'
                 FROM functions WHERE key = '{alias_key}';",
                sizes[i]
            ),
        );
        let mut line = template.clone();
        line["key"] = alias_key.clone().into();
        line["qualifier"] = "LATEST".into();
        line["version_no"] = no.into();
        line["sha256"] = sha.clone().into();
        line["cloud_checksum"] = "legacy".into();
        line["crc64"] = "0".into();
        line["size"] = sizes[i].into();
        line["first_seen"] = first_seen.clone().into();
        lines.push_str(&format!("{line}\n"));
    }
    env.set_journal_text(&alias_key, &lines);
    let mut expected: Vec<(String, String)> = alias_versions.to_vec();
    expected.extend(canonical);
    expected
}

fn shas_and_times(h: &serde_json::Value) -> Vec<(String, String)> {
    h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["sha256"].as_str().unwrap().to_string(),
                v["first_seen"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

crate::both_backends! {
/// `name@LATEST` and `name` are one function: the next writer merges the two histories into
/// the canonical key, in time order, nothing lost; `reindex` rebuilds the merged history.
async fn histories_under_a_function_and_its_latest_alias_are_merged_into_one() {
    let env = Env::new().await;
    let expected = archive_with_a_latest_alias_history(&env).await;

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("merged the history"), "{}", run.stderr);
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(shas_and_times(&h), expected);
    let numbers: Vec<i64> = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    let keys: Vec<String> = env
        .list()
        .await
        .iter()
        .map(|e| e["function"].as_str().unwrap().to_string())
        .collect();
    assert!(!keys.iter().any(|k| k.ends_with("@LATEST")), "{keys:?}");
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
    // Nothing downloaded again: the merged latest is what the cloud serves.
    let downloads = env.sim.stats().downloads;
    env.sync_ok().await;
    assert_eq!(env.sim.stats().downloads, downloads);

    remove_database(&env);
    let rebuilt = env.fnvault(&["reindex"]).await;
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    assert_eq!(
        shas_and_times(&env.json(&["history", CHECKOUT, "--json"], 0).await),
        expected
    );
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
}
}

crate::both_backends! {
/// The same archive whose database was lost before the upgrade: the journal alone is merged.
async fn reindex_merges_latest_alias_histories_from_the_journal_alone() {
    let env = Env::new().await;
    let expected = archive_with_a_latest_alias_history(&env).await;
    remove_database(&env);

    let run = env.fnvault(&["reindex"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(shas_and_times(&h), expected);
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
}
}

crate::both_backends! {
/// A kill after the merge reached the journal and before the database's transaction: the
/// next writer records the journal's merged history (the database's rows are the unmerged
/// ones, not a second truth).
async fn a_merge_journaled_but_not_recorded_is_finished_by_the_next_writer() {
    let env = Env::new().await;
    let expected = archive_with_a_latest_alias_history(&env).await;
    let unmerged = env.path("unmerged.db");
    std::fs::copy(env.path("fnvault.db"), &unmerged).unwrap();
    env.sync_ok().await;
    // Back to the database as it was before the merge; the journal keeps its merge line.
    remove_database(&env);
    std::fs::copy(&unmerged, env.path("fnvault.db")).unwrap();

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("merged the history"), "{}", run.stderr);

    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(shas_and_times(&h), expected);
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
}
}

// ---------------------------------------------------------------------------------------------
// Issue 16: the start-up reconcile reads what the journal gained since the last one.

/// What a writer logs when it reads the whole journal (a database without watermarks).
const FULL_RECONCILE: &str = "reconciled the whole journal";

/// The watermark of `key`'s journal file, if it has one.
fn watermark_of(env: &Env, key: &str) -> Option<i64> {
    let conn = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    conn.query_row(
        "SELECT offset FROM journal_watermarks WHERE journal = 'meta' AND file = ?1",
        [format!("{}.jsonl", sha256_hex(key.as_bytes()))],
        |r| r.get(0),
    )
    .ok()
}

crate::both_backends! {
/// A line that reached the journal after the last start (a kill between the journal line and
/// the row; written here by hand) is read and adopted by the next start, without reading the
/// whole journal again.
async fn a_line_journaled_after_the_last_start_is_adopted_by_the_next() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    let text = env.journal_text(CHECKOUT);
    let last = text
        .lines()
        .rfind(|l| l.contains("\"event\":\"version\""))
        .unwrap();
    let mut line: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(line["version_no"], 3, "{last}");
    let v4 = package("checkout v4, journaled only", 93_000);
    let sha = env.plant_blob(&v4);
    line["version_no"] = 4.into();
    line["sha256"] = sha.clone().into();
    line["size"] = v4.len().into();
    line.as_object_mut().unwrap().remove("previous_last_seen");
    env.set_journal_text(CHECKOUT, &format!("{text}{line}\n"));

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains(FULL_RECONCILE), "{}", run.stderr);
    assert!(
        run.stderr.contains("journal but not in the database"),
        "{}",
        run.stderr
    );
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(h["versions"][3]["version"], 4, "{h}");
    assert_eq!(h["versions"][3]["sha256"], sha, "{h}");
}
}

crate::both_backends! {
/// Lines before a watermark are not read at a start (what makes it cheap): a row deleted by
/// hand behind the journal's back stays missing, and `verify` (which reads the whole journal)
/// says so. A database without watermarks gets the full reconcile, which adopts it, once.
async fn a_database_without_watermarks_gets_the_full_reconcile_once() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    assert!(watermark_of(&env, CHECKOUT).is_some());
    sql(
        &env,
        "DELETE FROM versions WHERE version_no = 1 AND function_id =
           (SELECT id FROM functions WHERE key = 'ali/cn-shanghai/orders/checkout')",
    );
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains(FULL_RECONCILE), "{}", run.stderr);
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 2, "{h}");
    let v = env.json(&["verify", "--json"], 1).await;
    assert!(v["journal"].to_string().contains(&format!("{CHECKOUT}@1")), "{v}");

    sql(&env, "DELETE FROM journal_watermarks; DELETE FROM full_reconcile;");
    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(FULL_RECONCILE), "{}", run.stderr);
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 3, "{h}");
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
    let again = env.fnvault(&["sync"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stderr.contains(FULL_RECONCILE), "{}", again.stderr);
}
}

crate::both_backends! {
/// A database from before migration 0012 has no watermarks: its first writer reads the whole
/// journal (adopting what only a full read finds), then records them.
async fn a_database_from_before_watermarks_upgrades_with_one_full_reconcile() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    sql(
        &env,
        // Everything 0012 and the migrations after it (0013) create, so the upgrade runs
        // them all, as on a database an fnvault from before 0012 left.
        &format!(
            "DROP INDEX functions_by_name; DROP INDEX functions_by_last_success;
             DROP INDEX functions_failing; DROP INDEX functions_gone;
             DROP INDEX listing_checks_by_kind; DROP INDEX listing_checks_by_full_check;
             DROP TRIGGER functions_latest_copied; DROP TRIGGER versions_latest_rewritten;
             ALTER TABLE functions DROP COLUMN latest_version_no;
             ALTER TABLE functions DROP COLUMN latest_sha256;
             ALTER TABLE functions DROP COLUMN latest_size;
             DROP TABLE journal_watermarks; DROP TABLE full_reconcile;
             DROP TRIGGER manifest_queue_version_in; DROP TRIGGER manifest_queue_version_out;
             DROP TRIGGER manifest_queue_version_moved; DROP TRIGGER manifest_queue_package_in;
             DROP TRIGGER manifest_queue_package_out; DROP TABLE manifest_queue;
             DELETE FROM packages WHERE sha256 IN (SELECT sha256 FROM versions WHERE version_no = 3);
             DELETE FROM versions WHERE version_no = 2 AND function_id =
               (SELECT id FROM functions WHERE key = 'ali/cn-shanghai/orders/checkout');
             PRAGMA user_version = {};",
            fnvault::db::schema_version() - 2
        ),
    );

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(FULL_RECONCILE), "{}", run.stderr);
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 3, "{h}");
    assert!(watermark_of(&env, CHECKOUT).is_some());
    // The manifest queue starts with what the database lacked: the start read them.
    let conn = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    let lacking: i64 = conn
        .query_row(
            "SELECT count(*) FROM versions v
             WHERE NOT EXISTS (SELECT 1 FROM packages p WHERE p.sha256 = v.sha256)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(lacking, 0, "manifests read after the upgrade");
    assert!(run.stderr.contains("read file manifests"), "{}", run.stderr);
    let again = env.fnvault(&["sync"]).await;
    assert!(!again.stderr.contains(FULL_RECONCILE), "{}", again.stderr);
}
}

crate::both_backends! {
/// A journal file shorter than its watermark (an archive restored from an older copy) is
/// read whole, with a warning, and the versions it lacks are journaled again from the
/// database.
async fn a_journal_file_shorter_than_its_watermark_is_read_whole() {
    let env = Env::new().await;
    fleet_with_history(&env).await;
    let text = env.journal_text(CHECKOUT);
    let first: String = text.lines().take(1).map(|l| format!("{l}\n")).collect();
    assert!(first.contains("\"version_no\":1"), "{first}");
    env.set_journal_text(CHECKOUT, &first);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("fewer than"), "{}", run.stderr);
    assert!(run.stderr.contains(FULL_RECONCILE), "{}", run.stderr);
    let restored = env.journal_text(CHECKOUT);
    for no in 1..=3 {
        assert!(
            restored.contains(&format!("\"version_no\":{no},")),
            "version {no} journaled again: {restored}"
        );
    }
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
}
}

/// A torn last line (a kill mid-append) is not counted in the watermark, so the next append,
/// which cuts it off, never leaves the file below its watermark, and the line appended after
/// it is read by the next start. (Only a folder has torn tails: an object is whole or absent.)
#[tokio::test(flavor = "multi_thread")]
async fn a_torn_tail_is_not_counted_so_cutting_it_never_goes_below_the_watermark() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    env.sync_ok().await;
    let path = env.path(&format!(
        "archive/meta/{}.jsonl",
        sha256_hex(CHECKOUT.as_bytes())
    ));
    let complete = std::fs::metadata(&path).unwrap().len() as i64;
    assert_eq!(watermark_of(&env, CHECKOUT), Some(complete));
    make_writable(&path);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"event\":\"version\",\"key\":\"ali/cn-sha")
            .unwrap();
    }
    env.sync_ok().await;
    assert_eq!(
        watermark_of(&env, CHECKOUT),
        Some(complete),
        "the torn line is not counted"
    );

    env.sim
        .deploy(&fleet.checkout, package("checkout v2", 91_000));
    env.sync_ok().await; // appends v2's line, cutting the torn one off
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("cn-sha\n") && !text.ends_with("cn-sha"),
        "{text}"
    );
    assert!(text.len() as i64 > complete);
    // The next start reads from the watermark: v2's line, whose row is gone here.
    sql(
        &env,
        "DELETE FROM versions WHERE version_no = 2 AND function_id =
           (SELECT id FROM functions WHERE key = 'ali/cn-shanghai/orders/checkout')",
    );
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains(FULL_RECONCILE), "{}", run.stderr);
    assert!(
        !run.stderr.contains("journal:"),
        "no problem: {}",
        run.stderr
    );
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 2, "{h}");
    assert_eq!(
        watermark_of(&env, CHECKOUT),
        Some(std::fs::metadata(&path).unwrap().len() as i64)
    );
}
