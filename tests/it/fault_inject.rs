//! Systematic fault injection: the real binary runs `sync`, `prune`, `reindex` and `restore`
//! under `strace -f -e inject=SYSCALL:error=ERRNO:when=N`, for every file-system call the
//! archive and the database make (write, pwrite64, fsync, fdatasync, rename, renameat2,
//! openat, mkdir, unlink) with ENOSPC, EIO and EDQUOT, N spread over the calls a clean run
//! makes. After each injected run the archive must hold what it promised: the run exits 0, 1
//! or 2 (never a panic or a signal), a failure names the errno, no row points at a missing or
//! wrong blob, a clean rerun exits 0, `verify` exits 0, every version that existed before is
//! still there with its blob, nothing partial is under `blobs/` or `tmp/`, and `reindex` into a
//! fresh database reproduces the same history.
//!
//! strace comes from the distribution (`apt-get install strace`). Without it these tests print
//! a loud "skipped" line and pass, so a newcomer's `cargo test` works; with
//! `FNVAULT_REQUIRE_STRACE=1` (CI sets it) a missing or unusable strace fails them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fnvault::sim::SimFunction;

use crate::common::*;

/// Every syscall through which the archive, the journal and SQLite reach the disk.
const SYSCALLS: &[&str] = &[
    "write",
    "pwrite64",
    "fsync",
    "fdatasync",
    "rename",
    "renameat2",
    "openat",
    "mkdir",
    "unlink",
];

/// The errno, how the C library spells it and Rust's `os error N`.
struct Errno {
    name: &'static str,
    text: &'static str,
    os_error: &'static str,
}

/// SQLite does not pass the errno on: any failed write, fsync or open of the database shows
/// as one of these (with the database's path, which fnvault adds).
/// (A read-write open that fails makes SQLite fall back to read-only, so the first write then
/// says "readonly".)
const SQLITE_IO: &[&str] = &[
    "disk I/O error",
    "database or disk is full",
    "unable to open database file",
    "attempt to write a readonly database",
];

const ERRNOS: &[Errno] = &[
    Errno {
        name: "ENOSPC",
        text: "No space left on device",
        os_error: "os error 28",
    },
    Errno {
        name: "EIO",
        text: "Input/output error",
        os_error: "os error 5",
    },
    Errno {
        name: "EDQUOT",
        text: "Disk quota exceeded",
        os_error: "os error 122",
    },
];

/// Where strace is, or `None` after a loud notice; panics when CI requires it.
pub(crate) fn strace() -> Option<PathBuf> {
    let required = std::env::var("FNVAULT_REQUIRE_STRACE").is_ok_and(|v| v == "1");
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("strace"))
            .find(|p| p.is_file())
    });
    // ptrace can be forbidden (containers without CAP_SYS_PTRACE): try it once.
    let usable = found.filter(|p| {
        std::process::Command::new(p)
            .args(["-f", "-qq", "-o", "/dev/null", "--", "true"])
            .status()
            .is_ok_and(|s| s.success())
    });
    if usable.is_none() {
        assert!(
            !required,
            "FNVAULT_REQUIRE_STRACE=1 but strace is not installed or cannot trace here \
             (apt-get install strace; ptrace must be allowed)"
        );
        loud(
            "fault injection skipped: strace not installed (or ptrace not allowed); \
             apt-get install strace, and set FNVAULT_REQUIRE_STRACE=1 to make this an error",
        );
    }
    usable
}

/// Says `what` on the real stderr: the test harness captures `eprintln!` of passing tests,
/// and a skipped check must not pass unnoticed.
pub(crate) fn loud(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** {what} ***\n");
}

/// Copies `from` (a test folder: config, keys, archive, database) into a new temp folder.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("temp dir");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to.path())
        .status()
        .expect("cp runs");
    assert!(status.success(), "cp -a {} failed", from.display());
    to
}

/// A run's exit status (`None`: killed by a signal), stdout, and both streams together.
struct Out {
    code: Option<i32>,
    stdout: String,
    text: String,
}

/// How long one run may take before it counts as hung and is killed (with its process group,
/// so strace's tracee goes too). A clean run takes about a second, even under strace.
const HUNG: std::time::Duration = std::time::Duration::from_secs(60);

async fn run(dir: &Path, config: &str, args: &[&str], strace: Option<(&Path, &[String])>) -> Out {
    let bin = env!("CARGO_BIN_EXE_fnvault");
    let mut cmd = match strace {
        Some((strace, opts)) => {
            let mut c = tokio::process::Command::new(strace);
            c.args(opts).arg("--").arg(bin);
            c
        }
        None => tokio::process::Command::new(bin),
    };
    let child = cmd
        .arg("--config")
        .arg(dir.join(config))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("FNVAULT_CONFIG")
        .env_remove("FNVAULT_LOG_FORMAT")
        .env("FNVAULT_NO_PROGRESS", "true")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("fnvault runs");
    let pgid = child.id().expect("a running child") as i32;
    match tokio::time::timeout(HUNG, child.wait_with_output()).await {
        Ok(out) => {
            let out = out.expect("wait works");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            Out {
                code: out.status.code(),
                text: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
                stdout,
            }
        }
        Err(_) => {
            // SAFETY: kill(2) on our own child's process group; no memory is involved.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            Out {
                code: None,
                stdout: String::new(),
                text: format!("hung for {HUNG:?}, killed"),
            }
        }
    }
}

/// One version row: function key, number, SHA-256, size, first seen.
type Row = (String, i64, String, i64, String);

