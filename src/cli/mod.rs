//! The command line: argument parsing, logging setup, output (tables and `--json`) and exit
//! codes. The only place that uses `anyhow`: below here, errors are typed.
//!
//! Exit codes: 0 everything succeeded · 1 the command ran but some function failed ·
//! 2 usage, configuration or setup error (clap also uses 2 for usage errors).

mod aliases;
mod audit;
mod check;
mod config_view;
mod demo;
mod layers_view;
mod manpage;
mod mirror;
mod ops;
mod output;
mod progress;
mod prune;
mod read_only;
mod resolve;
mod restore;
mod verify;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, Parser, Subcommand};

use crate::cloud::Target;
use crate::config::{Config, ConfigError};
use crate::db::Db;
use crate::observe::Observers;
use crate::shutdown::Shutdown;
use crate::sweep::{Outcome, SweepReport, Sweeper};

/// Keeps a verified, versioned archive of the code deployed to Tencent Cloud SCF and
/// Alibaba Cloud Function Compute.
#[derive(Debug, Parser)]
#[command(name = "fnvault", version, about, long_about = None, after_help = TOP_HELP)]
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

    /// More log output (-v debug, -vv trace; for `demo`, -v info). `RUST_LOG` overrides.
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

    /// Accept a config file readable by group or others although it holds an inline secret.
    #[arg(long, global = true)]
    allow_insecure_config: bool,

    #[command(subcommand)]
    command: Command,
}

const TOP_HELP: &str = "\
Configuration: --config FILE, else $FNVAULT_CONFIG, else /etc/fnvault/config.toml.

Exit status:
  0  success (or stopped by SIGTERM/SIGINT)
  1  the command ran, but a function failed (`status`: a function is failing or stale)
  2  usage, configuration or setup error

Examples:
  fnvault config example > config.toml     # every key, documented
  fnvault -c config.toml config check
  fnvault -c config.toml sync
  fnvault -c config.toml status
  fnvault help sync                        # each command's options and examples";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one sweep: check every configured function, archive what changed.
    ///
    /// Exit status 0 when every function was checked, 1 when any failed, 2 for a configuration
    /// or setup error. On a terminal it draws progress bars on stderr and ends with a table of
    /// what changed; otherwise it only logs.
    #[command(after_help = "\
Examples:
  fnvault --config /etc/fnvault/config.toml sync
  fnvault sync --dry-run                     # what would be downloaded, nothing written
  fnvault sync --only 'tc-prod/*' --only checkout
  fnvault sync --no-progress 2> sync.log")]
    Sync {
        /// Check every function (one API call each) and print what a sweep would download and
        /// why (new, changed, blob missing). Downloads nothing and records nothing: no sweep
        /// row, no check time. Takes no lock, so it works while a daemon runs.
        #[arg(long)]
        dry_run: bool,
        /// Only the functions matching this glob (`*`, `?`, `[..]`), matched against the
        /// canonical key and the function name, discovered functions included. Repeatable; a
        /// pattern matching no function is an error (exit 2).
        #[arg(long, value_name = "PATTERN")]
        only: Vec<String>,
        /// No progress bars or change table, even on a terminal.
        #[arg(long, env = "FNVAULT_NO_PROGRESS")]
        no_progress: bool,
    },
    /// Run sweeps on the config's `[schedule]` until SIGTERM or SIGINT (for systemd: it sends
    /// READY, STATUS and WATCHDOG notifications when run as a Type=notify service).
    ///
    /// On the first signal no new work starts and in-flight downloads get
    /// `sync.shutdown_grace` to finish; a second signal cancels them at once. Either way nothing
    /// partial is left in the archive, and the exit status is 0.
    ///
    /// Needs a `[schedule]` section in the config. With `[metrics]` it serves Prometheus
    /// metrics at `http://<listen>/metrics`; with `[notify]` it alerts and pings.
    #[command(after_help = "\
Examples:
  fnvault --config /etc/fnvault/config.toml daemon
  systemctl start fnvault        # the shipped unit runs `fnvault daemon`
  curl -s http://127.0.0.1:9464/metrics | grep fnvault_last_success")]
    Daemon,
    /// List the configured (and discovered) functions with their archived versions and last check.
    #[command(after_help = "\
