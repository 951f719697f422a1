//! Secrets never reach the output: keys, session tokens, signatures and the query strings of
//! presigned download URLs, at every log level and in every log format.

use fnvault::sim::Fault;

use crate::common::*;

const TOKEN: &str = "FakeSessionToken/with+base64=chars==";

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_appears_in_logs_at_maximum_verbosity() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    // Temporary credentials on every account, so tokens are sent too.
    env.sim.add_tencent_key(TC_ID, TC_KEY, Some(TOKEN));
    env.sim.add_aliyun_key(ALI_ID, ALI_KEY, Some(TOKEN));
    write_private(&env.path("token"), format!("{TOKEN}\n"));
    let config = std::fs::read_to_string(env.path("config.toml"))
        .unwrap()
        .replace(
            "secret_key_file = \"tc.key\"",
            "secret_key_file = \"tc.key\"\nsession_token_file = \"token\"",
        )
        .replace(
            "access_key_secret_file = \"ali.key\"",
            "access_key_secret_file = \"ali.key\"\nsecurity_token_file = \"token\"",
        );
    std::fs::write(env.path("config.toml"), config).unwrap();
    // Failures and retries print the most: URLs, error bodies, backoff lines.
    env.sim
        .set_fault_times(&fleet.order_api, Fault::ExpiredUrl, 1);
    env.sim
        .set_fault_times(&fleet.checkout, Fault::TruncateDownload, 1);
    env.sim.set_fault(&fleet.refund, Fault::CorruptDownload);

    for format in ["text", "json"] {
        let run = run_fnvault_with_env(
            &env.path("config.toml"),
            &["sync", "--log-format", format],
            &[("RUST_LOG", "trace")],
        )
        .await;
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.lines().count() > 20,
            "trace logging is on: {}",
            run.stderr
        );
        let all = format!("{}{}", run.stdout, run.stderr);
        for secret in [TC_KEY, ALI_KEY, TOKEN, "FakeSessionToken"] {
            assert!(
                !all.contains(secret),
                "{format} output contains a secret: {secret}"
            );
        }
        for fragment in ["sign=", "Signature=", "OSSAccessKeyId", "Expires="] {
            assert!(
                !all.contains(fragment),
                "{format} output contains a presigned query or signature ({fragment}):\n{all}"
            );
        }
    }
    assert_eq!(
        env.sim.stats().rejected_requests,
        0,
        "tokens were sent and accepted"
    );
}