/// Every version row of the database at `db`, read directly (the history the archive holds).
/// No file: no rows. A database a failed run left with a hot journal or WAL is read from a
/// copy, since recovering it needs a write the harness must not make in the real one.
fn rows(db: &Path) -> Result<BTreeSet<Row>, String> {
    if !db.exists() {
        return Ok(BTreeSet::new());
    }
    read_rows(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).or_else(|_| {
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let copy = scratch.path().join("copy.db");
        for suffix in ["", "-wal", "-journal"] {
            let from = PathBuf::from(format!("{}{suffix}", db.display()));
            if from.exists() {
                std::fs::copy(&from, format!("{}{suffix}", copy.display()))
                    .map_err(|e| format!("{}: {e}", from.display()))?;
            }
        }
        read_rows(&copy, rusqlite::OpenFlags::default())
            .map_err(|e| format!("{} (read from a copy): {e}", db.display()))
    })
}

fn read_rows(db: &Path, flags: rusqlite::OpenFlags) -> Result<BTreeSet<Row>, String> {
    let conn = rusqlite::Connection::open_with_flags(db, flags)
        .map_err(|e| format!("{}: {e}", db.display()))?;
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'versions'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| format!("{}: {e}", db.display()))?;
    if tables == 0 {
        return Ok(BTreeSet::new());
    }
    let mut stmt = conn
        .prepare(
            "SELECT f.key, v.version_no, v.sha256, v.size, v.first_seen \
             FROM versions v JOIN functions f ON f.id = v.function_id",
        )
        .map_err(|e| format!("{}: {e}", db.display()))?;
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .and_then(|rows| rows.collect::<Result<BTreeSet<Row>, _>>())
    .map_err(|e| format!("{}: {e}", db.display()))
}

/// Every row's blob is present and hashes to the row (invariant 1), and nothing under `blobs/`
/// is partial: each file there hashes to its own name.
fn blobs_sound(dir: &Path, rows: &BTreeSet<Row>) -> Result<(), String> {
    for (key, no, sha, size, _) in rows {
        let blob = dir.join(format!("archive/blobs/{}/{sha}", &sha[..2]));
        let bytes = std::fs::read(&blob)
            .map_err(|e| format!("row {key}@{no}: blob {}: {e}", blob.display()))?;
        if sha256_hex(&bytes) != *sha || bytes.len() as i64 != *size {
            return Err(format!("row {key}@{no}: blob {} is wrong", blob.display()));
        }
    }
    let mut files = Vec::new();
    walk(&dir.join("archive/blobs"), &mut files);
    for f in files {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        if sha256_hex(&bytes) != name {
            return Err(format!(
                "partial or wrong file under blobs/: {}",
                f.display()
            ));
        }
    }
    let mut tmp = Vec::new();
    walk(&dir.join("archive/tmp"), &mut tmp);
    if !tmp.is_empty() {
        return Err(format!("left in tmp/ after a clean rerun: {tmp:?}"));
    }
    Ok(())
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

/// `list --json` reduced to what a rebuild must reproduce.
fn list_shape(text: &str) -> Result<BTreeSet<String>, String> {
    let v: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("list --json: {e}: {text}"))?;
    Ok(v.iter()
        .map(|e| {
            format!(
                "{} v{} {} {} {}",
                e["function"],
                e["versions"],
                e["latest_version"],
                e["latest_sha256"],
                e["latest_size"]
            )
        })
        .collect())
}

/// What a family of injected runs works on, and what must hold after each.
struct Family {
    name: &'static str,
    /// The command under injection.
    args: Vec<String>,
    /// A folder with config, keys, archive and database in the state before the command.
    template: Env,
    /// Version rows before the command.
    before: BTreeSet<Row>,
    /// Version rows that must exist after a clean rerun (all of `before` unless pruning).
    kept: BTreeSet<Row>,
    /// Version rows that may exist after a clean rerun beyond `kept` (new ones for `sync`).
    expected_latest: BTreeMap<String, String>,
    /// For `prune`: the rerun must leave exactly `kept`.
    exact: bool,
    /// For `restore`: the file written and its expected SHA-256.
    restore: Option<(String, String)>,
    /// The journal files the command appends to, relative to the folder. `write` is also
    /// injected with `-P` on them alone: unpinned, the Nth `write` of a thread is as often the
    /// runtime's eventfd as a file.
    journals: Vec<String>,
}

/// What happened in one injected run.
struct Verdict {
    /// The syscall, or `write(journal)` for `write` pinned to the journal files.
    label: &'static str,
    errno: &'static str,
    when: u32,
    code: Option<i32>,
    /// Injected calls on the archive's or the database's files (fds or paths under the test
    /// folder).
    disk_hits: u32,
    /// The first injected call on them, as strace printed it (for the notes).
    first_hit: String,
    /// The run's warnings and errors (for the notes on absorbed faults).
    warnings: String,
    /// Injected calls on anything else: the async runtime's eventfd, stdout/stderr pipes,
    /// sockets, /proc. Not a disk fault (an eventfd write never fails with ENOSPC); such a run
    /// may hang or panic, and only the archive's invariants are checked after it.
    other_hits: Vec<String>,
    /// The output named the errno on a line that names a path.
    named: bool,
    /// The output named the errno without a path, or not at all.
    unnamed: Option<String>,
    violations: Vec<String>,
}

/// Whether a line of `strace -y` output (after the pid) is a call on the test folder's files.
fn on_disk(rest: &str, syscall: &str, root: &str) -> bool {
    let args = rest.split_once('(').map_or("", |(_, a)| a);
    if ["write", "pwrite64", "fsync", "fdatasync"].contains(&syscall) {
        // `write(5</tmp/x/archive/tmp/.tmpAb>, "…", 10)`: the fd's path.
        return args
            .split_once('<')
            .and_then(|(_, p)| p.split_once('>'))
            .is_some_and(|(p, _)| p.starts_with(root));
    }
    // Path arguments are the quoted strings; a relative one is relative to the test folder.
    args.split('"')
        .skip(1)
        .step_by(2)
        .any(|p| p.starts_with(root) || !p.starts_with('/'))
}

