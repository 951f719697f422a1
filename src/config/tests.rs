//! Whole-file tests of [`Config::parse`]: values, credentials, places of errors.

use std::path::Path;

use crate::model::Cloud;

use super::*;

fn parse(src: &str) -> Result<Config, ConfigError> {
    let env = |name: &str| match name {
        "TC_ID" => Some("AKIDexample".to_string()),
        "TC_KEY" => Some("tc-secret".to_string()),
        _ => None,
    };
    Config::parse(src, Path::new("/etc/fnvault/config.toml"), &env)
}

const BASE: &str = r#"
[archive]
dir = "archive"
[database]
path = "/var/lib/fnvault/fnvault.db"

[[accounts]]
name = "tc-prod"
cloud = "tencent"
secret_id_env = "TC_ID"
secret_key_env = "TC_KEY"

[[accounts]]
name = "ali-prod"
cloud = "aliyun"
account_id = "1234567890123456"
access_key_id = "LTAIexample"
access_key_secret = "ali-secret"

[[functions]]
account = "tc-prod"
region = "ap-guangzhou"
name = "order-api"
qualifier = "$LATEST"

[[functions]]
account = "ali-prod"
region = "cn-shanghai"
service = "orders"
name = "checkout"
"#;

#[test]
fn relative_paths_are_relative_to_the_config_folder() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.archive.dir, Path::new("/etc/fnvault/archive"));
    assert_eq!(c.database_path, Path::new("/var/lib/fnvault/fnvault.db"));
}

#[test]
fn canonical_keys_name_account_region_namespace_name_and_qualifier() {
    let c = parse(BASE).unwrap();
    let keys: Vec<_> = c.functions.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "tc-prod/ap-guangzhou/default/order-api",
            "ali-prod/cn-shanghai/orders/checkout"
        ]
    );
    // The latest alias is no qualifier: `$LATEST` above is dropped from the key.
    assert_eq!(c.functions[0].qualifier, None);
}

/// `name` and `name@$LATEST` (SCF), `name` and `name@LATEST` (FC) are one function: listing
/// both is listing it twice.
#[test]
fn a_function_and_its_latest_alias_are_one_function_listed_twice() {
    for (extra, key) in [
        (
            "[[functions]]\naccount = \"tc-prod\"\nregion = \"ap-guangzhou\"\nname = \"order-api\"\n",
            "tc-prod/ap-guangzhou/default/order-api",
        ),
        (
            "[[functions]]\naccount = \"ali-prod\"\nregion = \"cn-shanghai\"\nservice = \"orders\"\nname = \"checkout\"\nqualifier = \"LATEST\"\n",
            "ali-prod/cn-shanghai/orders/checkout",
        ),
    ] {
        let e = parse(&format!("{BASE}\n{extra}")).unwrap_err().to_string();
        assert!(
            e.contains(&format!("function `{key}` is listed twice")),
            "{e}"
        );
    }
}

#[test]
fn secrets_resolve_from_env_and_inline_and_say_where_they_came_from() {
    let c = parse(BASE).unwrap();
    let tc = c.account("tc-prod").unwrap();
    let creds = tc.credentials.as_ref().unwrap();
    assert_eq!(creds.key_id, "AKIDexample");
    assert_eq!(creds.secret.expose(), "tc-secret");
    assert_eq!(creds.source, "environment $TC_ID + environment $TC_KEY");
    assert_eq!(tc.endpoint, TENCENT_DEFAULT_ENDPOINT);
    let ali = c.account("ali-prod").unwrap();
    assert_eq!(ali.endpoint, ALIYUN_DEFAULT_ENDPOINT);
    assert!(matches!(
        ali.kind,
        AccountKind::Aliyun {
            signature: AliyunSignature::Acs3,
            ..
        }
    ));
}

#[test]
fn an_unknown_key_is_an_error_with_its_line() {
    let src = BASE.replace(
        "name = \"checkout\"",
        "name = \"checkout\"\nqualifer = \"LATEST\"",
    );
    let e = parse(&src).unwrap_err();
    let line = src.lines().position(|l| l.starts_with("qualifer")).unwrap() + 1;
    assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
    assert!(e.to_string().contains("qualifer"), "{e}");
}

