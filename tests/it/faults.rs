//! What the clouds and the network throw at a sweep: each fault is either retried to success
//! or recorded as that function's failure, and never leaves a bad package behind.

use fnvault::sim::{Fault, SimFunction};

use crate::common::*;

/// Runs a sweep of the standard fleet with `fault` injected `times` times into `pick`'s
/// requests, and asserts everything ended archived and clean.
async fn retried_to_success(pick: fn(&Fleet) -> &SimFunction, key: &str, fault: Fault, times: u32) {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault_times(pick(&fleet), fault, times);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{fault:?}: {}", run.stderr);
    assert!(
        run.stderr.contains("retrying"),
        "{fault:?} was not retried: {}",
        run.stderr
    );
    let entry = env.entry(key).await;
    assert_eq!(entry["versions"], 1, "{entry}");
    assert!(entry["last_error"].is_null(), "{entry}");
    assert!(
        env.files_in("archive/tmp").is_empty(),
        "{fault:?} left a temp file"
    );
    assert_eq!(env.package_blobs().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn scf_throttling_is_retried_to_success() {
    retried_to_success(|f| &f.order_api, ORDER_API, Fault::Throttle, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fc_throttling_is_retried_to_success() {
    retried_to_success(|f| &f.checkout, CHECKOUT, Fault::Throttle, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scf_gateway_errors_are_retried_to_success() {
    retried_to_success(|f| &f.report, REPORT, Fault::ServerError, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fc_server_errors_are_retried_to_success() {
    retried_to_success(|f| &f.refund, REFUND, Fault::ServerError, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_being_deployed_is_retried_to_success() {
    retried_to_success(|f| &f.order_api, ORDER_API, Fault::Deploying, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_timeout_is_retried_to_success() {
    retried_to_success(|f| &f.checkout, CHECKOUT, Fault::Hang, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_download_is_retried_to_success() {
    retried_to_success(|f| &f.order_api, ORDER_API, Fault::TruncateDownload, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_download_is_retried_to_success() {
    retried_to_success(|f| &f.refund, REFUND, Fault::CorruptDownload, 1).await;
}

/// The same wrong bytes twice is a systematic mismatch (the cloud's checksum does not
/// describe its package): give up after the second download, not after `retry.attempts`.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_wrong_package_twice_is_a_permanent_failure_not_retried_further() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault(&fleet.refund, Fault::CorruptDownload);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("same bytes arrived twice"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.downloads_of(&fleet.refund), 2);
    assert_eq!(env.entry(REFUND).await["versions"], 0);
    assert!(env.files_in("archive/tmp").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_download_url_is_replaced_by_a_fresh_one() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim
        .set_fault_times(&fleet.checkout, Fault::ExpiredUrl, 1);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.entry(CHECKOUT).await["versions"], 1);
    // Four functions, one of which asked twice for its address. Each SCF function costs
    // GetFunction + GetFunctionAddress, each FC 2.0 one GetService + GetFunction +
    // ListTriggers + GetFunctionCode (issue 13): 2×2 + 2×4 = 12, plus the second address.
    assert_eq!(env.sim.stats().api_requests, 13);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_that_never_ends_fails_only_that_function() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault(&fleet.order_api, Fault::Throttle);

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    let entry = env.entry(ORDER_API).await;
    let error = entry["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("RequestLimitExceeded"), "{entry}");
    assert!(error.contains("after 4 attempts"), "{entry}");
    assert_eq!(entry["versions"], 0);
    for key in [REPORT, CHECKOUT, REFUND] {
        assert_eq!(env.entry(key).await["versions"], 1, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_error_is_not_retried() {
    let env = Env::new().await;
    env.write_config(&scf("ap-guangzhou", "default", "missing", None));

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        env.sim.stats().api_requests,
        1,
        "ResourceNotFound must not be retried"
    );
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_account_rate_limit_is_never_exceeded_with_high_concurrency() {
    let env = Env::new().await;
    let mut functions = String::new();
    for i in 0..200 {
        let name = format!("fn-{i:03}");
        env.sim.deploy(
            &SimFunction::scf("ap-guangzhou", "default", &name, None),
            package(&name, 64),
        );
        functions.push_str(&scf("ap-guangzhou", "default", &name, None));
    }
    let config = env.accounts().replace(
        "name = \"tc\"\n",
        "name = \"tc\"\nrequests_per_second = 50\n",
    ) + "\n[sync]\nconcurrency = 128\ndownloads = 32\n"
        + &functions;
    std::fs::write(env.path("config.toml"), config).unwrap();

    // When each request left the client, not when it arrived: arrivals bunch on a busy machine
    // although the sends were spaced. strace timestamps each socket write of the binary; an
    // SCF API request is the one that starts `POST / HTTP/1.1`.
    let Some(strace) = crate::fault_inject::strace() else {
        return;
    };
    let trace = env.path("sends.txt");
    let out = tokio::process::Command::new(strace)
        .args(["-f", "--seccomp-bpf", "-qq", "-ttt", "-s", "24", "-o"])
        .arg(&trace)
        .args(["-e", "trace=write,writev,sendto,sendmsg", "--"])
        .arg(env!("CARGO_BIN_EXE_fnvault"))
        .arg("--config")
        .arg(env.path("config.toml"))
        .arg("sync")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("strace runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sends: Vec<f64> = std::fs::read_to_string(&trace)
        .expect("strace output")
        .lines()
        .filter(|l| l.contains("\"POST / HTTP/1.1"))
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("no timestamp in `{l}`"))
        })
        .collect();
    sends.sort_by(f64::total_cmp);
    // Two per function since issue 13: GetFunction (configuration) and GetFunctionAddress.
    assert_eq!(sends.len(), 400, "two requests per function");
    assert_eq!(env.sim.stats().api_requests, 400);
    // The busiest one-second window, sliding over every send.
    let busiest = sends
        .iter()
        .enumerate()
        .map(|(i, start)| sends[i..].iter().take_while(|t| **t - start < 1.0).count())
        .max()
        .unwrap_or(0);
    assert!(
        busiest <= 50,
        "{busiest} requests sent in one second, limit 50"
    );
}
