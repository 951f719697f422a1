//! FC 3.0 (API 2023-03-30) functions, end to end against the simulator, which checks every
//! request's ACS3 signature, API version and action: archived, compared, discovered with
//! `fc_version = "3.0"` and marked gone like FC 2.0 and SCF functions.

use fnvault::sim::{Fault, SimFunction};

use crate::common::*;

const RESIZE: &str = "ali/cn-hangzhou/resize";
const THUMBS: &str = "ali/cn-hangzhou/thumbs@prod";
/// Under the account whose FC 2.0 calls use the classic `FC` signature: 3.0 is ACS3 regardless.
const NOTIFY: &str = "ali-fc/cn-shanghai/notify";

/// A config snippet for one FC 3.0 function: an Alibaba function without `service`.
fn fc3(account: &str, region: &str, name: &str, qualifier: Option<&str>) -> String {
    let q = qualifier
        .map(|q| format!("qualifier = \"{q}\"\n"))
        .unwrap_or_default();
    format!(
        "[[functions]]\naccount = \"{account}\"\nregion = \"{region}\"\nname = \"{name}\"\n{q}\n"
    )
}

struct Fleet3 {
    resize: SimFunction,
    thumbs: SimFunction,
    notify: SimFunction,
}

/// Three FC 3.0 functions and one FC 2.0 function, deployed and configured.
fn deploy(env: &Env) -> Fleet3 {
    let fleet = Fleet3 {
        resize: SimFunction::fc3("resize", None),
        thumbs: SimFunction::fc3("thumbs", Some("prod")),
        notify: SimFunction::fc3("notify", None),
    };
    env.sim.deploy(&fleet.resize, package("resize v1", 40_000));
    env.sim.deploy(&fleet.thumbs, package("thumbs v1", 12_000));
    env.sim.deploy(&fleet.notify, package("notify v1", 3_000));
    env.sim.deploy(
        &SimFunction::fc("orders", "checkout", None),
        package("checkout v1", 9_000),
    );
    env.write_config(&format!(
        "{}{}{}{}",
        fc3("ali", "cn-hangzhou", "resize", None),
        fc3("ali", "cn-hangzhou", "thumbs", Some("prod")),
        fc3("ali-fc", "cn-shanghai", "notify", None),
        fc("ali", "cn-shanghai", "orders", "checkout", None),
    ));
    fleet
}