#[test]
fn a_function_naming_a_missing_account_points_at_its_account_key() {
    let src = BASE.replace("account = \"ali-prod\"", "account = \"ali-staging\"");
    let e = parse(&src).unwrap_err();
    let line = src.lines().position(|l| l.contains("ali-staging")).unwrap() + 1;
    assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
    assert_eq!(e.key.as_deref(), Some("functions[2].account"));
    assert!(e.message.contains("ali-prod, tc-prod"), "{e}");
}

#[test]
fn a_missing_environment_variable_is_named() {
    let src = BASE.replace("TC_KEY", "TC_NOPE");
    let e = parse(&src).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("accounts[1].secret_key_env"));
    assert!(e.message.contains("TC_NOPE"), "{e}");
}

#[test]
fn no_credentials_anywhere_names_the_standard_variables() {
    let src = BASE
        .replace("secret_id_env = \"TC_ID\"\n", "")
        .replace("secret_key_env = \"TC_KEY\"\n", "");
    let e = parse(&src).unwrap_err();
    assert!(e.message.contains("TENCENTCLOUD_SECRET_ID"), "{e}");
}

#[test]
fn half_a_standard_variable_pair_names_the_missing_variable() {
    let src = BASE
        .replace("secret_id_env = \"TC_ID\"\n", "")
        .replace("secret_key_env = \"TC_KEY\"\n", "");
    let only_id = |name: &str| (name == "TENCENTCLOUD_SECRET_ID").then(|| "AKIDstd".to_string());
    let e = Config::parse(&src, Path::new("c.toml"), &only_id).unwrap_err();
    assert!(
        e.message.contains(
            "environment $TENCENTCLOUD_SECRET_ID is set but $TENCENTCLOUD_SECRET_KEY is not"
        ),
        "{e}"
    );
    let only_key =
        |name: &str| (name == "TENCENTCLOUD_SECRET_KEY").then(|| "std-secret".to_string());
    let e = Config::parse(&src, Path::new("c.toml"), &only_key).unwrap_err();
    assert!(
        e.message.contains(
            "environment $TENCENTCLOUD_SECRET_KEY is set but $TENCENTCLOUD_SECRET_ID is not"
        ),
        "{e}"
    );
}

#[test]
fn standard_variables_are_used_when_no_key_is_configured() {
    let src = BASE
        .replace("secret_id_env = \"TC_ID\"\n", "")
        .replace("secret_key_env = \"TC_KEY\"\n", "");
    let env = |name: &str| match name {
        "TENCENTCLOUD_SECRET_ID" => Some("AKIDstd".to_string()),
        "TENCENTCLOUD_SECRET_KEY" => Some("std-secret".to_string()),
        "TENCENTCLOUD_TOKEN" => Some("tok".to_string()),
        _ => None,
    };
    let c = Config::parse(&src, Path::new("c.toml"), &env).unwrap();
    let creds = c.account("tc-prod").unwrap().credentials.clone().unwrap();
    assert_eq!(creds.key_id, "AKIDstd");
    assert_eq!(creds.token.as_ref().map(Secret::expose), Some("tok"));
    assert_eq!(
        creds.source,
        "environment $TENCENTCLOUD_SECRET_ID, $TENCENTCLOUD_SECRET_KEY, session token $TENCENTCLOUD_TOKEN"
    );
}

#[test]
fn an_fc_name_that_would_need_escaping_is_refused() {
    let src = BASE.replace("name = \"checkout\"", "name = \"../etc\"");
    let e = parse(&src).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("functions[2].name"));
}

#[test]
fn a_key_of_the_other_cloud_is_refused() {
    let src = BASE.replace(
        "cloud = \"tencent\"",
        "cloud = \"tencent\"\nsignature = \"fc\"",
    );
    let e = parse(&src).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("accounts[1].signature"));
}

#[test]
fn a_bad_endpoint_is_refused_with_its_key() {
    let src = BASE.replace(
        "cloud = \"aliyun\"",
        "cloud = \"aliyun\"\nendpoint = \"ftp://{account_id}.x\"",
    );
    let e = parse(&src).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("accounts[2].endpoint"));
}

#[test]
fn the_same_function_twice_is_refused() {
    let src = format!(
        "{BASE}\n[[functions]]\naccount = \"ali-prod\"\nregion = \"cn-shanghai\"\nservice = \"orders\"\nname = \"checkout\"\n"
    );
    let e = parse(&src).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("functions[3].name"));
}

