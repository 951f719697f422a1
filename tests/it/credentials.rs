//! Credential sources, in their documented order, each proved by `fnvault check` against the
//! simulator (which verifies the signature, and the token when the key pair has one).

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

const TOKEN: &str = "TmpToken+with/base64==";

/// A config with one account, `block` being its keys, and no functions.
fn write_account(env: &Env, cloud: &str, block: &str) -> std::path::PathBuf {
    let ep = env.sim.endpoint();
    let extra = if cloud == "aliyun" {
        format!("account_id = \"{ALI_ACCOUNT}\"\n")
    } else {
        String::new()
    };
    let path = env.path("config.toml");
    std::fs::write(
        &path,
        format!(
            "[archive]\ndir = \"archive\"\n[database]\npath = \"fnvault.db\"\n\n\
             [[accounts]]\nname = \"acct\"\ncloud = \"{cloud}\"\nendpoint = \"{ep}\"\n{extra}{block}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `fnvault check` with exactly `env_vars` as the credential-related environment; HOME is an
/// empty folder unless given.
async fn check(env: &Env, env_vars: &[(&str, &str)]) -> Run {
    let home = env.path("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_string_lossy().into_owned();
    let mut vars: Vec<(&str, &str)> = vec![("HOME", &home)];
    vars.extend_from_slice(env_vars);
    run_fnvault_with_env(&env.path("config.toml"), &["check"], &vars).await
}

fn assert_ok_from(run: &Run, source: &str) {
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("credentials from {source}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("account acct: OK"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inline_secret_works_and_is_warned_against() {
    let env = Env::new().await;
    write_account(
        &env,
        "tencent",
        &format!("secret_id = \"{TC_ID}\"\nsecret_key = \"{TC_KEY}\""),
    );
    let run = check(&env, &[]).await;
    assert_ok_from(&run, "inline `secret_id` + inline `secret_key`");
    assert!(
        run.stderr.contains("a secret is written inline"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(TC_KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn env_keys_name_their_variables() {
    let env = Env::new().await;
    write_account(
        &env,
        "tencent",
        "secret_id_env = \"MY_ID\"\nsecret_key_env = \"MY_KEY\"",
    );
    let run = check(&env, &[("MY_ID", TC_ID), ("MY_KEY", TC_KEY)]).await;
    assert_ok_from(&run, "environment $MY_ID + environment $MY_KEY");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_file_loses_its_trailing_newline() {
    let env = Env::new().await;
    std::fs::write(env.path("id"), format!("{TC_ID}\n")).unwrap();
    write_account(
        &env,
        "tencent",
        "secret_id_file = \"id\"\nsecret_key_file = \"tc.key\"",
    );
    let run = check(&env, &[]).await;
    assert_ok_from(&run, "file ");
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_credentials_are_read_from_the_credentials_directory() {
    let env = Env::new().await;
    env.sim.add_aliyun_key(ALI_ID, ALI_KEY, Some(TOKEN));
    let creds = env.path("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("ali-secret"), format!("{ALI_KEY}\n")).unwrap();
    std::fs::write(creds.join("ali-token"), format!("{TOKEN}\n")).unwrap();
    write_account(
        &env,
        "aliyun",
        &format!(
            "access_key_id = \"{ALI_ID}\"\naccess_key_secret_credential = \"ali-secret\"\nsecurity_token_credential = \"ali-token\""
        ),
    );
    let run = check(&env, &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]).await;
    assert_ok_from(
        &run,
        "inline `access_key_id` + systemd credential `ali-secret`",
    );
    assert_eq!(
        env.sim.tokens_seen(),
        [TOKEN],
        "the token was signed and sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_key_without_systemd_says_so() {
    let env = Env::new().await;
    write_account(
        &env,
        "tencent",
        &format!("secret_id = \"{TC_ID}\"\nsecret_key_credential = \"tc-key\""),
    );
    let run = check(&env, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("accounts[1].secret_key_credential: $CREDENTIALS_DIRECTORY is not set"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_standard_environment_variables_carry_a_session_token() {
    let env = Env::new().await;
    env.sim.add_tencent_key(TC_ID, TC_KEY, Some(TOKEN));
    write_account(&env, "tencent", "");
    let run = check(
        &env,
        &[
            ("TENCENTCLOUD_SECRET_ID", TC_ID),
            ("TENCENTCLOUD_SECRET_KEY", TC_KEY),
            ("TENCENTCLOUD_TOKEN", TOKEN),
        ],
    )
    .await;
    // The source names the token's variable too (never its value).
    assert_ok_from(
        &run,
        "environment $TENCENTCLOUD_SECRET_ID, $TENCENTCLOUD_SECRET_KEY, session token $TENCENTCLOUD_TOKEN",
    );
    assert!(!run.stdout.contains(TOKEN), "{}", run.stdout);
    assert_eq!(env.sim.tokens_seen(), [TOKEN]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alibaba_standard_variables_name_their_session_token() {
    let env = Env::new().await;
    env.sim.add_aliyun_key(ALI_ID, ALI_KEY, Some(TOKEN));
    write_account(&env, "aliyun", "");
    let run = check(
        &env,
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", ALI_ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ALI_KEY),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN),
        ],
    )
    .await;
    assert_ok_from(
        &run,
        "environment $ALIBABA_CLOUD_ACCESS_KEY_ID, $ALIBABA_CLOUD_ACCESS_KEY_SECRET, session token $ALIBABA_CLOUD_SECURITY_TOKEN",
    );
    assert!(!run.stdout.contains(TOKEN), "{}", run.stdout);
    assert_eq!(env.sim.tokens_seen(), [TOKEN]);
}

#[tokio::test(flavor = "multi_thread")]
async fn half_a_standard_variable_pair_names_the_missing_variable() {
    let env = Env::new().await;
    write_account(&env, "tencent", "");
    let run = check(&env, &[("TENCENTCLOUD_SECRET_ID", TC_ID)]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "environment $TENCENTCLOUD_SECRET_ID is set but $TENCENTCLOUD_SECRET_KEY is not"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(TC_ID), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tencent_profile_file_is_read_with_a_named_profile() {
    let env = Env::new().await;
    let home = env.path("home");
    std::fs::create_dir_all(home.join(".tencentcloud")).unwrap();
    write_private(
        &home.join(".tencentcloud/credentials"),
        format!(
            "[default]\nsecret_id = AKIDother\nsecret_key = other\n\n[prod]\nsecret_id = {TC_ID}\nsecret_key = {TC_KEY}\n"
        ),
    );
    write_account(&env, "tencent", "profile = \"prod\"");
    let run = check(&env, &[("HOME", home.to_str().unwrap())]).await;
    assert_ok_from(&run, "profile [prod] in ");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alibaba_ini_profile_file_is_read() {
    let env = Env::new().await;
    let home = env.path("home");
    std::fs::create_dir_all(home.join(".alibabacloud")).unwrap();
    write_private(
        &home.join(".alibabacloud/credentials"),
        format!(
            "[default]\ntype = access_key   # static keys\naccess_key_id = {ALI_ID}\naccess_key_secret = {ALI_KEY}\n"
        ),
    );
    write_account(&env, "aliyun", "");
    let run = check(&env, &[("HOME", home.to_str().unwrap())]).await;
    assert_ok_from(&run, "profile [default] in ");
    assert!(
        run.stdout.contains(".alibabacloud/credentials"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aliyun_cli_config_json_sts_profile_sends_its_token() {
    let env = Env::new().await;
    env.sim.add_aliyun_key(ALI_ID, ALI_KEY, Some(TOKEN));
    let home = env.path("home");
    std::fs::create_dir_all(home.join(".aliyun")).unwrap();
    let json = serde_json::json!({
        "current": "sts",
        "profiles": [
            {"name": "default", "mode": "AK", "access_key_id": "LTAIother", "access_key_secret": "x"},
            {"name": "sts", "mode": "StsToken", "access_key_id": ALI_ID,
             "access_key_secret": ALI_KEY, "sts_token": TOKEN, "region_id": "cn-hangzhou"}
        ]
    });
    write_private(&home.join(".aliyun/config.json"), json.to_string());
    // The FC-scheme signer sends the token in x-fc-security-token.
    write_account(&env, "aliyun", "signature = \"fc\"");
    let run = check(&env, &[("HOME", home.to_str().unwrap())]).await;
    assert_ok_from(&run, "profile `sts` in ");
    assert!(
        run.stdout.contains(
            ".aliyun/config.json (mode StsToken), session token from its `sts_token` key"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(TOKEN), "{}", run.stdout);
    assert_eq!(env.sim.tokens_seen(), [TOKEN]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_credential_names_every_source_tried() {
    let env = Env::new().await;
    write_account(&env, "tencent", "");
    let run = check(&env, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    for tried in [
        "no credentials for account `acct`",
        "secret_id/secret_key keys (inline, secret_id_env, secret_id_file, secret_id_credential): none set",
        "environment $TENCENTCLOUD_SECRET_ID and $TENCENTCLOUD_SECRET_KEY: not set",
        "empty-home/.tencentcloud/credentials: not found",
        "/etc/tencentcloud/credentials",
    ] {
        assert!(run.stderr.contains(tried), "{tried}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_bad_keys_with_the_cloud_error_code_and_request_id() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    // The Tencent account signs with a key the cloud does not know.
    let config = std::fs::read_to_string(env.path("config.toml"))
        .unwrap()
        .replace(TC_ID, "AKIDunknown000000000000000000000000");
    std::fs::write(env.path("config.toml"), config).unwrap();

    let run = env.fnvault(&["check"]).await;

    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let tc = run
        .stdout
        .lines()
        .find(|l| l.starts_with("account tc: FAILED"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(tc.contains("SCF AuthFailure"), "{tc}");
    assert!(tc.contains("(request id "), "{tc}");
    assert!(
        run.stdout
            .contains("account ali: OK (FC ListServices in cn-shanghai"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("account ali-fc: OK"), "{}", run.stdout);
    assert!(!env.path("archive").exists(), "check writes nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_with_good_keys() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    let run = env.fnvault(&["check"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.matches(": OK (").count(), 3, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("account tc: OK (SCF ListNamespaces in ap-guangzhou, request id "),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_readable_config_with_an_inline_secret_is_refused_unless_allowed() {
    let env = Env::new().await;
    let path = write_account(
        &env,
        "tencent",
        &format!("secret_id = \"{TC_ID}\"\nsecret_key = \"{TC_KEY}\""),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let line = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("secret_key"))
        .unwrap()
        + 1;

    let run = check(&env, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "config.toml:{line}:1: accounts[1].secret_key: the file holds an inline secret but is readable by group or others (mode 0640)"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(TC_KEY));

    let allowed = run_fnvault_with_env(
        &path,
        &["--allow-insecure-config", "check"],
        &[("HOME", "/nonexistent")],
    )
    .await;
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_readable_config_without_inline_secrets_is_fine() {
    let env = Env::new().await;
    let path = write_account(
        &env,
        "tencent",
        &format!("secret_id = \"{TC_ID}\"\nsecret_key_file = \"tc.key\""),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(check(&env, &[]).await.code, 0);
}

/// Review X6: key files and profile files were read whatever their mode, while the same
/// secret inline in a readable config was refused. Now each gets the inline treatment.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_file_or_profile_file_others_can_read_is_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new().await;
    let key = env.path("tc.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_account(
        &env,
        "tencent",
        &format!("secret_id = \"{TC_ID}\"\nsecret_key_file = \"tc.key\""),
    );
    for command in [&["check"][..], &["sync"], &["config", "check"]] {
        let run = run_fnvault_with_env(
            &env.path("config.toml"),
            command,
            &[("HOME", "/nonexistent")],
        )
        .await;
        assert_eq!(run.code, 2, "{command:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("accounts[1].secret_key_file")
                && run.stderr.contains("tc.key")
                && run.stderr.contains("mode 0644")
                && run.stderr.contains("--allow-insecure-config"),
            "{command:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains(TC_KEY), "{}", run.stderr);
    }
    let allowed = run_fnvault_with_env(
        &env.path("config.toml"),
        &["--allow-insecure-config", "check"],
        &[("HOME", "/nonexistent")],
    )
    .await;
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let private = check(&env, &[]).await;
    assert_ok_from(&private, "inline `secret_id` + file ");

    // A `*_file` inside systemd's credentials folder: systemd restricts it (an ACL mask may
    // show as group bits), so its mode is not held against it.
    let creds = env.path("creds");
    std::fs::create_dir_all(&creds).unwrap();
    let in_creds = creds.join("tc-key");
    write_private(&in_creds, format!("{TC_KEY}\n"));
    std::fs::set_permissions(&in_creds, std::fs::Permissions::from_mode(0o440)).unwrap();
    write_account(
        &env,
        "tencent",
        &format!(
            "secret_id = \"{TC_ID}\"\nsecret_key_file = \"{}\"",
            in_creds.display()
        ),
    );
    let systemd = check(&env, &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]).await;
    assert_eq!(systemd.code, 0, "{}", systemd.stderr);

    // The profile file the keys came from, group-readable.
    let home = env.path("home");
    std::fs::create_dir_all(home.join(".tencentcloud")).unwrap();
    let profile = home.join(".tencentcloud/credentials");
    write_private(
        &profile,
        format!("[default]\nsecret_id = {TC_ID}\nsecret_key = {TC_KEY}\n"),
    );
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o640)).unwrap();
    write_account(&env, "tencent", "");
    let run = check(&env, &[("HOME", home.to_str().unwrap())]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(".tencentcloud/credentials") && run.stderr.contains("mode 0640"),
        "{}",
        run.stderr
    );
}

/// The archive's and a mirror's key files get the same check as the accounts': a
/// `secret_access_key_file` others can read is refused, naming the key and the mode, unless
/// allowed. (No store is contacted: the check comes first.)
#[tokio::test(flavor = "multi_thread")]
async fn a_storage_key_file_others_can_read_is_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    let shared = env.path("shared-s3.key");
    std::fs::write(&shared, "fnvault-test-secret-0001\n").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    for (section, key) in [
        (
            format!(
                "[archive]\n{}",
                crate::objstore::store_keys("http://127.0.0.1:9", "p", "shared-s3.key")
            ),
            "archive.secret_access_key_file",
        ),
        (
            format!(
                "[[mirrors]]\nname = \"offsite\"\n{}",
                crate::objstore::store_keys("http://127.0.0.1:9", "p", "shared-s3.key")
            ),
            "mirrors[1].secret_access_key_file",
        ),
    ] {
        // The standard config with its `[archive]` table replaced, or a mirror added.
        let config = if key.starts_with("archive") {
            let rest = env
                .accounts()
                .replacen("[archive]\ndir = \"archive\"\n", "", 1);
            format!("{section}dir = \"archive\"\n{rest}\n{}", Fleet::config())
        } else {
            format!("{}\n{}\n{section}", env.accounts(), Fleet::config())
        };
        std::fs::write(env.path("config.toml"), config).unwrap();
        for command in [&["sync"][..], &["config", "check"]] {
            let run = env.fnvault(command).await;
            assert_eq!(run.code, 2, "{command:?}: {}", run.stderr);
            assert!(
                run.stderr.contains(key)
                    && run.stderr.contains("shared-s3.key")
                    && run.stderr.contains("mode 0644"),
                "{command:?}: {}",
                run.stderr
            );
            assert!(
                !run.stderr.contains("fnvault-test-secret"),
                "{}",
                run.stderr
            );
        }
        let allowed = env
            .fnvault(&["--allow-insecure-config", "config", "check"])
            .await;
        assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    }
}
