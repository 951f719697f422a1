//! fnvault: a verified, versioned archive of the code deployed to Tencent Cloud SCF and
//! Alibaba Cloud Function Compute 2.0.
//!
//! The binary (`src/main.rs`) is a thin shell over [`cli::main`]. See `ARCHITECTURE.md` for the
//! module map and the invariants each module keeps.

pub mod archive;
pub mod capture;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod db;
pub mod discover;
pub mod dryrun;
pub mod fetch;
pub mod http;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod observe;
pub mod recovery;
pub mod retry;
pub mod schedule;
pub mod secret;
pub mod select;
pub mod shutdown;
pub mod sim;
pub mod sweep;
pub mod time;
pub mod tracked;