#[test]
fn a_five_field_cron_expression_is_accepted() {
    let c = parse(&format!("{BASE}\n[schedule]\ncron = \"*/15 * * * *\"\n")).unwrap();
    let s = c.schedule.unwrap();
    assert_eq!(s.cron, "0 */15 * * * *");
    assert!(s.run_on_start);
}

#[test]
fn a_bad_cron_expression_names_the_key() {
    let e = parse(&format!("{BASE}\n[schedule]\ncron = \"every day\"\n")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("schedule.cron"));
}

#[test]
fn an_unknown_time_zone_names_the_key() {
    let e = parse(&format!(
        "{BASE}\n[schedule]\ncron = \"0 * * * *\"\ntimezone = \"Mars/Olympus\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("schedule.timezone"));
}

fn discover_error(block: &str) -> ConfigError {
    let src = format!("{BASE}\n[[discover]]\n{block}\n");
    parse(&src).unwrap_err()
}

#[test]
fn a_discover_block_becomes_a_rule_with_globs() {
    let c = parse(&format!(
        "{BASE}\n[[discover]]\naccount = \"tc-prod\"\nregions = [\"ap-guangzhou\", \"ap-shanghai\"]\n\
         namespaces = [\"*\"]\ninclude = [\"order-*\"]\nexclude = [\"*-test\"]\n"
    ))
    .unwrap();
    let d = &c.discover[0];
    assert_eq!(d.scopes, None);
    assert!(d.wants_name("order-api"));
    assert!(!d.wants_name("order-test"));
    assert!(!d.wants_name("billing"));
    let t = d.target("ap-shanghai", "batch", "order-x");
    assert_eq!(t.key, "tc-prod/ap-shanghai/batch/order-x");
    assert!(d.covers(&t));
    assert!(!d.covers(&d.target("ap-beijing", "batch", "order-x")));
}

#[test]
fn discover_errors_name_their_key_and_line() {
    let e = discover_error("account = \"tc-prod\"\nregions = []");
    assert_eq!(e.key.as_deref(), Some("discover[1].regions"));
    assert!(e.position.is_some(), "{e}");
    let e =
        discover_error("account = \"tc-prod\"\nregions = [\"ap-guangzhou\"]\nservices = [\"x\"]");
    assert_eq!(e.key.as_deref(), Some("discover[1].services"));
    let e =
        discover_error("account = \"tc-prod\"\nregions = [\"ap-guangzhou\"]\ninclude = [\"[z-a\"]");
    assert_eq!(e.key.as_deref(), Some("discover[1].include"));
    let e = discover_error(
        "account = \"ali-prod\"\nregions = [\"cn-shanghai\"]\nservices = [\"*\", \"orders\"]",
    );
    assert_eq!(e.key.as_deref(), Some("discover[1].services"));
    let e = discover_error(
        "account = \"ali-prod\"\nregions = [\"cn-shanghai\"]\nservices = [\"../x\"]",
    );
    assert_eq!(e.key.as_deref(), Some("discover[1].services"));
    let e = discover_error("account = \"tc-prod\"\nregion = [\"ap-guangzhou\"]");
    assert!(e.to_string().contains("region"), "{e}");
}

#[test]
fn a_type_error_inside_a_list_names_the_element_one_based() {
    let e = discover_error("account = \"tc-prod\"\nregions = [\"ap-guangzhou\", 3]");
    assert_eq!(e.key.as_deref(), Some("discover[1].regions[2]"), "{e}");
    let e = parse(&format!("{BASE}\n[sync]\nconcurrency = \"4\"\n")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("sync.concurrency"), "{e}");
}

#[test]
fn listed_names_follow_the_config_rules() {
    assert!(valid_cloud_name(Cloud::Tencent, false, "order-api"));
    for bad in ["../evil", "a/b", "a\0b", "..", ""] {
        assert!(!valid_cloud_name(Cloud::Tencent, false, bad), "{bad:?}");
        assert!(!valid_cloud_name(Cloud::Aliyun, true, bad), "{bad:?}");
    }
}

#[test]
fn a_secret_given_two_ways_is_refused_at_the_second() {
    let src = BASE.replace(
        "secret_key_env = \"TC_KEY\"",
        "secret_key_env = \"TC_KEY\"\nsecret_key_credential = \"k\"",
    );
    let e = parse(&src).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("accounts[1].secret_key_credential"));
}

#[test]
fn profile_and_explicit_keys_conflict() {
    let src = BASE.replace(
        "secret_key_env = \"TC_KEY\"",
        "secret_key_env = \"TC_KEY\"\nprofile = \"prod\"",
    );
    let e = parse(&src).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("accounts[1].profile"));
}

