//! Issue 14, every published version and alias: each published version archived once under
//! `<function>@<version>`, deleted ones marked gone and still restorable, alias moves recorded
//! with their times, and `F@<version>` / `F@<alias>` accepted by `history`, `show`, `restore`.

use fnvault::sim::SimFunction;

use crate::common::*;

const F: &str = "tc/ap-guangzhou/default/order-api";

fn order_api() -> SimFunction {
    SimFunction::scf("ap-guangzhou", "default", "order-api", None)
}

/// One SCF function with `versions` and `aliases` on, deployed at v1.
fn setup(env: &Env) -> SimFunction {
    let f = order_api();
    env.sim.deploy(&f, package("order-api v1", 30_000));
    env.write_config(
        "[[functions]]\naccount = \"tc\"\nregion = \"ap-guangzhou\"\nname = \"order-api\"\nversions = true\naliases = true\n",
    );
    f
}

fn at_version(v: &str) -> SimFunction {
    SimFunction::scf("ap-guangzhou", "default", "order-api", Some(v))
}

crate::both_backends! {
async fn each_published_version_is_downloaded_once_across_ten_sweeps() {
    let env = Env::new().await;
    let f = setup(&env);
    // Small pages: the listing must follow them.
    env.sim.set_page_limit(1);
    for sweep in 0..10 {
        match sweep {
            1 => {
                env.sim.publish_version(&f).unwrap();
            }
            3 => {
                env.sim.deploy(&f, package("order-api v2", 31_000));
                env.sim.publish_version(&f).unwrap();
            }
            6 => {
                env.sim.deploy(&f, package("order-api v3", 32_000));
                env.sim.publish_version(&f).unwrap();
            }
            _ => {}
        }
        env.sync_ok().await;
    }
    for v in ["1", "2", "3"] {
        assert_eq!(env.sim.downloads_of(&at_version(v)), 1, "version {v}");
        let h = env
            .json(&["history", &format!("{F}@{v}"), "--json"], 0)
            .await;
        assert_eq!(h["versions"].as_array().unwrap().len(), 1, "{h}");
        // Listed by every later sweep: seen live then, without a call for it.
        let (first, last) = (
            &h["versions"][0]["first_seen"],
            &h["versions"][0]["last_seen"],
        );
        assert!(last.as_str() > first.as_str(), "{h}");
    }
}
}

/// Now, between two sweeps, as the sweeps store times.
fn between() -> String {
    std::thread::sleep(std::time::Duration::from_millis(20));
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    std::thread::sleep(std::time::Duration::from_millis(20));
    t
}

