//! `[metrics]`: the daemon serves Prometheus metrics whose values match what its sweeps did,
//! and a restart keeps the per-function gauges.

use std::collections::BTreeMap;

use crate::common::*;

/// One sample of the text format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus/OpenMetrics text format (the subset fnvault emits: no escaped quotes
/// in label values, no timestamps).
fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in `{line}`"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let labels = body
                    .split("\",")
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").expect("label=\"value\"");
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
        };
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

/// The value of the series `name` with (at least) these labels.
fn find(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// [`find`], panicking when the series is absent.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    find(samples, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in the scrape"))
}

/// The failure streak the database recorded for one function.
fn recorded_streak(env: &Env, key: &str) -> i64 {
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    db.query_row(
        "SELECT consecutive_failures FROM functions WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .unwrap()
}

async fn scrape(port: u16) -> Option<String> {
    let r = http_client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    r.text().await.ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_sweeps_checks_bytes_and_failures_and_survive_a_restart() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    // refund disappears from the cloud: a permanent (not found) failure in every sweep.
    env.sim.remove(&fleet.refund);
    let port = free_port();
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!(
            "{config}\n[schedule]\ncron = \"* * * * * *\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();

    let daemon = spawn_fnvault(&env, &["daemon"]);
    // A snapshot between sweeps: no sweep running, and the next scrape shows the same sweep
    // count and the same checks (a scrape taken mid-sweep would see half a sweep's counters).
    // Every counter is then an exact function of the number of sweeps, so double counting
    // fails the assertions below.
    let text = eventually(
        "two finished sweeps in the metrics, between sweeps",
        async || {
            let text = scrape(port).await?;
            let again = scrape(port).await?;
            let (a, b) = (parse(&text), parse(&again));
            let settled = |s: &[Sample]| {
                let checks: f64 = s
                    .iter()
                    .filter(|x| x.name == "fnvault_function_checks_total")
                    .map(|x| x.value)
                    .sum();
                (
                    find(s, "fnvault_sweep_running", &[]),
                    find(s, "fnvault_sweeps_total", &[("outcome", "failed")]),
                    checks,
                )
            };
            let (running, sweeps, checks) = settled(&a);
            (running == Some(0.0) && sweeps? >= 2.0 && settled(&b) == (running, sweeps, checks))
                .then_some(text)
        },
    )
    .await;
    let (code, stderr) = terminate(daemon).await;
    assert_eq!(code, 0, "{stderr}");

    let s = parse(&text);
    // The first sweep archived order-api and report (SCF) and checkout (FC); later ones found
    // them unchanged.
    assert_eq!(
        value(
            &s,
            "fnvault_function_checks_total",
            &[("cloud", "tencent"), ("outcome", "new")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &s,
            "fnvault_function_checks_total",
            &[("cloud", "aliyun"), ("outcome", "new")]
        ),
        1.0
    );
    let sweeps = value(&s, "fnvault_sweeps_total", &[("outcome", "failed")]);
    // Every sweep after the first found order-api and report (SCF) and checkout unchanged.
    assert_eq!(
        value(
            &s,
            "fnvault_function_checks_total",
            &[("cloud", "tencent"), ("outcome", "unchanged")]
        ),
        2.0 * (sweeps - 1.0)
    );
    assert_eq!(
        value(
            &s,
            "fnvault_function_checks_total",
            &[("cloud", "aliyun"), ("outcome", "unchanged")]
        ),
        sweeps - 1.0
    );
    // refund failed once per sweep, on one not-found answer (not retried).
    assert_eq!(
        value(
            &s,
            "fnvault_function_checks_total",
            &[("cloud", "aliyun"), ("outcome", "failed")],
        ),
        sweeps
    );
    assert_eq!(
        value(
            &s,
            "fnvault_api_requests_total",
            &[("cloud", "aliyun"), ("outcome", "not_found")],
        ),
        sweeps
    );
    assert_eq!(
        value(
            &s,
            "fnvault_api_requests_total",
            &[("cloud", "tencent"), ("outcome", "ok")],
        ),
        // Two SCF functions, two calls each per sweep since issue 13: GetFunction (the
        // configuration) and GetFunctionAddress (the package). refund's not-found above stays
        // one per sweep: its configuration read fails first and nothing else is asked.
        4.0 * sweeps
    );
    assert!(
        !s.iter().any(|x| x.name == "fnvault_sweeps_total"
            && x.labels.get("outcome").map(String::as_str) == Some("ok")),
        "no sweep was all ok"
    );
    // Bytes: the two SCF packages (70 000 + 20 000) and checkout (90 000), each downloaded once.
    assert_eq!(
        value(&s, "fnvault_download_bytes_total", &[("cloud", "tencent")]),
        90_000.0
    );
    assert_eq!(
        value(&s, "fnvault_download_bytes_total", &[("cloud", "aliyun")]),
        90_000.0
    );
    assert_eq!(
        value(&s, "fnvault_sweep_duration_seconds_count", &[]),
        sweeps
    );
    assert_eq!(
        value(&s, "fnvault_last_success_timestamp_seconds", &[]),
        0.0,
        "no sweep was all ok"
    );
    assert!(value(&s, "fnvault_last_sweep_timestamp_seconds", &[]) > 1.0e9);
    assert!(
        value(
            &s,
            "fnvault_function_last_success_timestamp_seconds",
            &[("function", ORDER_API)]
        ) > 1.0e9
    );
    assert_eq!(
        value(
            &s,
            "fnvault_function_last_success_timestamp_seconds",
            &[("function", REFUND)]
        ),
        0.0
    );
    let streak = value(
        &s,
        "fnvault_function_consecutive_failures",
        &[("function", REFUND)],
    );
    assert_eq!(streak, sweeps, "one failure per sweep, in a row");
    assert_eq!(
        value(
            &s,
            "fnvault_function_consecutive_failures",
            &[("function", CHECKOUT)]
        ),
        0.0
    );
    assert_eq!(value(&s, "fnvault_archive_blobs", &[]), 3.0);
    assert_eq!(value(&s, "fnvault_archive_versions", &[]), 3.0);
    assert_eq!(value(&s, "fnvault_archive_size_bytes", &[]), 180_000.0);

    // Restart without an immediate sweep: the gauges come from the database, not from zero.
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        config.replace(
            "cron = \"* * * * * *\"",
            "cron = \"0 0 0 1 1 *\"\nrun_on_start = false",
        ),
    )
    .unwrap();
    let daemon = spawn_fnvault(&env, &["daemon"]);
    let text = eventually("the restarted daemon's metrics", async || {
        scrape(port).await
    })
    .await;
    let (code, stderr) = terminate(daemon).await;
    assert_eq!(code, 0, "{stderr}");
    let after = parse(&text);
    // Counters start from zero with the process, as Prometheus expects of counters.
    assert!(!after.iter().any(|x| x.name == "fnvault_sweeps_total"));
    let restored = value(
        &after,
        "fnvault_function_last_success_timestamp_seconds",
        &[("function", ORDER_API)],
    );
    assert!(restored > 1.0e9, "last success lost by the restart");
    // No sweep ran since: the gauge is the database's streak exactly (the first daemon may have
    // checked refund again after the snapshot, before SIGTERM stopped it).
    let restored_streak = value(
        &after,
        "fnvault_function_consecutive_failures",
        &[("function", REFUND)],
    );
    let recorded = recorded_streak(&env, REFUND) as f64;
    assert!(recorded >= sweeps, "{recorded}");
    assert_eq!(restored_streak, recorded);
    assert_eq!(
        value(
            &after,
            "fnvault_function_last_success_timestamp_seconds",
            &[("function", REFUND)]
        ),
        0.0
    );
    assert_eq!(value(&after, "fnvault_archive_blobs", &[]), 3.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metrics_address_in_use_is_a_setup_error() {
    let env = Env::new().await;
    Fleet::deploy(&env);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!("{config}\n[schedule]\ncron = \"0 0 0 1 1 *\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let run = env.fnvault(&["daemon"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("[metrics] listen"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn discovered_functions_get_their_series_and_a_gone_one_loses_them() {
    use fnvault::sim::{Fault, SimFunction};
    let env = Env::new().await;
    let good = SimFunction::scf("ap-guangzhou", "default", "order-a", None);
    let bad = SimFunction::scf("ap-guangzhou", "default", "order-b", None);
    env.sim.deploy(&good, package("order-a", 3_000));
    env.sim.deploy(&bad, package("order-b", 3_000));
    env.sim.set_fault(&bad, Fault::CorruptDownload);
    let (good_key, bad_key) = (
        "tc/ap-guangzhou/default/order-a",
        "tc/ap-guangzhou/default/order-b",
    );
    let port = free_port();
    // No database yet: the daemon's own sweeps discover both functions.
    env.write_config(&format!(
        "[[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\n\
         [schedule]\ncron = \"* * * * * *\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"
    ));

    let daemon = spawn_fnvault(&env, &["daemon"]);
    let s = eventually("two failed sweeps in the metrics", async || {
        let s = parse(&scrape(port).await?);
        (find(&s, "fnvault_sweeps_total", &[("outcome", "failed")])? >= 2.0).then_some(s)
    })
    .await;
    assert!(
        value(
            &s,
            "fnvault_function_last_success_timestamp_seconds",
            &[("function", good_key), ("cloud", "tencent")]
        ) > 1.0e9
    );
    assert_eq!(
        value(
            &s,
            "fnvault_function_last_success_timestamp_seconds",
            &[("function", bad_key), ("cloud", "tencent")]
        ),
        0.0,
        "never backed up: the README's FnvaultFunctionNotBackedUp can fire"
    );
    assert!(
        value(
            &s,
            "fnvault_function_consecutive_failures",
            &[("function", bad_key)]
        ) >= 2.0
    );
    assert_eq!(value(&s, "fnvault_functions_gone", &[]), 0.0);

    // Deleted in the cloud: its series go (an alert on its age would never clear).
    env.sim.remove(&bad);
    let s = eventually("the gone function's series removed", async || {
        let s = parse(&scrape(port).await?);
        (find(&s, "fnvault_functions_gone", &[])? == 1.0).then_some(s)
    })
    .await;
    let (code, stderr) = terminate(daemon).await;
    assert_eq!(code, 0, "{stderr}");
    for name in [
        "fnvault_function_last_success_timestamp_seconds",
        "fnvault_function_consecutive_failures",
    ] {
        assert_eq!(find(&s, name, &[("function", bad_key)]), None, "{name}");
        assert!(
            find(&s, name, &[("function", good_key)]).is_some(),
            "{name}"
        );
    }

    // A restart loads the discovered function's series from the database.
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        config.replace(
            "cron = \"* * * * * *\"",
            "cron = \"0 0 0 1 1 *\"\nrun_on_start = false",
        ),
    )
    .unwrap();
    let daemon = spawn_fnvault(&env, &["daemon"]);
    let s = eventually("the restarted daemon's metrics", async || {
        Some(parse(&scrape(port).await?))
    })
    .await;
    let (code, stderr) = terminate(daemon).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        value(
            &s,
            "fnvault_function_last_success_timestamp_seconds",
            &[("function", good_key)]
        ) > 1.0e9
    );
    assert_eq!(value(&s, "fnvault_functions_gone", &[]), 1.0);
    assert_eq!(
        find(
            &s,
            "fnvault_function_consecutive_failures",
            &[("function", bad_key)]
        ),
        None
    );
}

/// Issue 17: the daemon shows each mirror's lag, age, last success and last error after its
/// runs, and a mirror that catches up goes back to 0 lag and no error.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_shows_each_mirrors_lag_and_last_error() {
    let env = Env::new().await;
    Fleet::deploy(&env);
    let port = free_port();
    // A regular file where the mirror's folder should be: its runs fail until it is removed.
    let usb = env.path("usb");
    std::fs::write(&usb, b"not a folder").unwrap();
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!(
            "{config}\n[[mirrors]]\nname = \"usb\"\ndir = \"{}\"\n[schedule]\ncron = \"* * * * * *\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n",
            usb.display()
        ),
    )
    .unwrap();
    let daemon = spawn_fnvault(&env, &["daemon"]);
    let has = |text: &str, line: &str| text.lines().any(|l| l == line);
    let text = eventually("a failed mirror run in the metrics", async || {
        let text = scrape(port).await?;
        has(&text, "fnvault_mirror_last_error{mirror=\"usb\"} 1").then_some(text)
    })
    .await;
    // Four functions, one version each, none copied.
    assert!(
        has(&text, "fnvault_mirror_lag_versions{mirror=\"usb\"} 4"),
        "{text}"
    );
    assert!(
        has(
            &text,
            "fnvault_mirror_last_success_timestamp_seconds{mirror=\"usb\"} 0"
        ),
        "{text}"
    );
    let age: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("fnvault_mirror_lag_age_seconds{mirror=\"usb\"} "))
        .expect("the age series")
        .parse()
        .unwrap();
    assert!((0..600).contains(&age), "{text}");

    std::fs::remove_file(&usb).unwrap();
    let text = eventually("the mirror caught up in the metrics", async || {
        let text = scrape(port).await?;
        has(&text, "fnvault_mirror_last_error{mirror=\"usb\"} 0").then_some(text)
    })
    .await;
    assert!(
        has(&text, "fnvault_mirror_lag_versions{mirror=\"usb\"} 0"),
        "{text}"
    );
    assert!(
        has(&text, "fnvault_mirror_lag_age_seconds{mirror=\"usb\"} 0"),
        "{text}"
    );
    let since: i64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("fnvault_mirror_last_success_timestamp_seconds{mirror=\"usb\"} ")
        })
        .expect("the last success series")
        .parse()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now - 600..=now).contains(&since), "{since} {text}");
    let (code, _) = terminate(daemon).await;
    assert_eq!(code, 0);
}