#[test]
fn inline_secrets_are_noted_for_the_permission_check() {
    let c = parse(BASE).unwrap();
    let keys: Vec<_> = c.inline_secrets.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["accounts[2].access_key_secret"]);
    assert!(c.inline_secrets[0].position.is_some());
}

#[test]
fn the_example_config_is_valid() {
    let env = |_: &str| Some("example-value".to_string());
    let c = Config::parse(EXAMPLE, Path::new("/etc/fnvault/config.toml"), &env)
        .unwrap_or_else(|e| panic!("config.example.toml: {e}"));
    assert!(!c.functions.is_empty());
}

#[test]
fn without_retention_every_version_is_kept() {
    assert_eq!(parse(BASE).unwrap().retention, None);
}

#[test]
fn retention_reads_keep_last_and_keep_within() {
    let c = parse(&format!(
        "{BASE}\n[retention]\nkeep_last = 3\nkeep_within = \"365d\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.retention,
        Some(RetentionPolicy {
            keep_last: Some(3),
            keep_within: Some(Duration::from_secs(365 * 86_400)),
        })
    );
}

#[test]
fn an_empty_retention_section_is_refused_naming_it() {
    let e = parse(&format!("{BASE}\n[retention]\n")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("retention"));
    assert!(e.message.contains("empty [retention]"), "{e}");
    assert!(e.position.is_some(), "{e}");
}

#[test]
fn keep_last_zero_and_a_bad_keep_within_are_refused() {
    let e = parse(&format!("{BASE}\n[retention]\nkeep_last = 0\n")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("retention.keep_last"));
    let e = parse(&format!("{BASE}\n[retention]\nkeep_within = \"a year\"\n")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("retention.keep_within"));
}

#[test]
fn an_aliyun_function_without_service_is_fc3_keyed_without_one() {
    let c = parse(&format!(
        "{BASE}\n[[functions]]\naccount = \"ali-prod\"\nregion = \"cn-hangzhou\"\nname = \"resize\"\nqualifier = \"prod\"\n"
    ))
    .unwrap();
    let t = &c.functions[2];
    assert_eq!(t.key, "ali-prod/cn-hangzhou/resize@prod");
    assert!(t.is_fc3());
    assert!(!c.functions[1].is_fc3(), "with a service it stays FC 2.0");
    let e = parse(&format!(
        "{BASE}\n[[functions]]\naccount = \"ali-prod\"\nregion = \"cn-hangzhou\"\nname = \"a$b\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("functions[3].name"));
    assert!(e.position.is_some(), "{e}");
}

#[test]
fn an_fc3_discover_rule_covers_fc3_functions_only() {
    let c = parse(&format!(
        "{BASE}\n[[discover]]\naccount = \"ali-prod\"\nregions = [\"cn-hangzhou\"]\nfc_version = \"3.0\"\n\
         [[discover]]\naccount = \"ali-prod\"\nregions = [\"cn-hangzhou\"]\nservices = [\"*\"]\n"
    ))
    .unwrap();
    let (v3, v2) = (&c.discover[0], &c.discover[1]);
    assert!(v3.fc3 && !v2.fc3, "fc_version defaults to 2.0");
    let fc3 = v3.target("cn-hangzhou", crate::model::NO_SCOPE, "resize");
    assert_eq!(fc3.key, "ali-prod/cn-hangzhou/resize");
    let fc2 = v2.target("cn-hangzhou", "orders", "resize");
    assert!(v3.covers(&fc3) && !v3.covers(&fc2));
    assert!(v2.covers(&fc2) && !v2.covers(&fc3));
}

#[test]
fn bad_fc_versions_name_their_key() {
    for (block, key) in [
        (
            "account = \"tc-prod\"\nregions = [\"ap-guangzhou\"]\nfc_version = \"3.0\"",
            "discover[1].fc_version",
        ),
        (
            "account = \"ali-prod\"\nregions = [\"cn-hangzhou\"]\nfc_version = \"3\"",
            "discover[1].fc_version",
        ),
        (
            "account = \"ali-prod\"\nregions = [\"cn-hangzhou\"]\nfc_version = \"3.0\"\nservices = [\"x\"]",
            "discover[1].services",
        ),
    ] {
        let e = discover_error(block);
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.position.is_some(), "{e}");
    }
    let e =
        discover_error("account = \"ali-prod\"\nregions = [\"cn-hangzhou\"]\nfc_version = \"3\"");
    assert!(e.message.contains("\"2.0\" or \"3.0\""), "{e}");
}

#[test]
fn capture_secrets_default_to_hash_and_other_modes_are_checked_with_their_line() {
    assert_eq!(parse(BASE).unwrap().capture.secrets, SecretsMode::Hash);
    let plain = parse(&format!("{BASE}\n[capture]\nsecrets = \"plain\"\n")).unwrap();
    assert_eq!(plain.capture.secrets, SecretsMode::Plain);
    for (value, says) in [
        ("\"hush\"", "is not one of"),
        ("\"encrypt\"", "needs [capture] age_recipients"),
    ] {
        let src = format!("{BASE}\n[capture]\nsecrets = {value}\n");
        let e = parse(&src).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("capture.secrets"), "{e}");
        let line = src.lines().position(|l| l.starts_with("secrets")).unwrap() + 1;
        assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
        assert!(e.message.contains(says), "{e}");
    }
}

#[test]
fn encrypt_mode_takes_age_recipients_and_names_a_bad_one() {
    let r = age::x25519::Identity::generate().to_public().to_string();
    let ok = parse(&format!(
        "{BASE}\n[capture]\nsecrets = \"encrypt\"\nage_recipients = [\"{r}\"]\n"
    ))
    .unwrap();
    assert_eq!(ok.capture.secrets, SecretsMode::Encrypt);
    assert_eq!(ok.capture.age_recipients.len(), 1);
    let src = format!(
        "{BASE}\n[capture]\nsecrets = \"encrypt\"\nage_recipients = [\"{r}\", \"age1nope\"]\n"
    );
    let e = parse(&src).unwrap_err();
    assert!(
        e.key
            .as_deref()
            .is_some_and(|k| k.starts_with("capture.age_recipients")),
        "{e}"
    );
    assert!(e.message.contains("age1nope"), "{e}");
    assert!(e.position.is_some(), "{e}");
    let e = parse(&format!(
        "{BASE}\n[capture]\nsecrets = \"hash\"\nage_recipients = [\"{r}\"]\n"
    ))
    .unwrap_err();
    assert!(e.message.contains("only with"), "{e}");
    let e = parse(&format!(
        "{BASE}\n[capture]\nsecrets = \"encrypt\"\nage_recipients = []\n"
    ))
    .unwrap_err();
    assert!(e.message.contains("at least one"), "{e}");
}

/// `[archive] url`: the bucket, its prefix, its keys (from the environment here), and the
/// spool folder beside the database when `dir` is not given.
#[test]
fn an_archive_on_object_storage_is_read_with_its_keys_and_a_spool_beside_the_database() {
    let src = BASE.replace(
        "[archive]\ndir = \"archive\"\n",
        "[archive]\nurl = \"s3://dr-bucket/fnvault/prod\"\nendpoint = \"https://cos.ap-guangzhou.myqcloud.com\"\nregion = \"ap-guangzhou\"\naccess_key_id_env = \"TC_ID\"\nsecret_access_key_env = \"TC_KEY\"\n",
    );
    let c = parse(&src).unwrap();
    let r = c.archive.remote.as_ref().unwrap();
    assert_eq!(r.bucket, "dr-bucket");
    assert_eq!(r.prefix, "fnvault/prod");
    assert_eq!(r.access_key_id, "AKIDexample");
    assert_eq!(r.secret_access_key.expose(), "tc-secret");
    assert!(!r.path_style);
    assert_eq!(c.archive.dir, Path::new("/var/lib/fnvault/archive-spool"));
}

/// Each mistake names its key and line; a secret's value never appears.
#[test]
fn object_storage_mistakes_name_their_key() {
    let with = |archive: &str| BASE.replace("[archive]\ndir = \"archive\"\n", archive);
    let cases = [
        (
            "[archive]\nurl = \"s3://b-ucket/p\"\nregion = \"r\"\naccess_key_id = \"k\"\nsecret_access_key_env = \"TC_KEY\"\n",
            "archive.endpoint",
            "missing",
        ),
        (
            "[archive]\nurl = \"s3://bucket/p\"\nendpoint = \"http://cos.example.com\"\nregion = \"r\"\naccess_key_id = \"k\"\nsecret_access_key_env = \"TC_KEY\"\n",
            "archive.endpoint",
            "https",
        ),
        (
            "[archive]\nurl = \"ftp://bucket\"\n",
            "archive.url",
            "s3://",
        ),
        (
            "[archive]\nurl = \"s3://bucket/p\"\nendpoint = \"https://e.example.com\"\nregion = \"r\"\naccess_key_id = \"k\"\nsecret_access_key_env = \"UNSET_VAR\"\n",
            "archive.secret_access_key_env",
            "UNSET_VAR",
        ),
        (
            "[archive]\ndir = \"a\"\n[[mirrors]]\nname = \"x\"\n",
            "mirrors[1].dir",
            "missing",
        ),
    ];
    for (archive, key, says) in &cases {
        let e = parse(&with(archive)).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(*key), "{e}");
        assert!(e.message.contains(says), "{e}");
        assert!(e.position.is_some(), "{e}");
        assert!(!e.to_string().contains("tc-secret"), "{e}");
    }
    let twice = with(
        "[archive]\ndir = \"a\"\n[[mirrors]]\nname = \"x\"\ndir = \"/m1\"\n[[mirrors]]\nname = \"x\"\ndir = \"/m2\"\n",
    );
    let e = parse(&twice).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("mirrors[2].name"), "{e}");
}

