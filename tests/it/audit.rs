//! The audit commands on archives built by real sweeps: `history`, `show`, `at`, `diff`,
//! `verify`, `restore`, `export`.

use fnvault::sim::SimFunction;

use crate::common::*;

/// Configured with `qualifier = "$LATEST"`, which canonical keys leave out.
const API: &str = "tc/ap-guangzhou/default/api";

fn api() -> SimFunction {
    SimFunction::scf("ap-guangzhou", "default", "api", Some("$LATEST"))
}

fn v1() -> Vec<u8> {
    zip_package(&[
        ("index.js", "exports.main = () => 'v1';\n"),
        ("lib/util.js", "module.exports = 1;\n"),
        ("README.md", "old readme\n"),
    ])
}

fn v2() -> Vec<u8> {
    zip_package(&[
        ("index.js", "exports.main = () => 'v2';\n"),
        ("lib/util.js", "module.exports = 1;\n"),
        ("lib/new.js", "module.exports = 2;\n"),
    ])
}

/// One SCF function `api` with two zip versions archived by two sweeps.
async fn two_versions() -> Env {
    let env = Env::new().await;
    env.write_config(&scf("ap-guangzhou", "default", "api", Some("$LATEST")));
    env.sim.deploy(&api(), v1());
    env.sync_ok().await;
    env.sim.deploy(&api(), v2());
    env.sync_ok().await;
    env
}

fn is_rfc3339(v: &serde_json::Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

crate::both_backends! {
async fn history_lists_every_version_oldest_first() {
    let env = two_versions().await;

    let h = env.json(&["history", API, "--json"], 0).await;

    assert_eq!(h["function"], API);
    assert_eq!(h["cloud"], "tencent");
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["sha256"], sha256_hex(&v1()));
    assert_eq!(versions[0]["size"], v1().len());
    assert_eq!(versions[1]["sha256"], sha256_hex(&v2()));
    assert_eq!(versions[1]["cloud_checksum"], sha256_hex(&v2()));
    for v in versions {
        assert!(
            is_rfc3339(&v["first_seen"]) && is_rfc3339(&v["last_seen"]),
            "{v}"
        );
        assert!(v["crc64"].as_str().unwrap().parse::<u64>().is_ok(), "{v}");
    }
    assert!(versions[0]["first_seen"].as_str() < versions[1]["first_seen"].as_str());
    let table = env.fnvault(&["history", API]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("VERSION  FIRST SEEN"),
        "{}",
        table.stdout
    );
    assert_eq!(table.stdout.lines().count(), 4, "{}", table.stdout);
}
}

crate::both_backends! {
async fn a_bare_name_or_a_prefix_resolves_when_unique_and_an_ambiguous_one_lists_candidates() {
    let env = Env::new().await;
    env.write_config(&format!(
        "{}{}",
        scf("ap-guangzhou", "default", "api", Some("$LATEST")),
        scf("ap-shanghai", "default", "api", None),
    ));
    env.sim.deploy(&api(), v1());
    env.sim.deploy(
        &SimFunction::scf("ap-shanghai", "default", "api", None),
        v2(),
    );
    env.sync_ok().await;

    let ambiguous = env.fnvault(&["history", "api"]).await;
    assert_eq!(ambiguous.code, 2);
    assert!(
        ambiguous.stderr.contains("ambiguous"),
        "{}",
        ambiguous.stderr
    );
    assert!(ambiguous.stderr.contains(API), "{}", ambiguous.stderr);
    assert!(
        ambiguous.stderr.contains("tc/ap-shanghai/default/api"),
        "{}",
        ambiguous.stderr
    );
    let by_prefix = env.json(&["history", "tc/ap-shanghai", "--json"], 0).await;
    assert_eq!(by_prefix["function"], "tc/ap-shanghai/default/api");
    // The latest alias typed by hand still names the function.
    let by_tail = env
        .json(
            &["history", "ap-guangzhou/default/api@$LATEST", "--json"],
            0,
        )
        .await;
    assert_eq!(by_tail["function"], API);
    let unknown = env.fnvault(&["history", "nope"]).await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no function matches `nope`"),
        "{}",
        unknown.stderr
    );
}
}

