//! `fnvault sync`: what one sweep downloads, records and reports.

use fnvault::sim::{Fault, SimFunction};

use crate::common::*;

crate::both_backends! {
async fn the_first_sweep_archives_every_function() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("4 checked, 4 changed, 0 unchanged, 0 failed"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.stats().downloads, 4);
    let list = env.list().await;
    assert_eq!(list.len(), 4);
    for entry in &list {
        assert_eq!(entry["versions"], 1, "{entry}");
        assert!(entry["last_error"].is_null(), "{entry}");
        assert!(entry["last_checked"].is_string(), "{entry}");
    }
    let order = env.entry(ORDER_API).await;
    assert_eq!(
        order["latest_sha256"],
        sha256_hex(&package("order-api v1", 70_000))
    );
    assert_eq!(order["latest_size"], 70_000);
    assert_eq!(env.package_blob_count(), 4);
    assert!(env.files_in("archive/tmp").is_empty());
    assert_eq!(env.sim.stats().rejected_requests, 0);
}
}

crate::both_backends! {
async fn a_second_sweep_downloads_nothing() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("0 changed, 4 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.sim.stats().downloads,
        4,
        "only the first sweep's downloads"
    );
    for entry in env.list().await {
        assert_eq!(entry["versions"], 1, "{entry}");
        assert_eq!(entry["last_status"], "unchanged", "{entry}");
    }
}
}

crate::both_backends! {
async fn a_redeploy_downloads_exactly_the_changed_package_as_a_new_version() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    let v2 = package("checkout v2", 95_000);
    env.sim.deploy(&fleet.checkout, v2.clone());

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("1 changed, 3 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.stats().downloads, 5);
    assert_eq!(env.sim.downloads_of(&fleet.checkout), 2);
    let checkout = env.entry(CHECKOUT).await;
    assert_eq!(checkout["versions"], 2);
    assert_eq!(checkout["latest_version"], 2);
    assert_eq!(checkout["latest_sha256"], sha256_hex(&v2));
    assert_eq!(env.entry(ORDER_API).await["versions"], 1);
}
}

crate::both_backends! {
async fn a_corrupted_download_records_nothing_and_leaves_no_file() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault(&fleet.report, Fault::CorruptDownload);
    env.sim.set_fault(&fleet.refund, Fault::CorruptDownload);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("2 failed"), "{}", run.stderr);
    let report = env.entry(REPORT).await;
    assert_eq!(report["versions"], 0);
    assert!(
        report["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("does not match the cloud's checksum")),
        "{report}"
    );
    assert_eq!(env.entry(REFUND).await["versions"], 0);
    assert_eq!(env.entry(ORDER_API).await["versions"], 1);
    assert_eq!(env.entry(CHECKOUT).await["versions"], 1);
    assert!(
        env.files_in("archive/tmp").is_empty(),
        "temp files left behind"
    );
    assert_eq!(env.package_blob_count(), 2, "only the good packages");
}
}

crate::both_backends! {
async fn a_function_recovers_on_the_sweep_after_a_corrupted_download() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault(&fleet.report, Fault::CorruptDownload);
    assert_eq!(env.fnvault(&["sync"]).await.code, 1);
    env.sim.clear_fault(&fleet.report);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = env.entry(REPORT).await;
    assert_eq!(report["versions"], 1);
    assert!(report["last_error"].is_null(), "{report}");
}
}

crate::both_backends! {
async fn an_unknown_function_fails_with_the_clouds_error_code_and_the_others_succeed() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!(
            "{config}{}{}",
            scf("ap-guangzhou", "default", "no-such-fn", None),
            fc("ali", "cn-shanghai", "orders", "no_such_fn", None),
        ),
    )
    .unwrap();

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("4 changed, 0 unchanged, 2 failed"),
        "{}",
        run.stderr
    );
    let scf_err = env.entry("tc/ap-guangzhou/default/no-such-fn").await;
    assert!(
        scf_err["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("ResourceNotFound.Function")),
        "{scf_err}"
    );
    let fc_err = env.entry("ali/cn-shanghai/orders/no_such_fn").await;
    let msg = fc_err["last_error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("FunctionNotFound") && msg.contains("404"),
        "{fc_err}"
    );
    assert!(
        run.stdout
            .contains("failed: tc/ap-guangzhou/default/no-such-fn: SCF ResourceNotFound.Function"),
        "{}",
        run.stderr
    );
}
}

