//! Hooks into a running sweep, for metrics, progress bars and alerts.
//!
//! Owns: the [`SweepObserver`] trait and its fan-out. The sweep calls these hooks from its
//! tasks as things happen; observers only count and draw, so every hook must return at once
//! (anything slow, like an HTTP call, is handed to a task of the observer's own). Every method
//! has a no-op default, and a sweep without observers uses [`NoObserver`].

use std::sync::Arc;

use crate::cloud::{CloudError, Target};
use crate::sweep::{FunctionResult, SweepReport};

pub trait SweepObserver: Send + Sync {
    /// A `[[discover]]` listing is still under way (every few seconds while it runs).
    fn listing(&self) {}
    /// A sweep row was created and work on `targets` begins.
    fn sweep_started(&self, _sweep_id: i64, _targets: &[Target]) {}
    /// One cloud API call returned (`Err` with its classified error).
    fn api_call(&self, _target: &Target, _result: Result<(), &CloudError>) {}
    /// A failed try is followed by another one.
    fn retry(&self, _target: &Target) {}
    /// A download's response arrived; `expected` is its Content-Length when sent.
    fn download_started(&self, _target: &Target, _expected: Option<u64>) {}
    /// `bytes` more bytes of a download arrived.
    fn download_received(&self, _target: &Target, _bytes: u64) {}
    /// A download ended, whether it succeeded or not.
    fn download_ended(&self, _target: &Target) {}
    /// One function's outcome in this sweep is final.
    fn function_finished(&self, _target: &Target, _result: &FunctionResult) {}
    /// The sweep is recorded as finished.
    fn sweep_finished(&self, _report: &SweepReport) {}
}

/// The observer of a sweep nobody watches.
pub struct NoObserver;

impl SweepObserver for NoObserver {}

/// Several observers, called in order.
#[derive(Default, Clone)]
pub struct Observers(pub Vec<Arc<dyn SweepObserver>>);

impl Observers {
    pub fn push(&mut self, o: Arc<dyn SweepObserver>) {
        self.0.push(o);
    }
}

impl SweepObserver for Observers {
    fn listing(&self) {
        self.0.iter().for_each(|o| o.listing());
    }
    fn sweep_started(&self, sweep_id: i64, targets: &[Target]) {
        self.0
            .iter()
            .for_each(|o| o.sweep_started(sweep_id, targets));
    }
    fn api_call(&self, target: &Target, result: Result<(), &CloudError>) {
        self.0.iter().for_each(|o| o.api_call(target, result));
    }
    fn retry(&self, target: &Target) {
        self.0.iter().for_each(|o| o.retry(target));
    }
    fn download_started(&self, target: &Target, expected: Option<u64>) {
        self.0
            .iter()
            .for_each(|o| o.download_started(target, expected));
    }
    fn download_received(&self, target: &Target, bytes: u64) {
        self.0
            .iter()
            .for_each(|o| o.download_received(target, bytes));
    }
    fn download_ended(&self, target: &Target) {
        self.0.iter().for_each(|o| o.download_ended(target));
    }
    fn function_finished(&self, target: &Target, result: &FunctionResult) {
        self.0
            .iter()
            .for_each(|o| o.function_finished(target, result));
    }
    fn sweep_finished(&self, report: &SweepReport) {
        self.0.iter().for_each(|o| o.sweep_finished(report));
    }
}
