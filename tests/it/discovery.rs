//! `[[discover]]`: functions listed from the clouds at the start of every sweep, merged with the
//! explicit ones, marked gone when deleted, never judged from a failed listing.

use fnvault::sim::{Fault, ListScope, SimFunction};

use crate::common::*;

/// A `[[discover]]` block for the Tencent test account.
fn discover_tc(regions: &[&str], rest: &str) -> String {
    let regions: Vec<String> = regions.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        "[[discover]]\naccount = \"tc\"\nregions = [{}]\n{rest}\n",
        regions.join(", ")
    )
}

fn deploy_scf(env: &Env, region: &str, namespace: &str, name: &str) -> SimFunction {
    let f = SimFunction::scf(region, namespace, name, None);
    env.sim
        .deploy(&f, package(&format!("{region}/{namespace}/{name}"), 3_000));
    f
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
async fn discovery_pages_through_namespaces_and_regions_with_include_and_exclude() {
    let env = Env::new().await;
    // Two items per page: every listing here takes several pages.
    env.sim.set_page_limit(2);
    for name in ["misc", "order-a", "order-b", "order-c", "order-test"] {
        deploy_scf(&env, "ap-guangzhou", "default", name);
    }
    deploy_scf(&env, "ap-guangzhou", "other", "order-o");
    deploy_scf(&env, "ap-guangzhou", "third", "order-3");
    deploy_scf(&env, "ap-shanghai", "batch", "order-x");
    deploy_scf(&env, "ap-beijing", "default", "order-not-listed-region");
    env.write_config(&discover_tc(
        &["ap-guangzhou", "ap-shanghai"],
        "namespaces = [\"*\"]\ninclude = [\"order-*\"]\nexclude = [\"*-test\"]",
    ));

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        keys(&env.list().await),
        [
            "tc/ap-guangzhou/default/order-a",
            "tc/ap-guangzhou/default/order-b",
            "tc/ap-guangzhou/default/order-c",
            "tc/ap-guangzhou/other/order-o",
            "tc/ap-guangzhou/third/order-3",
            "tc/ap-shanghai/batch/order-x",
        ]
    );
    assert_eq!(env.sim.stats().downloads, 6);
    assert_eq!(env.sim.stats().rejected_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn fc_discovery_pages_through_services_with_next_tokens() {
    let env = Env::new().await;
    env.sim.set_page_limit(2);
    for (service, name) in [
        ("orders", "checkout"),
        ("orders", "cancel"),
        ("orders", "refund"),
        ("payments", "pay"),
        ("reports", "daily"),
    ] {
        env.sim.deploy(
            &SimFunction::fc(service, name, None),
            package(&format!("{service}/{name}"), 2_000),
        );
    }
    // Both signature schemes list the same way.
    env.write_config(
        "[[discover]]\naccount = \"ali\"\nregions = [\"cn-shanghai\"]\nservices = [\"*\"]\nexclude = [\"daily\"]\n\n\
         [[discover]]\naccount = \"ali-fc\"\nregions = [\"cn-hangzhou\"]\nservices = [\"orders\"]\n",
    );

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        keys(&env.list().await),
        [
            "ali-fc/cn-hangzhou/orders/cancel",
            "ali-fc/cn-hangzhou/orders/checkout",
            "ali-fc/cn-hangzhou/orders/refund",
            "ali/cn-shanghai/orders/cancel",
            "ali/cn-shanghai/orders/checkout",
            "ali/cn-shanghai/orders/refund",
            "ali/cn-shanghai/payments/pay",
        ]
    );
    assert_eq!(env.sim.stats().rejected_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_function_that_is_also_discovered_is_swept_once() {
    let env = Env::new().await;
    deploy_scf(&env, "ap-guangzhou", "default", "order-a");
    deploy_scf(&env, "ap-guangzhou", "default", "order-b");
    env.write_config(&format!(
        "{}{}",
        scf("ap-guangzhou", "default", "order-a", None),
        discover_tc(&["ap-guangzhou"], "namespaces = [\"default\"]")
    ));

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("2 checked, 2 changed"),
        "{}",
        run.stderr
    );
    assert_eq!(env.list().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_deleted_in_the_cloud_is_marked_gone_and_keeps_its_archive() {
    let env = Env::new().await;
    let doomed = deploy_scf(&env, "ap-guangzhou", "default", "order-a");
    deploy_scf(&env, "ap-guangzhou", "default", "order-b");
    env.write_config(&discover_tc(&["ap-guangzhou"], ""));
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    let key = "tc/ap-guangzhou/default/order-a";
    let sha = env.entry(key).await["latest_sha256"].clone();

    env.sim.remove(&doomed);
    let run = env.fnvault(&["sync"]).await;

    assert_eq!(
        run.code, 0,
        "a deleted function is not a failure: {}",
        run.stderr
    );
    assert!(run.stderr.contains("1 checked"), "{}", run.stderr);
    let entry = env.entry(key).await;
    assert!(entry["gone_since"].is_string(), "{entry}");
    assert_eq!(entry["versions"], 1, "{entry}");
    assert_eq!(entry["latest_sha256"], sha);
    let blob = env.path(&format!(
        "archive/blobs/{}/{}",
        &sha.as_str().unwrap()[..2],
        sha.as_str().unwrap()
    ));
    assert_eq!(
        std::fs::read(&blob).expect("the blob is still there"),
        package("ap-guangzhou/default/order-a", 3_000)
    );
    let table = env.fnvault(&["list"]).await;
    assert!(table.stdout.contains("gone since"), "{}", table.stdout);
    assert!(env.entry("tc/ap-guangzhou/default/order-b").await["gone_since"].is_null());

    // Back in the cloud: no longer gone, nothing downloaded again.
    env.sim
        .deploy(&doomed, package("ap-guangzhou/default/order-a", 3_000));
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let entry = env.entry(key).await;
    assert!(entry["gone_since"].is_null(), "{entry}");
    assert_eq!(entry["versions"], 1, "{entry}");
}

/// SCF pages by offset: a function deleted between two pages shifts the rest by one, so the
/// first listing skips a live function. It must not be marked gone (a second listing finds
/// it, and it is swept); the deleted one is.
#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_in_the_middle_of_offset_paging_marks_no_live_function_gone() {
    let env = Env::new().await;
    env.sim.set_page_limit(1);
    let first = deploy_scf(&env, "ap-guangzhou", "default", "order-a");
    let live = deploy_scf(&env, "ap-guangzhou", "default", "order-b");
    deploy_scf(&env, "ap-guangzhou", "default", "order-c");
    env.write_config(&discover_tc(&["ap-guangzhou"], ""));
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);

    // order-a goes after the first page: the second page (offset 1) now starts at order-c.
    env.sim.remove_after_listing_pages(&first, 1);
    env.sim
        .deploy(&live, package("ap-guangzhou/default/order-b v2", 3_100));
    let run = env.fnvault(&["sync"]).await;

    // order-a was listed, then deleted before its check: that check fails (NotFound).
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("failed: tc/ap-guangzhou/default/order-a"),
        "{}",
        run.stdout
    );
    let b = env.entry("tc/ap-guangzhou/default/order-b").await;
    assert!(
        b["gone_since"].is_null(),
        "a live function was marked gone: {b}"
    );
    assert_eq!(b["versions"], 2, "the live function was swept: {b}");
    assert!(env.entry("tc/ap-guangzhou/default/order-c").await["gone_since"].is_null());

    // The next sweep's listings (both) miss order-a: now it is gone, and nothing fails.
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let a = env.entry("tc/ap-guangzhou/default/order-a").await;
    assert!(a["gone_since"].is_string(), "the deleted one is gone: {a}");
    assert!(env.entry("tc/ap-guangzhou/default/order-b").await["gone_since"].is_null());
}

/// A named namespace answering NotFound once (a transient gateway answer) marks nothing gone:
/// the second listing lists it.
#[tokio::test(flavor = "multi_thread")]
async fn a_not_found_scope_marks_nothing_gone_unless_a_second_listing_confirms_it() {
    let env = Env::new().await;
    let f = deploy_scf(&env, "ap-guangzhou", "orders", "order-a");
    env.write_config(&discover_tc(&["ap-guangzhou"], "namespaces = [\"orders\"]"));
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    let key = "tc/ap-guangzhou/orders/order-a";

    env.sim.set_listing_fault(
        ListScope::ScfFunctions {
            region: "ap-guangzhou".into(),
            namespace: "orders".into(),
        },
        Fault::ScopeNotFound,
        1,
    );
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.entry(key).await["gone_since"].is_null());

    // Really deleted (the namespace with it): both listings say so.
    env.sim.remove(&f);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.entry(key).await["gone_since"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_error_fails_only_its_scope_and_marks_nothing_gone() {
    let env = Env::new().await;
    let removed = deploy_scf(&env, "ap-guangzhou", "default", "order-a");
    deploy_scf(&env, "ap-guangzhou", "default", "order-b");
    deploy_scf(&env, "ap-shanghai", "default", "order-s");
    env.write_config(&discover_tc(&["ap-guangzhou", "ap-shanghai"], ""));
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);

    env.sim.remove(&removed);
    env.sim.set_listing_fault(
        ListScope::ScfFunctions {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
        },
        Fault::ServerError,
        u32::MAX,
    );
    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    for key in [
        "tc/ap-guangzhou/default/order-a",
        "tc/ap-guangzhou/default/order-b",
    ] {
        assert!(
            run.stdout.contains(&format!(
                "failed: {key}: listing tc/ap-guangzhou/default/* failed: SCF HTTP 502"
            )),
            "{}",
            run.stderr
        );
        let entry = env.entry(key).await;
        assert!(entry["gone_since"].is_null(), "{entry}");
        assert_eq!(entry["last_status"], "failed", "{entry}");
        assert_eq!(entry["versions"], 1, "{entry}");
    }
    let other = env.entry("tc/ap-shanghai/default/order-s").await;
    assert_eq!(other["last_status"], "unchanged", "{other}");
    assert!(
        run.stderr.contains("1 unchanged, 2 failed"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_namespace_listing_before_anything_is_known_fails_the_sweep() {
    let env = Env::new().await;
    deploy_scf(&env, "ap-guangzhou", "default", "order-a");
    env.write_config(&discover_tc(&["ap-guangzhou"], ""));
    env.sim.set_listing_fault(
        ListScope::ScfNamespaces {
            region: "ap-guangzhou".into(),
        },
        Fault::Throttle,
        u32::MAX,
    );

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("failed: tc/ap-guangzhou/*: listing failed: SCF RequestLimitExceeded"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("after 4 attempts"),
        "retried: {}",
        run.stderr
    );
    assert!(env.files_in("archive/blobs").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_listing_is_retried_to_success() {
    let env = Env::new().await;
    deploy_scf(&env, "ap-guangzhou", "default", "order-a");
    env.write_config(&discover_tc(&["ap-guangzhou"], ""));
    env.sim.set_listing_fault(
        ListScope::ScfFunctions {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
        },
        Fault::Throttle,
        2,
    );

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.list().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discover_block_naming_an_unknown_account_is_a_config_error_with_its_line() {
    let env = Env::new().await;
    let path = env.write_config("[[discover]]\naccount = \"nope\"\nregions = [\"ap-guangzhou\"]\n");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().position(|l| l.contains("\"nope\"")).unwrap() + 1;

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "config.toml:{line}:1: discover[1].account: no account named `nope`"
        )),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sweeps_with_discovery_at_maximum_verbosity_print_no_secret() {
    const TOKEN: &str = "DiscoveryToken/with+base64=chars==";
    let env = Env::new().await;
    env.sim.add_tencent_key(TC_ID, TC_KEY, Some(TOKEN));
    env.sim.add_aliyun_key(ALI_ID, ALI_KEY, Some(TOKEN));
    env.sim.set_page_limit(1);
    deploy_scf(&env, "ap-guangzhou", "default", "order-a");
    deploy_scf(&env, "ap-guangzhou", "default", "order-b");
    env.sim.deploy(
        &SimFunction::fc("orders", "checkout", None),
        package("c", 4_000),
    );
    env.sim.deploy(
        &SimFunction::fc("orders", "cancel", None),
        package("d", 4_000),
    );
    write_private(&env.path("token"), format!("{TOKEN}\n"));
    let config = env
        .accounts()
        .replace(
            "secret_key_file = \"tc.key\"",
            "secret_key_file = \"tc.key\"\nsession_token_file = \"token\"",
        )
        .replace(
            "access_key_secret_file = \"ali.key\"",
            "access_key_secret_file = \"ali.key\"\nsecurity_token_file = \"token\"",
        );
    std::fs::write(
        env.path("config.toml"),
        format!(
            "{config}\n{}\n[[discover]]\naccount = \"ali\"\nregions = [\"cn-shanghai\"]\n\n\
             [[discover]]\naccount = \"ali-fc\"\nregions = [\"cn-hangzhou\"]\nservices = [\"orders\"]\n",
            discover_tc(&["ap-guangzhou"], "")
        ),
    )
    .unwrap();
    // Retries and failures print the most.
    env.sim
        .set_listing_fault(ListScope::FcServices, Fault::Throttle, 1);
    env.sim.set_listing_fault(
        ListScope::ScfNamespaces {
            region: "ap-guangzhou".into(),
        },
        Fault::ServerError,
        1,
    );

    for (format, args) in [
        ("text", vec!["-vvv", "sync", "--log-format", "text"]),
        ("json", vec!["sync", "--log-format", "json"]),
    ] {
        let run =
            run_fnvault_with_env(&env.path("config.toml"), &args, &[("RUST_LOG", "trace")]).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("discovery finished"), "{}", run.stderr);
        let all = format!("{}{}", run.stdout, run.stderr);
        for secret in [TC_KEY, ALI_KEY, TOKEN, "DiscoveryToken"] {
            assert!(!all.contains(secret), "{format} output contains {secret}");
        }
        for fragment in ["sign=", "Signature=", "OSSAccessKeyId", "Expires="] {
            assert!(
                !all.contains(fragment),
                "{format} output contains {fragment}:\n{all}"
            );
        }
    }
    assert_eq!(env.list().await.len(), 2 + 2 + 2);
    assert!(!env.sim.tokens_seen().is_empty());
    assert_eq!(env.sim.stats().rejected_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_selects_among_discovered_functions_and_dry_run_lists_them() {
    let env = Env::new().await;
    for name in ["order-a", "order-b", "misc"] {
        deploy_scf(&env, "ap-guangzhou", "default", name);
    }
    env.write_config(&discover_tc(
        &["ap-guangzhou"],
        "namespaces = [\"default\"]",
    ));

    let dry = env
        .fnvault(&["sync", "--dry-run", "--only", "order-*"])
        .await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("order-a") && dry.stdout.contains("order-b"));
    assert!(!dry.stdout.contains("misc"), "{}", dry.stdout);
    assert_eq!(env.sim.stats().downloads, 0);

    let run = env.fnvault(&["sync", "--only", "order-*"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        keys(&env.list().await)
            .into_iter()
            .filter(|k| env_has_versions(&env, k))
            .count(),
        2
    );
    assert_eq!(env.sim.stats().downloads, 2, "misc was not swept");
}

fn env_has_versions(env: &Env, key: &str) -> bool {
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM versions v JOIN functions f ON f.id = v.function_id WHERE f.key = ?1",
        [key],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        > 0
}

#[tokio::test(flavor = "multi_thread")]
async fn an_only_pattern_matching_nothing_listed_is_an_error() {
    let env = Env::new().await;
    deploy_scf(&env, "ap-guangzhou", "default", "order-a");
    env.write_config(&discover_tc(
        &["ap-guangzhou"],
        "namespaces = [\"default\"]",
    ));

    let run = env.fnvault(&["sync", "--only", "ordr-*"]).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--only `ordr-*` matches no function"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.stats().downloads, 0);
}
