//! Signals and the daemon: a stop never leaves anything partial, and sweeps run on schedule.

use std::time::{Duration, Instant};

use fnvault::sim::Fault;

use crate::common::*;

fn spawn(env: &Env, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_fnvault"))
        .arg("--config")
        .arg(env.path("config.toml"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("fnvault starts")
}

fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("child still running").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn finish(child: tokio::process::Child) -> (i32, String) {
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("fnvault exits")
        .expect("wait works");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sweep_outcomes(env: &Env) -> Vec<String> {
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT outcome FROM sweeps ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .map(|r| r.unwrap().unwrap_or_else(|| "unfinished".into()))
        .collect()
}

fn with_extra(env: &Env, fleet_config: &str, extra: &str) {
    std::fs::write(env.path("config.toml"), format!("{fleet_config}\n{extra}")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_download_exits_0_and_leaves_nothing_partial() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault(&fleet.checkout, Fault::SlowDownload);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(&env, &config, "[sync]\nshutdown_grace = \"200ms\"\n");

    let child = spawn(&env, &["sync"]);
    // Stop once its bytes are landing in tmp/ (an observed moment, not a guessed delay).
    wait_until("the slow download's temp file to fill", || {
        env.files_in("archive/tmp")
            .iter()
            .any(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0))
    })
    .await;
    signal(&child, "TERM");
    let (code, stderr) = finish(child).await;

    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        env.files_in("archive/tmp").is_empty(),
        "a temp file was left behind"
    );
    assert_eq!(sweep_outcomes(&env), ["interrupted"]);
    assert_eq!(env.entry(CHECKOUT).await["versions"], 0);
    assert_eq!(
        env.files_in("archive/blobs").len(),
        3,
        "the finished ones are kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_flight_downloads_finish_within_the_grace_period() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault(&fleet.checkout, Fault::SlowDownload);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(&env, &config, "[sync]\nshutdown_grace = \"30s\"\n");

    let child = spawn(&env, &["sync"]);
    wait_until("the slow download to start", || {
        env.sim.downloads_of(&fleet.checkout) > 0
    })
    .await;
    signal(&child, "TERM");
    let (code, stderr) = finish(child).await;

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(env.entry(CHECKOUT).await["versions"], 1, "{stderr}");
    assert!(env.files_in("archive/tmp").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_cancels_in_flight_downloads_at_once() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault(&fleet.checkout, Fault::SlowDownload);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(&env, &config, "[sync]\nshutdown_grace = \"60s\"\n");

    let child = spawn(&env, &["sync"]);
    wait_until("the slow download to start", || {
        env.sim.downloads_of(&fleet.checkout) > 0
    })
    .await;
    signal(&child, "TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal(&child, "INT");
    let (code, stderr) = finish(child).await;

    assert_eq!(code, 0, "{stderr}");
    // Had it waited out the 60 s grace, the 5 s download would have been archived.
    assert!(env.files_in("archive/tmp").is_empty());
    assert_eq!(env.entry(CHECKOUT).await["versions"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_sweeps_on_its_schedule_until_stopped() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(&env, &config, "[schedule]\ncron = \"* * * * * *\"\n");

    let child = spawn(&env, &["daemon"]);
    // Start-up sweep plus at least two ticks: four functions each.
    wait_until("three sweeps", || env.sim.stats().api_requests >= 12).await;
    env.sim.deploy(&fleet.report, package("report v2", 21_000));
    wait_until("the redeploy to be archived", || {
        env.sim.downloads_of(&fleet.report) >= 2
    })
    .await;
    signal(&child, "TERM");
    let (code, stderr) = finish(child).await;

    assert_eq!(code, 0, "{stderr}");
    let outcomes = sweep_outcomes(&env);
    assert!(outcomes.len() >= 3, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| o == "ok" || o == "interrupted"),
        "{outcomes:?}"
    );
    assert_eq!(env.entry(REPORT).await["versions"], 2);
    assert_eq!(env.entry(ORDER_API).await["versions"], 1);
    assert!(stderr.contains("daemon started"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_refuses_to_start_without_a_schedule() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);

    let run = env.fnvault(&["daemon"]).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no [schedule] section"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_holds_the_lock_and_list_still_works() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(&env, &config, "[schedule]\ncron = \"0 0 0 1 1 *\"\n");

    let child = spawn(&env, &["daemon"]);
    wait_until("the start-up sweep", || env.sim.stats().downloads >= 4).await;
    let second = env.fnvault(&["sync"]).await;
    let list = env.fnvault(&["list", "--json"]).await;
    signal(&child, "TERM");
    let (code, _) = finish(child).await;

    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second.stderr.contains("locked by another fnvault process"),
        "{}",
        second.stderr
    );
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert_eq!(code, 0);
}

/// Every version row's blob is present and hashes to the row's sha256 (invariant 1).
fn assert_consistent(env: &Env) -> usize {
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    // A kill during the very first start can land before the schema is committed: an empty
    // database holds no rows, which is consistent (the next start migrates it).
    let schema: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'versions'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if schema == 0 {
        return 0;
    }
    let mut stmt = db.prepare("SELECT sha256 FROM versions").unwrap();
    let hashes: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for sha in &hashes {
        let blob = env.path(&format!("archive/blobs/{}/{sha}", &sha[..2]));
        let bytes = std::fs::read(&blob).unwrap_or_else(|e| panic!("{}: {e}", blob.display()));
        assert_eq!(
            &sha256_hex(&bytes),
            sha,
            "{} does not hash to its row",
            blob.display()
        );
    }
    hashes.len()
}

/// Rows in the `sweeps` table (0 while the schema does not exist yet).
fn sweep_rows(env: &Env) -> usize {
    let Ok(db) = rusqlite::Connection::open_with_flags(
        env.path("fnvault.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return 0;
    };
    db.query_row("SELECT COUNT(*) FROM sweeps", [], |r| r.get::<_, i64>(0))
        .map_or(0, |n| n as usize)
}

/// The moment a kill lands, chosen by what the run has visibly done (never by a fixed delay,
/// which a slow start-up would make land before anything happened).
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// Its sweep row is written.
    SweepRow,
    /// A download is being written to `tmp/`.
    TempFile,
    /// One more blob landed in `blobs/` than before the run (its row may not be there yet).
    NewBlob,
    /// The slow download has started, every other package is archived or on its way.
    SlowDownload,
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_any_moment_leaves_a_consistent_archive() {
    let env = Env::new().await;
    let mut config = String::new();
    let mut functions = Vec::new();
    let mut live = Vec::new();
    for i in 0..12 {
        let name = format!("big-{i:02}");
        let f = fnvault::sim::SimFunction::scf("ap-guangzhou", "default", &name, None);
        let bytes = package(&format!("{name} r0"), 1_500_000);
        env.sim.deploy(&f, bytes.clone());
        live.push(bytes);
        config.push_str(&scf("ap-guangzhou", "default", &name, None));
        functions.push(f);
    }
    // One download always in flight when the kill comes.
    env.sim.set_fault(&functions[0], Fault::SlowDownload);
    env.write_config(&format!(
        "{config}\n[sync]\nconcurrency = 4\ndownloads = 2\n"
    ));

    let moments = [
        KillAt::SweepRow,
        KillAt::TempFile,
        KillAt::NewBlob,
        KillAt::SlowDownload,
    ];
    let mut killed_after_sweep_row = 0;
    for round in 1..=12u64 {
        for (i, f) in functions.iter().enumerate().skip(1).step_by(3) {
            live[i] = package(&format!("{f:?} r{round}"), 1_500_000);
            env.sim.deploy(f, live[i].clone());
        }
        let at = moments[round as usize % moments.len()];
        let (rows_before, blobs_before) = (sweep_rows(&env), env.files_in("archive/blobs").len());
        let slow_before = env.sim.downloads_of(&functions[0]);
        let child = spawn(&env, &["sync"]);
        wait_until(&format!("round {round}: {at:?}"), || match at {
            KillAt::SweepRow => sweep_rows(&env) > rows_before,
            KillAt::TempFile => !env.files_in("archive/tmp").is_empty(),
            KillAt::NewBlob => env.files_in("archive/blobs").len() > blobs_before,
            KillAt::SlowDownload => env.sim.downloads_of(&functions[0]) > slow_before,
        })
        .await;
        if sweep_rows(&env) > rows_before {
            killed_after_sweep_row += 1;
        }
        signal(&child, "KILL");
        let _ = finish(child).await;
        // Even before anything cleans up, no row points at a missing or wrong blob.
        assert_consistent(&env);
    }

    env.sim.clear_fault(&functions[0]);
    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        env.files_in("archive/tmp").is_empty(),
        "temp files survived the restart"
    );
    assert!(assert_consistent(&env) >= 12);
    let outcomes = sweep_outcomes(&env);
    assert!(outcomes.iter().all(|o| o != "unfinished"), "{outcomes:?}");
    // Every row written by a killed run is marked interrupted, only the last sweep finished
    // normally, and the SweepRow rounds guarantee kills that landed after a row existed.
    let (last, killed) = outcomes.split_last().expect("sweeps recorded");
    assert_eq!(last, "ok", "{outcomes:?}");
    assert!(killed_after_sweep_row >= 3, "{killed_after_sweep_row}");
    assert!(killed.len() >= killed_after_sweep_row, "{outcomes:?}");
    assert!(killed.iter().all(|o| o == "interrupted"), "{outcomes:?}");
    for (i, entry) in env.list().await.iter().enumerate() {
        assert_eq!(
            entry["latest_sha256"],
            sha256_hex(&live[i]),
            "function {i}: {entry}"
        );
        assert!(entry["last_error"].is_null(), "{entry}");
    }

    // The archive is whole by its own account: verify finds nothing missing, corrupt or
    // unjournaled (a torn journal line from a kill must not linger). A blob a kill left between
    // its rename and its journal line, whose package was replaced before any sweep archived it
    // again, is unreferenced, as documented: `prune` removes exactly those, then verify is clean.
    let first = env.fnvault(&["verify", "--json"]).await;
    assert!(matches!(first.code, 0 | 1), "{}", first.stderr);
    let report: serde_json::Value = serde_json::from_str(&first.stdout).expect("verify JSON");
    let report = if report["ok"] == true {
        report
    } else {
        for problem in ["missing", "corrupt", "journal"] {
            assert_eq!(report[problem], serde_json::json!([]), "{report}");
        }
        let unreferenced: std::collections::BTreeSet<String> = report["unreferenced"]
            .as_array()
            .expect("unreferenced")
            .iter()
            .map(|u| u["path"].as_str().expect("path").to_string())
            .collect();
        let pruned = env.json(&["prune", "--json"], 0).await;
        let removed: std::collections::BTreeSet<String> = pruned["removed_blobs"]
            .as_array()
            .expect("removed_blobs")
            .iter()
            .map(|p| p.as_str().expect("path").to_string())
            .collect();
        assert_eq!(removed, unreferenced, "{pruned}");
        env.json(&["verify", "--json"], 0).await
    };
    assert_eq!(report["ok"], true, "{report}");
    // ...and a database rebuilt from blobs/ and meta/ alone holds exactly the same history.
    let histories = |config: std::path::PathBuf| async move {
        let mut out = Vec::new();
        for i in 0..12 {
            let name = format!("big-{i:02}");
            let run = run_fnvault(&config, &["history", &name, "--json"]).await;
            assert_eq!(run.code, 0, "{name}: {}", run.stderr);
            let h: serde_json::Value = serde_json::from_str(&run.stdout).expect("history JSON");
            let versions: Vec<_> = h["versions"]
                .as_array()
                .expect("versions")
                .iter()
                .map(|v| {
                    (
                        v["version"].clone(),
                        v["sha256"].clone(),
                        v["size"].clone(),
                        v["first_seen"].clone(),
                    )
                })
                .collect();
            out.push((name, versions));
        }
        out
    };
    let original = histories(env.path("config.toml")).await;
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("fresh.toml"),
        config.replace("path = \"fnvault.db\"", "path = \"fresh.db\""),
    )
    .unwrap();
    let reindex = run_fnvault(&env.path("fresh.toml"), &["reindex"]).await;
    assert_eq!(reindex.code, 0, "{}\n{}", reindex.stdout, reindex.stderr);
    assert_eq!(histories(env.path("fresh.toml")).await, original);
}
