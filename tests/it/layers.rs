//! Issue 13, the remainder: layers and container images. A layer version is archived once
//! however many functions use it (counted at the simulator), verified like a package, linked
//! in order; a layer that cannot be archived fails its function and records nothing; an image
//! function is archived as an image (its configuration), not failed; `show`, `diff`,
//! `restore --with-config`, `export --with-config` and `reindex` know both.

use fnvault::sim::{Fault, SimConfig, SimFunction};

use crate::common::*;

/// Two SCF functions and one FC 2.0 and one FC 3.0 function, all using layer `deps` v1; the
/// SCF order-api also uses `fonts` v2 after it.
struct Layered {
    order_api: SimFunction,
    report: SimFunction,
    checkout: SimFunction,
    resize: SimFunction,
    deps: Vec<u8>,
    fonts: Vec<u8>,
}

const RESIZE: &str = "ali/cn-hangzhou/resize";

fn with_layers(layers: &[(&str, u32)]) -> SimConfig {
    SimConfig {
        layers: layers.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        ..SimConfig::default()
    }
}

fn deploy_layered(env: &Env) -> Layered {
    let fleet = Fleet::deploy(env);
    let deps = zip_package(&[("python/deps/__init__.py", "VERSION = 1\n")]);
    let fonts = zip_package(&[("fonts/a.ttf", "glyphs")]);
    env.sim.deploy_layer("deps", 1, deps.clone());
    env.sim.deploy_layer("fonts", 2, fonts.clone());
    env.sim
        .set_config(&fleet.order_api, with_layers(&[("deps", 1), ("fonts", 2)]));
    env.sim
        .set_config(&fleet.report, with_layers(&[("deps", 1)]));
    env.sim
        .set_config(&fleet.checkout, with_layers(&[("deps", 1)]));
    let resize = SimFunction::fc3("resize", None);
    env.sim.deploy(&resize, package("resize v1", 3_000));
    env.sim.set_config(&resize, with_layers(&[("deps", 1)]));
    env.write_config(&format!(
        "{}[[functions]]\naccount = \"ali\"\nregion = \"cn-hangzhou\"\nname = \"resize\"\n",
        Fleet::config()
    ));
    Layered {
        order_api: fleet.order_api,
        report: fleet.report,
        checkout: fleet.checkout,
        resize,
        deps,
        fonts,
    }
}

crate::both_backends! {
async fn a_layer_shared_by_functions_is_downloaded_and_stored_once() {
    let env = Env::new().await;
    let l = deploy_layered(&env);
    env.sync_ok().await;

    // SCF layers belong to the region: order-api (ap-guangzhou) and report (ap-shanghai) use
    // two different layer versions by key, each downloaded once; FC 2.0 and FC 3.0 name the
    // layer by ARN (region cn-hangzhou), one more key, downloaded once for both.
    assert_eq!(
        env.sim.layer_downloads("deps", 1),
        3,
        "one per distinct key"
    );
    assert_eq!(env.sim.layer_downloads("fonts", 2), 1);
    assert!(
        env.has_blob(&sha256_hex(&l.deps)),
        "the layer is a blob like a package"
    );
    assert!(env.has_blob(&sha256_hex(&l.fonts)));

    let show = env.json(&["show", ORDER_API, "--json"], 0).await;
    assert_eq!(show["image"], serde_json::Value::Null, "{show}");
    let layers = show["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{show}");
    assert_eq!(layers[0]["name"], "deps", "the cloud's order is kept");
    assert_eq!(layers[0]["version"], "1");
    assert_eq!(layers[0]["sha256"], sha256_hex(&l.deps));
    assert_eq!(layers[0]["size"], l.deps.len());
    assert_eq!(layers[1]["name"], "fonts");
    for key in [CHECKOUT, RESIZE] {
        let show = env.json(&["show", key, "--json"], 0).await;
        assert_eq!(
            show["layers"][0]["key"], "ali/cn-hangzhou/layer/deps/1",
            "{show}"
        );
    }

    // A second sweep: every layer is in the archive, so no GetLayerVersion and no download.
    let calls = env.sim.layer_calls();
    let downloads = env.sim.stats().downloads;
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("0 changed"), "{}", run.stderr);
    assert_eq!(
        env.sim.layer_calls(),
        calls,
        "a known layer is not asked for"
    );
    assert_eq!(env.sim.stats().downloads, downloads);

    // A new layer version makes a new version of the function (its configuration names it),
    // and diff says which layer changed, between the configuration and the files.
    env.sim.deploy_layer(
        "deps",
        2,
        zip_package(&[("python/deps/__init__.py", "VERSION = 2\n")]),
    );
    env.sim
        .set_config(&l.order_api, with_layers(&[("deps", 2), ("fonts", 2)]));
    env.sync_ok().await;
    let d = env.fnvault(&["diff", ORDER_API, "1", "2"]).await;
    assert_eq!(d.code, 0, "{}", d.stderr);
    let config_at = d.stdout.find("configuration:").unwrap();
    let layers_at = d.stdout.find("layers: 2 change(s)").expect(&d.stdout);
    assert!(config_at < layers_at, "{}", d.stdout);
    assert!(
        d.stdout.contains("removed  #1 deps version 1"),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout.contains("added    #1 deps version 2"),
        "{}",
        d.stdout
    );
    let d = env.json(&["diff", ORDER_API, "1", "2", "--json"], 0).await;
    assert_eq!(d["layers"].as_array().unwrap().len(), 2, "{d}");
    let _ = (&l.report, &l.checkout, &l.resize);

    let v = env.fnvault(&["verify"]).await;
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
}
}