Examples:
  fnvault list
  fnvault list --json | jq '.[] | select(.last_error != null)'")]
    List {
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// See fnvault work with no cloud account: start the built-in simulator, sweep it,
    /// redeploy a function, sweep again, and show what was archived. Its log lines (one per
    /// archived package and sweep) only appear with -v; warnings always do.
    #[command(after_help = "\
Examples:
  fnvault demo
  fnvault -v demo          # also the INFO log lines on stderr
  fnvault demo --dir /tmp/fnvault-demo && fnvault -c /tmp/fnvault-demo/config.toml status")]
    Demo {
        /// Where to put the demo's config, archive and database (default: a new temp folder,
        /// kept afterwards so you can look around).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Configuration helpers.
    #[command(
        subcommand,
        after_help = "\
Examples:
  fnvault config example > /etc/fnvault/config.toml
  fnvault --config /etc/fnvault/config.toml config check"
    )]
    Config(ConfigCommand),
    /// Validate the config, resolve every credential (printing its source, never its value)
    /// and prove each account's keys with one read-only API call (SCF ListNamespaces, FC
    /// ListServices, one item).
    ///
    /// Exit status 0 when every account answered, 1 when any did not, 2 for a config error.
    #[command(after_help = "\
Examples:
  fnvault check
  fnvault --config /etc/fnvault/config.toml check")]
    Check,
    /// Show the last sweeps, the failing functions, the functions not successfully checked for
    /// more than a day, and archive totals. Read-only: works while a daemon runs, needs no keys.
    ///
    /// Exit status 1 when a function is failing or stale, so it doubles as a health check.
    #[command(after_help = "\
Examples:
  fnvault status
  fnvault status --sweeps 30
  fnvault status --json | jq '.failing[].function'")]
    Status {
        /// One JSON object (`sweeps`, `failing`, `stale`, `archive`) instead of text.
        #[arg(long)]
        json: bool,
        /// How many of the latest sweeps to show (at least 1).
        #[arg(long, default_value_t = 10, value_name = "N",
              value_parser = clap::value_parser!(u64).range(1..))]
        sweeps: u64,
    },
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  fnvault completions bash | sudo tee /usr/share/bash-completion/completions/fnvault
  fnvault completions zsh > \"${fpath[1]}/_fnvault\"
  fnvault completions fish > ~/.config/fish/completions/fnvault.fish")]
    Completions {
        /// The shell to print the script for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): one page with every command's options and examples,
    /// generated from this command line's definition.
    #[command(after_help = "\
Examples:
  fnvault man | man -l -
  fnvault man | sudo tee /usr/local/share/man/man1/fnvault.1 >/dev/null && sudo mandb")]
    Man,
    #[command(flatten)]
    Audit(audit::AuditCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the example configuration, every key documented.
    #[command(after_help = "Example:\n  fnvault config example > config.toml")]
    Example,
    /// Validate the configuration file, resolve every credential (printing where each came
    /// from, never its value) and print what it configures. Makes no network call.
    #[command(after_help = "Example:\n  fnvault --config /etc/fnvault/config.toml config check")]
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
    // The demo tells its own story on stdout; its INFO lines would only repeat it.
    let quiet_default = matches!(cli.command, Command::Demo { .. });
    init_logging(cli.verbose, cli.quiet, quiet_default, cli.log_format);
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
            print_error(&e);
            ExitCode::from(2)
        }
        Err(Fatal::Failed(e)) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            print_error(&e);
            ExitCode::from(1)
        }
    }
}

