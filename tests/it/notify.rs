//! `[notify]`: failure alerts to a webhook and a command, and healthchecks-style pings, in
//! order, without secrets, and never fatal.

use std::sync::{Arc, Mutex};

use crate::common::*;

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    body: String,
}

/// A local HTTP receiver that records every request and answers `status`.
async fn receiver(status: u16) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(Seen {
                path: uri.path().to_string(),
                body,
            });
            axum::http::StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

fn add_to_config(env: &Env, extra: &str) {
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(env.path("config.toml"), format!("{config}\n{extra}")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_failing_twice_in_a_row_alerts_and_the_pings_follow_each_sweep() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let (port, seen) = receiver(200).await;
    add_to_config(
        &env,
        &format!(
            "[notify]\nwebhook = \"http://127.0.0.1:{port}/hook/sekrit-path?token=sekrit-token\"\nping_url = \"http://127.0.0.1:{port}/ping/uuid-1234\"\nafter_failures = 2\n"
        ),
    );
    env.sim.remove(&fleet.refund);

    let first = env.fnvault(&["-v", "sync"]).await;
    assert_eq!(first.code, 1, "{}", first.stderr);
    let second = env.fnvault(&["-v", "sync"]).await;
    assert_eq!(second.code, 1, "{}", second.stderr);
    env.sim.deploy(&fleet.refund, package("refund v1", 5_000));
    let third = env.fnvault(&["-v", "sync"]).await;
    assert_eq!(third.code, 0, "{}", third.stderr);

    let seen = seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            // sweep 1: refund failed once, fewer than after_failures: no alert yet
            "/ping/uuid-1234/start",
            "/ping/uuid-1234/fail",
            // sweep 2: the second failure in a row alerts
            "/ping/uuid-1234/start",
            "/hook/sekrit-path",
            "/ping/uuid-1234/fail",
            // sweep 3: refund is back
            "/ping/uuid-1234/start",
            "/ping/uuid-1234",
        ]
    );
    let alert: serde_json::Value = serde_json::from_str(&seen[3].body).expect("JSON body");
    assert_eq!(alert["event"], "sweep_failed");
    assert_eq!(alert["sweep_id"], 2);
    assert_eq!(alert["trigger"], "sync");
    assert!(
        alert["started"].is_string() && alert["finished"].is_string(),
        "{alert}"
    );
    assert_eq!(alert["counts"]["failed"], 1);
    assert_eq!(alert["counts"]["unchanged"], 3);
    assert_eq!(alert["after_failures"], 2);
    let failing = alert["failing"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{alert}");
    assert_eq!(failing[0]["function"], REFUND);
    assert_eq!(failing[0]["cloud"], "aliyun");
    assert_eq!(failing[0]["consecutive_failures"], 2);
    assert!(failing[0]["failing_since"].is_string());
    assert!(
        failing[0]["error"].as_str().unwrap().contains("HTTP 404"),
        "{alert}"
    );
    assert!(seen[6].body.contains("0 failed"), "{}", seen[6].body);

    for text in [&seen[3].body, &first.stderr, &second.stderr, &third.stderr] {
        for secret in [TC_KEY, ALI_KEY, "sekrit", "uuid-1234"] {
            assert!(!text.contains(secret), "`{secret}` leaked into: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_webhook_is_logged_and_the_command_still_gets_the_alert() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let (port, seen) = receiver(500).await;
    let out = env.path("alert.json");
    add_to_config(
        &env,
        &format!(
            "[notify]\nwebhook = \"http://127.0.0.1:{port}/hook?token=sekrit-token\"\ncommand = [\"/bin/sh\", \"-c\", \"cat > '{}'\"]\n",
            out.display()
        ),
    );
    env.sim.remove(&fleet.order_api);

    let run = env.fnvault(&["sync"]).await;

    // The function's failure decides the exit code; the notifier's does not.
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the webhook answered HTTP 500"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("sekrit-token"), "{}", run.stderr);
    assert_eq!(seen.lock().unwrap().len(), 1);
    let alert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the command ran")).unwrap();
    assert_eq!(alert["failing"][0]["function"], ORDER_API);
    assert_eq!(alert["failing"][0]["consecutive_failures"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_ping_url_does_not_fail_a_good_sweep() {
    let env = Env::new().await;
    Fleet::deploy(&env);
    add_to_config(
        &env,
        &format!(
            "[notify]\nping_url = \"http://127.0.0.1:{}/p\"\ntimeout = \"2s\"\n",
            free_port()
        ),
    );

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("ping failed"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alert_describes_a_failing_discovered_function_like_a_configured_one() {
    use fnvault::sim::{Fault, SimFunction};
    let env = Env::new().await;
    let bad = SimFunction::scf("ap-guangzhou", "default", "order-b", None);
    env.sim.deploy(
        &SimFunction::scf("ap-guangzhou", "default", "order-a", None),
        package("order-a", 3_000),
    );
    env.sim.deploy(&bad, package("order-b", 3_000));
    env.sim.set_fault(&bad, Fault::CorruptDownload);
    let out = env.path("alert.json");
    env.write_config(&format!(
        "[[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\n\
         [notify]\ncommand = [\"/bin/sh\", \"-c\", \"cat > '{}'\"]\n",
        out.display()
    ));

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    let alert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the command ran")).unwrap();
    let failing = alert["failing"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{alert}");
    assert_eq!(failing[0]["function"], "tc/ap-guangzhou/default/order-b");
    assert_eq!(failing[0]["cloud"], "tencent");
    assert_eq!(failing[0]["consecutive_failures"], 1);
    assert!(failing[0]["failing_since"].is_string(), "{alert}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relative_command_path_runs_the_program_beside_the_config_file() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let out = env.path("alert.json");
    // A link to sh rather than a script written here: no freshly written executable to race
    // with (ETXTBSY).
    std::fs::create_dir(env.path("bin")).unwrap();
    std::os::unix::fs::symlink("/bin/sh", env.path("bin/alert")).unwrap();
    add_to_config(
        &env,
        &format!(
            "[notify]\ncommand = [\"bin/alert\", \"-c\", \"cat > '{}'\"]\n",
            out.display()
        ),
    );
    env.sim.remove(&fleet.order_api);

    // The test runs fnvault from the crate's folder, not the config's: only resolving against
    // the config's folder finds the program.
    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    let alert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the command ran")).unwrap();
    assert_eq!(alert["failing"][0]["function"], ORDER_API);
}

/// Review X1: the alert command inherited the daemon's whole environment, cloud keys included.
#[tokio::test(flavor = "multi_thread")]
async fn the_alert_command_gets_a_cleared_environment_without_secrets() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let out = env.path("env.txt");
    add_to_config(
        &env,
        &format!(
            "[notify]\ncommand = [\"/bin/sh\", \"-c\", \"env > '{}'\"]\n",
            out.display()
        ),
    );
    env.sim.remove(&fleet.order_api);

    let run = run_fnvault_with_env(
        &env.path("config.toml"),
        &["sync"],
        &[
            ("TENCENTCLOUD_SECRET_KEY", "leaked-tc-secret"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "leaked-ali-secret"),
            ("CREDENTIALS_DIRECTORY", "/run/credentials/leaked"),
            ("MY_KEY_ENV", "leaked-env-value"),
            ("LANG", "C.UTF-8"),
            ("FNVAULT_SITE", "eu-1"),
        ],
    )
    .await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    let seen = std::fs::read_to_string(&out).expect("the command ran");
    for secret in [
        "leaked-tc-secret",
        "leaked-ali-secret",
        "/run/credentials",
        "leaked-env",
    ] {
        assert!(
            !seen.contains(secret),
            "the command saw `{secret}`:\n{seen}"
        );
    }
    let names: Vec<&str> = seen.lines().filter_map(|l| l.split('=').next()).collect();
    for name in &names {
        assert!(
            matches!(*name, "PATH" | "HOME" | "LANG" | "PWD" | "SHLVL" | "_")
                || name.starts_with("FNVAULT_"),
            "the command inherited {name}:\n{seen}"
        );
    }
    assert!(seen.contains("LANG=C.UTF-8"), "{seen}");
    assert!(seen.contains("FNVAULT_SITE=eu-1"), "{seen}");
    assert!(seen.contains("FNVAULT_EVENT=sweep_failed"), "{seen}");
}

/// `[notify] mirror_lag_alert`: a mirror whose oldest uncopied version waits longer than it
/// alerts once per lag episode (not at every sweep, though each `sync` is its own process),
/// `status` judges by the same threshold, and a mirror that caught up and lags again alerts
/// anew.
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_mirror_alerts_once_per_episode() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let (port, seen) = receiver(200).await;
    // A regular file where the mirror's folder should be: every mirror run fails.
    let usb = env.path("usb");
    std::fs::write(&usb, b"not a folder").unwrap();
    let config = |limit: &str| {
        env.write_config(&format!(
            "{}\n[[mirrors]]\nname = \"usb\"\ndir = \"{}\"\n[notify]\nwebhook = \"http://127.0.0.1:{port}/hook?token=sekrit-token\"\nmirror_lag_alert = \"{limit}\"\n",
            Fleet::config(),
            usb.display()
        ));
    };
    let hooks = || {
        seen.lock()
            .unwrap()
            .iter()
            .map(|s| serde_json::from_str::<serde_json::Value>(&s.body).expect("JSON body"))
            .collect::<Vec<_>>()
    };

    config("1h");
    env.sync_ok().await;
    assert_eq!(hooks().len(), 0, "lagging less than an hour: no alert");
    let status = env.json(&["status", "--json"], 0).await;
    assert_eq!(status["mirrors"][0]["lag_versions"], 4, "{status}");
    assert_eq!(status["mirrors"][0]["lagging"], false, "{status}");

    config("1s");
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let status = env.json(&["status", "--json"], 1).await;
    assert_eq!(status["mirrors"][0]["lagging"], true, "{status}");
    let second = env.fnvault(&["sync"]).await;
    assert_eq!(
        second.code, 0,
        "a lagging mirror never fails the sweep: {}",
        second.stderr
    );
    let alerts = hooks();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["event"], "mirror_lagging", "{a}");
    assert_eq!(a["mirror"], "usb", "{a}");
    assert_eq!(a["lag_versions"], 4, "{a}");
    assert_eq!(a["mirror_lag_alert_seconds"], 1, "{a}");
    assert!(a["lag_seconds"].as_i64().is_some_and(|s| s >= 1), "{a}");
    assert!(a["last_success"].is_null(), "{a}");
    assert!(a["last_error"].is_string(), "{a}");
    assert!(a["oldest_unmirrored"].is_string(), "{a}");
    assert!(!seen.lock().unwrap()[0].body.contains("sekrit"));

    // The same episode: no second alert.
    env.sync_ok().await;
    assert_eq!(hooks().len(), 1, "one alert per episode");

    // The mirror catches up: the episode ends, silently.
    std::fs::remove_file(&usb).unwrap();
    env.sync_ok().await;
    assert_eq!(hooks().len(), 1);
    let status = env.json(&["status", "--json"], 0).await;
    assert_eq!(status["mirrors"][0]["lag_versions"], 0, "{status}");

    // Broken again, a new version waits past the limit: a new episode alerts again.
    std::fs::remove_dir_all(&usb).unwrap();
    std::fs::write(&usb, b"not a folder").unwrap();
    env.sim
        .deploy(&fleet.checkout, package("checkout v2", 91_000));
    env.sync_ok().await;
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    env.sync_ok().await;
    let alerts = hooks();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[1]["event"], "mirror_lagging");
    assert_eq!(alerts[1]["lag_versions"], 1, "{}", alerts[1]);
    assert!(alerts[1]["last_success"].is_string(), "{}", alerts[1]);

    // `fnvault mirror` on its own (no sweep) ends an episode and alerts a new one too.
    std::fs::remove_file(&usb).unwrap();
    assert_eq!(env.fnvault(&["mirror"]).await.code, 0);
    std::fs::remove_dir_all(&usb).unwrap();
    std::fs::write(&usb, b"not a folder").unwrap();
    env.sim
        .deploy(&fleet.checkout, package("checkout v3", 92_000));
    env.sync_ok().await;
    assert_eq!(hooks().len(), 2);
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    assert_eq!(env.fnvault(&["mirror"]).await.code, 1);
    let alerts = hooks();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert_eq!(alerts[2]["event"], "mirror_lagging");
    assert_eq!(alerts[2]["lag_versions"], 1, "{}", alerts[2]);
}