crate::both_backends! {
async fn a_corrupted_layer_download_records_nothing_and_fails_that_function_naming_the_layer() {
    let env = Env::new().await;
    let l = deploy_layered(&env);
    env.sim
        .set_layer_fault("fonts", 2, Fault::CorruptDownload, u32::MAX);
    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("layer fonts version 2"),
        "the failure names the layer: {}",
        run.stderr
    );
    // Only order-api uses fonts: it alone failed and has nothing recorded.
    assert!(run.stderr.contains("1 failed"), "{}", run.stderr);
    let h = env.json(&["history", ORDER_API, "--json"], 0).await;
    assert_eq!(
        h["versions"],
        serde_json::json!([]),
        "no version recorded: {h}"
    );
    assert!(
        env.files_in("archive/tmp").is_empty(),
        "no partial file left"
    );
    // Neither the corrupted bytes (the simulator flips the first byte) nor the layer were
    // stored.
    let mut corrupted = l.fonts.clone();
    corrupted[0] ^= 0xff;
    assert!(!env.has_blob(&sha256_hex(&corrupted)));
    assert!(!env.has_blob(&sha256_hex(&l.fonts)));

    // An unknown layer version fails with the cloud's code.
    env.sim.clear_layer_faults();
    env.sim
        .set_layer_fault("fonts", 2, Fault::ScopeNotFound, u32::MAX);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("layer fonts version 2") && run.stderr.contains("ResourceNotFound"),
        "{}",
        run.stderr
    );

    // Once the layer is served whole, the function is archived with it.
    env.sim.clear_layer_faults();
    env.sync_ok().await;
    let show = env.json(&["show", ORDER_API, "--json"], 0).await;
    assert_eq!(show["layers"].as_array().unwrap().len(), 2, "{show}");
}
}

