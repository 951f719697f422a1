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

crate::both_backends! {
async fn sigterm_during_a_download_exits_0_and_leaves_nothing_partial() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault(&fleet.checkout, Fault::SlowDownload);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(&env, &config, "[sync]\nshutdown_grace = \"200ms\"\n");

    let child = spawn(&env, &["sync"]);
    // Stop once the three quick functions are archived and the slow one's bytes are landing in
    // tmp/ (observed moments, not a guessed delay): what the counts below expect is then settled.
    // Recorded, not only stored: on object storage the journal objects and the row come
    // some requests after the blob.
    let recorded = || {
        rusqlite::Connection::open_with_flags(
            env.path("fnvault.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|db| db.query_row("SELECT COUNT(*) FROM versions", [], |r| r.get::<_, i64>(0)))
        .unwrap_or(0)
    };
    wait_until(
        "the three quick packages recorded and the slow download's temp file",
        || {
            recorded() == 3
                && env
                    .files_in("archive/tmp")
                    .iter()
                    .any(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0))
        },
    )
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
    // The interrupted function was not checked: the sweep's row must not count it.
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    let counts: (i64, i64, i64) = db
        .query_row("SELECT checked, changed, failed FROM sweeps", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(counts, (3, 3, 0));
    assert!(stderr.contains("3 checked"), "{stderr}");
    assert_eq!(env.entry(CHECKOUT).await["versions"], 0);
    assert_eq!(env.package_blob_count(), 3, "the finished ones are kept");
}
}

crate::both_backends! {
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

crate::both_backends! {
async fn the_daemon_sweeps_on_its_schedule_until_stopped() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(&env, &config, "[schedule]\ncron = \"* * * * * *\"\n");

    let child = spawn(&env, &["daemon"]);
    // Start-up sweep plus at least two ticks: four functions each, 12 requests a sweep (SCF:
    // configuration + address; FC 2.0: service, function, triggers + code).
    wait_until("three sweeps", || env.sim.stats().api_requests >= 36).await;
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
}

crate::both_backends! {
/// A journal append can report an error after its line reached the file (a failed fsync).
/// The running daemon must not give the function's next version that number again: numbers
/// come from the journal and the database together, so the line is adopted later as what it
/// is, and nothing is lost or shadowed.
async fn a_version_number_in_the_journal_is_never_used_again_by_a_running_daemon() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(&env, &config, "[schedule]\ncron = \"* * * * * *\"\n");
    let child = spawn(&env, &["daemon"]);
    // The database may not exist yet, or be mid-migration: that is "not yet".
    let first_sweep_done = || {
        rusqlite::Connection::open_with_flags(
            env.path("fnvault.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|db| {
            db.query_row(
                "SELECT COUNT(*) FROM sweeps WHERE outcome = 'ok'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .is_ok_and(|n| n > 0)
    };
    wait_until("the first sweep", first_sweep_done).await;

    // What a failed append that still wrote its line leaves: a v2 line (and its blob), no row.
    let journaled = package("checkout journaled", 5_000);
    env.plant_blob(&journaled);
    let text = env.journal_text(CHECKOUT);
    let mut line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    line["version_no"] = 2.into();
    line["sha256"] = sha256_hex(&journaled).into();
    line["cloud_checksum"] = "journaled".into();
    line["size"] = journaled.len().into();
    env.set_journal_text(CHECKOUT, &format!("{text}{line}\n"));

    let v3 = package("checkout v3", 6_000);
    env.sim.deploy(&fleet.checkout, v3.clone());
    wait_until("the redeploy to be downloaded", || {
        env.sim.downloads_of(&fleet.checkout) >= 2
    })
    .await;
    signal(&child, "TERM");
    let (code, stderr) = finish(child).await;
    assert_eq!(code, 0, "{stderr}");

    // The next writer adopts the journaled v2; the daemon's package is v3.
    env.sync_ok().await;
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    let got: Vec<(i64, String)> = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), 3, "{h}");
    assert_eq!(got[1], (2, sha256_hex(&journaled)));
    assert_eq!(got[2], (3, sha256_hex(&v3)));
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
}
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

crate::both_backends! {
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
        let where_ = env.blob_location(sha);
        let bytes = env
            .read_blob(sha)
            .unwrap_or_else(|| panic!("{where_}: not there"));
        assert_eq!(
            &sha256_hex(&bytes),
            sha,
            "{where_} does not hash to its row"
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

crate::both_backends! {
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
        let (rows_before, blobs_before) = (sweep_rows(&env), env.package_blob_count());
        let slow_before = env.sim.downloads_of(&functions[0]);
        let child = spawn(&env, &["sync"]);
        wait_until(&format!("round {round}: {at:?}"), || match at {
            KillAt::SweepRow => sweep_rows(&env) > rows_before,
            KillAt::TempFile => !env.files_in("archive/tmp").is_empty(),
            KillAt::NewBlob => env.package_blob_count() > blobs_before,
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
}

/// The sd_notify messages a daemon sends, read from a socket of the test's own.
struct NotifySocket {
    socket: tokio::net::UnixDatagram,
    path: std::path::PathBuf,
    seen: Vec<String>,
}

impl NotifySocket {
    fn bind(env: &Env) -> NotifySocket {
        let path = env.path("notify.sock");
        NotifySocket {
            socket: tokio::net::UnixDatagram::bind(&path).expect("notify socket"),
            path,
            seen: Vec::new(),
        }
    }

    /// Reads messages (one per line of each datagram) until one starts with `prefix`.
    async fn wait_for(&mut self, prefix: &str) {
        let mut buf = vec![0u8; 4096];
        while !self.seen.iter().any(|m| m.starts_with(prefix)) {
            let n = tokio::time::timeout(Duration::from_secs(20), self.socket.recv(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no `{prefix}` message; seen: {:?}", self.seen))
                .expect("recv");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.seen.extend(text.lines().map(str::to_string));
        }
    }

    /// Reads messages until `n` of them start with `prefix`.
    async fn wait_for_nth(&mut self, prefix: &str, n: usize) {
        let mut buf = vec![0u8; 4096];
        while self.seen.iter().filter(|m| m.starts_with(prefix)).count() < n {
            let got = tokio::time::timeout(Duration::from_secs(20), self.socket.recv(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {n} `{prefix}` messages; seen: {:?}", self.seen))
                .expect("recv");
            let text = String::from_utf8_lossy(&buf[..got]).into_owned();
            self.seen.extend(text.lines().map(str::to_string));
        }
    }

    /// Everything still queued, without waiting.
    fn drain(&mut self) -> &[String] {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = self.socket.try_recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.seen.extend(text.lines().map(str::to_string));
        }
        &self.seen
    }

    fn position(&self, prefix: &str) -> Option<usize> {
        self.seen.iter().position(|m| m.starts_with(prefix))
    }
}

fn spawn_notified(
    env: &Env,
    socket: &NotifySocket,
    watchdog: Option<&str>,
) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fnvault"));
    cmd.arg("--config")
        .arg(env.path("config.toml"))
        .arg("daemon")
        .env_remove("RUST_LOG")
        .env_remove("WATCHDOG_PID")
        .env_remove("WATCHDOG_USEC")
        .env("NOTIFY_SOCKET", &socket.path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(usec) = watchdog {
        cmd.env("WATCHDOG_USEC", usec);
    }
    cmd.spawn().expect("fnvault starts")
}

/// Review A1: signal handlers came after the start-up work, so a SIGTERM during a long
/// start-up killed the daemon by the default action; and READY was the first thing said.
/// Here the database's write lock is held by the test, so the start-up is stuck in it for as
/// long as the test wants.
#[tokio::test(flavor = "multi_thread")]
async fn a_sigterm_during_start_up_stops_the_daemon_cleanly_and_it_never_says_ready() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(&env, &config, "[schedule]\ncron = \"0 0 0 1 1 *\"\n");
    let holder = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut socket = NotifySocket::bind(&env);

    let child = spawn_notified(&env, &socket, None);
    socket.wait_for("STATUS=starting").await;
    signal(&child, "TERM");
    socket.wait_for("STOPPING=1").await;
    holder.execute_batch("COMMIT").unwrap();
    let (code, stderr) = finish(child).await;

    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("stopped during start-up"), "{stderr}");
    let seen = socket.drain().to_vec();
    assert!(!seen.iter().any(|m| m == "READY=1"), "{seen:?}");
    assert_eq!(sweep_outcomes(&env), ["ok"], "no sweep after the stop");
}

crate::both_backends! {
/// Review A1/A4: STATUS= progress before READY, READY only after the start-up reconcile (a
/// journaled version without its row is already adopted when READY comes), and the
/// watchdog pinged from the scheduler loop.
async fn the_daemon_says_starting_then_ready_after_the_reconcile_and_feeds_the_watchdog() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    // Lose the rows (as a crash between journal and database would): the start-up reconcile
    // must adopt them from the journal before READY.
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    db.execute_batch("DELETE FROM files; DELETE FROM packages; DELETE FROM versions;")
        .unwrap();
    drop(db);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(
        &env,
        &config,
        "[schedule]\ncron = \"0 0 0 1 1 *\"\nrun_on_start = false\n",
    );
    let mut socket = NotifySocket::bind(&env);

    let child = spawn_notified(&env, &socket, Some("200000"));
    socket.wait_for("READY=1").await;
    let versions: i64 = rusqlite::Connection::open(env.path("fnvault.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM versions", [], |r| r.get(0))
        .unwrap();
    let ready = socket.position("READY=1").unwrap();
    socket.wait_for("WATCHDOG=1").await;
    signal(&child, "TERM");
    let (code, stderr) = finish(child).await;

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(versions, 4, "READY came before the journal was reconciled");
    let starting = socket
        .position("STATUS=starting")
        .expect("a starting status");
    assert!(starting < ready, "{:?}", socket.seen);
    assert!(
        socket.position("WATCHDOG=1").unwrap() > ready,
        "{:?}",
        socket.seen
    );
}
}

/// Review A2: after SIGTERM, functions waiting for a download slot started their downloads
/// anyway during the grace period.
#[tokio::test(flavor = "multi_thread")]
async fn after_sigterm_downloads_waiting_for_a_slot_never_start() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    for f in [
        &fleet.order_api,
        &fleet.report,
        &fleet.checkout,
        &fleet.refund,
    ] {
        env.sim.set_fault(f, Fault::SlowDownload);
    }
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(
        &env,
        &config,
        "[sync]\ndownloads = 1\nshutdown_grace = \"60s\"\n",
    );

    let child = spawn(&env, &["sync"]);
    wait_until("the first slow download to start", || {
        env.sim.stats().downloads > 0
    })
    .await;
    signal(&child, "TERM");
    let (code, stderr) = finish(child).await;

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        env.sim.stats().downloads,
        1,
        "a download started after the stop: {stderr}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
}

/// The mirroring after a sweep blocks the scheduler's own watchdog check, so a long copy
/// would look like a hung daemon: the copy feeds the watchdog itself, once per blob and
/// journal file it goes through. The interval here is long enough that nothing else pings
/// between the `mirroring` status and the status that follows it.
#[tokio::test(flavor = "multi_thread")]
async fn mirroring_after_a_sweep_feeds_the_watchdog_while_it_copies() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    with_extra(
        &env,
        &config,
        "[schedule]\ncron = \"0 0 0 1 1 *\"\nrun_on_start = true\n\n\
         [[mirrors]]\nname = \"usb\"\ndir = \"usb\"\n",
    );
    let mut socket = NotifySocket::bind(&env);

    let child = spawn_notified(&env, &socket, Some("600000000"));
    socket.wait_for("STATUS=mirroring").await;
    // The sweep's summary is said before the mirroring and again after it.
    socket.wait_for_nth("STATUS=sweep 1", 2).await;
    signal(&child, "TERM");
    let (code, stderr) = finish(child).await;

    assert_eq!(code, 0, "{stderr}");
    let from = socket.position("STATUS=mirroring").unwrap();
    let to = from
        + 1
        + socket.seen[from + 1..]
            .iter()
            .position(|m| m.starts_with("STATUS="))
            .unwrap();
    let pings = socket.seen[from..to]
        .iter()
        .filter(|m| *m == "WATCHDOG=1")
        .count();
    // Four packages and four configuration documents, and a journal file per function.
    assert!(
        pings >= 8,
        "{pings} pings while mirroring: {:?}",
        socket.seen
    );
    assert_eq!(env.files_in("usb/blobs").len(), 8);
}
