//! Shutdown, passed down as a value (as in mini-redis): `stop` means "start nothing new",
//! `abort` means "cancel what is in flight". SIGTERM or SIGINT stops, and aborts after the
//! grace period; a second signal aborts at once. Cancelled downloads drop their temp files, so
//! neither leaves anything partial in the archive.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    stop: CancellationToken,
    abort: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Start no new work.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Cancel in-flight work too.
    pub fn abort(&self) {
        self.stop.cancel();
        self.abort.cancel();
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }

    pub async fn aborted(&self) {
        self.abort.cancelled().await
    }

    /// Wires SIGTERM and SIGINT to this shutdown: the first stops and arms a `grace` timer that
    /// aborts; the second aborts at once. `on_stop` runs at the first signal (sd_notify).
    ///
    /// The handlers are installed before this returns (not in the spawned task, which may run
    /// later): a signal that arrives during a long start-up then stops the process cleanly
    /// instead of killing it with the default action.
    pub fn listen_for_signals(&self, grace: Duration, on_stop: impl Fn() + Send + 'static) {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind)
                .map_err(|e| tracing::error!("cannot listen for {name}: {e}"))
                .ok()
        };
        let (Some(mut term), Some(mut int)) = (
            listen(SignalKind::terminate(), "SIGTERM"),
            listen(SignalKind::interrupt(), "SIGINT"),
        ) else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!(
                grace_s = grace.as_secs_f64(),
                "shutting down: no new work; in-flight downloads may finish within the grace period"
            );
            on_stop();
            this.stop();
            tokio::select! {
                _ = tokio::time::sleep(grace) => {
                    tracing::warn!("grace period over: cancelling in-flight downloads");
                }
                _ = term.recv() => tracing::warn!("second signal: cancelling in-flight downloads"),
                _ = int.recv() => tracing::warn!("second signal: cancelling in-flight downloads"),
            }
            this.abort();
        });
    }
}