/// Issue 14: `versions` / `aliases`, default off, per entry and per rule.
#[test]
fn versions_and_aliases_are_off_unless_asked_and_bad_values_name_line_and_key() {
    let c = parse(BASE).unwrap();
    assert!(c.follow.is_empty());
    assert!(c.discover.is_empty());

    let src = BASE.replace(
        "name = \"order-api\"\nqualifier = \"$LATEST\"",
        "name = \"order-api\"\nqualifier = \"$LATEST\"\nversions = true\naliases = false",
    ) + "\n[[discover]]\naccount = \"tc-prod\"\nregions = [\"ap-guangzhou\"]\naliases = true\n";
    let c = parse(&src).unwrap();
    assert_eq!(
        c.follow.get("tc-prod/ap-guangzhou/default/order-api"),
        Some(&crate::model::Follow {
            versions: true,
            aliases: false
        })
    );
    assert!(c.discover[0].follow.aliases && !c.discover[0].follow.versions);

    let src = BASE.replace(
        "name = \"order-api\"\nqualifier = \"$LATEST\"",
        "name = \"order-api\"\nqualifier = \"$LATEST\"\nversions = \"yes\"",
    );
    let e = parse(&src).unwrap_err();
    let line = src.lines().position(|l| l.contains("\"yes\"")).unwrap() + 1;
    assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
    assert_eq!(e.key.as_deref(), Some("functions[1].versions"), "{e}");

    let src = BASE.to_string()
        + "\n[[discover]]\naccount = \"tc-prod\"\nregions = [\"ap-guangzhou\"]\naliases = 1\n";
    let e = parse(&src).unwrap_err();
    assert!(e.to_string().contains("aliases"), "{e}");
    assert!(e.position.is_some(), "{e}");

    // FC 2.0 (versions and aliases of the service) and FC 3.0 alike.
    let src = BASE.replace(
        "service = \"orders\"\nname = \"checkout\"",
        "service = \"orders\"\nname = \"checkout\"\naliases = true",
    );
    assert!(parse(&src).unwrap().follow.len() == 1);
    // FC 3.0 (no service) is fine.
    let src = BASE.replace("service = \"orders\"\n", "").replace(
        "name = \"checkout\"",
        "name = \"checkout\"\nversions = true",
    );
    assert!(parse(&src).unwrap().follow.len() == 1);
}
