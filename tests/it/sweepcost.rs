//! Issue 16: sweeps that cost the cloud almost nothing. The listing recognises unchanged
//! functions; a function's own calls are made only when its listing entry changed or its full
//! check is due (`[sync] full_check_interval`). Every test counts the verified requests the
//! simulator received, per API action.

use std::collections::HashMap;

use fnvault::sim::{SimConfig, SimFunction};

use crate::common::*;

const RULES: &str = "[[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\n\n\
     [[discover]]\naccount = \"ali\"\nregions = [\"cn-hangzhou\"]\nservices = [\"*\"]\n\n\
     [[discover]]\naccount = \"ali\"\nregions = [\"cn-hangzhou\"]\nfc_version = \"3.0\"\n";

/// Three SCF, three FC 2.0 (one service) and two FC 3.0 functions.
fn fleet(env: &Env) -> (Vec<SimFunction>, Vec<SimFunction>) {
    let mut scf = Vec::new();
    let mut fc = Vec::new();
    for n in ["a", "b", "c"] {
        let f = SimFunction::scf("ap-guangzhou", "default", &format!("scf-{n}"), None);
        env.sim.deploy(&f, package(&format!("scf {n}"), 2_000));
        scf.push(f);
        let f = SimFunction::fc("orders", &format!("fc-{n}"), None);
        env.sim.deploy(&f, package(&format!("fc {n}"), 2_000));
        fc.push(f);
    }
    for n in ["a", "b"] {
        let f = SimFunction::fc3(&format!("fc3-{n}"), None);
        env.sim.deploy(&f, package(&format!("fc3 {n}"), 2_000));
        fc.push(f);
    }
    (scf, fc)
}

/// Runs `fnvault sync` (which must succeed) and returns the verified requests it made, per
/// action.
async fn sync_counting(env: &Env) -> HashMap<String, u64> {
    let before = env.sim.requests_by_action();
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut made = env.sim.requests_by_action();
    for (action, n) in before {
        *made.entry(action).or_default() -= n;
    }
    made.retain(|_, n| *n > 0);
    made
}

fn calls(made: &HashMap<String, u64>, action: &str) -> u64 {
    made.get(action).copied().unwrap_or(0)
}

