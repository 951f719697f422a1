//! `fnvault status`: the last sweeps, failing and stale functions and archive totals, as text
//! and JSON, read-only (it works while a daemon holds the lock).

use crate::common::*;

crate::both_backends! {
async fn status_shows_sweeps_failing_functions_and_totals() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.remove(&fleet.refund);
    assert_eq!(env.fnvault(&["sync"]).await.code, 1);
    assert_eq!(env.fnvault(&["sync"]).await.code, 1);

    let run = env.fnvault(&["status"]).await;

    // A failing function makes status exit 1: usable as a health check.
    assert_eq!(run.code, 1, "{}", run.stderr);
    let text = &run.stdout;
    assert!(text.contains("Last sweeps:"), "{text}");
    let sweep_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" sync ") && l.contains("failed"))
        .collect();
    assert_eq!(sweep_lines.len(), 2, "{text}");
    assert!(
        text.lines().any(|l| l.contains(REFUND)
            && l.contains("HTTP 404")
            && l.contains("2 sweep(s) in a row")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(REFUND) && l.contains("last success: never")),
        "{text}"
    );
    assert!(
        text.contains(
            // On disk also: the three archived functions' configuration documents.
            "Archive: 4 functions, 3 versions, 3 blobs (175.8 KiB); on disk: 6 blobs, 177."
        ),
        "{text}"
    );
}
}

crate::both_backends! {
async fn status_json_has_sweeps_failing_stale_and_archive() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.remove(&fleet.refund);
    assert_eq!(env.fnvault(&["sync"]).await.code, 1);
    env.sim.deploy(&fleet.refund, package("refund v1", 5_000));
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);

    let run = env.fnvault(&["status", "--json", "--sweeps", "1"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let sweeps = v["sweeps"].as_array().unwrap();
    assert_eq!(sweeps.len(), 1);
    assert_eq!(sweeps[0]["id"], 2);
    assert_eq!(sweeps[0]["outcome"], "ok");
    assert_eq!(sweeps[0]["trigger"], "sync");
    assert_eq!(sweeps[0]["changed"], 1);
    assert_eq!(sweeps[0]["unchanged"], 3);
    assert!(sweeps[0]["duration_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["failing"], serde_json::json!([]));
    assert_eq!(v["stale"], serde_json::json!([]));
    assert_eq!(v["archive"]["versions"], 4);
    assert_eq!(v["archive"]["blobs"], 4);
    assert_eq!(v["archive"]["bytes"], 185_000);
    // On disk also: the four configuration documents (blobs in the same store).
    let (count, documents) = env.config_blob_stats();
    assert_eq!(count, 4);
    assert_eq!(v["archive"]["bytes_on_disk"], 185_000 + documents);
}
}

#[tokio::test(flavor = "multi_thread")]
async fn status_before_any_sweep_lists_every_function_as_never_checked() {
    let env = Env::new().await;
    Fleet::deploy(&env);

    let run = env.fnvault(&["status", "--json"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["sweeps"], serde_json::json!([]));
    assert_eq!(v["stale"].as_array().unwrap().len(), 4);
    assert!(v["stale"][0]["last_success"].is_null());
    assert!(
        !env.path("fnvault.db").exists(),
        "status created the database"
    );
}

crate::both_backends! {
async fn status_works_while_a_daemon_holds_the_archive() {
    let env = Env::new().await;
    Fleet::deploy(&env);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!("{config}\n[schedule]\ncron = \"0 0 0 1 1 *\"\n"),
    )
    .unwrap();
    let daemon = spawn_fnvault(&env, &["daemon"]);
    eventually("the daemon's first sweep", async || {
        let run = env.fnvault(&["status", "--json"]).await;
        let v: serde_json::Value = serde_json::from_str(&run.stdout).ok()?;
        (v["sweeps"][0]["outcome"] == "ok").then_some(())
    })
    .await;

    let run = env.fnvault(&["status"]).await;
    let (code, stderr) = terminate(daemon).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(" daemon "), "{}", run.stdout);
    assert_eq!(code, 0, "{stderr}");
}
}

crate::both_backends! {
async fn status_covers_discovered_functions_and_reports_a_gone_one_as_gone() {
    let env = Env::new().await;
    let good = fnvault::sim::SimFunction::scf("ap-guangzhou", "default", "order-a", None);
    let bad = fnvault::sim::SimFunction::scf("ap-guangzhou", "default", "order-b", None);
    env.sim.deploy(&good, package("order-a", 3_000));
    env.sim.deploy(&bad, package("order-b", 3_000));
    env.sim
        .set_fault(&bad, fnvault::sim::Fault::CorruptDownload);
    env.write_config("[[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\n");
    assert_eq!(env.fnvault(&["sync"]).await.code, 1);
    let bad_key = "tc/ap-guangzhou/default/order-b";

    let run = env.fnvault(&["status", "--json"]).await;

    // Found by [[discover]] only, yet failing and stale like a configured function.
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let failing = v["failing"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{v}");
    assert_eq!(failing[0]["function"], bad_key);
    assert_eq!(failing[0]["cloud"], "tencent");
    assert_eq!(failing[0]["consecutive_failures"], 1);
    assert!(failing[0]["failing_since"].is_string(), "{v}");
    let stale = v["stale"].as_array().unwrap();
    assert_eq!(stale.len(), 1, "{v}");
    assert_eq!(stale[0]["function"], bad_key);
    assert_eq!(v["gone"], serde_json::json!([]));
    let text = env.fnvault(&["status"]).await.stdout;
    assert!(
        text.lines()
            .any(|l| l.contains(bad_key) && l.contains("1 sweep(s) in a row")),
        "{text}"
    );

    // Deleted in the cloud: gone, reported as such, and no longer failing or stale.
    env.sim.remove(&bad);
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    let run = env.fnvault(&["status", "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["failing"], serde_json::json!([]));
    assert_eq!(v["stale"], serde_json::json!([]));
    let gone = v["gone"].as_array().unwrap();
    assert_eq!(gone.len(), 1, "{v}");
    assert_eq!(gone[0]["function"], bad_key);
    assert!(gone[0]["gone_since"].is_string(), "{v}");
    assert!(gone[0]["last_success"].is_null(), "{v}");
    let text = env.fnvault(&["status"]).await.stdout;
    assert!(text.contains("Gone from the cloud"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(bad_key) && l.contains("gone since")),
        "{text}"
    );
}
}

#[tokio::test(flavor = "multi_thread")]
async fn status_refuses_zero_sweeps() {
    let env = Env::new().await;
    Fleet::deploy(&env);
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);

    let run = env.fnvault(&["status", "--sweeps", "0"]).await;

    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("--sweeps"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}
