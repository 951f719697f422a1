//! The command line: argument parsing, logging setup, output (tables and `--json`) and exit
//! codes. The only place that uses `anyhow`: below here, errors are typed.
//!
//! Exit codes: 0 everything succeeded · 1 the command ran but some function failed ·
//! 2 usage, configuration or setup error (clap also uses 2 for usage errors).

mod audit;
mod demo;
mod output;
mod prune;
mod resolve;
mod restore;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};
use crate::db::Db;
use crate::shutdown::Shutdown;
use crate::sweep::{Outcome, SweepReport, Sweeper};

/// Keeps a verified, versioned archive of the code deployed to Tencent Cloud SCF and
/// Alibaba Cloud Function Compute.
#[derive(Debug, Parser)]
#[command(name = "fnvault", version, about, long_about = None)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "FNVAULT_CONFIG",
        default_value = "/etc/fnvault/config.toml"
    )]
    config: PathBuf,

    /// More log output (-v debug, -vv trace). `RUST_LOG` overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Only warnings and errors on stderr.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Log line format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "FNVAULT_LOG_FORMAT",
        default_value = "auto"
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one sweep: check every configured function, archive what changed.
    ///
    /// Exit status 0 when every function was checked, 1 when any failed, 2 for a configuration
    /// or setup error.
    ///
    /// Example: fnvault --config /etc/fnvault/config.toml sync
    Sync,
    /// Run sweeps on the config's `[schedule]` until SIGTERM or SIGINT (for systemd: it sends
    /// READY, STATUS and WATCHDOG notifications when run as a Type=notify service).
    ///
    /// On the first signal no new work starts and in-flight downloads get
    /// `sync.shutdown_grace` to finish; a second signal cancels them at once. Either way nothing
    /// partial is left in the archive, and the exit status is 0.
    ///
    /// Needs a `[schedule]` section in the config.
    ///
    /// Example: fnvault --config /etc/fnvault/config.toml daemon
    Daemon,
    /// List the configured functions with their archived versions and last check.
    ///
    /// Example: fnvault list --json | jq '.[] | select(.last_error != null)'
    List {
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// See fnvault work with no cloud account: start the built-in simulator, sweep it,
    /// redeploy a function, sweep again, and show what was archived.
    ///
    /// Example: fnvault demo --dir /tmp/fnvault-demo
    Demo {
        /// Where to put the demo's config, archive and database (default: a new temp folder,
        /// kept afterwards so you can look around).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    #[command(flatten)]
    Audit(audit::AuditCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the example configuration, every key documented.
    Example,
    /// Validate the configuration file, resolve every credential (printing where each came
    /// from, never its value) and print what it configures. Makes no network call.
    ///
    /// Example: fnvault --config /etc/fnvault/config.toml config check
    Check,
}

/// Errors that end the process with exit status 2, except `Failed`: 1.
#[derive(Debug, thiserror::Error)]
enum Fatal {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
    /// The command was valid but what it had to do failed (a corrupt blob, a write error).
    #[error(transparent)]
    Failed(anyhow::Error),
}

/// The entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.verbose, cli.quiet, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(Fatal::Config(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(Fatal::Other(e)) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
        Err(Fatal::Failed(e)) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// journald's plain format when stderr is the journal (no timestamps: it adds its own),
    /// otherwise text, coloured on a terminal.
    Auto,
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("fnvault={default},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Auto if stderr_is_journal() => {
            builder.without_time().with_ansi(false).try_init()
        }
        LogFormat::Auto | LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// systemd sets `JOURNAL_STREAM=<dev>:<ino>` for the service's stdio; stderr is the journal
/// only if it is that very file (a child whose stderr was redirected inherits the variable).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

async fn run(cli: Cli) -> Result<ExitCode, Fatal> {
    match cli.command {
        Command::Sync => {
            let config = Config::load(&cli.config)?;
            let shutdown = Shutdown::new();
            shutdown.listen_for_signals(config.sync.shutdown_grace, || {});
            let report = sync(&config, "sync", &shutdown).await?;
            print_failures(&report);
            eprintln!("{}", report.summary_line());
            Ok(exit_for(&report))
        }
        Command::Daemon => {
            let config = Config::load(&cli.config)?;
            daemon(&config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List { json } => {
            let config = Config::load_without_credentials(&cli.config)?;
            list(&config, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { dir } => Ok(demo::run(dir.as_deref()).await?),
        Command::Audit(cmd) => audit::run(cmd, &cli.config).await,
        Command::Config(ConfigCommand::Example) => {
            print!("{}", crate::config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check) => {
            let config = Config::load(&cli.config)?;
            println!(
                "{}: {} account(s), {} function(s)",
                config.file.display(),
                config.accounts.len(),
                config.functions.len()
            );
            println!("archive:  {}", config.archive.dir.display());
            println!("database: {}", config.database_path.display());
            match &config.schedule {
                Some(s) => println!("schedule: {} ({})", s.cron, s.timezone),
                None => println!("schedule: none (`daemon` will refuse to start; `sync` works)"),
            }
            for a in &config.accounts {
                let source = a
                    .credentials
                    .as_ref()
                    .map(|c| c.source.as_str())
                    .unwrap_or("not loaded");
                println!(
                    "account {}: {} credentials from {source}",
                    a.name,
                    a.cloud().as_str()
                );
            }
            for f in &config.functions {
                println!("  {}", f.key);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One sweep over every configured function, holding the archive lock.
pub(crate) async fn sync(
    config: &Config,
    trigger: &str,
    shutdown: &Shutdown,
) -> anyhow::Result<SweepReport> {
    let (sweeper, lock) = Sweeper::open(config)?;
    let report = sweeper.sweep(&config.functions, trigger, shutdown).await?;
    if shutdown.is_stopping() {
        // Cancelled downloads drop their temp files; make sure before the lock is released.
        sweeper.archive().clean_tmp(&lock)?;
    }
    Ok(report)
}

/// The daemon: sweeps on schedule until a signal, talking to systemd when run under it.
async fn daemon(config: &Config) -> anyhow::Result<()> {
    let Some(schedule) = config.schedule.clone() else {
        return Err(anyhow::anyhow!(
            "{}: no [schedule] section: the daemon needs `[schedule] cron = \"...\"` (or run `fnvault sync` from a timer)",
            config.file.display()
        ));
    };
    let (sweeper, lock) = Sweeper::open(config)?;
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals(config.sync.shutdown_grace, || {
        notify(&[sd_notify::NotifyState::Stopping]);
    });
    // Config parsed, database migrated, lock held: systemd may consider us started.
    let first = if schedule.run_on_start {
        "running the start-up sweep"
    } else {
        "waiting for the first scheduled sweep"
    };
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(first),
    ]);
    if let Some(interval) = sd_notify::watchdog_enabled() {
        let ticker = shutdown.clone();
        tokio::spawn(async move {
            // Pinging at half the interval leaves room for a slow scheduler tick.
            let mut every = tokio::time::interval(interval / 2);
            loop {
                tokio::select! {
                    _ = every.tick() => notify(&[sd_notify::NotifyState::Watchdog]),
                    _ = ticker.aborted() => break,
                }
            }
        });
    }
    let result = crate::schedule::run(&sweeper, &config.functions, &schedule, &shutdown, |r| {
        let line = r.summary_line();
        notify(&[sd_notify::NotifyState::Status(&line)]);
    })
    .await;
    sweeper.archive().clean_tmp(&lock)?;
    result?;
    Ok(())
}

/// sd_notify, when there is a systemd to tell (NOTIFY_SOCKET set); failures are only logged.
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("sd_notify failed: {e}");
    }
}

fn exit_for(report: &SweepReport) -> ExitCode {
    if report.all_succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_failures(report: &SweepReport) {
    for r in &report.results {
        if let Outcome::Failed { error } = &r.outcome {
            eprintln!("failed: {}: {error}", r.key);
        }
    }
}

fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let summaries = match Db::open_read_only(&config.database_path)? {
        Some(db) => db.summaries(&config.functions)?,
        None => config
            .functions
            .iter()
            .map(crate::db::empty_summary)
            .collect(),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &output::list_json(&summaries))?;
        writeln!(out)?;
    } else {
        output::list_table(&mut out, &summaries)?;
    }
    out.flush()?;
    Ok(())
}