crate::both_backends! {
async fn restore_with_config_writes_package_layers_and_function_json_verified() {
    let env = Env::new().await;
    let l = deploy_layered(&env);
    env.sync_ok().await;
    let show = env.json(&["show", ORDER_API, "--json"], 0).await;

    let out = env.path("restored");
    let run = env
        .fnvault(&[
            "restore",
            ORDER_API,
            "--to",
            out.to_str().unwrap(),
            "--with-config",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("2 layer(s)"), "{}", run.stderr);
    let package = std::fs::read(out.join("order-api.bin")).unwrap();
    assert_eq!(sha256_hex(&package), show["sha256"]);
    let doc = std::fs::read(out.join("function.json")).unwrap();
    assert_eq!(sha256_hex(&doc), show["config_sha256"]);
    assert_eq!(
        std::fs::read(out.join("layers/1-deps-1.zip")).unwrap(),
        l.deps
    );
    assert_eq!(
        std::fs::read(out.join("layers/2-fonts-2.zip")).unwrap(),
        l.fonts
    );

    // A damaged layer blob is refused on the way out and nothing is left behind.
    env.damage_blob(&sha256_hex(&l.fonts), b"not the layer");
    let again = env.path("again");
    let run = env
        .fnvault(&[
            "restore",
            ORDER_API,
            "--to",
            again.to_str().unwrap(),
            "--with-config",
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("corrupt") && run.stderr.contains("layer"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_dir(&again).unwrap().count(), 0);
    let v = env.fnvault(&["verify"]).await;
    assert_eq!(v.code, 1, "verify reports the damaged layer: {}", v.stdout);
    assert!(v.stdout.contains("(layer)"), "{}", v.stdout);

    // Export writes each function's layers beside it.
    env.damage_blob(&sha256_hex(&l.fonts), &l.fonts);
    let tree = env.path("tree");
    let run = env
        .fnvault(&["export", "--to", tree.to_str().unwrap(), "--with-config"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read(tree.join("tc/ap-guangzhou/default/order-api.layers/2-fonts-2.zip")).unwrap(),
        l.fonts
    );
    assert_eq!(
        std::fs::read(tree.join("ali/cn-hangzhou/resize.layers/1-deps-1.zip")).unwrap(),
        l.deps
    );
}
}

crate::both_backends! {
async fn reindex_rebuilds_layers_and_their_links_from_the_journal() {
    let env = Env::new().await;
    let _l = deploy_layered(&env);
    env.sync_ok().await;
    let before = env.json(&["show", ORDER_API, "--json"], 0).await;
    std::fs::remove_file(env.path("fnvault.db")).unwrap();
    let run = env.fnvault(&["reindex"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = env.json(&["show", ORDER_API, "--json"], 0).await;
    assert_eq!(after["layers"], before["layers"], "{after}");
    // Prune keeps the layers kept versions link (no retention: nothing to delete at all).
    let run = env.fnvault(&["prune"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = env.fnvault(&["verify"]).await;
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
}
}

crate::both_backends! {
async fn an_image_function_is_archived_as_an_image_on_scf_and_fc() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let image = |reference: &str, digest: Option<&str>| SimConfig {
        image: Some(reference.to_string()),
        image_digest: digest.map(String::from),
        ..SimConfig::default()
    };
    let scf_uri = "ccr.ccs.tencentyun.com/shop/order-api:v1@sha256:aaaa";
    env.sim.set_config(&fleet.order_api, image(scf_uri, None));
    env.sim.set_config(
        &fleet.checkout,
        image("registry.cn-shanghai.aliyuncs.com/shop/checkout:v1", None),
    );
    let resize = SimFunction::fc3("resize", None);
    env.sim.deploy(&resize, package("resize v1", 3_000));
    env.sim.set_config(
        &resize,
        image(
            "registry.cn-hangzhou.aliyuncs.com/shop/resize:v1",
            Some("sha256:bbbb"),
        ),
    );
    env.write_config(&format!(
        "{}[[functions]]\naccount = \"ali\"\nregion = \"cn-hangzhou\"\nname = \"resize\"\n",
        Fleet::config()
    ));
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "archived, not failed: {}", run.stderr);
    for f in [&fleet.order_api, &fleet.checkout, &resize] {
        assert_eq!(env.sim.downloads_of(f), 0, "no package fetched for {f:?}");
    }

    let show = env.json(&["show", ORDER_API, "--json"], 0).await;
    assert_eq!(show["image"]["reference"], scf_uri, "{show}");
    assert_eq!(show["image"]["digest"], "sha256:aaaa", "{show}");
    assert_eq!(show["package"]["format"], "image", "{show}");
    assert_eq!(
        show["sha256"], show["config_sha256"],
        "the blob is the document"
    );
    let show = env.json(&["show", CHECKOUT, "--json"], 0).await;
    assert_eq!(
        show["image"]["reference"],
        "registry.cn-shanghai.aliyuncs.com/shop/checkout:v1"
    );
    assert_eq!(show["image"]["digest"], serde_json::Value::Null);
    let show = env.json(&["show", RESIZE, "--json"], 0).await;
    assert_eq!(
        show["image"]["reference"], "registry.cn-hangzhou.aliyuncs.com/shop/resize@sha256:bbbb",
        "FC 3.0's resolved digest is recorded: {show}"
    );
    let text = env.fnvault(&["show", ORDER_API]).await;
    assert!(
        text.stdout.contains("images are not copied"),
        "{}",
        text.stdout
    );

    // Unchanged: nothing new. A new image is a code change.
    let run = env.fnvault(&["sync"]).await;
    assert!(run.stderr.contains("0 changed"), "{}", run.stderr);
    env.sim.set_config(
        &fleet.order_api,
        image("ccr.ccs.tencentyun.com/shop/order-api:v2@sha256:cccc", None),
    );
    env.sync_ok().await;
    let h = env.json(&["history", ORDER_API, "--json"], 0).await;
    let v = h["versions"].as_array().unwrap();
    assert_eq!(v.len(), 2, "{h}");
    assert_eq!(v[1]["code_changed"], true, "{h}");
    let d = env.fnvault(&["diff", ORDER_API, "1", "2"]).await;
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert!(
        d.stdout.contains("order-api:v2@sha256:cccc"),
        "{}",
        d.stdout
    );

    // restore: no package, says so; --with-config writes function.json only.
    let run = env
        .fnvault(&[
            "restore",
            ORDER_API,
            "--to",
            env.path("x.zip").to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("no package"), "{}", run.stderr);
    let out = env.path("restored");
    let run = env
        .fnvault(&[
            "restore",
            ORDER_API,
            "--to",
            out.to_str().unwrap(),
            "--with-config",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("no package"), "{}", run.stderr);
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["function.json".to_string()]);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("function.json")).unwrap()).unwrap();
    assert_eq!(doc["function"]["Runtime"], "CustomImage", "{doc}");

    // export: the image's function.json, no package; verify and list are content.
    let tree = env.path("tree");
    let run = env
        .fnvault(&["export", "--to", tree.to_str().unwrap(), "--with-config"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        tree.join("tc/ap-guangzhou/default/order-api.function.json")
            .exists()
    );
    assert!(!tree.join("tc/ap-guangzhou/default/order-api.zip").exists());
    let v = env.fnvault(&["verify"]).await;
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
}
}

crate::both_backends! {
async fn prune_keeps_the_layers_kept_versions_link_and_a_rebuild_still_links_them() {
    let env = Env::new().await;
    let l = deploy_layered(&env);
    env.sync_ok().await;
    // order-api moves from deps 1 to deps 2: version 2 links deps 2 (and fonts 2).
    let deps2 = zip_package(&[("python/deps/__init__.py", "VERSION = 2\n")]);
    env.sim.deploy_layer("deps", 2, deps2.clone());
    env.sim
        .set_config(&l.order_api, with_layers(&[("deps", 2), ("fonts", 2)]));
    env.sync_ok().await;
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!("{config}\n[retention]\nkeep_last = 1\n"),
    )
    .unwrap();

    let run = env.fnvault(&["prune"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let h = env.json(&["history", ORDER_API, "--json"], 0).await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 1, "{h}");
    // The kept version's layers are there, and verified.
    for bytes in [&deps2, &l.fonts, &l.deps] {
        assert!(env.has_blob(&sha256_hex(bytes)));
    }
    let verify = env.fnvault(&["verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    // A rebuild after the prune links the kept version to its layers and no pruned one back.
    std::fs::remove_file(env.path("fnvault.db")).unwrap();
    let run = env.fnvault(&["reindex"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let show = env.json(&["show", ORDER_API, "--json"], 0).await;
    let names: Vec<(String, String)> = show["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                x["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("deps".into(), "2".into()), ("fonts".into(), "2".into())],
        "{show}"
    );
    let h = env.json(&["history", ORDER_API, "--json"], 0).await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 1, "{h}");
}
}

crate::both_backends! {
/// An archive made before layers were archived (its configurations name layers, nothing
/// else knows them): the next sweep archives the layers and links them to the current
/// versions, which is not a change.
async fn an_archive_from_before_layers_gets_its_layers_linked_without_a_change() {
    let env = Env::new().await;
    let _l = deploy_layered(&env);
    env.sync_ok().await;
    // Back to what an fnvault without layers left: no rows, no `layer`/`layers` lines.
    let conn = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    conn.execute_batch("DELETE FROM version_layers; DELETE FROM layers;")
        .unwrap();
    drop(conn);
    for hash in env.journal_hashes() {
        let kept: String = env
            .journal_text_of(&hash)
            .lines()
            .filter(|l| !l.contains("\"event\":\"layer"))
            .map(|l| format!("{l}\n"))
            .collect();
        env.set_journal_text_of(&hash, &kept);
    }
    let before = env.json(&["show", ORDER_API, "--json"], 0).await;
    assert_eq!(before["layers"], serde_json::json!([]), "{before}");

    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("0 changed"),
        "not a change: {}",
        run.stderr
    );
    let after = env.json(&["show", ORDER_API, "--json"], 0).await;
    assert_eq!(after["version"], before["version"], "{after}");
    assert_eq!(after["layers"].as_array().unwrap().len(), 2, "{after}");
    let v = env.fnvault(&["verify"]).await;
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
}
}