/// `list --json`'s `last_check_kind` of every function.
async fn kinds(env: &Env) -> Vec<(String, String)> {
    let mut k: Vec<(String, String)> = env
        .list()
        .await
        .iter()
        .map(|e| {
            assert!(e["last_full_check"].is_string(), "no last_full_check: {e}");
            (
                e["function"].as_str().unwrap_or_default().to_string(),
                e["last_check_kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_sweep_costs_only_the_listings() {
    let env = Env::new().await;
    let (scf, fc) = fleet(&env);
    env.write_config(RULES);

    let first = sync_counting(&env).await;
    assert_eq!(calls(&first, "GetFunctionAddress"), 3, "{first:?}");
    assert_eq!(calls(&first, "GetFunctionCode"), 5, "{first:?}");
    // SCF's ModTime has one-second resolution: a changed entry is confirmed by a second full
    // check before the listing alone vouches for it. FC's entries carry the checksum.
    let second = sync_counting(&env).await;
    assert_eq!(calls(&second, "GetFunctionAddress"), 3, "{second:?}");
    assert_eq!(calls(&second, "GetFunctionCode"), 0, "{second:?}");
    assert_eq!(calls(&second, "GetFunction"), 3, "{second:?}");

    let quick = sync_counting(&env).await;

    // Only listings: SCF ListNamespaces + ListFunctions, FC ListServices + one ListFunctions
    // per service, FC 3.0 one ListFunctions.
    assert_eq!(calls(&quick, "GetFunctionAddress"), 0, "{quick:?}");
    assert_eq!(calls(&quick, "GetFunctionCode"), 0, "{quick:?}");
    for action in ["GetFunction", "GetService", "ListTriggers"] {
        assert_eq!(calls(&quick, action), 0, "{action}: {quick:?}");
    }
    let total: u64 = quick.values().sum();
    assert_eq!(total, 5, "{quick:?}");
    assert_eq!(env.sim.stats().downloads, 8);
    let kinds = kinds(&env).await;
    assert_eq!(kinds.len(), scf.len() + fc.len());
    assert!(kinds.iter().all(|(_, k)| k == "listing"), "{kinds:?}");
    assert_eq!(env.sim.stats().rejected_requests, 0);
    let status = env.fnvault(&["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    assert_eq!(v["full_checks"]["last_by_listing"], 8, "{v}");
    assert_eq!(v["full_checks"]["last_full"], 0, "{v}");
    assert_eq!(v["full_checks"]["interval_seconds"], 86_400, "{v}");
    assert!(v["full_checks"]["oldest_full_check"].is_string(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redeploy_is_archived_in_the_next_sweep_on_both_clouds() {
    let env = Env::new().await;
    let (scf, fc) = fleet(&env);
    env.write_config(RULES);
    for _ in 0..3 {
        sync_counting(&env).await;
    }

    env.sim
        .deploy(&scf[1], package("scf b, second deploy", 2_100));
    env.sim
        .deploy(&fc[1], package("fc b, second deploy", 2_100));
    env.sim
        .deploy(&fc[4], package("fc3 b, second deploy", 2_100));
    let made = sync_counting(&env).await;

    // Only the redeployed functions are asked.
    assert_eq!(calls(&made, "GetFunctionAddress"), 1, "{made:?}");
    assert_eq!(calls(&made, "GetFunctionCode"), 2, "{made:?}");
    for key in [
        "tc/ap-guangzhou/default/scf-b",
        "ali/cn-hangzhou/orders/fc-b",
        "ali/cn-hangzhou/fc3-b",
    ] {
        let e = env.entry(key).await;
        assert_eq!(e["versions"], 2, "{e}");
        assert_eq!(e["last_check_kind"], "full", "{e}");
    }
    assert_eq!(
        env.entry("tc/ap-guangzhou/default/scf-a").await["versions"],
        1
    );
    let e = env.entry("ali/cn-hangzhou/orders/fc-b").await;
    assert_eq!(
        e["latest_sha256"],
        sha256_hex(&package("fc b, second deploy", 2_100))
    );
}

/// Bytes that end like `prefix` followed by 8 bytes chosen so the whole has CRC-64 `target`:
/// the CRC is affine in those 8 bytes over GF(2), so a linear system gives them. Whoever
/// deploys can do the same, which is why a CRC-64 never proves a package unchanged alone.
fn with_crc64(prefix: &[u8], target: u64) -> Vec<u8> {
    let crc = |x: u64| {
        let mut v = prefix.to_vec();
        v.extend_from_slice(&x.to_le_bytes());
        fnvault::fetch::crc64(&v)
    };
    let base = crc(0);
    // An echelon basis of the images of the 64 unit vectors, each with its preimage.
    let mut basis: [Option<(u64, u64)>; 64] = [None; 64];
    for i in 0..64 {
        let (mut image, mut pre) = (crc(1 << i) ^ base, 1u64 << i);
        for bit in (0..64).rev() {
            if image >> bit & 1 == 0 {
                continue;
            }
            match basis[bit] {
                Some((bi, bp)) => {
                    image ^= bi;
                    pre ^= bp;
                }
                None => {
                    basis[bit] = Some((image, pre));
                    break;
                }
            }
        }
    }
    let (mut want, mut x) = (target ^ base, 0u64);
    for bit in (0..64).rev() {
        if want >> bit & 1 == 1 {
            let (bi, bp) = basis[bit].expect("the CRC is a bijection of the last 8 bytes");
            want ^= bi;
            x ^= bp;
        }
    }
    let mut v = prefix.to_vec();
    v.extend_from_slice(&x.to_le_bytes());
    assert_eq!(fnvault::fetch::crc64(&v), target);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_with_the_same_crc64_and_a_new_modified_time_is_downloaded_and_archived() {
    let env = Env::new().await;
    let f = SimFunction::fc("orders", "checkout", None);
    let original = package("the original", 4_000);
    env.sim.deploy(&f, original.clone());
    env.write_config("[[discover]]\naccount = \"ali\"\nregions = [\"cn-hangzhou\"]\n");
    sync_counting(&env).await;
    sync_counting(&env).await;
    let key = "ali/cn-hangzhou/orders/checkout";
    assert_eq!(env.entry(key).await["last_check_kind"], "listing");

    // The same bytes deployed again: a new lastModifiedTime, the same CRC-64 and size. The
    // package is downloaded and its SHA-256 compared: equal, so no new version.
    env.sim.deploy(&f, original.clone());
    let made = sync_counting(&env).await;
    assert_eq!(calls(&made, "GetFunctionCode"), 1, "{made:?}");
    assert_eq!(env.sim.downloads_of(&f), 2);
    assert_eq!(env.entry(key).await["versions"], 1);

    // Other bytes of the same size with the same CRC-64: archived as a new version.
    let forged = with_crc64(
        &package("someone else's code", 4_000)[..original.len() - 8],
        fnvault::fetch::crc64(&original),
    );
    assert_eq!(forged.len(), original.len());
    assert_ne!(sha256_hex(&forged), sha256_hex(&original));
    env.sim.deploy(&f, forged.clone());
    let made = sync_counting(&env).await;

    assert_eq!(calls(&made, "GetFunctionCode"), 1, "{made:?}");
    let e = env.entry(key).await;
    assert_eq!(e["versions"], 2, "{e}");
    assert_eq!(e["latest_sha256"], sha256_hex(&forged), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_change_in_the_listing_is_read_and_the_package_compared_by_sha256() {
    let env = Env::new().await;
    let (_, fc) = fleet(&env);
    env.write_config(RULES);
    for _ in 0..3 {
        sync_counting(&env).await;
    }
    let mut c = SimConfig {
        memory_mb: 512,
        ..SimConfig::default()
    };
    c.modified = "2026-02-01T00:00:00Z".into();
    env.sim.set_config(&fc[0], c);

    let made = sync_counting(&env).await;

    // Its lastModifiedTime moved with the same CRC-64 and size: the bytes are compared (one
    // GetFunctionCode, one download); the configuration is read and archived.
    assert_eq!(calls(&made, "GetService"), 1, "{made:?}");
    assert_eq!(calls(&made, "ListTriggers"), 1, "{made:?}");
    assert_eq!(calls(&made, "GetFunctionCode"), 1, "{made:?}");
    let e = env.entry("ali/cn-hangzhou/orders/fc-a").await;
    assert_eq!(e["versions"], 2, "{e}");
    assert_eq!(e["latest_sha256"], sha256_hex(&package("fc a", 2_000)));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_zero_full_check_interval_every_function_gets_a_full_check() {
    let env = Env::new().await;
    let (scf, fc) = fleet(&env);
    env.write_config(&format!("[sync]\nfull_check_interval = \"0s\"\n\n{RULES}"));
    sync_counting(&env).await;
    sync_counting(&env).await;

    let made = sync_counting(&env).await;

    assert_eq!(
        calls(&made, "GetFunctionAddress"),
        scf.len() as u64,
        "{made:?}"
    );
    // The configuration of every function; FC packages still judged by the listing.
    assert_eq!(
        calls(&made, "GetFunction"),
        (scf.len() + fc.len()) as u64,
        "{made:?}"
    );
    assert_eq!(calls(&made, "ListTriggers"), fc.len() as u64, "{made:?}");
    assert_eq!(calls(&made, "GetFunctionCode"), 0, "{made:?}");
    assert!(kinds(&env).await.iter().all(|(_, k)| k == "full"));
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_functions_are_checked_by_listing_their_scope_when_that_is_cheaper() {
    let env = Env::new().await;
    let mut config = String::new();
    for n in ["a", "b", "c"] {
        env.sim.deploy(
            &SimFunction::scf("ap-guangzhou", "default", &format!("scf-{n}"), None),
            package(&format!("scf {n}"), 1_000),
        );
        config += &scf("ap-guangzhou", "default", &format!("scf-{n}"), None);
        env.sim.deploy(
            &SimFunction::fc("orders", &format!("fc-{n}"), None),
            package(&format!("fc {n}"), 1_000),
        );
        config += &fc("ali", "cn-hangzhou", "orders", &format!("fc-{n}"), None);
    }
    // One function of a service of 12, listed 1 per page: 12 pages cost more than its 4
    // calls, so it is asked directly (the listing is stopped after 3 pages, and not tried
    // again while that measure is fresh).
    for i in 0..12 {
        env.sim.deploy(
            &SimFunction::fc("big", &format!("f{i:02}"), None),
            package(&format!("big {i}"), 1_000),
        );
    }
    config += &fc("ali", "cn-hangzhou", "big", "f00", None);
    env.write_config(&config);

    // The first sweep lists nothing (every function needs a full check anyway); the second
    // lists each scope (SCF's entries settle at the third).
    let first = sync_counting(&env).await;
    assert_eq!(calls(&first, "ListFunctions"), 0, "{first:?}");
    let second = sync_counting(&env).await;
    assert_eq!(calls(&second, "ListFunctions"), 3, "{second:?}");
    assert_eq!(calls(&second, "GetFunctionCode"), 4, "{second:?}");
    let third = sync_counting(&env).await;
    assert_eq!(calls(&third, "GetFunctionAddress"), 3, "{third:?}");
    assert_eq!(calls(&third, "GetFunctionCode"), 0, "{third:?}");
    env.sim.set_page_limit(1);
    let made = sync_counting(&env).await;
    // 3 pages of each small scope, 3 of the big one (stopped), then the big one's full check.
    assert_eq!(calls(&made, "ListFunctions"), 9, "{made:?}");
    assert_eq!(calls(&made, "GetFunctionAddress"), 0, "{made:?}");
    assert_eq!(calls(&made, "GetFunctionCode"), 1, "{made:?}");
    assert_eq!(calls(&made, "GetService"), 1, "{made:?}");

    let made = sync_counting(&env).await;

    assert_eq!(calls(&made, "ListFunctions"), 6, "{made:?}");
    assert_eq!(calls(&made, "GetFunctionAddress"), 0, "{made:?}");
    assert_eq!(calls(&made, "GetFunctionCode"), 1, "{made:?}");
    let e = env.entry("ali/cn-hangzhou/big/f00").await;
    assert_eq!(e["last_check_kind"], "full", "{e}");
    let e = env.entry("tc/ap-guangzhou/default/scf-b").await;
    assert_eq!(e["last_check_kind"], "listing", "{e}");
    // A redeploy of an explicit function is archived at once.
    env.sim.deploy(
        &SimFunction::scf("ap-guangzhou", "default", "scf-b", None),
        package("scf b again", 1_000),
    );
    let made = sync_counting(&env).await;
    assert_eq!(calls(&made, "GetFunctionAddress"), 1, "{made:?}");
    assert_eq!(
        env.entry("tc/ap-guangzhou/default/scf-b").await["versions"],
        2
    );
}

/// The simulator's per-API limits (benchmark 1 runs against them) throttle what exceeds them,
/// and fnvault's per-account pacing keeps under them.
#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_throttles_beyond_a_per_api_limit_and_pacing_stays_under_it() {
    let env = Env::new().await;
    let mut config = String::new();
    for i in 0..6 {
        let name = format!("fn-{i}");
        env.sim.deploy(
            &SimFunction::scf("ap-guangzhou", "default", &name, None),
            package(&name, 500),
        );
        config += &scf("ap-guangzhou", "default", &name, None);
    }
    env.sim.set_rate_limit("scf", "GetFunctionAddress", 3);
    let unpaced = env.accounts().replace(
        "name = \"tc\"\n",
        "name = \"tc\"\nrequests_per_second = 0\n",
    ) + &config;
    std::fs::write(env.path("config.toml"), unpaced).unwrap();
    env.fnvault(&["sync"]).await;
    assert!(env.sim.throttled() > 0, "six at once over a limit of 3/s");

    let throttled = env.sim.throttled();
    // Paced well under the limit: a request whose send the scheduler delays (a loaded CI
    // machine) must not land in the same second as the next three.
    let paced = env.accounts().replace(
        "name = \"tc\"\n",
        "name = \"tc\"\nrequests_per_second = 1\n",
    ) + "[sync]\nfull_check_interval = \"0s\"\n"
        + &config;
    std::fs::write(env.path("config.toml"), paced).unwrap();
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        env.sim.throttled(),
        throttled,
        "paced at the limit: none throttled"
    );
}

/// The first sweep of each day used to append a `seen` line to every function's journal file
/// (a journal growing by one fsynced line per function per day). `meta/sightings.json`, one
/// file rewritten per sweep, keeps each current version's `last_seen` instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_day_adds_no_journal_line_and_the_sightings_file_keeps_last_seen() {
    let env = Env::new().await;
    let (scf, fc) = fleet(&env);
    env.write_config(RULES);
    for _ in 0..3 {
        sync_counting(&env).await;
    }
    // As far as the database knows, every version was last seen long ago: the next sweep is
    // the first of a new day.
    let old = "2020-01-01T00:00:00.000Z";
    rusqlite::Connection::open(env.path("fnvault.db"))
        .unwrap()
        .execute("UPDATE versions SET last_seen = ?1", [old])
        .unwrap();
    let journals = |env: &Env| -> Vec<(String, String)> {
        env.journal_hashes()
            .into_iter()
            .map(|h| {
                let text = env.journal_text_of(&h);
                (h, text)
            })
            .collect()
    };
    let before = journals(&env);
    assert_eq!(before.len(), scf.len() + fc.len());

    let quick = sync_counting(&env).await;
    assert_eq!(calls(&quick, "GetFunctionAddress"), 0, "{quick:?}");
    assert_eq!(
        journals(&env),
        before,
        "the sweep appended to a journal file"
    );
    let text = std::fs::read(env.path("archive/meta/sightings.json")).expect("sightings.json");
    let sightings: Vec<serde_json::Value> = serde_json::from_slice(&text).expect("JSON");
    assert_eq!(sightings.len(), scf.len() + fc.len());
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    for s in &sightings {
        let seen = s["last_seen"].as_str().unwrap_or_default();
        assert!(seen > old, "{s}");
        let in_db: String = db
            .query_row(
                "SELECT v.last_seen FROM functions f JOIN versions v ON v.id = f.latest_version_id
                 WHERE f.key = ?1",
                [s["key"].as_str().unwrap_or_default()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(in_db, seen, "{s}");
    }
}

/// The listing vouches for a function, but its latest blob is gone from the folder archive:
/// that function (only) gets a full check, which stores the package again.
#[tokio::test(flavor = "multi_thread")]
async fn a_blob_gone_under_a_listing_checked_function_is_stored_again() {
    let env = Env::new().await;
    fleet(&env);
    env.write_config(RULES);
    for _ in 0..3 {
        sync_counting(&env).await;
    }
    let key = "ali/cn-hangzhou/orders/fc-a";
    let sha = env.entry(key).await["latest_sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    env.remove_blob(&sha);

    let made = sync_counting(&env).await;
    assert_eq!(calls(&made, "GetFunctionCode"), 1, "{made:?}");
    assert_eq!(calls(&made, "GetFunctionAddress"), 0, "{made:?}");
    assert!(env.has_blob(&sha));
    let e = env.entry(key).await;
    assert_eq!(e["versions"], 1, "{e}");
    assert_eq!(e["last_check_kind"], "full", "{e}");
}