crate::both_backends! {
async fn an_alias_moving_between_versions_is_recorded_step_by_step() {
    let env = Env::new().await;
    let f = setup(&env);
    let v1 = package("order-api v1", 30_000);
    let v2 = package("order-api v2", 31_000);
    let v3 = package("order-api v3", 32_000);
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "1", &[]);
    env.sync_ok().await;
    let t1 = between();

    env.sim.deploy(&f, v2.clone());
    env.sim.publish_version(&f).unwrap();
    env.sync_ok().await; // version 2 archived, prod still on 1
    env.sim.set_alias(&f, "prod", "2", &[]);
    env.sync_ok().await;
    let t2 = between();

    env.sim.deploy(&f, v3.clone());
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "2", &[("3", 0.1)]);
    env.sync_ok().await;
    let t3 = between();
    env.sync_ok().await; // nothing moved: no new state
    env.sim.set_alias(&f, "prod", "3", &[]);
    env.sim.set_alias(&f, "canary", "3", &[]);
    env.sync_ok().await;
    let t4 = between();
    env.sim.delete_alias(&f, "canary");
    env.sync_ok().await;

    let a = env.json(&["aliases", "order-api", "--json"], 0).await;
    let list = a.as_array().unwrap();
    assert_eq!(list.len(), 2, "{a}");
    assert_eq!(list[0]["alias"], "canary");
    let canary = list[0]["history"].as_array().unwrap();
    assert_eq!(canary.len(), 2, "{a}");
    assert_eq!(canary[0]["deleted"], true);
    assert!(canary[0]["to"].is_null());
    assert_eq!(list[1]["alias"], "prod");
    let prod = list[1]["history"].as_array().unwrap();
    let steps: Vec<Vec<(String, f64)>> = prod
        .iter()
        .map(|s| {
            s["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    (
                        v["version"].as_str().unwrap().to_string(),
                        v["weight"].as_f64().unwrap(),
                    )
                })
                .collect()
        })
        .collect();
    // Newest first.
    assert_eq!(
        steps,
        vec![
            vec![("3".to_string(), 1.0)],
            vec![("2".to_string(), 0.9), ("3".to_string(), 0.1)],
            vec![("2".to_string(), 1.0)],
            vec![("1".to_string(), 1.0)],
        ],
        "{a}"
    );
    assert!(prod[0]["to"].is_null(), "the current state has no end: {a}");
    for i in 1..prod.len() {
        // Each state ends when the next begins; RFC 3339 times.
        assert_eq!(prod[i]["to"], prod[i - 1]["from"], "{a}");
        let from = prod[i]["from"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(from).is_ok(), "{from}");
        assert!(prod[i]["cloud_modified"].is_string(), "{a}");
    }
    assert!(prod[3]["from"].as_str().unwrap() < t1.as_str());
    assert!(t1.as_str() < prod[2]["from"].as_str().unwrap());

    // `at` between two moves names the version prod served then.
    for (t, expect) in [(&t1, "1"), (&t2, "2"), (&t4, "3")] {
        let at = env.json(&["at", t, "--json"], 0).await;
        let prod_at = at["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["alias"] == "prod" && x["function"] == F)
            .unwrap_or_else(|| panic!("no prod at {t}: {at}"));
        assert_eq!(prod_at["versions"][0]["version"], expect, "at {t}: {at}");
        assert_eq!(prod_at["versions"].as_array().unwrap().len(), 1, "{at}");
    }
    let at3 = env.json(&["at", &t3, "--json"], 0).await;
    let split = at3["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["alias"] == "prod")
        .unwrap()["versions"]
        .clone();
    assert_eq!(
        split,
        serde_json::json!([{"version": "2", "weight": 0.9}, {"version": "3", "weight": 0.1}])
    );

    // `restore F@prod --at T` writes the package prod served at T.
    for (t, bytes) in [(&t1, &v1), (&t2, &v2), (&t4, &v3)] {
        let out = env.path(&format!("prod-{}.zip", t.replace(':', "-")));
        let run = env
            .fnvault(&[
                "restore",
                "order-api@prod",
                "--at",
                t,
                "--to",
                out.to_str().unwrap(),
            ])
            .await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(&std::fs::read(&out).unwrap(), bytes, "prod at {t}");
    }
    // Now (no --at): version 3.
    let out = env.path("prod-now.zip");
    let run = env
        .fnvault(&["restore", "order-api@prod", "--to", out.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), v3);
    // A split served two packages: restore names both instead of picking one.
    let run = env
        .fnvault(&[
            "restore",
            "order-api@prod",
            "--at",
            &t3,
            "--to",
            "/dev/null",
        ])
        .await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("2 (90%), 3 (10%)") && run.stderr.contains(&format!("{F}@3")),
        "{}",
        run.stderr
    );
    // `show` and `history` take the alias too.
    let show = env
        .json(&["show", "order-api@prod", "--at", &t2, "--json"], 0)
        .await;
    assert_eq!(show["function"], format!("{F}@2"), "{show}");
    assert_eq!(show["sha256"], sha256_hex(&v2));
    let h = env.json(&["history", "order-api@prod", "--json"], 0).await;
    assert_eq!(h[0]["history"].as_array().unwrap().len(), 4, "{h}");

    // The audit view: alias moves among the versions, in time order.
    let tl = env
        .json(&["history", "order-api", "--aliases", "--json"], 0)
        .await;
    let kinds: Vec<&str> = tl["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "alias").count(), 6, "{tl}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "published").count(),
        3,
        "{tl}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "version").count(), 3, "{tl}");
    let times: Vec<&str> = tl["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    let text = env.fnvault(&["history", "order-api", "--aliases"]).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("alias prod"), "{}", text.stdout);
    assert!(
        text.stdout.contains("→ 2 (90%), 3 (10%)"),
        "{}",
        text.stdout
    );
    let text = env.fnvault(&["aliases", "order-api"]).await;
    assert!(text.stdout.contains("(current)"), "{}", text.stdout);
}
}

