//! Integration tests: the real `fnvault` binary against the in-process simulator on 127.0.0.1,
//! which verifies the signature of every API request. One test binary, one behaviour per test.

mod audit;
mod cli;
mod common;
mod config_errors;
mod credentials;
mod daemon;
mod discovery;
mod fault_inject;
mod faults;
mod fc3;
mod hostile;
mod layers;
mod metrics;
mod notify;
mod objstore;
mod progress;
mod props;
mod recovery;
mod secrets;
mod status;
mod sweepcost;
mod sync;
mod versions;
mod whole;