crate::both_backends! {
async fn show_prints_one_version_with_its_file_manifest() {
    let env = two_versions().await;

    let latest = env.json(&["show", API, "--json"], 0).await;
    let first = env.json(&["show", &format!("{API}@1"), "--json"], 0).await;

    assert_eq!(latest["version"], 2);
    assert_eq!(latest["versions"], 2);
    assert_eq!(first["version"], 1);
    assert_eq!(first["sha256"], sha256_hex(&v1()));
    assert_eq!(first["package"]["format"], "zip");
    let files = first["package"]["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["index.js", "lib/util.js", "README.md"]);
    assert_eq!(files[1]["size"], "module.exports = 1;\n".len());
    assert_eq!(
        files[1]["crc32"],
        format!("{:08x}", crc32(b"module.exports = 1;\n"))
    );
    let missing = env.fnvault(&["show", &format!("{API}@9")]).await;
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no version 9"),
        "{}",
        missing.stderr
    );

    // No manifest in the database (an archive indexed before manifests): `show` reads it
    // from the blob in place (by Range GETs on object storage) and prints the same.
    rusqlite::Connection::open(env.path("fnvault.db"))
        .unwrap()
        .execute_batch("DELETE FROM files; DELETE FROM packages;")
        .unwrap();
    let read = env.json(&["show", &format!("{API}@1"), "--json"], 0).await;
    assert_eq!(read["package"], first["package"], "{read}");
}
}

/// CRC-32 (IEEE), as zip stores it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

crate::both_backends! {
async fn a_package_that_is_not_a_zip_is_archived_flagged_and_has_no_manifest() {
    let env = Env::new().await;
    env.write_config(&scf("ap-guangzhou", "default", "api", Some("$LATEST")));
    env.sim.deploy(
        &api(),
        b"#!/bin/sh\necho a shell script, not a zip\n".to_vec(),
    );
    env.sync_ok().await;
    env.sim.deploy(&api(), v1());
    env.sync_ok().await;

    let shown = env.json(&["show", &format!("{API}@1"), "--json"], 0).await;
    assert_eq!(shown["package"]["format"], "not-zip");
    assert!(shown["package"]["error"].is_string(), "{shown}");
    assert_eq!(shown["package"]["files"], serde_json::json!([]));
    let diff = env.fnvault(&["diff", API, "1", "2"]).await;
    assert_eq!(diff.code, 1);
    assert!(
        diff.stderr.contains("@1 is not a zip package"),
        "{}",
        diff.stderr
    );
}
}

crate::both_backends! {
async fn diff_lists_added_removed_and_changed_files() {
    let env = two_versions().await;

    let d = env.json(&["diff", "api", "1", "2", "--json"], 0).await;

    assert_eq!(d["function"], API);
    let paths = |k: &str| -> Vec<String> {
        d[k].as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths("added"), ["lib/new.js"]);
    assert_eq!(paths("removed"), ["README.md"]);
    assert_eq!(paths("changed"), ["index.js"]);
    let table = env.fnvault(&["diff", "api", "1", "2"]).await;
    assert!(
        table.stdout.contains("1 added, 1 removed, 1 changed"),
        "{}",
        table.stdout
    );
}
}

crate::both_backends! {
async fn diff_content_prints_a_unified_diff_of_one_file() {
    let env = two_versions().await;

    let run = env
        .fnvault(&["diff", "api", "1", "2", "--content", "index.js"])
        .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("--- a/index.js@1"), "{}", run.stdout);
    assert!(run.stdout.contains("+++ b/index.js@2"), "{}", run.stdout);
    assert!(
        run.stdout.contains("-exports.main = () => 'v1';"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+exports.main = () => 'v2';"),
        "{}",
        run.stdout
    );
    let gone = env
        .fnvault(&["diff", "api", "1", "2", "--content", "README.md"])
        .await;
    assert_eq!(gone.code, 0, "{}", gone.stderr);
    assert!(gone.stdout.contains("+++ /dev/null"), "{}", gone.stdout);
}
}

