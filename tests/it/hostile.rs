//! Untrusted answers from the clouds: each gives a clear error naming the function (or listing
//! scope) and, where the cloud sent one, its request id — and nothing is written.

use std::os::unix::fs::PermissionsExt;

use fnvault::sim::{Fault, ListScope};

use crate::common::*;

/// One sweep with `fault` on the SCF function `order-api`; returns its `failed:` line.
async fn failed_line(
    env: &Env,
    fleet: &Fleet,
    key: &str,
    pick: fn(&Fleet) -> &fnvault::sim::SimFunction,
    fault: Fault,
) -> String {
    env.sim.set_fault(pick(fleet), fault);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("failed: {key}: ")))
        .unwrap_or_else(|| panic!("no failure for {key}: {}", run.stderr))
        .to_string();
    let entry = env.entry(key).await;
    assert_eq!(entry["versions"], 0, "nothing recorded: {entry}");
    assert!(env.files_in("archive/tmp").is_empty(), "no temp file left");
    line
}

fn blobs_of_others_only(env: &Env) {
    // The other three functions of the fleet are archived; the hostile one is not.
    assert_eq!(env.package_blobs().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_url_is_refused_before_anything_is_fetched() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let line = failed_line(&env, &fleet, ORDER_API, |f| &f.order_api, Fault::FileUrl).await;
    assert!(
        line.contains("download URL has scheme `file`; only http and https are followed"),
        "{line}"
    );
    assert!(line.contains("(request id "), "{line}");
    blobs_of_others_only(&env);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_scheme_is_refused() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let line = failed_line(
        &env,
        &fleet,
        CHECKOUT,
        |f| &f.checkout,
        Fault::RedirectScheme,
    )
    .await;
    // Never followed: the redirect itself is the (failed) answer. reqwest does not follow
    // non-http(s) locations, and http::client's policy would refuse them if it did.
    assert!(line.contains("answered HTTP 302"), "{line}");
    assert!(!line.contains("Signature="), "no presigned query: {line}");
    blobs_of_others_only(&env);
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_redirects_are_cut_off() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let line = failed_line(
        &env,
        &fleet,
        ORDER_API,
        |f| &f.order_api,
        Fault::RedirectLoop,
    )
    .await;
    assert!(line.contains("more than 5 redirects"), "{line}");
    assert!(!line.contains("sign="), "no presigned query: {line}");
    blobs_of_others_only(&env);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_50_mb_api_body_is_refused_at_the_cap() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let line = failed_line(&env, &fleet, REFUND, |f| &f.refund, Fault::HugeBody).await;
    assert!(
        line.contains("response body larger than 1048576 bytes"),
        "{line}"
    );
    assert!(
        line.contains("(request id "),
        "FC sends it in a header: {line}"
    );
    blobs_of_others_only(&env);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_json_types_name_the_function_and_request_id() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let line = failed_line(&env, &fleet, ORDER_API, |f| &f.order_api, Fault::WrongTypes).await;
    assert!(
        line.contains("GetFunctionAddress answered without Url or CodeSha256"),
        "{line}"
    );
    assert!(line.contains("(request id "), "{line}");
    blobs_of_others_only(&env);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_names_the_function_and_request_id() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let line = failed_line(
        &env,
        &fleet,
        CHECKOUT,
        |f| &f.checkout,
        Fault::MalformedJson,
    )
    .await;
    assert!(
        line.contains("GetFunctionCode answered malformed JSON"),
        "{line}"
    );
    assert!(line.contains("(request id "), "{line}");
    blobs_of_others_only(&env);
}

/// Discovery of the test account's SCF functions in ap-guangzhou, with `fault` on the listing
/// of namespace `default`; returns the `failed:` line of that scope.
async fn listing_failure(fault: Fault) -> (Env, String) {
    let env = Env::new().await;
    let f = fnvault::sim::SimFunction::scf("ap-guangzhou", "default", "order-a", None);
    env.sim.deploy(&f, package("a", 1_000));
    env.write_config("[[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\n");
    env.sim.set_listing_fault(
        ListScope::ScfFunctions {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
        },
        fault,
        u32::MAX,
    );
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("failed: tc/ap-guangzhou/default/*: listing failed: "))
        .unwrap_or_else(|| panic!("{}", run.stderr))
        .to_string();
    assert!(env.files_in("archive/blobs").is_empty(), "nothing written");
    assert!(env.list().await.is_empty(), "no function row");
    (env, line)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listed_name_with_dot_dot_slash_fails_its_scope() {
    let (_env, line) = listing_failure(Fault::BadName).await;
    assert!(
        line.contains(
            "SCF ListFunctions answered a name that is not a valid function name: \"../evil\""
        ),
        "{line}"
    );
    assert!(line.contains("(request id "), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_with_wrong_json_types_fails_its_scope_with_the_request_id() {
    let (_env, line) = listing_failure(Fault::WrongTypes).await;
    assert!(
        line.contains("ListFunctions answered unexpected JSON: invalid type"),
        "{line}"
    );
    assert!(line.contains("(request id "), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_50_mb_listing_body_fails_its_scope() {
    let (_env, line) = listing_failure(Fault::HugeBody).await;
    assert!(
        line.contains("response body larger than 1048576 bytes"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_fc_service_named_dot_dot_is_refused() {
    let env = Env::new().await;
    env.sim.deploy(
        &fnvault::sim::SimFunction::fc("orders", "checkout", None),
        package("c", 900),
    );
    env.write_config("[[discover]]\naccount = \"ali\"\nregions = [\"cn-shanghai\"]\n");
    env.sim
        .set_listing_fault(ListScope::FcServices, Fault::BadName, u32::MAX);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "failed: ali/cn-shanghai/*: listing failed: FC ListServices answered a name that is not a valid namespace/service name: \"../evil\""
        ),
        "{}",
        run.stderr
    );
    assert!(env.files_in("archive/blobs").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_archive_and_database_are_owner_only() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    assert_eq!(env.fnvault(&["sync"]).await.code, 0);
    let mode = |rel: &str| {
        std::fs::metadata(env.path(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("archive"), 0o700);
    assert_eq!(mode("archive/blobs"), 0o700);
    assert_eq!(mode("fnvault.db"), 0o600);
    for blob in env.files_in("archive/blobs") {
        let m = std::fs::metadata(&blob).unwrap().permissions().mode() & 0o777;
        assert_eq!(m & 0o077, 0, "{} is mode {m:o}", blob.display());
    }
}

/// Review X2: a plain-http download URL on a host that is neither loopback nor the cloud's
/// object storage was fetched in clear (FC verifies only a forgeable CRC-64). Now it is refused
/// before any connection, unless `[http] allow_http_downloads = true`.
#[tokio::test(flavor = "multi_thread")]
async fn a_plain_http_download_url_on_a_foreign_host_is_refused_unless_allowed() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    // Both clouds' answers: SCF and FC.
    env.sim.set_fault(&fleet.order_api, Fault::ForeignHttpUrl);
    env.sim.set_fault(&fleet.checkout, Fault::ForeignHttpUrl);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    for key in [ORDER_API, CHECKOUT] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("failed: {key}: ")))
            .unwrap_or_else(|| panic!("no failure for {key}: {}", run.stdout));
        assert!(
            line.contains("plain http on `downloads.example.invalid`")
                && line.contains("allow_http_downloads"),
            "{line}"
        );
        assert!(line.contains("(request id "), "{line}");
        assert!(!line.contains("sign="), "no presigned query: {line}");
        assert_eq!(env.entry(key).await["versions"], 0);
    }
    assert_eq!(
        env.sim.stats().downloads,
        2,
        "only the two others were fetched"
    );
    env.sim.clear_fault(&fleet.checkout);

    // Allowed, the same URL is tried (and fails to resolve: `.invalid` never does).
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        config
            .replace(
                "[http]\n",
                "[http]\nallow_http_downloads = true\nconnect_timeout = \"1s\"\n",
            )
            .replace("[retry]\n", "[retry]\nattempts = 1\n"),
    )
    .unwrap();
    // A new package, so the sweep has to download it.
    env.sim
        .deploy(&fleet.order_api, package("order-api v2", 1_000));
    env.sim.set_fault(&fleet.order_api, Fault::ForeignHttpUrl);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("failed: {ORDER_API}: ")))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(!line.contains("allow_http_downloads"), "{line}");
    assert!(line.contains("downloads.example.invalid"), "{line}");
}