crate::both_backends! {
async fn a_bad_key_fails_that_accounts_functions_with_the_clouds_error_code() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    // The FC-signature account gets a wrong secret; the ACS3 one keeps the right one.
    write_private(&env.path("bad.key"), "not-the-secret\n");
    let config = std::fs::read_to_string(env.path("config.toml"))
        .unwrap()
        .replacen(
            "secret_key_file = \"tc.key\"",
            "secret_key_file = \"bad.key\"",
            1,
        );
    let config = config.replace(
        "access_key_secret_file = \"ali.key\"\nsignature = \"fc\"",
        "access_key_secret_file = \"bad.key\"\nsignature = \"fc\"",
    );
    std::fs::write(env.path("config.toml"), config).unwrap();

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    for key in [ORDER_API, REPORT] {
        let e = env.entry(key).await;
        assert!(
            e["last_error"]
                .as_str()
                .is_some_and(|m| m.contains("AuthFailure.SignatureFailure")),
            "{e}"
        );
    }
    let refund = env.entry(REFUND).await;
    assert!(
        refund["last_error"]
            .as_str()
            .is_some_and(|m| m.contains("SignatureNotMatch")),
        "{refund}"
    );
    assert_eq!(env.entry(CHECKOUT).await["versions"], 1);
    assert!(
        !run.stderr.contains("not-the-secret"),
        "a secret reached the output"
    );
}
}

crate::both_backends! {
async fn identical_packages_of_different_functions_are_stored_once() {
    let env = Env::new().await;
    let same = package("shared library", 30_000);
    let a = SimFunction::scf("ap-guangzhou", "default", "a", None);
    let b = SimFunction::fc("svc", "b", None);
    env.sim.deploy(&a, same.clone());
    env.sim.deploy(&b, same.clone());
    env.write_config(&format!(
        "{}{}",
        scf("ap-guangzhou", "default", "a", None),
        fc("ali", "cn-shanghai", "svc", "b", None)
    ));

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.package_blob_count(), 1);
    for e in env.list().await {
        assert_eq!(e["latest_sha256"], sha256_hex(&same), "{e}");
    }
}
}

crate::both_backends! {
async fn a_package_over_the_size_limit_is_refused_and_not_kept() {
    let env = Env::new().await;
    let big = SimFunction::scf("ap-guangzhou", "default", "big", None);
    env.sim.deploy(&big, package("big", 200_000));
    let config = env.accounts().replace(
        "dir = \"archive\"",
        "dir = \"archive\"\nmax_package_size = \"100 KiB\"",
    );
    std::fs::write(
        env.path("config.toml"),
        format!("{config}\n{}", scf("ap-guangzhou", "default", "big", None)),
    )
    .unwrap();

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    let e = env.entry("tc/ap-guangzhou/default/big").await;
    assert!(
        e["last_error"]
            .as_str()
            .is_some_and(|m| m.contains("max_package_size")),
        "{e}"
    );
    assert!(env.files_in("archive/blobs").is_empty());
    assert!(env.files_in("archive/tmp").is_empty());
}
}

crate::both_backends! {
async fn a_blob_deleted_from_the_archive_is_downloaded_again() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    let sha = env.entry(REPORT).await["latest_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    env.remove_blob(&sha);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.read_blob(&sha).is_some(), "the missing blob is back");
    assert_eq!(
        env.entry(REPORT).await["versions"],
        1,
        "no new version for the same package"
    );
}
}

#[tokio::test(flavor = "multi_thread")]
async fn list_works_before_any_sweep_and_without_credentials() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    std::fs::remove_file(env.path("tc.key")).unwrap();

    let list = env.list().await;

    assert_eq!(list.len(), 4);
    assert!(
        list.iter()
            .all(|e| e["versions"] == 0 && e["last_checked"].is_null())
    );
    let table = env.fnvault(&["list"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.starts_with("FUNCTION"), "{}", table.stdout);
    assert!(table.stdout.contains(ORDER_API));
}

crate::both_backends! {
async fn a_second_sync_on_the_same_archive_is_refused_while_one_runs() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    let archive = fnvault::archive::Archive::open(&env.path("archive")).unwrap();
    let _held = archive.lock().unwrap();

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("locked by another fnvault process"),
        "{}",
        run.stderr
    );
}
}