/// Waits until the RFC 3339 clock reads later than `t`, and returns that reading.
async fn after_clock_passes(t: &str) -> String {
    loop {
        let now = fnvault::time::now_rfc3339();
        if now.as_str() > t {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

crate::both_backends! {
async fn at_gives_the_version_live_at_a_moment() {
    let env = Env::new().await;
    env.write_config(&scf("ap-guangzhou", "default", "api", Some("$LATEST")));
    // Timestamps have millisecond resolution: each moment is taken once the clock has visibly
    // moved past the previous one (a guessed sleep could be too short on a coarse clock).
    let before = fnvault::time::now_rfc3339();
    after_clock_passes(&before).await;
    env.sim.deploy(&api(), v1());
    env.sync_ok().await;
    let between = after_clock_passes(&fnvault::time::now_rfc3339()).await;
    after_clock_passes(&between).await;
    env.sim.deploy(&api(), v2());
    env.sync_ok().await;

    let at = |t: String| {
        let env = &env;
        async move { env.json(&["at", &t, "--json"], 0).await }
    };
    let then = at(between.clone()).await;
    assert_eq!(then["at"], between);
    assert_eq!(then["functions"][0]["function"], API);
    assert_eq!(then["functions"][0]["version"], 1);
    assert_eq!(then["functions"][0]["sha256"], sha256_hex(&v1()));
    assert_eq!(
        at(fnvault::time::now_rfc3339()).await["functions"][0]["version"],
        2
    );
    assert!(at(before).await["functions"][0]["version"].is_null());
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(at(today).await["functions"][0]["version"], 2);
    let bad = env.fnvault(&["at", "last tuesday"]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("not a time"), "{}", bad.stderr);
}
}

crate::both_backends! {
async fn verify_passes_on_a_sound_archive() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;

    let v = env.json(&["verify", "--json"], 0).await;

    assert_eq!(v["ok"], true);
    // Four packages and the four functions' configuration documents, each hashed.
    assert_eq!(v["blobs"], 8);
    assert_eq!(v["hashed"], 8);
    let sampled = env.json(&["verify", "--sample", "50%", "--json"], 0).await;
    assert_eq!(sampled["hashed"], 4);
    assert_eq!(sampled["sampled"], true);
}
}

crate::both_backends! {
async fn verify_finds_a_truncated_blob_a_deleted_one_and_a_stray_file() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let truncated = sha256_hex(&package("order-api v1", 70_000));
    let bytes = env.read_blob(&truncated).unwrap();
    env.damage_blob(&truncated, &bytes[..1000]);
    let flipped = sha256_hex(&package("checkout v1", 90_000));
    let mut bytes = env.read_blob(&flipped).unwrap();
    bytes[500] ^= 1;
    env.damage_blob(&flipped, &bytes);
    env.remove_blob(&sha256_hex(&package("refund v1", 5_000)));
    env.plant_stray("stray", b"?");

    let v = env.json(&["verify", "--json"], 1).await;

    assert_eq!(v["ok"], false);
    assert_eq!(v["missing"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["missing"][0]["versions"][0], format!("{REFUND}@1"));
    let corrupt = v["corrupt"].as_array().unwrap();
    assert_eq!(corrupt.len(), 2, "{v}");
    assert!(
        corrupt
            .iter()
            .any(|c| c["versions"][0] == format!("{ORDER_API}@1")
                && c["reason"].as_str().unwrap().contains("1000 bytes"))
    );
    assert!(
        corrupt
            .iter()
            .any(|c| c["versions"][0] == format!("{CHECKOUT}@1")
                && c["reason"].as_str().unwrap().contains("hashes to"))
    );
    assert_eq!(v["unreferenced"].as_array().unwrap().len(), 1, "{v}");
    let table = env.fnvault(&["verify"]).await;
    assert_eq!(table.code, 1);
    assert!(
        table
            .stdout
            .contains("1 missing, 2 corrupt, 1 unreferenced"),
        "{}",
        table.stdout
    );
}
}

crate::both_backends! {
async fn restore_writes_the_chosen_version_and_never_overwrites_without_force() {
    let env = two_versions().await;
    let out = env.path("restored.zip");
    let out_s = out.to_str().unwrap();

    let latest = env.fnvault(&["restore", "api", "--to", out_s]).await;
    assert_eq!(latest.code, 0, "{}", latest.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), v2());

    let again = env.fnvault(&["restore", "api@1", "--to", out_s]).await;
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), v2());

    let forced = env
        .fnvault(&["restore", "api@1", "--to", out_s, "--force"])
        .await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), v1());

    let first_seen = env.json(&["history", "api", "--json"], 0).await["versions"][0]["first_seen"]
        .as_str()
        .unwrap()
        .to_string();
    let at = env.path("at.zip");
    let run = env
        .fnvault(&[
            "restore",
            "api",
            "--at",
            &first_seen,
            "--to",
            at.to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&at).unwrap(), v1());
}
}

crate::both_backends! {
async fn restore_refuses_a_corrupt_blob_and_leaves_nothing_behind() {
    let env = two_versions().await;
    let sha = sha256_hex(&v2());
    let mut bytes = env.read_blob(&sha).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    env.damage_blob(&sha, &bytes);
    let dest_dir = env.path("out");
    std::fs::create_dir(&dest_dir).unwrap();

    let run = env
        .fnvault(&[
            "restore",
            "api",
            "--to",
            dest_dir.join("api.zip").to_str().unwrap(),
        ])
        .await;

    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is corrupt"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(&dest_dir).unwrap().count(), 0);
}
}