crate::both_backends! {
async fn a_deleted_version_is_marked_gone_and_still_restores() {
    let env = Env::new().await;
    let f = setup(&env);
    let v1 = package("order-api v1", 30_000);
    env.sim.publish_version(&f).unwrap();
    env.sim.deploy(&f, package("order-api v2", 31_000));
    env.sim.publish_version(&f).unwrap();
    env.sync_ok().await;
    env.sim.delete_version(&f, "1");
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("marked gone"), "{}", run.stderr);
    let tl = env
        .json(&["history", "order-api", "--aliases", "--json"], 0)
        .await;
    assert!(
        tl["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "published_gone" && e["published_version"] == "1"),
        "{tl}"
    );
    let out = env.path("v1.zip");
    let run = env
        .fnvault(&["restore", "order-api@1", "--to", out.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), v1);
    // Still gone on the next sweep, nothing downloaded again.
    env.sync_ok().await;
    assert_eq!(env.sim.downloads_of(&at_version("1")), 1);
    assert_eq!(env.sim.downloads_of(&at_version("2")), 1);
}
}

#[tokio::test(flavor = "multi_thread")]
async fn a_published_version_whose_package_changes_anyway_is_an_anomaly_kept_beside_the_first() {
    let env = Env::new().await;
    let f = setup(&env);
    let v1 = package("order-api v1", 30_000);
    env.sim.publish_version(&f).unwrap();
    env.sync_ok().await;
    let tampered = package("order-api tampered", 30_500);
    env.sim.tamper_version(&f, "1", tampered.clone());
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("anomaly"), "{}", run.stderr);
    let h = env.json(&["history", &format!("{F}@1"), "--json"], 0).await;
    let v = h["versions"].as_array().unwrap();
    assert_eq!(v.len(), 2, "{h}");
    assert_eq!(v[0]["sha256"], sha256_hex(&v1), "the first bytes are kept");
    assert_eq!(v[1]["sha256"], sha256_hex(&tampered));
}

crate::both_backends! {
async fn reindex_rebuilds_alias_histories_from_the_archive_alone() {
    let env = Env::new().await;
    let f = setup(&env);
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "1", &[]);
    env.sync_ok().await;
    env.sim.deploy(&f, package("order-api v2", 31_000));
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "1", &[("2", 0.25)]);
    env.sync_ok().await;
    env.sim.delete_alias(&f, "prod");
    env.sync_ok().await;
    let before = env.json(&["aliases", F, "--json"], 0).await;
    assert_eq!(
        before[0]["history"].as_array().unwrap().len(),
        3,
        "{before}"
    );

    std::fs::remove_file(env.path("fnvault.db")).unwrap();
    let _ = std::fs::remove_file(env.path("fnvault.db-wal"));
    let _ = std::fs::remove_file(env.path("fnvault.db-shm"));
    let run = env.fnvault(&["reindex"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = env.json(&["aliases", F, "--json"], 0).await;
    assert_eq!(before, after);
    // And a restore through the alias still works after the rebuild.
    let h = env.json(&["history", &format!("{F}@2"), "--json"], 0).await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 1, "{h}");
}
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_and_aliases_of_an_fc3_function_are_followed_too() {
    let env = Env::new().await;
    let f = SimFunction::fc3("resize", None);
    env.sim.deploy(&f, package("resize v1", 10_000));
    env.write_config(
        "[[functions]]\naccount = \"ali\"\nregion = \"cn-hangzhou\"\nname = \"resize\"\nversions = true\naliases = true\n",
    );
    env.sim.publish_version(&f).unwrap();
    env.sim.deploy(&f, package("resize v2", 11_000));
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "1", &[("2", 0.05)]);
    env.sim.set_page_limit(1);
    env.sync_ok().await;
    env.sync_ok().await;
    for v in ["1", "2"] {
        assert_eq!(
            env.sim.downloads_of(&SimFunction::fc3("resize", Some(v))),
            1,
            "version {v}"
        );
    }
    let a = env.json(&["aliases", "resize", "--json"], 0).await;
    assert_eq!(
        a[0]["history"][0]["versions"],
        serde_json::json!([{"version": "1", "weight": 0.95}, {"version": "2", "weight": 0.05}]),
        "{a}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_listing_is_retried_and_a_failed_one_fails_only_its_own_line() {
    let env = Env::new().await;
    let f = setup(&env);
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "1", &[]);
    let listed = fnvault::sim::ListScope::Versions {
        function: order_api(),
    };
    env.sim
        .set_listing_fault(listed.clone(), fnvault::sim::Fault::Throttle, 2);
    env.sync_ok().await;
    assert_eq!(env.sim.downloads_of(&at_version("1")), 1);

    env.sim.deploy(&f, package("order-api v2", 31_000));
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "2", &[]);
    env.sim
        .set_listing_fault(listed, fnvault::sim::Fault::ServerError, u32::MAX);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("1 changed") && run.stderr.contains("1 failed"),
        "the function itself changed, its version listing failed: {}",
        run.stderr
    );
    assert_eq!(env.sim.downloads_of(&at_version("2")), 0);
    // The alias listing did not fail: its move is recorded.
    let a = env.json(&["aliases", F, "--json"], 0).await;
    assert_eq!(a[0]["history"][0]["versions"][0]["version"], "2", "{a}");
    // Nothing is concluded from a failed listing: version 1 is not gone.
    let tl = env.json(&["history", F, "--aliases", "--json"], 0).await;
    assert!(
        !tl["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "published_gone"),
        "{tl}"
    );
    env.sim.clear_listing_faults();
    env.sync_ok().await;
    assert_eq!(env.sim.downloads_of(&at_version("2")), 1);
}