fn keys(list: &[serde_json::Value]) -> Vec<String> {
    let mut k: Vec<String> = list
        .iter()
        .map(|e| e["function"].as_str().unwrap_or_default().to_string())
        .collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread")]
async fn fc3_functions_are_archived_once_and_a_second_sweep_downloads_nothing() {
    let env = Env::new().await;
    let _fleet = deploy(&env);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("4 checked, 4 changed, 0 unchanged, 0 failed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        keys(&env.list().await),
        [NOTIFY, RESIZE, THUMBS, "ali/cn-shanghai/orders/checkout"]
    );
    let resize = env.entry(RESIZE).await;
    assert_eq!(resize["versions"], 1, "{resize}");
    assert_eq!(
        resize["latest_sha256"],
        sha256_hex(&package("resize v1", 40_000))
    );
    assert_eq!(env.sim.stats().downloads, 4);
    assert_eq!(env.sim.stats().rejected_requests, 0);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("0 changed, 4 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.stats().downloads, 4, "only the first sweep's");
    // The keys work wherever a function is named.
    for args in [
        vec!["history", THUMBS],
        vec!["show", RESIZE],
        vec!["history", "thumbs"],
    ] {
        let run = env.fnvault(&args).await;
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redeployed_fc3_function_downloads_exactly_one_new_version() {
    let env = Env::new().await;
    let fleet = deploy(&env);
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    let v2 = package("thumbs v2", 13_000);
    env.sim.deploy(&fleet.thumbs, v2.clone());

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("1 changed, 3 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.stats().downloads, 5);
    assert_eq!(env.sim.downloads_of(&fleet.thumbs), 2);
    let thumbs = env.entry(THUMBS).await;
    assert_eq!(thumbs["versions"], 2, "{thumbs}");
    assert_eq!(thumbs["latest_sha256"], sha256_hex(&v2));
    assert_eq!(env.entry(RESIZE).await["versions"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_fc3_download_records_nothing_and_leaves_no_file() {
    let env = Env::new().await;
    let fleet = deploy(&env);
    env.sim.set_fault(&fleet.resize, Fault::CorruptDownload);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("1 failed"), "{}", run.stderr);
    let resize = env.entry(RESIZE).await;
    assert_eq!(resize["versions"], 0, "{resize}");
    assert!(
        resize["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("does not match the cloud's checksum")),
        "{resize}"
    );
    assert!(env.files_in("archive/tmp").is_empty(), "temp files left");
    assert_eq!(env.package_blobs().len(), 3, "the good ones only");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_fc3_function_fails_with_the_clouds_code_and_request_id() {
    let env = Env::new().await;
    let _fleet = deploy(&env);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!("{config}{}", fc3("ali", "cn-hangzhou", "no_such_fn", None)),
    )
    .unwrap();

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("4 changed, 0 unchanged, 1 failed"),
        "{}",
        run.stderr
    );
    let entry = env.entry("ali/cn-hangzhou/no_such_fn").await;
    let msg = entry["last_error"].as_str().unwrap_or_default();
    // The 3.0 envelope's code, the status, and the request id from the body (`1-…`).
    assert!(
        msg.contains("FunctionNotFound") && msg.contains("404") && msg.contains("request id 1-"),
        "{entry}"
    );
    // `status` reports it like any failing function (and so exits 1, as a health check).
    let run = env.fnvault(&["status", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let failing = status["failing"].as_array().expect("failing");
    assert_eq!(failing.len(), 1, "{status}");
    assert_eq!(failing[0]["function"], "ali/cn-hangzhou/no_such_fn");
    assert_eq!(failing[0]["cloud"], "aliyun");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_fc3_call_is_retried_to_success() {
    let env = Env::new().await;
    let fleet = deploy(&env);
    env.sim.set_fault_times(&fleet.resize, Fault::Throttle, 2);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.entry(RESIZE).await["versions"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn fc3_discovery_finds_exactly_the_fc3_functions() {
    let env = Env::new().await;
    env.sim.set_page_limit(2);
    for name in ["img-a", "img-b", "img-c", "other"] {
        env.sim
            .deploy(&SimFunction::fc3(name, None), package(name, 2_000));
    }
    // FC 2.0 functions: a 3.0 listing without fcVersion=v3 would show them too (as
    // `svc$fn`, a name fnvault refuses), and they would be archived twice.
    env.sim.deploy(
        &SimFunction::fc("orders", "img-old", None),
        package("orders/img-old", 2_000),
    );
    env.sim.deploy(
        &SimFunction::fc("orders", "checkout", None),
        package("orders/checkout", 2_000),
    );
    env.write_config(
        "[[discover]]\naccount = \"ali\"\nregions = [\"cn-hangzhou\"]\nfc_version = \"3.0\"\ninclude = [\"img-*\"]\n",
    );

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        keys(&env.list().await),
        [
            "ali/cn-hangzhou/img-a",
            "ali/cn-hangzhou/img-b",
            "ali/cn-hangzhou/img-c"
        ]
    );
    assert_eq!(env.sim.stats().downloads, 3);
    assert_eq!(env.sim.stats().rejected_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_fc3_function_is_marked_gone_and_no_fc2_rule_claims_fc3_functions() {
    let env = Env::new().await;
    let doomed = SimFunction::fc3("img-a", None);
    env.sim.deploy(&doomed, package("img-a", 2_000));
    env.sim
        .deploy(&SimFunction::fc3("img-b", None), package("img-b", 2_000));
    env.sim.deploy(
        &SimFunction::fc("orders", "checkout", None),
        package("orders/checkout", 2_000),
    );
    // Both generations listed in one region: the 2.0 rule over every service must not think
    // the 3.0 functions (absent from its listing) are gone, nor the other way round.
    env.write_config(
        "[[discover]]\naccount = \"ali\"\nregions = [\"cn-hangzhou\"]\nfc_version = \"3.0\"\n\n\
         [[discover]]\naccount = \"ali\"\nregions = [\"cn-hangzhou\"]\nservices = [\"*\"]\n",
    );
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    for key in [
        "ali/cn-hangzhou/img-a",
        "ali/cn-hangzhou/img-b",
        "ali/cn-hangzhou/orders/checkout",
    ] {
        assert!(env.entry(key).await["gone_since"].is_null(), "{key}");
    }

    env.sim.remove(&doomed);
    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let gone = env.entry("ali/cn-hangzhou/img-a").await;
    assert!(gone["gone_since"].is_string(), "{gone}");
    assert_eq!(gone["versions"], 1, "the archive is kept");
    assert!(env.entry("ali/cn-hangzhou/img-b").await["gone_since"].is_null());
    assert!(env.entry("ali/cn-hangzhou/orders/checkout").await["gone_since"].is_null());

    // The 3.0 rule dropped: its functions are no rule's any more, and the 2.0 rule over every
    // service (whose listing never shows them) must not conclude they are gone.
    env.write_config(
        "[[discover]]\naccount = \"ali\"\nregions = [\"cn-hangzhou\"]\nservices = [\"*\"]\n",
    );
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // No longer listed by `list` (no rule covers it), so read the row itself.
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    let gone: Option<String> = db
        .query_row(
            "SELECT gone_since FROM functions WHERE key = 'ali/cn-hangzhou/img-b'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        gone, None,
        "an FC 3.0 function was judged by an FC 2.0 listing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_makes_one_fc3_call_for_an_account_with_fc3_functions() {
    let env = Env::new().await;
    env.write_config(&fc3("ali", "cn-hangzhou", "resize", None));

    let run = env.fnvault(&["check"]).await;

    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("account ali: OK (FC ListFunctions (FC 3.0) in cn-hangzhou"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("account ali: OK (FC ListServices"),
        "no 2.0 call for a 3.0-only account: {}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_fc3_packages_without_a_service_folder() {
    let env = Env::new().await;
    let _fleet = deploy(&env);
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    let out = env.path("out");

    let run = env
        .fnvault(&["export", "--to", out.to_str().unwrap()])
        .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read(out.join("ali/cn-hangzhou/thumbs@prod.bin")).expect("exported"),
        package("thumbs v1", 12_000)
    );
}
