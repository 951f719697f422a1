//! Interactive use of `sync`: progress bars and a change table on a terminal and nothing of
//! that on a pipe; `--dry-run`, which downloads and records nothing; `--only`.

use fnvault::sim::Fault;

use crate::common::*;

/// Runs `fnvault sync` with stderr on a pseudo-terminal (util-linux `script`), returning
/// everything the terminal showed.
async fn sync_on_a_terminal(env: &Env) -> (i32, String) {
    let command = format!(
        "stty cols 120 rows 40; exec '{}' --config '{}' sync",
        env!("CARGO_BIN_EXE_fnvault"),
        env.path("config.toml").display()
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("RUST_LOG")
        .env_remove("FNVAULT_NO_PROGRESS")
        .env("TERM", "xterm")
        .output()
        .await
        .expect("util-linux `script` runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_shows_progress_with_download_rates_and_a_table_of_changes() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    // A download that takes seconds, so its bar is drawn with bytes and a rate.
    env.sim.set_fault(&fleet.checkout, Fault::SlowDownload);

    let (code, screen) = sync_on_a_terminal(&env).await;

    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("4/4 functions"), "{screen}");
    assert!(screen.contains(CHECKOUT), "no download bar: {screen}");
    assert!(screen.contains("/s"), "no download rate: {screen}");
    assert!(screen.contains("87.89 KiB"), "no byte total: {screen}");
    assert!(screen.contains("FUNCTION"), "no change table: {screen}");
    for key in [ORDER_API, REPORT, CHECKOUT, REFUND] {
        assert!(
            screen.lines().any(|l| l.contains(key) && l.contains("new")),
            "{key} missing from the change table: {screen}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipe_gets_log_lines_only() {
    let env = Env::new().await;
    Fleet::deploy(&env);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("sweep 1: 4 checked"), "{}", run.stderr);
    assert!(!run.stderr.contains("functions  "), "{}", run.stderr);
    assert!(!run.stderr.contains("FUNCTION"), "{}", run.stderr);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "escape codes on a pipe: {}",
        run.stderr
    );
}

fn version_rows(env: &Env) -> i64 {
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    db.query_row("SELECT COUNT(*) FROM versions", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_on_a_new_archive_downloads_and_records_nothing() {
    let env = Env::new().await;
    Fleet::deploy(&env);

    let run = env.fnvault(&["sync", "--dry-run"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let stats = env.sim.stats();
    assert_eq!(stats.downloads, 0);
    assert_eq!(stats.api_requests, 4, "one API call per function");
    for key in [ORDER_API, REPORT, CHECKOUT, REFUND] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(key) && l.contains("new")),
            "{key}: {}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("4 would be downloaded")
            && run.stdout.contains("nothing was downloaded or recorded"),
        "{}",
        run.stdout
    );
    assert!(
        !env.path("fnvault.db").exists(),
        "a dry run created the database"
    );
    assert!(env.files_in("archive").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_names_changed_packages_and_missing_blobs_with_the_clouds_checksum() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    let v2 = package("report v2", 21_000);
    env.sim.deploy(&fleet.report, v2.clone());
    let checkout = env.entry(CHECKOUT).await;
    let blob = env
        .files_in("archive/blobs")
        .into_iter()
        .find(|p| p.ends_with(checkout["latest_sha256"].as_str().unwrap()))
        .unwrap();
    std::fs::remove_file(blob).unwrap();
    let downloads = env.sim.stats().downloads;

    let run = env.fnvault(&["sync", "--dry-run"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.sim.stats().downloads, downloads);
    let line = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} not listed: {}", run.stdout))
            .to_string()
    };
    // SCF's checksum is the package's SHA-256.
    assert!(line(REPORT).contains("changed") && line(REPORT).contains(&sha256_hex(&v2)));
    assert!(line(CHECKOUT).contains("blob missing"));
    assert!(!run.stdout.contains(ORDER_API) && !run.stdout.contains(REFUND));
    assert_eq!(version_rows(&env), 4);
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    let sweeps: i64 = db
        .query_row("SELECT COUNT(*) FROM sweeps", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sweeps, 1, "a dry run recorded a sweep");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_limits_a_sync_to_the_matching_functions() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);

    let run = env
        .fnvault(&["sync", "--only", "tc/*", "--only", "refund"])
        .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("3 checked"), "{}", run.stderr);
    assert_eq!(env.sim.downloads_of(&fleet.checkout), 0);
    assert_eq!(env.entry(ORDER_API).await["versions"], 1);
    assert_eq!(env.entry(REFUND).await["versions"], 1);
    assert_eq!(env.entry(CHECKOUT).await["versions"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_only_pattern_that_matches_nothing_is_an_error() {
    let env = Env::new().await;
    Fleet::deploy(&env);

    let run = env
        .fnvault(&["sync", "--only", "tc/*", "--only", "chekout"])
        .await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--only `chekout` matches no configured function"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.stats().api_requests, 0);
}
