//! Issue 13, the whole function: configuration snapshots beside the packages. A
//! configuration-only change is a new version that downloads nothing; secrets never appear in
//! clear in `hash` mode; `history`, `show` and `diff` say what changed; an archive from
//! before configurations were read upgrades in place; `reindex` rebuilds the links.

use std::collections::BTreeMap;

use fnvault::sim::SimConfig;

use crate::common::*;

/// A value that must never be stored or printed in `hash` mode.
const SECRET: &str = "pg://app:Zq8-very-secret-pw@db.internal/orders";

fn with_env(memory_mb: u64, secret: &str) -> SimConfig {
    SimConfig {
        memory_mb,
        env: BTreeMap::from([
            ("DB_URL".to_string(), secret.to_string()),
            ("LOG_LEVEL".to_string(), "info".to_string()),
        ]),
        ..SimConfig::default()
    }
}

/// Every file under the folder, the database included (and its WAL), and every object of
/// the archive on object storage.
fn all_bytes(env: &Env) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    env.all_bytes()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

crate::both_backends! {
async fn a_configuration_only_change_is_one_new_version_and_downloads_nothing() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_config(&fleet.order_api, with_env(128, SECRET));
    env.sim.set_config(&fleet.checkout, with_env(512, SECRET));
    env.sync_ok().await;
    let downloads = env.sim.stats().downloads;
    assert_eq!(
        env.config_blob_stats().0,
        4,
        "one configuration per function"
    );

    // SCF: an environment variable changes; FC 2.0: the memory.
    env.sim.set_config(
        &fleet.order_api,
        with_env(128, "pg://app:rotated@db.internal/orders"),
    );
    env.sim.set_config(&fleet.checkout, with_env(1024, SECRET));
    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("2 changed, 2 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.sim.stats().downloads,
        downloads,
        "no package downloaded"
    );
    assert_eq!(env.config_blob_stats().0, 6);
    for key in [ORDER_API, CHECKOUT] {
        let h = env.json(&["history", key, "--json"], 0).await;
        let v = h["versions"].as_array().unwrap();
        assert_eq!(v.len(), 2, "{h}");
        assert_eq!(v[0]["code_changed"], true, "{h}");
        assert_eq!(v[1]["code_changed"], false, "{h}");
        assert_eq!(v[1]["config_changed"], true, "{h}");
        assert_eq!(v[0]["sha256"], v[1]["sha256"], "the package is kept");
        assert_ne!(v[0]["config_sha256"], v[1]["config_sha256"]);
    }
    let h = env.json(&["history", REPORT, "--json"], 0).await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 1, "{h}");
    // The cloud's own modified time is kept beside the version.
    assert_eq!(h["versions"][0]["cloud_modified"], "2026-01-01 00:00:00");

    // diff names the changed variable and field, never a value.
    let d = env.fnvault(&["diff", ORDER_API, "1", "2"]).await;
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert!(
        d.stdout
            .contains("function.Environment.Variables[DB_URL].Value"),
        "{}",
        d.stdout
    );
    assert!(d.stdout.contains("(secret) → (secret)"), "{}", d.stdout);
    assert!(d.stdout.contains("the same package"), "{}", d.stdout);
    let d = env.json(&["diff", CHECKOUT, "1", "2", "--json"], 0).await;
    assert_eq!(
        d["configuration"],
        serde_json::json!([{"change": "changed", "path": "function.memorySize",
                            "old": "512", "new": "1024"}]),
        "{d}"
    );

    // A third sweep with nothing changed adds nothing.
    let run = env.fnvault(&["sync"]).await;
    assert!(
        run.stderr.contains("0 changed, 4 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(env.config_blob_stats().0, 6);
}
}