crate::both_backends! {
async fn a_mirror_gets_the_alias_journal_and_rebuilds_the_same_alias_history() {
    let env = Env::new().await;
    let f = setup(&env);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!("{config}\n[[mirrors]]\nname = \"usb\"\ndir = \"usb\"\n"),
    )
    .unwrap();
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "1", &[]);
    env.sync_ok().await;
    env.sim.deploy(&f, package("order-api v2", 31_000));
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "2", &[]);
    env.sync_ok().await;
    let original = env.json(&["aliases", F, "--json"], 0).await;
    assert_eq!(
        original[0]["history"].as_array().unwrap().len(),
        2,
        "{original}"
    );

    // The mirror alone, with a new database.
    let mirror_config = env
        .accounts()
        .replace("dir = \"archive\"", "dir = \"usb\"")
        .replace("path = \"fnvault.db\"", "path = \"mirror.db\"");
    let mirror = env.path("mirror.toml");
    std::fs::write(&mirror, mirror_config).unwrap();
    let run = run_fnvault(&mirror, &["reindex"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let from_mirror = run_fnvault(&mirror, &["aliases", F, "--json"]).await;
    assert_eq!(from_mirror.code, 0, "{}", from_mirror.stderr);
    let from_mirror: serde_json::Value = serde_json::from_str(&from_mirror.stdout).unwrap();
    assert_eq!(from_mirror, original);
}
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_version_or_alias_name_fails_its_listing_and_becomes_no_key() {
    let env = Env::new().await;
    let f = setup(&env);
    env.sim.publish_version(&f).unwrap();
    env.sim.set_alias(&f, "prod", "1", &[]);
    for scope in [
        fnvault::sim::ListScope::Versions {
            function: order_api(),
        },
        fnvault::sim::ListScope::Aliases {
            function: order_api(),
        },
    ] {
        env.sim
            .set_listing_fault(scope, fnvault::sim::Fault::BadName, u32::MAX);
    }
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("not a version number") && run.stderr.contains("not a valid name"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1 changed"),
        "the function itself: {}",
        run.stderr
    );
    let a = env.json(&["aliases", F, "--json"], 0).await;
    assert_eq!(a, serde_json::json!([]));
    assert!(env.files_in("archive/aliases").is_empty());
}

/// SCF's built-in `$DEFAULT` alias points at `$LATEST`: `F@$DEFAULT` is the function itself.
#[tokio::test(flavor = "multi_thread")]
async fn an_alias_on_the_latest_code_restores_the_function_itself() {
    let env = Env::new().await;
    let f = setup(&env);
    env.sim.set_alias(&f, "$DEFAULT", "$LATEST", &[]);
    env.sync_ok().await;
    let t = between();
    let v2 = package("order-api v2", 31_000);
    env.sim.deploy(&f, v2.clone());
    env.sync_ok().await;
    for (at, want) in [
        (Some(t.as_str()), package("order-api v1", 30_000)),
        (None, v2),
    ] {
        let out = env.path("default.zip");
        let mut args = vec![
            "restore",
            "order-api@$DEFAULT",
            "--force",
            "--to",
            out.to_str().unwrap(),
        ];
        if let Some(at) = at {
            args.extend(["--at", at]);
        }
        let run = env.fnvault(&args).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(std::fs::read(&out).unwrap(), want, "at {at:?}");
    }
}

/// FC 2.0: a version and an alias belong to the whole service. A function added to the
/// service after a version was published is not in it: asked once, remembered, no failure.
#[tokio::test(flavor = "multi_thread")]
async fn fc2_service_versions_and_aliases_cover_the_functions_they_hold() {
    let env = Env::new().await;
    let checkout = SimFunction::fc("orders", "checkout", None);
    let late = SimFunction::fc("orders", "late", None);
    env.sim.deploy(&checkout, package("checkout v1", 20_000));
    env.sim.publish_version(&checkout).unwrap();
    env.sim.deploy(&late, package("late v1", 21_000));
    env.sim.deploy(&checkout, package("checkout v2", 22_000));
    env.sim.publish_version(&checkout).unwrap();
    env.sim.set_alias(&checkout, "prod", "1", &[("2", 0.2)]);
    let entry = |account: &str, name: &str| {
        format!(
            "[[functions]]\naccount = \"{account}\"\nregion = \"cn-shanghai\"\nservice = \"orders\"\nname = \"{name}\"\nversions = true\naliases = true\n"
        )
    };
    // Both FC 2.0 signatures.
    env.write_config(&format!(
        "{}{}",
        entry("ali", "checkout"),
        entry("ali-fc", "late")
    ));
    env.sim.set_page_limit(1);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = env.sim.stats().api_requests;
    let listings = env.sim.requests_of("ListFunctions");
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (f, v, n) in [(&checkout, "1", 1), (&checkout, "2", 1), (&late, "2", 1)] {
        let name = match f {
            SimFunction::Fc { name, .. } => name.clone(),
            _ => unreachable!(),
        };
        assert_eq!(
            env.sim
                .downloads_of(&SimFunction::fc("orders", &name, Some(v))),
            n,
            "{name}@{v}"
        );
    }
    // The second sweep asked nothing about late@1 again: only listings and the two
    // functions' own calls (GetService + GetFunction + ListTriggers + GetFunctionCode each).
    // The function listings of the change detection (issue 16: the scope is listed from the
    // second sweep on) are not what this counts.
    let second =
        env.sim.stats().api_requests - requests - (env.sim.requests_of("ListFunctions") - listings);
    // Per function: 2 version pages (page limit 1) + 1 alias page, and GetService,
    // GetFunction, ListTriggers, GetFunctionCode (no listing fingerprint was recorded by the
    // first sweep yet, so both get a full check); asking about late@1 again would be one more.
    assert_eq!(second, 2 * (2 + 1) + 2 * 4, "requests of the second sweep");
    for key in [
        "ali/cn-shanghai/orders/checkout",
        "ali-fc/cn-shanghai/orders/late",
    ] {
        let a = env.json(&["aliases", key, "--json"], 0).await;
        assert_eq!(
            a[0]["history"][0]["versions"],
            serde_json::json!([{"version": "1", "weight": 0.8}, {"version": "2", "weight": 0.2}]),
            "{a}"
        );
    }
    let h = env
        .json(
            &["history", "ali-fc/cn-shanghai/orders/late@2", "--json"],
            0,
        )
        .await;
    assert_eq!(
        h["versions"][0]["sha256"],
        sha256_hex(&package("late v1", 21_000))
    );
    // late@1 was never archived (nor failed): the timeline has only its version 2.
    let tl = env
        .json(
            &[
                "history",
                "ali-fc/cn-shanghai/orders/late",
                "--aliases",
                "--json",
            ],
            0,
        )
        .await;
    let published: Vec<&serde_json::Value> = tl["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "published")
        .map(|e| &e["published_version"])
        .collect();
    assert_eq!(published, vec!["2"], "{tl}");
}
