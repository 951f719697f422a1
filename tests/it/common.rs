//! The test harness: a simulator with known keys, a temp folder with key files and a config,
//! and a way to run the binary and read what it printed.

use std::path::{Path, PathBuf};

use fnvault::sim::{SimFunction, Simulator};

pub const TC_ID: &str = "AKIDtest00000000000000000000000000000";
pub const TC_KEY: &str = "tc-test-secret-key-0001";
pub const ALI_ID: &str = "LTAI5tTestAccessKey0001";
pub const ALI_KEY: &str = "ali-test-secret-0001";
pub const ALI_ACCOUNT: &str = "1234567890123456";

pub struct Env {
    pub sim: Simulator,
    pub dir: tempfile::TempDir,
    /// The archive's bucket prefix when the test runs on object storage
    /// (`crate::objstore::Backend::S3`): its endpoint and prefix.
    pub s3: Option<(String, String)>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    /// A simulator that knows the test keys, and a folder with the key files.
    pub async fn new() -> Env {
        let sim = Simulator::start().await.expect("simulator starts");
        sim.add_tencent_key(TC_ID, TC_KEY, None);
        sim.add_aliyun_key(ALI_ID, ALI_KEY, None);
        sim.set_aliyun_account_id(ALI_ACCOUNT);
        let dir = tempfile::tempdir().expect("temp dir");
        write_private(&dir.path().join("tc.key"), format!("{TC_KEY}\n"));
        write_private(&dir.path().join("ali.key"), format!("{ALI_KEY}\n"));
        write_private(
            &dir.path().join("s3.key"),
            format!("{}\n", crate::objstore::S3_SECRET),
        );
        let s3 = match crate::objstore::current() {
            crate::objstore::Backend::Dir => None,
            crate::objstore::Backend::S3 => {
                let server = crate::objstore::shared_server()
                    .expect("an s3 run starts only when the server is there");
                Some((server.endpoint.clone(), crate::objstore::fresh_prefix()))
            }
        };
        Env { sim, dir, s3 }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The accounts every test config starts with: one Tencent, one FC with ACS3 and one FC
    /// with the classic FC signature, all pointing at the simulator.
    pub fn accounts(&self) -> String {
        let ep = self.sim.endpoint();
        // On object storage `dir` is the local spool folder: `archive/tmp` is checked alike.
        let archive = match &self.s3 {
            None => String::new(),
            Some((endpoint, prefix)) => crate::objstore::store_keys(endpoint, prefix, "s3.key"),
        };
        format!(
            r#"[archive]
dir = "archive"
{archive}
[database]
path = "fnvault.db"

# Fast retries and a short API timeout, so fault tests take milliseconds.
[retry]
initial_backoff = "20ms"
max_backoff = "200ms"
[http]
api_timeout = "1s"

[[accounts]]
name = "tc"
cloud = "tencent"
endpoint = "{ep}"
secret_id = "{TC_ID}"
secret_key_file = "tc.key"

[[accounts]]
name = "ali"
cloud = "aliyun"
account_id = "{ALI_ACCOUNT}"
endpoint = "{ep}"
access_key_id = "{ALI_ID}"
access_key_secret_file = "ali.key"

[[accounts]]
name = "ali-fc"
cloud = "aliyun"
account_id = "{ALI_ACCOUNT}"
endpoint = "{ep}"
access_key_id = "{ALI_ID}"
access_key_secret_file = "ali.key"
signature = "fc"
"#
        )
    }

    /// Writes `config.toml`: the standard accounts plus `rest`.
    pub fn write_config(&self, rest: &str) -> PathBuf {
        let path = self.path("config.toml");
        std::fs::write(&path, format!("{}\n{rest}", self.accounts())).unwrap();
        path
    }

    /// Runs the binary with `--config <dir>/config.toml` and `args`.
    pub async fn fnvault(&self, args: &[&str]) -> Run {
        run_fnvault(&self.path("config.toml"), args).await
    }

    /// `fnvault list --json`, parsed.
    pub async fn list(&self) -> Vec<serde_json::Value> {
        let run = self.fnvault(&["list", "--json"]).await;
        assert_eq!(run.code, 0, "list failed: {}", run.stderr);
        serde_json::from_str::<Vec<serde_json::Value>>(&run.stdout)
            .unwrap_or_else(|e| panic!("list --json is not a JSON array ({e}): {}", run.stdout))
    }

    /// The `list --json` object of one function.
    pub async fn entry(&self, key: &str) -> serde_json::Value {
        self.list()
            .await
            .into_iter()
            .find(|e| e["function"] == key)
            .unwrap_or_else(|| panic!("{key} is not in list --json"))
    }

    pub fn files_in(&self, rel: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.path(rel), &mut out);
        out
    }