/// `error: …` and its `  caused by: …` lines, escaped: a cause may quote a cloud's message.
fn print_error(e: &anyhow::Error) {
    eprintln!("error: {}", output::shown(&e.to_string()));
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {}", output::shown(&cause.to_string()));
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

/// `quiet_default`: a command whose stdout already says what happened (`demo`) logs only
/// warnings unless asked; each `-v` then adds one level (info, debug, trace).
fn init_logging(verbose: u8, quiet: bool, quiet_default: bool, format: LogFormat) {
    const LEVELS: [&str; 4] = ["warn", "info", "debug", "trace"];
    let default = if quiet {
        "warn"
    } else {
        let step = usize::from(verbose) + usize::from(!quiet_default);
        LEVELS[step.min(LEVELS.len() - 1)]
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("fnvault={default},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::LogWriter::default)
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
    let load = crate::config::LoadOptions {
        allow_insecure: cli.allow_insecure_config,
        per_account_credentials: false,
    };
    // The backup commands go on with the accounts whose keys work (the others' functions fail
    // with the reason); `check` and `config check` insist on every account.
    let backup = crate::config::LoadOptions {
        per_account_credentials: true,
        ..load
    };
    match cli.command {
        Command::Check => {
            let config = Config::load_with(&cli.config, load)?;
            Ok(check::run(&config).await?)
        }
        Command::Sync {
            dry_run,
            only,
            no_progress,
        } => {
            let config = Config::load_with(&cli.config, backup)?;
            let only = crate::select::Only::new(&only).map_err(anyhow::Error::msg)?;
            let targets = ops::select_targets(
                &config.functions,
                only.as_ref(),
                !config.discover.is_empty(),
            )?;
            let shutdown = Shutdown::new();
            shutdown.listen_for_signals(config.sync.shutdown_grace, || {});
            if dry_run {
                let plan = crate::dryrun::plan(&config, &targets, only.as_ref(), &shutdown)
                    .await
                    .map_err(anyhow::Error::from)?;
                return Ok(ops::print_plan(&plan)?);
            }
            let interactive = !no_progress && std::io::stderr().is_terminal();
            let report =
                sync_targets(&config, &targets, only, "sync", &shutdown, interactive).await?;
            // Results go to stdout (the same summary is also logged, for journald and pipes
            // that keep only stderr).
            print_failures(&report);
            println!("{}", report.summary_line());
            Ok(exit_for(&report))
        }
        Command::Status { json, sweeps } => {
            let config = Config::load_without_credentials(&cli.config)?;
            // Beyond usize (32-bit targets) simply means "all of them".
            let sweeps = usize::try_from(sweeps).unwrap_or(usize::MAX);
            Ok(ops::status(&config, sweeps, json)?)
        }
        Command::Completions { shell } => {
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "fnvault", &mut out);
            out.flush().map_err(anyhow::Error::from)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut out = std::io::stdout().lock();
            manpage::render(Cli::command(), &mut out).map_err(anyhow::Error::from)?;
            out.flush().map_err(anyhow::Error::from)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Daemon => {
            let config = Config::load_with(&cli.config, backup)?;
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
            let config = Config::load_with(&cli.config, load)?;
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
            for d in &config.discover {
                println!("  {}", check::describe_rule(d));
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
    sync_targets(config, &config.functions, None, trigger, shutdown, false).await
}

/// One sweep over `targets`, holding the archive lock; `interactive` draws progress bars and
/// the table of changes on stderr. `[notify]` alerts and pings are sent (and waited for).
async fn sync_targets(
    config: &Config,
    targets: &[Target],
    only: Option<crate::select::Only>,
    trigger: &str,
    shutdown: &Shutdown,
    interactive: bool,
) -> anyhow::Result<SweepReport> {
    let (mut sweeper, lock) = open_sweeper(config, |_| {}).await?;
    sweeper.set_only(only);
    let mut observers = Observers::default();
    let bars = interactive.then(|| Arc::new(progress::Progress::start()));
    if let Some(b) = &bars {
        observers.push(b.clone());
    }
    let notifier = start_notifier(config, &mut observers)?;
    sweeper.set_observer(Arc::new(observers));
    let result = sweeper.sweep(targets, trigger, shutdown).await;
    if let Some(b) = &bars {
        b.finish();
    }
    if result.is_ok() && !config.mirrors.is_empty() && !shutdown.is_stopping() {
        // After the sweep, under its lock; a failed mirror is logged and recorded only. Before
        // the notifier finishes, so a lag alert goes out with this run.
        let archive = sweeper.archive().clone();
        tokio::task::block_in_place(|| {
            mirror::run_mirrors(config, &archive, &lock, None, &|| {});
            mirror::check_lag(config, notifier.as_ref().map(|(n, _)| n.as_ref()));
        });
    }
    if let Some((notifier, worker)) = notifier {
        if let Err(e) = &result {
            notifier.sweep_error(&e.to_string());
        }
        worker.finish().await;
    }
    let report = result?;
    if shutdown.is_stopping() {
        // Cancelled downloads drop their temp files; make sure before the lock is released.
        sweeper.archive().clean_tmp(&lock)?;
    }
    if bars.is_some() {
        ops::print_changes(&mut std::io::stderr().lock(), &report)?;
    }
    Ok(report)
}

/// How often the daemon tells systemd it is still starting (`STATUS=`) while the start-up
/// reconcile runs.
const START_STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// [`Sweeper::open`] (locks, migration, the journal reconcile: seconds to minutes on a big
/// archive) on a blocking thread, so it never holds an async worker; `progress` hears the time
/// spent every [`START_STATUS_EVERY`] until it is done.
async fn open_sweeper(
    config: &Config,
    mut progress: impl FnMut(std::time::Duration),
) -> anyhow::Result<(Sweeper, crate::archive::LockGuard)> {
    let config = config.clone();
    let started = tokio::time::Instant::now();
    let mut task = tokio::task::spawn_blocking(move || Sweeper::open(&config));
    let mut every = tokio::time::interval_at(started + START_STATUS_EVERY, START_STATUS_EVERY);
    loop {
        tokio::select! {
            opened = &mut task => {
                return Ok(opened.map_err(|e| anyhow::anyhow!("the start-up task failed: {e}"))??);
            }
            _ = every.tick() => progress(started.elapsed()),
        }
    }
}

/// Starts the `[notify]` worker, if configured, and adds it to `observers`.
fn start_notifier(
    config: &Config,
    observers: &mut Observers,
) -> anyhow::Result<Option<(Arc<crate::notify::Notifier>, crate::notify::NotifierWorker)>> {
    let Some(settings) = config.notify.clone() else {
        return Ok(None);
    };
    let http = crate::http::client(&config.http)
        .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?;
    let (notifier, worker) = crate::notify::Notifier::start(
        settings,
        http,
        config.database_path.clone(),
        config.functions.clone(),
        config.discover.clone(),
    );
    observers.push(notifier.clone());
    Ok(Some((notifier, worker)))
}

/// Starts serving `[metrics]`, if configured, with gauges loaded from the database, and adds
/// the metrics to `observers`.
async fn start_metrics(
    config: &Config,
    shutdown: &Shutdown,
    observers: &mut Observers,
) -> anyhow::Result<Option<(tokio::task::JoinHandle<()>, Arc<crate::metrics::Metrics>)>> {
    let Some(settings) = &config.metrics else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: [metrics] listen = \"{}\": cannot listen there: {e}",
                config.file.display(),
                settings.listen
            )
        })?;
    let mut metrics = crate::metrics::Metrics::new(
        config.database_path.clone(),
        config.functions.clone(),
        config.discover.clone(),
    );
    metrics.set_mirrors(config.mirrors.iter().map(|m| m.name.clone()).collect());
    let metrics = Arc::new(metrics);
    let path = config.database_path.clone();
    let loader = Arc::clone(&metrics);
    tokio::task::spawn_blocking(move || match Db::open_read_only(&path)? {
        Some(db) => loader.load(&db),
        None => Ok(()),
    })
    .await
    .map_err(|e| anyhow::anyhow!("loading metrics from the database: {e}"))??;
    observers.push(metrics.clone());
    tracing::info!(listen = %settings.listen, "serving metrics at /metrics");
    Ok(Some((
        crate::metrics::serve(listener, Arc::clone(&metrics), shutdown.clone()),
        metrics,
    )))
}

/// The daemon: sweeps on schedule until a signal, talking to systemd when run under it.
async fn daemon(config: &Config) -> anyhow::Result<()> {
    let Some(schedule) = config.schedule.clone() else {
        return Err(anyhow::anyhow!(
            "{}: no [schedule] section: the daemon needs `[schedule] cron = \"...\"` (or run `fnvault sync` from a timer)",
            config.file.display()
        ));
    };
    // Signals first: a SIGTERM during a long start-up stops the daemon cleanly (it exits 0
    // once the start-up work is done) instead of killing it mid-reconcile.
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals(config.sync.shutdown_grace, || {
        notify(&[sd_notify::NotifyState::Stopping]);
    });
    notify(&[sd_notify::NotifyState::Status(
        "starting: taking the locks, migrating the database, reconciling it with the journal",
    )]);
    let (mut sweeper, lock) = open_sweeper(config, |spent| {
        let line = format!(
            "starting: reconciling the database with the journal ({} s so far)",
            spent.as_secs()
        );
        notify(&[sd_notify::NotifyState::Status(&line)]);
    })
    .await?;
    if shutdown.is_stopping() {
        tracing::info!("stopped during start-up; no sweep ran");
        sweeper.archive().clean_tmp(&lock)?;
        return Ok(());
    }
    let mut observers = Observers::default();
    let metrics_server = start_metrics(config, &shutdown, &mut observers).await?;
    let notifier = start_notifier(config, &mut observers)?;
    // The watchdog is fed by the scheduler loop, which sees whether sweeps move.
    let watchdog = sd_notify::watchdog_enabled().map(|interval| {
        let (watchdog, progress) = crate::schedule::Watchdog::new(interval, || {
            notify(&[sd_notify::NotifyState::Watchdog])
        });
        observers.push(progress);
        watchdog
    });
    let watchdog_on = watchdog.is_some();
    sweeper.set_observer(Arc::new(observers));
    // Config parsed, database migrated and reconciled, lock held: systemd may consider us
    // started.
    let first = if schedule.run_on_start {
        "running the start-up sweep"
    } else {
        "waiting for the first scheduled sweep"
    };
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(first),
    ]);
    let result = crate::schedule::run(
        &sweeper,
        &config.functions,
        &schedule,
        &shutdown,
        watchdog.as_ref(),
        |r| {
            let line = r.summary_line();
            notify(&[sd_notify::NotifyState::Status(&line)]);
            if !config.mirrors.is_empty() && !shutdown.is_stopping() {
                notify(&[sd_notify::NotifyState::Status("mirroring")]);
                tokio::task::block_in_place(|| {
                    // The scheduler's watchdog check is blocked here: a mirror that moves
                    // feeds systemd's watchdog itself (one that hangs does not).
                    let moved = || {
                        if watchdog_on {
                            notify(&[sd_notify::NotifyState::Watchdog]);
                        }
                    };
                    mirror::run_mirrors(config, sweeper.archive(), &lock, None, &moved);
                    mirror::check_lag(config, notifier.as_ref().map(|(n, _)| n.as_ref()));
                    if let Some((_, metrics)) = &metrics_server {
                        mirror::load_metrics(config, metrics);
                    }
                });
                notify(&[sd_notify::NotifyState::Status(&line)]);
            }
        },
    )
    .await;
    if let Some((notifier, worker)) = notifier {
        if let Err(e) = &result {
            notifier.sweep_error(&e.to_string());
        }
        worker.finish().await;
    }
    if let Some((server, _)) = metrics_server {
        // It stops with the shutdown's stop signal; a sweep error ends the daemon without one.
        server.abort();
    }
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
            println!("failed: {}: {}", r.key, output::shown(error));
        }
    }
}

/// Said on stderr by read-only commands that find no database: new, or lost.
pub(crate) fn no_database_note(config: &Config) {
    eprintln!(
        "note: there is no database at {} yet: nothing has been archived (if it was lost, `fnvault reindex` rebuilds it from the archive at {})",
        config.database_path.display(),
        config.archive.dir.display()
    );
}

fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let summaries = match Db::open_read_only(&config.database_path)? {
        // Discovered functions included, gone ones too: their archive is kept and listed.
        // One pass over the functions (`tracked_summaries`), not one per question.
        Some(db) => crate::tracked::tracked_summaries(config, &db)?,
        None => {
            no_database_note(config);
            config
                .functions
                .iter()
                .map(crate::db::empty_summary)
                .collect()
        }
    };
    let stdout = std::io::stdout();
    // Buffered: stdout is line-buffered, and 10,000 rows are 10,000 writes otherwise.
    let mut out = std::io::BufWriter::new(stdout.lock());
    if json {
        serde_json::to_writer_pretty(&mut out, &output::list_json(&summaries))?;
        writeln!(out)?;
    } else {
        output::list_table(&mut out, &summaries)?;
    }
    out.flush()?;
    Ok(())
}
