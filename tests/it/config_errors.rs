//! Configuration errors: exit status 2, and a message naming file, line and key.

use crate::common::*;

async fn sync_with(env: &Env, config: &str) -> Run {
    std::fs::write(env.path("config.toml"), config).unwrap();
    env.fnvault(&["sync"]).await
}

fn line_of(config: &str, needle: &str) -> usize {
    config
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in config")
        + 1
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_key_names_its_line() {
    let env = Env::new().await;
    let config = format!(
        "{}\n{}",
        env.accounts(),
        scf("ap-guangzhou", "default", "f", None)
    )
    .replace("name = \"f\"", "name = \"f\"\nqualifer = \"$LATEST\"");

    let run = sync_with(&env, &config).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    let expected = format!("config.toml:{}:", line_of(&config, "qualifer"));
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(run.stderr.contains("qualifer"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_of_an_unknown_account_names_the_key_and_line() {
    let env = Env::new().await;
    let config = format!(
        "{}\n{}",
        env.accounts(),
        fc("ali-staging", "cn-shanghai", "s", "f", None)
    );

    let run = sync_with(&env, &config).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    let expected = format!(
        "config.toml:{}:1: functions[1].account: no account named `ali-staging`",
        line_of(&config, "ali-staging")
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrongly_typed_value_names_its_line() {
    let env = Env::new().await;
    let config = env.accounts().replace(
        "account_id = \"1234567890123456\"",
        "account_id = 1234567890123456",
    );

    let run = sync_with(&env, &config).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    let expected = format!("config.toml:{}:", line_of(&config, "account_id = 1234"));
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_key_file_names_the_key_and_the_file() {
    let env = Env::new().await;
    std::fs::remove_file(env.path("ali.key")).unwrap();
    let config = env.accounts();

    let run = sync_with(&env, &config).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("accounts[2].access_key_secret_file: cannot read"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("ali.key"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_config_file_is_a_setup_error() {
    let env = Env::new().await;

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot read the config file"),
        "{}",
        run.stderr
    );
}
