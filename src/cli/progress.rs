//! Progress bars for `fnvault sync` on a terminal: functions done of total, and one bar per
//! download in flight with its bytes and rate. Off when stderr is not a terminal (or with
//! `--no-progress`): then the log lines are all there is.
//!
//! Log lines go through [`LogWriter`], which hides the bars while it writes, so a log line
//! never tears a bar.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cloud::Target;
use crate::observe::SweepObserver;
use crate::sweep::{FunctionResult, SweepReport};

/// The bars being drawn, if any: the log writer hides them around each line.
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

pub struct Progress {
    multi: MultiProgress,
    functions: ProgressBar,
    downloads: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    /// Starts drawing on stderr (the caller has checked it is a terminal).
    pub fn start() -> Progress {
        let multi = MultiProgress::new();
        let functions = multi.add(ProgressBar::new(0));
        functions.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} functions  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        functions.set_prefix("sweep");
        functions.enable_steady_tick(Duration::from_millis(200));
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = Some(multi.clone());
        Progress {
            multi,
            functions,
            downloads: Mutex::new(HashMap::new()),
        }
    }

    /// Stops drawing; the functions bar stays on screen as the last word.
    pub fn finish(&self) {
        self.functions.finish();
        for (_, bar) in self
            .downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            bar.finish_and_clear();
        }
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl SweepObserver for Progress {
    fn sweep_started(&self, sweep_id: i64, targets: &[Target]) {
        self.functions.set_prefix(format!("sweep {sweep_id}"));
        self.functions.set_length(targets.len() as u64);
    }

    fn download_started(&self, target: &Target, expected: Option<u64>) {
        let bar = self.multi.add(match expected {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        });
        let template = if expected.is_some() {
            "  {msg} {bytes}/{total_bytes} {bytes_per_sec} [{bar:20}]"
        } else {
            "  {msg} {bytes} {bytes_per_sec}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(target.key.clone());
        let old = self
            .downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target.key.clone(), bar);
        if let Some(old) = old {
            old.finish_and_clear();
        }
    }

    fn download_received(&self, target: &Target, bytes: u64) {
        if let Some(bar) = self
            .downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&target.key)
        {
            bar.inc(bytes);
        }
    }

    fn download_ended(&self, target: &Target) {
        let bar = self
            .downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&target.key);
        if let Some(bar) = bar {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn function_finished(&self, _target: &Target, _result: &FunctionResult) {
        self.functions.inc(1);
    }

    fn sweep_finished(&self, _report: &SweepReport) {
        self.functions.finish();
    }
}

/// The log writer: one formatted event per value, written to stderr on drop, with the bars
/// hidden meanwhile when there are any.
#[derive(Default)]
pub struct LogWriter(Vec<u8>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // A log line that cannot be written has nowhere else to go.
        match active {
            Some(multi) => multi.suspend(|| {
                let _ = std::io::stderr().write_all(&self.0);
            }),
            None => {
                let _ = std::io::stderr().write_all(&self.0);
            }
        }
    }
}