/// Splits `strace -f -o` lines into (pid, call), joining `<... resumed>` halves.
fn calls(trace: &str) -> Vec<(String, String)> {
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for line in trace.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid.to_string(), head.to_string());
        } else if rest.starts_with("<... ") {
            let tail = rest.split_once("resumed>").map_or("", |(_, t)| t);
            let head = pending.remove(pid).unwrap_or_default();
            out.push((pid.to_string(), format!("{head}{tail}")));
        } else {
            out.push((pid.to_string(), rest.to_string()));
        }
    }
    out
}

fn syscall_of(call: &str) -> Option<&'static str> {
    SYSCALLS
        .iter()
        .find(|s| call.strip_prefix(**s).is_some_and(|r| r.starts_with('(')))
        .copied()
}

impl Family {
    /// The command's arguments, `@DIR@` replaced by the run's folder.
    fn args_in(&self, dir: &Path) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.replace("@DIR@", &dir.display().to_string()))
            .collect()
    }

    /// A clean run of the command under strace. strace counts `when=N` per syscall and per
    /// thread, so this returns, per syscall, the invocation numbers (within their thread) of
    /// the calls that touched the archive or the database, and the calls seen in all.
    async fn count_calls(
        &self,
        strace: &Path,
    ) -> (BTreeMap<&'static str, (BTreeSet<u32>, u32)>, BTreeSet<u32>) {
        let dir = copy_dir(self.template.dir.path());
        let trace = dir.path().join("trace.txt");
        let opts: Vec<String> = vec![
            "-f".into(),
            "--seccomp-bpf".into(),
            "-qq".into(),
            "-y".into(),
            "-o".into(),
            trace.display().to_string(),
            "-e".into(),
            format!("trace={}", SYSCALLS.join(",")),
        ];
        let args = self.args_in(dir.path());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(dir.path(), "config.toml", &args, Some((strace, &opts))).await;
        assert_eq!(
            out.code,
            Some(0),
            "{}: clean run failed: {}",
            self.name,
            out.text
        );
        let text = std::fs::read_to_string(&trace).expect("strace output");
        let root = dir.path().display().to_string();
        let mut per_thread: BTreeMap<(String, &'static str), u32> = BTreeMap::new();
        // Per syscall and invocation number: calls on disk, calls on anything else.
        let mut by_n: BTreeMap<(&'static str, u32), (u32, u32)> = BTreeMap::new();
        let mut found: BTreeMap<&'static str, (BTreeSet<u32>, u32)> = SYSCALLS
            .iter()
            .map(|s| (*s, (BTreeSet::new(), 0)))
            .collect();
        let mut journal_writes: BTreeMap<String, u32> = BTreeMap::new();
        let mut journal_ns = BTreeSet::new();
        let journals: Vec<String> = self
            .journals
            .iter()
            .map(|j| format!("<{root}/{j}>"))
            .collect();
        for (pid, call) in calls(&text) {
            let Some(sc) = syscall_of(&call) else {
                continue;
            };
            if sc == "write" && journals.iter().any(|j| call.contains(j.as_str())) {
                let n = journal_writes.entry(pid.clone()).or_default();
                *n += 1;
                journal_ns.insert(*n);
            }
            let n = per_thread.entry((pid, sc)).or_default();
            *n += 1;
            found.entry(sc).or_default().1 += 1;
            let e = by_n.entry((sc, *n)).or_default();
            if on_disk(&call, sc, &root) {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        // An N whose calls were all on disk in the clean run is preferred: the same N in
        // another thread would hit the runtime's eventfd or a pipe instead (no disk fault).
        for sc in SYSCALLS {
            let disk: Vec<(u32, bool)> = by_n
                .range((*sc, 0)..=(*sc, u32::MAX))
                .filter(|(_, (d, _))| *d > 0)
                .map(|((_, n), (_, o))| (*n, *o == 0))
                .collect();
            let clean: BTreeSet<u32> = disk.iter().filter(|(_, c)| *c).map(|(n, _)| *n).collect();
            let entry = found.entry(sc).or_default();
            entry.0 = if clean.is_empty() {
                disk.iter().map(|(n, _)| *n).collect()
            } else {
                clean
            };
        }
        (found, journal_ns)
    }

    async fn inject(
        &self,
        strace: &Path,
        syscall: &'static str,
        errno: &'static Errno,
        when: u32,
        pinned: bool,
    ) -> Verdict {
        let dir = copy_dir(self.template.dir.path());
        let d = dir.path();
        let trace = d.join("trace.txt");
        let mut opts: Vec<String> = Vec::new();
        if pinned {
            for j in &self.journals {
                opts.extend(["-P".to_string(), d.join(j).display().to_string()]);
            }
        }
        opts.extend([
            "-f".into(),
            "--seccomp-bpf".into(),
            "-qq".into(),
            "-y".into(),
            "-o".into(),
            trace.display().to_string(),
            "-e".into(),
            format!("trace={syscall}"),
            "-e".into(),
            format!("inject={syscall}:error={}:when={when}", errno.name),
        ]);
        let args = self.args_in(d);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(d, "config.toml", &args, Some((strace, &opts))).await;
        let root = d.display().to_string();
        let (mut disk_hits, mut other_hits, mut first_hit) = (0, Vec::new(), String::new());
        for (_, call) in calls(&std::fs::read_to_string(&trace).unwrap_or_default()) {
            if call.ends_with("(INJECTED)") {
                if on_disk(&call, syscall, &root) {
                    if disk_hits == 0 {
                        first_hit = call.replace(&root, "DIR").chars().take(160).collect();
                    }
                    disk_hits += 1;
                } else {
                    other_hits.push(call.chars().take(120).collect());
                }
            }
        }
        let _ = std::fs::remove_file(&trace);
        let mut v = Verdict {
            label: if pinned { "write(journal)" } else { syscall },
            errno: errno.name,
            when,
            code: out.code,
            disk_hits,
            first_hit,
            warnings: out
                .text
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("error"))
                .collect::<Vec<_>>()
                .join(" | ")
                .replace(&root, "DIR"),
            other_hits,
            named: false,
            unnamed: None,
            violations: Vec::new(),
        };
        let excused = !v.other_hits.is_empty();
        match out.code {
            Some(0) => {}
            Some(1 | 2) => {
                // The failure names the errno, and its error (the line, or the `error:` line
                // its `caused by:` lines belong to) names a path.
                let lines: Vec<&str> = out.text.lines().collect();
                let at = lines.iter().position(|l| {
                    l.contains(errno.text)
                        || l.contains(errno.os_error)
                        || SQLITE_IO.iter().any(|t| l.contains(t))
                });
                match at {
                    Some(i) => {
                        let mut head = i;
                        while head > 0 && lines[head].trim_start().starts_with("caused by") {
                            head -= 1;
                        }
                        if lines[head..=i].iter().any(|l| l.contains('/')) {
                            v.named = true;
                        } else {
                            v.unnamed = Some(lines[head..=i].join(" | "));
                        }
                    }
                    None => v.unnamed = Some(lines.join(" | ")),
                }
                if let Some(what) = &v.unnamed
                    && !excused
                {
                    v.violations.push(format!(
                        "the error does not name the errno and a path: {what}"
                    ));
                }
            }
            _ if excused => {}
            other => v.violations.push(format!(
                "exit {other:?} (a panic, a signal or a hang): {}",
                out.text
            )),
        }
        let mut fail: Vec<String> = Vec::new();

        // Right after the fault, before anything cleans up: no row without its blob.
        match rows(&d.join("fnvault.db")) {
            Ok(r) => {
                if let Err(e) = blobs_rows_only(d, &r) {
                    fail.push(format!("right after the fault: {e}"));
                }
                if self.exact && !r.is_subset(&self.before) {
                    fail.push(format!("{} invented rows", self.name));
                }
            }
            Err(e) => fail.push(format!("database after the fault: {e}")),
        }

        // A run that said it succeeded did all of its work: nothing it reported is missing.
        if out.code == Some(0) {
            self.check_done(d, &mut fail, "exit 0, but");
        }

        // A clean rerun finishes the job (a reindex that succeeded is not run twice: a second
        // one rightly refuses the healthy database it built).
        if !(self.name == "reindex" && out.code == Some(0)) {
            let rerun = run(d, "config.toml", &args_for_rerun(self, &args), None).await;
            // A reindex that failed after its complete database was in place (the folder's
            // fsync) rightly refuses to replace it again.
            let complete = self.name == "reindex"
                && rerun.code == Some(2)
                && rerun.text.contains("is a healthy database")
                && rows(&d.join("fnvault.db")).is_ok_and(|r| r == self.kept);
            if rerun.code != Some(0) && !complete {
                fail.push(format!(
                    "clean rerun exited {:?}: {}",
                    rerun.code, rerun.text
                ));
            }
        }
        self.check_done(d, &mut fail, "after a clean rerun:");
        let verify = run(d, "config.toml", &["verify"], None).await;
        if verify.code != Some(0) {
            fail.push(format!("verify exited {:?}: {}", verify.code, verify.text));
        }
        let after = match rows(&d.join("fnvault.db")) {
            Ok(r) => r,
            Err(e) => {
                fail.push(format!("database after the rerun: {e}"));
                v.violations = fail;
                return v;
            }
        };
        if let Err(e) = blobs_sound(d, &after) {
            fail.push(e);
        }
        let lost: Vec<_> = self.kept.difference(&after).collect();
        if !lost.is_empty() {
            fail.push(format!("versions lost: {lost:?}"));
        }

        // A rebuild from blobs/ and meta/ alone reproduces the same history.
        let config = std::fs::read_to_string(d.join("config.toml")).expect("config");
        std::fs::write(
            d.join("fresh.toml"),
            config.replace("path = \"fnvault.db\"", "path = \"fresh.db\""),
        )
        .expect("fresh config");
        let reindex = run(d, "fresh.toml", &["reindex"], None).await;
        if reindex.code != Some(0) {
            fail.push(format!(
                "reindex into a fresh database exited {:?}: {}",
                reindex.code, reindex.text
            ));
        }
        match rows(&d.join("fresh.db")) {
            Ok(rebuilt) if rebuilt == after => {}
            Ok(rebuilt) => fail.push(format!(
                "reindex differs: only in the database {:?}, only in the rebuild {:?}",
                after.difference(&rebuilt).collect::<Vec<_>>(),
                rebuilt.difference(&after).collect::<Vec<_>>()
            )),
            Err(e) => fail.push(format!("rebuilt database: {e}")),
        }
        let (l1, l2) = (
            run(d, "config.toml", &["list", "--json"], None).await,
            run(d, "fresh.toml", &["list", "--json"], None).await,
        );
        match (list_shape(&l1.stdout), list_shape(&l2.stdout)) {
            (Ok(a), Ok(b)) if a == b => {}
            (Ok(a), Ok(b)) => {
                fail.push(format!("list --json differs after reindex: {a:?} vs {b:?}"))
            }
            (Err(e), _) | (_, Err(e)) => fail.push(e),
        }
        v.violations = fail;
        v
    }

    /// What the command promised: `sync` recorded each function's current package, `prune`
    /// and `reindex` left exactly the rows expected, `restore` wrote the version and nothing
    /// beside it.
    fn check_done(&self, d: &Path, fail: &mut Vec<String>, when: &str) {
        let rows = match rows(&d.join("fnvault.db")) {
            Ok(r) => r,
            Err(e) => {
                fail.push(format!("{when} {e}"));
                return;
            }
        };
        for (key, sha) in &self.expected_latest {
            let latest = rows.iter().filter(|r| &r.0 == key).max_by_key(|r| r.1);
            if latest.map(|r| &r.2) != Some(sha) {
                fail.push(format!(
                    "{when} {key}: the latest row is {latest:?}, the cloud serves {sha}"
                ));
            }
        }
        if self.exact && rows != self.kept {
            fail.push(format!(
                "{when} rows missing {:?}, rows extra {:?}",
                self.kept.difference(&rows).collect::<Vec<_>>(),
                rows.difference(&self.kept).collect::<Vec<_>>()
            ));
        }
        if let Some((target, sha)) = &self.restore {
            match std::fs::read(d.join(target)) {
                Ok(bytes) if sha256_hex(&bytes) == *sha => {}
                Ok(_) => fail.push(format!("{when} {target} does not hash to the version")),
                Err(e) => fail.push(format!("{when} {target}: {e}")),
            }
            let leftovers: Vec<_> = std::fs::read_dir(d)
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| {
                            e.file_name()
                                .to_string_lossy()
                                .starts_with(".fnvault-restore")
                        })
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default();
            if !leftovers.is_empty() {
                fail.push(format!("{when} restore left temp files: {leftovers:?}"));
            }
        }
    }
}

/// Only the first half of [`blobs_sound`]: right after a fault, partial files may still sit in
/// `tmp/` (the next lock holder removes them), but no row may point at a missing blob.
fn blobs_rows_only(dir: &Path, rows: &BTreeSet<Row>) -> Result<(), String> {
    for (key, no, sha, size, _) in rows {
        let blob = dir.join(format!("archive/blobs/{}/{sha}", &sha[..2]));
        let bytes = std::fs::read(&blob)
            .map_err(|e| format!("row {key}@{no}: blob {}: {e}", blob.display()))?;
        if sha256_hex(&bytes) != *sha || bytes.len() as i64 != *size {
            return Err(format!("row {key}@{no}: blob {} is wrong", blob.display()));
        }
    }
    Ok(())
}

fn args_for_rerun<'a>(fam: &Family, args: &[&'a str]) -> Vec<&'a str> {
    match fam.name {
        // The target exists after a restore that succeeded: write it again over itself.
        "restore" => args.iter().copied().chain(["--force"]).collect(),
        _ => args.to_vec(),
    }
}