crate::both_backends! {
async fn an_environment_value_is_nowhere_in_clear_in_hash_mode() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_config(&fleet.order_api, with_env(128, SECRET));
    env.sim.set_config(&fleet.checkout, with_env(512, SECRET));
    let mut outputs = Vec::new();
    let first = env.fnvault(&["sync", "-v"]).await;
    env.sim.set_config(&fleet.order_api, with_env(256, SECRET));
    let second = env.fnvault(&["sync", "-v"]).await;
    outputs.push(first);
    outputs.push(second);
    for args in [
        vec!["list", "--json"],
        vec!["history", ORDER_API, "--json"],
        vec!["history", ORDER_API],
        vec!["show", ORDER_API, "--json"],
        vec!["show", ORDER_API],
        vec!["show", CHECKOUT],
        vec!["diff", ORDER_API, "1", "2"],
        vec!["diff", ORDER_API, "1", "2", "--json"],
        vec!["verify"],
        vec!["status", "--json"],
    ] {
        outputs.push(env.fnvault(&args).await);
    }
    for run in &outputs {
        assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
        assert!(!run.stdout.contains("Zq8") && !run.stderr.contains("Zq8"));
    }
    let show = env.json(&["show", ORDER_API, "--json"], 0).await;
    let vars = &show["configuration"]["function"]["Environment"]["Variables"];
    assert_eq!(vars[0]["Key"], "DB_URL", "{show}");
    assert!(
        vars[0]["Value"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:"),
        "{show}"
    );
    assert_eq!(vars[1]["Value"].as_str().unwrap().len(), 12 + 64);
    let files = all_bytes(&env);
    assert!(files.iter().any(|(p, _)| p.ends_with("fnvault.db")));
    for (path, bytes) in &files {
        assert!(
            !contains(bytes, "Zq8-very-secret"),
            "{} holds the secret",
            path.display()
        );
    }
    match env.bucket() {
        None => {
            let key = env.path("archive/capture.key");
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        Some(b) => {
            let key = b.get_bytes("capture.key").unwrap().expect("the key in the bucket");
            assert_eq!(key.len(), 32);
            assert!(!env.path("archive/capture.key").exists(), "not in the spool");
        }
    }

    // The same search finds the value when it is there: `plain` mode stores it as read.
    let plain = Env::new().await;
    let fleet = Fleet::deploy(&plain);
    plain
        .sim
        .set_config(&fleet.order_api, with_env(128, SECRET));
    let config = std::fs::read_to_string(plain.path("config.toml")).unwrap();
    std::fs::write(
        plain.path("config.toml"),
        format!("{config}\n[capture]\nsecrets = \"plain\"\n"),
    )
    .unwrap();
    plain.sync_ok().await;
    assert!(
        all_bytes(&plain)
            .iter()
            .any(|(_, b)| contains(b, "Zq8-very-secret")),
        "plain mode keeps the value, so the search above can fail"
    );
}
}

crate::both_backends! {
async fn encrypt_mode_round_trips_with_an_age_identity_and_stores_no_clear_value() {
    use age::secrecy::ExposeSecret;
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    write_private(
        &env.path("me.agekey"),
        format!("{}\n", identity.to_string().expose_secret()),
    );
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!("{config}\n[capture]\nsecrets = \"encrypt\"\nage_recipients = [\"{recipient}\"]\n"),
    )
    .unwrap();
    env.sim.set_config(&fleet.order_api, with_env(128, SECRET));
    env.sim.set_config(&fleet.checkout, with_env(512, SECRET));
    let mut outputs = vec![env.fnvault(&["sync", "-v"]).await];
    assert_eq!(outputs[0].code, 0, "{}", outputs[0].stderr);

    // Re-encrypted on every read (fresh nonces), yet not a change: the keyed hashes match.
    let again = env.fnvault(&["sync", "-v"]).await;
    assert!(
        again.stderr.contains("0 changed, 4 unchanged"),
        "{}",
        again.stderr
    );
    assert_eq!(env.config_blob_stats().0, 4, "no document kept per sweep");
    outputs.push(again);
    // A changed value is a change, and diff names it without showing it.
    env.sim.set_config(
        &fleet.order_api,
        with_env(128, "pg://app:rotated-Zq8@db.internal/orders"),
    );
    let changed = env.fnvault(&["sync", "-v"]).await;
    assert!(
        changed.stderr.contains("1 changed, 3 unchanged"),
        "{}",
        changed.stderr
    );
    outputs.push(changed);
    let d = env.fnvault(&["diff", ORDER_API, "1", "2"]).await;
    assert!(
        d.stdout
            .contains("function.Environment.Variables[DB_URL].Value")
            && d.stdout.contains("(secret) → (secret)"),
        "{}",
        d.stdout
    );
    assert!(
        !d.stdout.contains("Variables[LOG_LEVEL]"),
        "an unchanged value is not a change: {}",
        d.stdout
    );
    outputs.push(d);
    for args in [
        vec!["show", ORDER_API, "--json"],
        vec!["show", CHECKOUT],
        vec!["history", ORDER_API, "--json"],
    ] {
        outputs.push(env.fnvault(&args).await);
    }

    // Without the identity the ciphertext stays; with it, function.json has the values.
    let sealed = env.path("sealed");
    let run = env
        .fnvault(&[
            "restore",
            ORDER_API,
            "--to",
            sealed.to_str().unwrap(),
            "--with-config",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(sealed.join("function.json")).unwrap();
    assert!(
        text.contains("age:hmac-sha256:") && !text.contains("rotated-Zq8"),
        "{text}"
    );
    outputs.push(run);
    let open = env.path("open");
    let run = env
        .fnvault(&[
            "restore",
            CHECKOUT,
            "--to",
            open.to_str().unwrap(),
            "--with-config",
            "--identity",
            env.path("me.agekey").to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("3 secret(s) decrypted"),
        "{}",
        run.stderr
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(open.join("function.json")).unwrap()).unwrap();
    assert_eq!(
        doc["function"]["environmentVariables"]["DB_URL"], SECRET,
        "{doc}"
    );
    assert_eq!(doc["function"]["environmentVariables"]["LOG_LEVEL"], "info");
    // The timer trigger's payload, inside its JSON settings, is decrypted too.
    assert!(
        doc["triggers"][0]["triggerConfig"]
            .as_str()
            .unwrap()
            .contains("\"payload\":\"p\""),
        "{doc}"
    );
    assert!(!run.stderr.contains("Zq8") && !run.stdout.contains("Zq8"));

    // A wrong identity file is named, and nothing is written.
    write_private(&env.path("bad.agekey"), "not a key\n");
    let bad = env.path("bad");
    let run = env
        .fnvault(&[
            "restore",
            CHECKOUT,
            "--to",
            bad.to_str().unwrap(),
            "--with-config",
            "--identity",
            env.path("bad.agekey").to_str().unwrap(),
        ])
        .await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("bad.agekey"), "{}", run.stderr);
    assert!(!bad.exists());
    let other = age::x25519::Identity::generate();
    write_private(
        &env.path("other.agekey"),
        format!("{}\n", other.to_string().expose_secret()),
    );
    let run = env
        .fnvault(&[
            "restore",
            CHECKOUT,
            "--to",
            bad.to_str().unwrap(),
            "--with-config",
            "--identity",
            env.path("other.agekey").to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("other.agekey"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(&bad).map(|d| d.count()).unwrap_or(0), 0);

    // No clear value anywhere under the archive or the database, or in any output.
    for (path, bytes) in all_bytes(&env) {
        if path.starts_with(env.path("open")) || path.ends_with("me.agekey") {
            continue;
        }
        assert!(
            !contains(&bytes, "Zq8"),
            "{} holds a clear value",
            path.display()
        );
    }
    for o in &outputs {
        assert!(
            !o.stdout.contains("Zq8") && !o.stderr.contains("Zq8"),
            "{}\n{}",
            o.stdout,
            o.stderr
        );
    }
}
}

crate::both_backends! {
/// An archive written before configurations were read: its versions get their first
/// configuration attached, which is not a change.
async fn an_archive_without_configurations_upgrades_in_place() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    // Take the archive back to what an older fnvault left: no configuration rows, lines or
    // documents.
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    db.execute("DELETE FROM version_configs", []).unwrap();
    drop(db);
    for key in [ORDER_API, REPORT, CHECKOUT, REFUND] {
        let kept: String = env
            .journal_text(key)
            .lines()
            .filter(|l| !l.contains("\"event\":\"config\""))
            .map(|l| format!("{l}\n"))
            .collect();
        env.set_journal_text(key, &kept);
    }
    for sha in env.config_blob_shas() {
        env.remove_blob(&sha);
    }
    let downloads = env.sim.stats().downloads;

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("0 changed, 4 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.stats().downloads, downloads);
    assert_eq!(env.config_blob_stats().0, 4);
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    let v = &h["versions"];
    assert_eq!(v.as_array().unwrap().len(), 1, "{h}");
    assert_eq!(v[0]["config_changed"], false, "{h}");
    assert!(v[0]["config_sha256"].is_string(), "{h}");
    let verify = env.fnvault(&["verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}
}

crate::both_backends! {
/// The journal alone rebuilds each version's configuration link.
async fn reindex_rebuilds_the_configuration_links_from_the_journal() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    env.sim.set_config(&fleet.report, with_env(256, SECRET));
    env.sync_ok().await;
    let before = env.json(&["history", REPORT, "--json"], 0).await;
    for f in ["fnvault.db", "fnvault.db-wal", "fnvault.db-shm"] {
        let _ = std::fs::remove_file(env.path(f));
    }

    let run = env.fnvault(&["reindex"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = env.json(&["history", REPORT, "--json"], 0).await;
    for (a, b) in before["versions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["versions"].as_array().unwrap())
    {
        for k in [
            "version",
            "sha256",
            "config_sha256",
            "code_changed",
            "config_changed",
            "cloud_modified",
        ] {
            assert_eq!(a[k], b[k], "{k}: {before} vs {after}");
        }
    }
    assert_eq!(after["versions"][1]["config_changed"], true, "{after}");
    let verify = env.fnvault(&["verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}
}

crate::both_backends! {
/// prune keeps the configuration documents of the versions it keeps, and removes those of
/// the versions it prunes.
async fn prune_keeps_the_configurations_of_kept_versions() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    env.sim.set_config(&fleet.report, with_env(256, "a"));
    env.sync_ok().await;
    env.sim.set_config(&fleet.report, with_env(512, "a"));
    env.sync_ok().await;
    assert_eq!(env.config_blob_stats().0, 6);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!("{config}\n[retention]\nkeep_last = 1\n"),
    )
    .unwrap();

    let run = env.fnvault(&["prune"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.config_blob_stats().0, 4, "one per kept version");
    let verify = env.fnvault(&["verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let show = env.json(&["show", REPORT, "--json"], 0).await;
    assert_eq!(
        show["configuration"]["function"]["MemorySize"], 512,
        "{show}"
    );
}
}

crate::both_backends! {
async fn restore_and_export_with_config_write_the_package_and_function_json_verified() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sim.set_config(&fleet.checkout, with_env(512, SECRET));
    env.sync_ok().await;
    let show = env.json(&["show", CHECKOUT, "--json"], 0).await;

    let out = env.path("restored");
    let run = env
        .fnvault(&[
            "restore",
            CHECKOUT,
            "--to",
            out.to_str().unwrap(),
            "--with-config",
        ])
        .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let package = std::fs::read(out.join("checkout.bin")).unwrap();
    assert_eq!(sha256_hex(&package), show["sha256"]);
    let document = std::fs::read(out.join("function.json")).unwrap();
    assert_eq!(sha256_hex(&document), show["config_sha256"]);
    let doc: serde_json::Value = serde_json::from_slice(&document).unwrap();
    assert_eq!(doc["function"]["memorySize"], 512, "{doc}");
    assert_eq!(doc["service"]["serviceName"], "orders", "{doc}");
    assert!(!String::from_utf8_lossy(&document).contains("Zq8"));

    // A damaged document is refused on the way out, and nothing is left behind.
    env.damage_blob(show["config_sha256"].as_str().unwrap(), b"{\"fnvault\":{}}\n");
    let again = env.path("again");
    let run = env
        .fnvault(&[
            "restore",
            CHECKOUT,
            "--to",
            again.to_str().unwrap(),
            "--with-config",
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("corrupt"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(&again).unwrap().count(), 0);

    let tree = env.path("tree");
    let run = env
        .fnvault(&["export", "--to", tree.to_str().unwrap(), "--with-config"])
        .await;
    assert_eq!(
        run.code, 1,
        "the damaged document fails the export: {}",
        run.stderr
    );
    let order = tree.join("tc/ap-guangzhou/default/order-api.function.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(order).unwrap()).unwrap();
    assert_eq!(doc["function"]["FunctionName"], "order-api", "{doc}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tree.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest["packages"].as_array().unwrap();
    let order = entries.iter().find(|e| e["function"] == ORDER_API).unwrap();
    assert_eq!(
        order["configuration"]["path"],
        "tc/ap-guangzhou/default/order-api.function.json"
    );
}
}