crate::both_backends! {
async fn export_writes_a_readable_tree_with_a_manifest_of_checksums() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let dir = env.path("export");

    let run = env
        .fnvault(&["export", "--to", dir.to_str().unwrap()])
        .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let packages = manifest["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 4);
    for p in packages {
        let file = dir.join(p["path"].as_str().unwrap());
        assert_eq!(
            sha256_hex(&std::fs::read(&file).unwrap()),
            p["sha256"],
            "{p}"
        );
    }
    // The simulator's packages are not zips, so they keep a neutral extension.
    assert_eq!(
        std::fs::read(dir.join("tc/ap-guangzhou/default/order-api.bin")).unwrap(),
        package("order-api v1", 70_000)
    );
    assert!(dir.join("ali-fc/cn-hangzhou/payments/refund.bin").is_file());
    let again = env
        .fnvault(&["export", "--to", dir.to_str().unwrap()])
        .await;
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
}
}

crate::both_backends! {
async fn export_of_zip_packages_names_them_zip_and_at_picks_older_versions() {
    let env = two_versions().await;
    let first_seen = env.json(&["history", "api", "--json"], 0).await["versions"][0]["first_seen"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = env.path("export");

    let run = env
        .fnvault(&["export", "--to", dir.to_str().unwrap(), "--at", &first_seen])
        .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read(dir.join("tc/ap-guangzhou/default/api.zip")).unwrap(),
        v1()
    );
}
}

crate::both_backends! {
async fn read_only_commands_work_while_a_writer_holds_the_locks() {
    let env = two_versions().await;
    let archive = fnvault::archive::Archive::open(&env.path("archive")).unwrap();
    let _held = archive
        .lock()
        .unwrap()
        .with(fnvault::archive::lock_database(&env.path("fnvault.db")).unwrap());

    for args in [
        &["history", "api"][..],
        &["show", "api"],
        &["at", "2099-01-01"],
        &["diff", "api", "1", "2"],
        &["verify"],
        &["prune", "--dry-run"],
    ] {
        let run = env.fnvault(args).await;
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
    let sync = env.fnvault(&["sync"]).await;
    assert_eq!(sync.code, 2);
    assert!(sync.stderr.contains("locked"), "{}", sync.stderr);
}
}

crate::both_backends! {
async fn a_corrupt_blob_deleted_as_verify_advises_is_downloaded_again_by_the_next_sweep() {
    let env = two_versions().await;
    let sha = sha256_hex(&v2());
    env.damage_blob(&sha, &v2()[..10]);
    let table = env.fnvault(&["verify"]).await;
    assert_eq!(table.code, 1);
    assert!(
        table
            .stdout
            .contains(&format!("delete {}", env.blob_location(&sha))),
        "{}",
        table.stdout
    );

    env.remove_blob(&sha);
    env.sync_ok().await;

    assert_eq!(env.read_blob(&sha).unwrap(), v2());
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
    let h = env.json(&["history", "api", "--json"], 0).await;
    assert_eq!(
        h["versions"].as_array().unwrap().len(),
        2,
        "no new version: the same package"
    );
}
}

crate::both_backends! {
async fn export_skips_a_corrupt_package_and_leaves_no_empty_folder_for_it() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let order_api = env.entry(ORDER_API).await;
    env.damage_blob(order_api["latest_sha256"].as_str().unwrap(), b"damaged");
    let dir = env.path("export");

    let run = env
        .fnvault(&["export", "--to", dir.to_str().unwrap()])
        .await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    // The other three are exported; the corrupt one left nothing, not even its folders.
    assert!(dir.join("ali-fc/cn-hangzhou/payments/refund.bin").is_file());
    assert!(dir.join("tc/ap-shanghai/batch/report-job.bin").is_file());
    assert!(!dir.join("tc/ap-guangzhou").exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["packages"].as_array().unwrap().len(), 3);
}
}

crate::both_backends! {
/// Review X3: zip entry names come from the package; an escape sequence in one reached the
/// operator's terminal raw through `show` and `diff`.
async fn show_and_diff_print_hostile_entry_names_escaped() {
    let env = Env::new().await;
    env.write_config(&scf("ap-guangzhou", "default", "api", Some("$LATEST")));
    env.sim.deploy(&api(), v1());
    env.sync_ok().await;
    let evil = "x\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J.js";
    env.sim
        .deploy(&api(), zip_package(&[(evil, "1\n"), ("index.js", "v2\n")]));
    env.sync_ok().await;

    for args in [vec!["show", API], vec!["diff", API, "1", "2"]] {
        let run = env.fnvault(&args).await;
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(
            !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'),
            "{args:?} printed a raw escape: {:?}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("x\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J.js"),
            "{args:?}: {}",
            run.stdout
        );
    }
    // JSON is for programs: it keeps the name exactly (JSON escapes it itself).
    let shown = env.json(&["show", API, "--json"], 0).await;
    assert!(
        shown["package"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == evil),
        "{shown}"
    );
}
}