/// `k` of `candidates`, spread evenly from the first to the last.
fn spread(candidates: &BTreeSet<u32>, k: usize) -> Vec<u32> {
    let all: Vec<u32> = candidates.iter().copied().collect();
    if all.is_empty() || k == 0 {
        return Vec::new();
    }
    let k = k.min(all.len());
    let mut out: Vec<u32> = (0..k)
        .map(|i| {
            all[if k == 1 {
                0
            } else {
                i * (all.len() - 1) / (k - 1)
            }]
        })
        .collect();
    out.dedup();
    out
}

/// Counts per syscall × errno of one family's runs, for the summary table.
#[derive(Default)]
struct Tally {
    runs: u32,
    failed: u32,
    named: u32,
    unnamed: u32,
    absorbed: u32,
    runtime: u32,
    violations: u32,
}

/// Runs up to `k` injections per syscall (errnos rotating, so each syscall meets all three
/// when `k >= 3`), `parallel` at a time, prints the table and fails on any violation.
async fn run_family(family: Family, k: usize, parallel: usize) {
    let Some(strace) = strace() else {
        return;
    };
    let (counts, journal_ns) = family.count_calls(&strace).await;
    let mut plan = Vec::new();
    for (si, sc) in SYSCALLS.iter().enumerate() {
        for (i, when) in spread(&counts[sc].0, k).into_iter().enumerate() {
            plan.push((*sc, &ERRNOS[(si + i) % ERRNOS.len()], when, false));
        }
    }
    for (i, when) in spread(&journal_ns, k).into_iter().enumerate() {
        plan.push(("write", &ERRNOS[i % ERRNOS.len()], when, true));
    }
    let family = Arc::new(family);
    let strace = Arc::new(strace);
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    let verdicts = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for (syscall, errno, when, pinned) in plan {
        let (family, strace, permits, verdicts) = (
            family.clone(),
            strace.clone(),
            permits.clone(),
            verdicts.clone(),
        );
        tasks.spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore open");
            let v = family.inject(&strace, syscall, errno, when, pinned).await;
            verdicts.lock().expect("no panic holding it").push(v);
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("an injected run panicked");
    }
    let verdicts = std::mem::take(&mut *verdicts.lock().expect("no panic holding it"));

    let mut table: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
    let mut missed = 0;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for v in &verdicts {
        let t = table.entry((v.label, v.errno)).or_default();
        let what = format!(
            "{} {}:{}:when={} (exit {:?}, {} disk hit(s))",
            family.name, v.label, v.errno, v.when, v.code, v.disk_hits
        );
        if v.disk_hits > 0 && v.other_hits.is_empty() {
            t.runs += 1;
            t.failed += u32::from(v.code != Some(0));
            t.absorbed += u32::from(v.code == Some(0));
            if v.code == Some(0) {
                notes.push(format!(
                    "{what}: absorbed: {}\n    its warnings: {}",
                    v.first_hit, v.warnings
                ));
            }
            t.named += u32::from(v.named);
            t.unnamed += u32::from(v.unnamed.is_some());
        } else if v.disk_hits == 0 && v.other_hits.is_empty() {
            // This thread layout never reached call N: nothing was injected.
            missed += 1;
        } else {
            t.runtime += 1;
            notes.push(format!("{what}: also hit {:?}", v.other_hits));
        }
        if let Some(line) = &v.unnamed {
            notes.push(format!("{what}: errno and path not both named: {line}"));
        }
        t.violations += v.violations.len() as u32;
        for p in &v.violations {
            problems.push(format!("{what}: {p}"));
        }
    }
    let mut report = format!(
        "fault injection, `fnvault {}`: {} injected runs ({} where call N never came); calls in \
         a clean run (on the archive or database / all): {}, write(journal) {}\n\
         {:<14} {:<7} {:>5} {:>7} {:>6} {:>8} {:>9} {:>8} {:>10}\n",
        family.args.join(" "),
        verdicts.len(),
        missed,
        counts
            .iter()
            .map(|(s, (disk, all))| format!("{s} {}/{all}", disk.len()))
            .collect::<Vec<_>>()
            .join(", "),
        journal_ns.len(),
        "syscall",
        "errno",
        "runs",
        "failed",
        "named",
        "unnamed",
        "absorbed",
        "runtime",
        "violations"
    );
    for ((sc, errno), t) in &table {
        report.push_str(&format!(
            "{sc:<14} {errno:<7} {:>5} {:>7} {:>6} {:>8} {:>9} {:>8} {:>10}\n",
            t.runs, t.failed, t.named, t.unnamed, t.absorbed, t.runtime, t.violations
        ));
    }
    report.push_str(&format!(
        "(runs: the fault hit only the archive's or the database's files; failed: exit 1 or 2; \
         named: the errno and a path on one line; absorbed: exit 0; runtime: the fault also hit \
         the async runtime's eventfd, a pipe or a socket, so only the invariants were checked)\n\
         invariant violations: {}\n",
        problems.len()
    ));
    eprintln!("{report}");
    let file =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fault-injection-{}.txt", family.name));
    let _ = std::fs::write(
        &file,
        format!(
            "{report}\n{}\n\n{}\n",
            problems.join("\n"),
            notes.join("\n")
        ),
    );
    assert!(
        problems.is_empty(),
        "{} invariant violation(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The SHA-256 of each function's current package, keyed like `list`.
fn latest_of(rows: &BTreeSet<Row>) -> BTreeSet<Row> {
    let mut latest: BTreeMap<&str, &Row> = BTreeMap::new();
    for r in rows {
        let e = latest.entry(&r.0).or_insert(r);
        if r.1 > e.1 {
            *e = r;
        }
    }
    latest.into_values().cloned().collect()
}

/// The fleet archived at v1, then order-api and checkout redeployed and a fifth function
/// added: the injected sweep downloads three packages (one into a new journal file), finds two
/// unchanged, and records it all.
async fn sync_family() -> Family {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let before = rows(&env.path("fnvault.db")).expect("baseline database");
    let extra = SimFunction::scf("ap-guangzhou", "default", "new-fn", None);
    let v2 = package("order-api v2", 71_000);
    let checkout = package("checkout v2", 60_000);
    let new = package("new-fn v1", 9_000);
    env.sim.deploy(&fleet.order_api, v2.clone());
    env.sim.deploy(&fleet.checkout, checkout.clone());
    env.sim.deploy(&extra, new.clone());
    let config = std::fs::read_to_string(env.path("config.toml")).expect("config");
    std::fs::write(
        env.path("config.toml"),
        format!("{config}{}", scf("ap-guangzhou", "default", "new-fn", None)),
    )
    .expect("config");
    let mut expected_latest: BTreeMap<String, String> =
        latest_of(&before).into_iter().map(|r| (r.0, r.2)).collect();
    expected_latest.insert(ORDER_API.into(), sha256_hex(&v2));
    expected_latest.insert(CHECKOUT.into(), sha256_hex(&checkout));
    expected_latest.insert("tc/ap-guangzhou/default/new-fn".into(), sha256_hex(&new));
    Family {
        name: "sync",
        args: vec!["sync".into()],
        kept: before.clone(),
        before,
        expected_latest,
        exact: false,
        restore: None,
        journals: journals(&env, &["tc/ap-guangzhou/default/new-fn"]),
        template: env,
    }
}

/// The journal files under `meta/`, and those the given functions will get.
fn journals(env: &Env, new_keys: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(env.path("archive/meta"))
        .expect("meta/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .map(|n| format!("archive/meta/{n}"))
        .collect();
    out.extend(
        new_keys
            .iter()
            .map(|k| format!("archive/meta/{}.jsonl", sha256_hex(k.as_bytes()))),
    );
    out
}

/// No archive and no database yet: the injected sweep creates the folders, the shards, the
/// database and its schema, and archives the four functions.
async fn first_sync_family() -> Family {
    let env = Env::new().await;
    Fleet::deploy(&env);
    let expected_latest = [
        (ORDER_API, package("order-api v1", 70_000)),
        (REPORT, package("report v1", 20_000)),
        (CHECKOUT, package("checkout v1", 90_000)),
        (REFUND, package("refund v1", 5_000)),
    ]
    .into_iter()
    .map(|(key, bytes)| (key.to_string(), sha256_hex(&bytes)))
    .collect();
    Family {
        name: "first-sync",
        args: vec!["sync".into()],
        before: BTreeSet::new(),
        kept: BTreeSet::new(),
        expected_latest,
        exact: false,
        restore: None,
        journals: [ORDER_API, REPORT, CHECKOUT, REFUND]
            .iter()
            .map(|k| format!("archive/meta/{}.jsonl", sha256_hex(k.as_bytes())))
            .collect(),
        template: env,
    }
}

/// Three sweeps: order-api at v3, report at v2, checkout and refund at v1.
async fn history() -> Env {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    env.sim
        .deploy(&fleet.order_api, package("order-api v2", 72_000));
    env.sim.deploy(&fleet.report, package("report v2", 22_000));
    env.sync_ok().await;
    env.sim
        .deploy(&fleet.order_api, package("order-api v3", 73_000));
    env.sync_ok().await;
    env
}

async fn prune_family() -> Family {
    let env = history().await;
    let before = rows(&env.path("fnvault.db")).expect("baseline database");
    let config = std::fs::read_to_string(env.path("config.toml")).expect("config");
    std::fs::write(
        env.path("config.toml"),
        format!("{config}\n[retention]\nkeep_last = 1\n"),
    )
    .expect("config");
    Family {
        name: "prune",
        args: vec!["prune".into()],
        kept: latest_of(&before),
        before,
        expected_latest: BTreeMap::new(),
        exact: true,
        restore: None,
        journals: journals(&env, &[]),
        template: env,
    }
}

async fn reindex_family() -> Family {
    let env = history().await;
    let before = rows(&env.path("fnvault.db")).expect("baseline database");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(env.path(&format!("fnvault.db{suffix}")));
    }
    Family {
        name: "reindex",
        args: vec!["reindex".into()],
        kept: before.clone(),
        before,
        expected_latest: BTreeMap::new(),
        exact: true,
        restore: None,
        journals: journals(&env, &[]),
        template: env,
    }
}

async fn restore_family() -> Family {
    let env = history().await;
    let before = rows(&env.path("fnvault.db")).expect("baseline database");
    let v1 = before
        .iter()
        .find(|r| r.0 == ORDER_API && r.1 == 1)
        .expect("order-api v1")
        .2
        .clone();
    Family {
        name: "restore",
        args: ["restore", "order-api@1", "--to", "@DIR@/restored.zip"]
            .map(String::from)
            .to_vec(),
        kept: before.clone(),
        before,
        expected_latest: BTreeMap::new(),
        exact: true,
        restore: Some(("restored.zip".into(), v1)),
        journals: Vec::new(),
        template: env,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_disk_faults_during_a_first_sync_leave_an_archive_the_rerun_completes() {
    run_family(first_sync_family().await, 12, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_disk_faults_during_sync_lose_nothing_and_leave_nothing_partial() {
    run_family(sync_family().await, 15, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_disk_faults_during_prune_lose_nothing_it_keeps() {
    run_family(prune_family().await, 10, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_disk_faults_during_reindex_still_rebuild_every_version() {
    run_family(reindex_family().await, 10, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_disk_faults_during_restore_leave_no_partial_file() {
    run_family(restore_family().await, 6, 2).await;
}

/// A small tmpfs, unmounted (lazily) when dropped. `None` when this machine does not let the
/// tests mount one (not root, or no CAP_SYS_ADMIN in a container).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            loud(
                "full-disk test skipped: cannot mount a tmpfs here (needs root); the strace \
                 matrix still injects ENOSPC into every write of the archive and the database",
            );
        }
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    /// Fills what is left with a file (`filler`), so the next allocation fails with ENOSPC.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// After a full disk is freed: a rerun of `sync` exits 0, `verify` exits 0, every version in
/// `kept` is there, each function's latest is what the cloud serves, nothing partial is left,
/// and `reindex` into a fresh database gives the same rows.
async fn assert_recovers(
    env: &Env,
    db: &str,
    kept: &BTreeSet<Row>,
    expected_latest: &BTreeMap<String, String>,
) {
    let d = env.dir.path();
    let rerun = run(d, "config.toml", &["sync"], None).await;
    assert_eq!(rerun.code, Some(0), "rerun: {}", rerun.text);
    let verify = run(d, "config.toml", &["verify"], None).await;
    assert_eq!(verify.code, Some(0), "verify: {}", verify.text);
    let after = rows(&d.join(db)).expect("database");
    let lost: Vec<_> = kept.difference(&after).collect();
    assert!(lost.is_empty(), "versions lost: {lost:?}");
    for (key, sha) in expected_latest {
        let latest = after.iter().filter(|r| &r.0 == key).max_by_key(|r| r.1);
        assert_eq!(latest.map(|r| &r.2), Some(sha), "{key}");
    }
    let archive_root = std::fs::read_to_string(d.join("config.toml"))
        .expect("config")
        .lines()
        .find_map(|l| {
            l.strip_prefix("dir = \"")
                .map(|r| r.trim_end_matches('"').to_string())
        })
        .expect("archive.dir");
    let mut files = Vec::new();
    walk(&d.join(&archive_root).join("blobs"), &mut files);
    for f in files {
        let bytes = std::fs::read(&f).expect("blob");
        assert_eq!(
            sha256_hex(&bytes),
            f.file_name().unwrap_or_default().to_string_lossy(),
            "partial blob {}",
            f.display()
        );
    }
    let config = std::fs::read_to_string(d.join("config.toml")).expect("config");
    std::fs::write(
        d.join("fresh.toml"),
        config.replace(&format!("path = \"{db}\""), "path = \"fresh.db\""),
    )
    .expect("fresh config");
    let reindex = run(d, "fresh.toml", &["reindex"], None).await;
    assert_eq!(reindex.code, Some(0), "reindex: {}", reindex.text);
    assert_eq!(rows(&d.join("fresh.db")).expect("rebuilt"), after);
}

/// The fleet archived at v1, then order-api and checkout redeployed; returns what must hold.
async fn redeploy_two(
    env: &Env,
    fleet: &Fleet,
    db: &str,
) -> (BTreeSet<Row>, BTreeMap<String, String>) {
    let before = rows(&env.path(db)).expect("baseline");
    let mut latest: BTreeMap<String, String> =
        latest_of(&before).into_iter().map(|r| (r.0, r.2)).collect();
    let v2 = package("order-api v2", 71_000);
    let checkout = package("checkout v2", 93_000);
    env.sim.deploy(&fleet.order_api, v2.clone());
    env.sim.deploy(&fleet.checkout, checkout.clone());
    latest.insert(ORDER_API.into(), sha256_hex(&v2));
    latest.insert(CHECKOUT.into(), sha256_hex(&checkout));
    (before, latest)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_under_the_database_fails_clearly_and_loses_nothing() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let Some(disk) = Tmpfs::mount(&env.path("dbdisk"), "4m") else {
        return;
    };
    let config = std::fs::read_to_string(env.path("config.toml")).expect("config");
    std::fs::write(
        env.path("config.toml"),
        config.replace("path = \"fnvault.db\"", "path = \"dbdisk/fnvault.db\""),
    )
    .expect("config");
    env.sync_ok().await;
    let (before, latest) = redeploy_two(&env, &fleet, "dbdisk/fnvault.db").await;
    let filler = disk.fill();

    let full = run(env.dir.path(), "config.toml", &["sync"], None).await;

    assert!(
        matches!(full.code, Some(1 | 2)),
        "{:?}: {}",
        full.code,
        full.text
    );
    assert!(
        full.text.contains("database or disk is full") && full.text.contains("dbdisk/fnvault.db"),
        "the error names neither the database nor the full disk: {}",
        full.text
    );
    let now = rows(&env.path("dbdisk/fnvault.db")).expect("database still opens");
    blobs_rows_only(env.dir.path(), &now).expect("no row without its blob");
    assert!(before.is_subset(&now), "a full disk lost history");
    std::fs::remove_file(filler).expect("free the disk");
    assert_recovers(&env, "dbdisk/fnvault.db", &before, &latest).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_under_the_archive_fails_the_download_and_leaves_nothing_partial() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    let Some(disk) = Tmpfs::mount(&env.path("archdisk"), "4m") else {
        return;
    };
    let config = std::fs::read_to_string(env.path("config.toml")).expect("config");
    std::fs::write(
        env.path("config.toml"),
        config.replace("dir = \"archive\"", "dir = \"archdisk/archive\""),
    )
    .expect("config");
    env.sync_ok().await;
    let (before, latest) = redeploy_two(&env, &fleet, "fnvault.db").await;
    let filler = disk.fill();

    let full = run(env.dir.path(), "config.toml", &["sync"], None).await;

    assert_eq!(full.code, Some(1), "{}", full.text);
    let line = full
        .text
        .lines()
        .find(|l| l.contains("No space left on device"))
        .unwrap_or_else(|| panic!("ENOSPC is not named: {}", full.text));
    assert!(line.contains("archdisk/archive/"), "no path named: {line}");
    let now = rows(&env.path("fnvault.db")).expect("database");
    assert_eq!(
        now, before,
        "nothing recorded for a download that could not be written"
    );
    let mut tmp = Vec::new();
    walk(&env.path("archdisk/archive/tmp"), &mut tmp);
    assert!(tmp.is_empty(), "partial downloads left behind: {tmp:?}");
    std::fs::remove_file(filler).expect("free the disk");
    assert_recovers(&env, "fnvault.db", &before, &latest).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_database_file_is_refused_by_every_command_with_a_pointer_to_reindex() {
    let env = Env::new().await;
    let _fleet = Fleet::deploy(&env);
    env.sync_ok().await;
    let before = rows(&env.path("fnvault.db")).expect("database");
    // Everything in the file itself first (else the rows sit in the WAL, and without it the
    // file is merely empty, which a sync rightly rebuilds from the journal).
    let db = env.path("fnvault.db");
    rusqlite::Connection::open(&db)
        .and_then(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .expect("checkpoint");
    // Damage every page after the first (bad sectors): the header and schema still read.
    let mut bytes = std::fs::read(&db).expect("database bytes");
    assert!(bytes.len() > 8192, "a database of several pages");
    for b in &mut bytes[4096..] {
        *b = 0x5a;
    }
    std::fs::write(&db, &bytes).expect("damage");
    let _ = std::fs::remove_file(env.path("fnvault.db-wal"));
    let _ = std::fs::remove_file(env.path("fnvault.db-shm"));

    for args in [
        &["sync"][..],
        &["list"],
        &["history", "order-api"],
        &["verify"],
        &["prune"],
        &["status"],
    ] {
        let run = env.fnvault(args).await;
        assert!(
            matches!(run.code, 1 | 2),
            "{args:?} exited {}: {}",
            run.code,
            run.stderr
        );
        assert!(
            run.stderr.contains("fnvault reindex") && run.stderr.contains("fnvault.db"),
            "{args:?} does not name the database and point at reindex: {}",
            run.stderr
        );
    }
    assert_eq!(env.fnvault(&["reindex"]).await.code, 0);
    assert_eq!(rows(&db).expect("rebuilt"), before);
}