    /// The package blobs under `archive/blobs`: every blob but the configuration documents
    /// (canonical JSON starting `{"fnvault":`), which sit in the same store since issue 13.
    pub fn package_blobs(&self) -> Vec<PathBuf> {
        self.files_in("archive/blobs")
            .into_iter()
            .filter(|p| !is_config_document(p))
            .collect()
    }

    /// The configuration documents under `archive/blobs`.
    pub fn config_blobs(&self) -> Vec<PathBuf> {
        self.files_in("archive/blobs")
            .into_iter()
            .filter(|p| is_config_document(p))
            .collect()
    }
}

pub fn is_config_document(p: &Path) -> bool {
    std::fs::read(p).is_ok_and(|b| is_document(&b))
}

/// Whether blob bytes are a configuration document (canonical JSON starting `{"fnvault":`)
/// rather than a package.
pub fn is_document(bytes: &[u8]) -> bool {
    bytes.starts_with(b"{\"fnvault\":")
}

/// Every object under a bucket's `blobs/`, each with whether it is a configuration document
/// (read whole to tell: tests only).
pub fn bucket_blobs(b: &fnvault::archive::s3::S3) -> Vec<(fnvault::archive::s3::Listed, bool)> {
    b.list("blobs/")
        .expect("listing blobs")
        .into_iter()
        .map(|o| {
            let bytes = b.get_bytes(&o.name).expect("reading a blob");
            let document = bytes.is_some_and(|b| is_document(&b));
            (o, document)
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Writes a key, token or profile file as an operator should: mode 0600 (fnvault refuses one
/// that group or others can read).
pub fn write_private(path: &Path, content: impl AsRef<[u8]>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub async fn run_fnvault(config: &Path, args: &[&str]) -> Run {
    run_fnvault_with_env(config, args, &[]).await
}

pub async fn run_fnvault_with_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_fnvault"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("FNVAULT_CONFIG")
        .env_remove("FNVAULT_LOG_FORMAT")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("fnvault runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A config snippet for one SCF function.
pub fn scf(region: &str, namespace: &str, name: &str, qualifier: Option<&str>) -> String {
    let q = qualifier
        .map(|q| format!("qualifier = \"{q}\"\n"))
        .unwrap_or_default();
    format!(
        "[[functions]]\naccount = \"tc\"\nregion = \"{region}\"\nnamespace = \"{namespace}\"\nname = \"{name}\"\n{q}\n"
    )
}

/// A config snippet for one FC function of `account` (`ali` or `ali-fc`).
pub fn fc(
    account: &str,
    region: &str,
    service: &str,
    name: &str,
    qualifier: Option<&str>,
) -> String {
    let q = qualifier
        .map(|q| format!("qualifier = \"{q}\"\n"))
        .unwrap_or_default();
    format!(
        "[[functions]]\naccount = \"{account}\"\nregion = \"{region}\"\nservice = \"{service}\"\nname = \"{name}\"\n{q}\n"
    )
}

/// Distinct, deterministic package bytes.
pub fn package(tag: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i: u32 = 0;
    while out.len() < len {
        out.extend_from_slice(format!("{tag}:{i};").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(fnvault::fetch::sha256(data))
}

/// Four functions across both clouds and all three signing set-ups, deployed and configured.
pub struct Fleet {
    pub order_api: SimFunction,
    pub report: SimFunction,
    pub checkout: SimFunction,
    pub refund: SimFunction,
}

/// Configured with `qualifier = "$LATEST"`, which canonical keys leave out.
pub const ORDER_API: &str = "tc/ap-guangzhou/default/order-api";
pub const REPORT: &str = "tc/ap-shanghai/batch/report-job";
/// Configured with `qualifier = "LATEST"`, which canonical keys leave out.
pub const CHECKOUT: &str = "ali/cn-shanghai/orders/checkout";
pub const REFUND: &str = "ali-fc/cn-hangzhou/payments/refund";

impl Fleet {
    pub fn deploy(env: &Env) -> Fleet {
        let fleet = Fleet {
            order_api: SimFunction::scf("ap-guangzhou", "default", "order-api", Some("$LATEST")),
            report: SimFunction::scf("ap-shanghai", "batch", "report-job", None),
            checkout: SimFunction::fc("orders", "checkout", Some("LATEST")),
            refund: SimFunction::fc("payments", "refund", None),
        };
        env.sim
            .deploy(&fleet.order_api, package("order-api v1", 70_000));
        env.sim.deploy(&fleet.report, package("report v1", 20_000));
        env.sim
            .deploy(&fleet.checkout, package("checkout v1", 90_000));
        env.sim.deploy(&fleet.refund, package("refund v1", 5_000));
        env.write_config(&Fleet::config());
        fleet
    }

    /// The fleet's `[[functions]]` entries.
    pub fn config() -> String {
        format!(
            "{}{}{}{}",
            scf("ap-guangzhou", "default", "order-api", Some("$LATEST")),
            scf("ap-shanghai", "batch", "report-job", None),
            fc("ali", "cn-shanghai", "orders", "checkout", Some("LATEST")),
            fc("ali-fc", "cn-hangzhou", "payments", "refund", None),
        )
    }
}

/// An HTTP client for the tests' own requests (scraping `/metrics`), built the one allowed way.
pub fn http_client() -> reqwest::Client {
    fnvault::http::client(&fnvault::config::HttpSettings {
        connect_timeout: std::time::Duration::from_secs(5),
        api_timeout: std::time::Duration::from_secs(5),
        download_idle_timeout: std::time::Duration::from_secs(5),
        allow_http_downloads: false,
    })
    .expect("client builds")
}

/// A TCP port nothing listens on right now (the OS picks it; another process could take it
/// before we bind it again, which on a test machine does not happen in practice).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port()
}

/// Starts the binary in the background with `--config <dir>/config.toml` and `args`, stderr
/// piped, killed if the test ends first.
pub fn spawn_fnvault(env: &Env, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_fnvault"))
        .arg("--config")
        .arg(env.path("config.toml"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("FNVAULT_CONFIG")
        .env_remove("FNVAULT_LOG_FORMAT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("fnvault starts")
}

/// Sends SIGTERM and waits (bounded) for the exit; returns the exit code and stderr.
pub async fn terminate(child: tokio::process::Child) -> (i32, String) {
    let pid = child.id().expect("child still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("fnvault exits")
        .expect("wait works");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `cond` every 50 ms for up to 30 s.
pub async fn eventually<T>(what: &str, mut cond: impl AsyncFnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
/// A zip package holding `files` (path, content), deflated like a real deployment package.
pub fn zip_package(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, content) in files {
        w.start_file(*path, options).expect("zip entry");
        w.write_all(content.as_bytes()).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

impl Env {
    /// Runs `args` and parses stdout as JSON, insisting on exit status `code`.
    pub async fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let run = self.fnvault(args).await;
        assert_eq!(run.code, code, "{args:?}: {}\n{}", run.stderr, run.stdout);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {}", run.stdout))
    }

    /// The archive's bucket, when the test runs on object storage.
    pub fn bucket(&self) -> Option<fnvault::archive::s3::S3> {
        self.s3
            .as_ref()
            .map(|(endpoint, prefix)| crate::objstore::client(endpoint, prefix))
    }

    /// How many package blobs are under `blobs/`, on either backend: every object but the
    /// configuration documents (see [`Env::package_blobs`]).
    pub fn package_blob_count(&self) -> usize {
        match self.bucket() {
            None => self.package_blobs().len(),
            Some(b) => bucket_blobs(&b).iter().filter(|(_, doc)| !doc).count(),
        }
    }

    /// How many objects are under `blobs/` (files, or objects on object storage).
    pub fn blob_count(&self) -> usize {
        match self.bucket() {
            None => self.files_in("archive/blobs").len(),
            Some(b) => b.list("blobs/").expect("listing blobs").len(),
        }
    }

    /// The bytes of blob `sha256`, `None` when it is not there.
    pub fn read_blob(&self, sha256: &str) -> Option<Vec<u8>> {
        match self.bucket() {
            None => std::fs::read(self.blob(sha256)).ok(),
            Some(b) => b
                .get_bytes(&format!("blobs/{}/{sha256}", &sha256[..2]))
                .expect("reading a blob"),
        }
    }

    /// Replaces blob `sha256` with `bytes` (damage done by hand or by the disk).
    pub fn damage_blob(&self, sha256: &str, bytes: &[u8]) {
        match self.bucket() {
            None => {
                let path = self.blob(sha256);
                make_writable(&path);
                std::fs::write(&path, bytes).unwrap();
            }
            Some(b) => {
                b.put_bytes(
                    &format!("blobs/{}/{sha256}", &sha256[..2]),
                    bytes.to_vec(),
                    false,
                )
                .expect("overwriting a blob");
            }
        }
    }

    /// Deletes blob `sha256` by hand.
    pub fn remove_blob(&self, sha256: &str) {
        match self.bucket() {
            None => std::fs::remove_file(self.blob(sha256)).unwrap(),
            Some(b) => b
                .delete(&format!("blobs/{}/{sha256}", &sha256[..2]))
                .expect("deleting a blob"),
        }
    }

    /// Puts a file that is no blob under `blobs/` (`name` relative to it).
    pub fn plant_stray(&self, name: &str, bytes: &[u8]) {
        match self.bucket() {
            None => std::fs::write(self.path(&format!("archive/blobs/{name}")), bytes).unwrap(),
            Some(b) => {
                b.put_bytes(&format!("blobs/{name}"), bytes.to_vec(), false)
                    .expect("planting a stray object");
            }
        }
    }

    /// Puts `bytes` under their own name in `blobs/`, on either backend: what a kill between
    /// a blob's store and its journal line leaves (a blob nothing describes). Returns the name.
    pub fn plant_blob(&self, bytes: &[u8]) -> String {
        let sha = sha256_hex(bytes);
        match self.bucket() {
            None => {
                let path = self.blob(&sha);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, bytes).unwrap();
            }
            Some(_) => self.plant_stray(&format!("{}/{sha}", &sha[..2]), bytes),
        }
        sha
    }

    /// Whether blob `sha256` is there, on either backend.
    pub fn has_blob(&self, sha256: &str) -> bool {
        self.read_blob(sha256).is_some()
    }

    /// How many configuration documents are under `blobs/` and their bytes, on either
    /// backend.
    pub fn config_blob_stats(&self) -> (usize, u64) {
        match self.bucket() {
            None => {
                let docs = self.config_blobs();
                let bytes = docs
                    .iter()
                    .map(|p| std::fs::metadata(p).unwrap().len())
                    .sum();
                (docs.len(), bytes)
            }
            Some(b) => {
                let docs: Vec<_> = bucket_blobs(&b)
                    .into_iter()
                    .filter(|(_, doc)| *doc)
                    .collect();
                (docs.len(), docs.iter().map(|(o, _)| o.size).sum())
            }
        }
    }

    /// The names (SHA-256) of the configuration documents under `blobs/`, on either backend.
    pub fn config_blob_shas(&self) -> Vec<String> {
        match self.bucket() {
            None => self
                .config_blobs()
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect(),
            Some(b) => bucket_blobs(&b)
                .into_iter()
                .filter(|(_, doc)| *doc)
                .map(|(o, _)| o.name.rsplit('/').next().unwrap().to_string())
                .collect(),
        }
    }

    /// Every byte fnvault wrote: the files under the test's folder (archive or spool,
    /// database and its WAL, outputs) and, on object storage, every object under the prefix.
    pub fn all_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for p in self.files_in("") {
            if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
        if let Some(b) = self.bucket() {
            for o in b.list("").expect("listing the bucket") {
                if let Some(bytes) = b.get_bytes(&o.name).expect("reading an object") {
                    out.push((PathBuf::from(b.display(&o.name)), bytes));
                }
            }
        }
        out
    }

    /// Where fnvault says blob `sha256` lives (a path, or an `s3://` location).
    pub fn blob_location(&self, sha256: &str) -> String {
        match self.bucket() {
            None => self.blob(sha256).display().to_string(),
            Some(b) => b.display(&format!("blobs/{}/{sha256}", &sha256[..2])),
        }
    }

    /// The journal of `key`, all its lines in order, on either backend (a file, or one
    /// object per line under `meta/<hash>/`). Empty when there is none.
    pub fn journal_text(&self, key: &str) -> String {
        self.journal_text_of(&sha256_hex(key.as_bytes()))
    }

    /// The journal files there are, by their name (the SHA-256 of their key), on either
    /// backend.
    pub fn journal_hashes(&self) -> Vec<String> {
        let mut out: Vec<String> = match self.bucket() {
            None => self
                .files_in("archive/meta")
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
                .collect(),
            Some(b) => b
                .list("meta/")
                .expect("listing the journal")
                .iter()
                .filter_map(|o| o.name.split('/').nth(1).map(str::to_string))
                .filter(|h| h.len() == 64)
                .collect(),
        };
        out.sort();
        out.dedup();
        out
    }

    /// The journal file named `hash` (see [`Env::journal_text`]).
    pub fn journal_text_of(&self, hash: &str) -> String {
        match self.bucket() {
            None => std::fs::read_to_string(self.path(&format!("archive/meta/{hash}.jsonl")))
                .unwrap_or_default(),
            Some(b) => {
                let mut names: Vec<String> = b
                    .list(&format!("meta/{hash}/"))
                    .expect("listing a journal")
                    .into_iter()
                    .map(|o| o.name)
                    .collect();
                names.sort();
                names
                    .iter()
                    .map(|n| {
                        String::from_utf8(b.get_bytes(n).expect("reading").expect("listed"))
                            .expect("a journal line is text")
                    })
                    .collect()
            }
        }
    }

    /// Replaces the journal of `key` with `text` (lines), on either backend: damage or
    /// history written by hand, as an older fnvault or a crash would have left it.
    pub fn set_journal_text(&self, key: &str, text: &str) {
        self.set_journal_text_of(&sha256_hex(key.as_bytes()), text)
    }

    /// Replaces the journal file named `hash` (see [`Env::set_journal_text`]); empty text
    /// removes it.
    pub fn set_journal_text_of(&self, hash: &str, text: &str) {
        match self.bucket() {
            None => {
                let path = self.path(&format!("archive/meta/{hash}.jsonl"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                if path.exists() {
                    make_writable(&path);
                }
                if text.is_empty() {
                    let _ = std::fs::remove_file(path);
                } else {
                    std::fs::write(path, text).unwrap()
                }
            }
            Some(b) => {
                for o in b.list(&format!("meta/{hash}/")).expect("listing a journal") {
                    b.delete(&o.name).expect("deleting a journal object");
                }
                // Names that sort in line order, before any fnvault writes later (those
                // start with the time in nanoseconds).
                for (i, line) in text.lines().enumerate() {
                    b.put_bytes(
                        &format!("meta/{hash}/{i:020}-00000000.json"),
                        format!("{line}\n").into_bytes(),
                        false,
                    )
                    .expect("writing a journal object");
                }
            }
        }
    }

    /// Removes the journal of `key`, on either backend.
    pub fn remove_journal_of(&self, key: &str) {
        let hash = sha256_hex(key.as_bytes());
        match self.bucket() {
            None => std::fs::remove_file(self.path(&format!("archive/meta/{hash}.jsonl")))
                .expect("removing a journal file"),
            Some(_) => self.set_journal_text(key, ""),
        }
    }

    /// Removes the whole journal (`meta/`), as if the archive was written by a fnvault from
    /// before the journal.
    pub fn remove_all_journals(&self) {
        match self.bucket() {
            None => std::fs::remove_dir_all(self.path("archive/meta")).unwrap(),
            Some(b) => {
                for o in b.list("meta/").expect("listing the journal") {
                    b.delete(&o.name).expect("deleting a journal object");
                }
            }
        }
    }

    /// Where the blob with this SHA-256 lives.
    pub fn blob(&self, sha256: &str) -> PathBuf {
        self.path(&format!("archive/blobs/{}/{sha256}", &sha256[..2]))
    }

    /// Runs `sync`, insisting it succeeds.
    pub async fn sync_ok(&self) {
        let run = self.fnvault(&["sync"]).await;
        assert_eq!(run.code, 0, "sync failed: {}", run.stderr);
    }
}

/// Makes a read-only blob writable, so a test can damage it.
pub fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
