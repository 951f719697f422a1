//! The one pace → call → classify → back-off loop of fnvault's API calls, shared by the sweep
//! (configuration reads), discovery (listing pages), `sync --dry-run` and `check`.
//!
//! Owns: how many tries (`[retry] attempts`), which errors are tried again
//! ([`CloudError::is_retryable`]: throttling, 5xx, timeouts, resets, a function being
//! deployed), the wait between tries ([`backoff_delay`]: capped exponential with equal
//! jitter, never shorter than the cloud's `Retry-After`), and stopping at a shutdown. Each
//! caller keeps its own pacing (a call that paces itself passes no client), its own log and
//! observer hooks (`on_retry`), and its own handling of the final error.

use std::future::Future;
use std::time::Duration;

use crate::cloud::{self, CloudError};
use crate::config::RetrySettings;
use crate::shutdown::Shutdown;

/// How a call ended.
#[derive(Debug)]
pub enum Attempted<T> {
    Done(T),
    /// The last error, and how many tries were made (1 when it was not retried).
    Failed {
        error: CloudError,
        attempts: u32,
    },
    /// Shutdown stopped a wait between tries.
    Interrupted,
}

/// Calls `call` until it succeeds, fails with an error that is not retryable, has been tried
/// `[retry] attempts` times, or shutdown stops a wait. Before each try it waits for `pace`'s
/// rate limiter (when given). `on_retry(attempt, delay, error)` is told before each wait.
pub async fn call<T, F, Fut>(
    pace: Option<&cloud::Client>,
    retry: &RetrySettings,
    shutdown: &Shutdown,
    mut on_retry: impl FnMut(u32, Duration, &CloudError),
    mut call: F,
) -> Attempted<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CloudError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(client) = pace {
            client.pace().await;
        }
        match call().await {
            Ok(v) => return Attempted::Done(v),
            Err(e) if e.is_retryable() && attempt < retry.attempts => {
                let delay = backoff_delay(retry, attempt, e.retry_after);
                on_retry(attempt, delay, &e);
                if !wait(delay, shutdown).await {
                    return Attempted::Interrupted;
                }
            }
            Err(error) => {
                return Attempted::Failed {
                    error,
                    attempts: attempt,
                };
            }
        }
    }
}

/// Sleeps `delay` unless shutdown stops it first; false when stopped.
pub async fn wait(delay: Duration, shutdown: &Shutdown) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => !shutdown.is_stopping(),
        _ = shutdown.stopped() => false,
    }
}

/// The wait before try `attempt + 1`: capped exponential backoff with "equal jitter" (half
/// fixed, half random), so many functions failing together do not retry in lockstep; never
/// shorter than what the cloud asked for.
pub fn backoff_delay(retry: &RetrySettings, attempt: u32, asked: Option<Duration>) -> Duration {
    let exp = retry
        .initial_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(retry.max_backoff);
    let half = exp / 2;
    let jitter = half.mul_f64(rand::random::<f64>());
    let delay = half + jitter;
    match asked {
        Some(a) => delay.max(a),
        None => delay,
    }
}

/// `error`, saying how many tries it took when more than one.
pub fn with_attempts(error: String, attempts: u32) -> String {
    if attempts > 1 {
        format!("{error} (after {attempts} attempts)")
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Cloud, ErrorKind};

    fn settings() -> RetrySettings {
        RetrySettings {
            attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    fn error(kind: ErrorKind) -> CloudError {
        CloudError {
            kind,
            cloud: Cloud::Tencent,
            code: Some("X".into()),
            message: "m".into(),
            http_status: None,
            request_id: None,
            retry_after: None,
        }
    }

    #[tokio::test]
    async fn retryable_errors_are_tried_again_up_to_the_limit_and_others_are_not() {
        let shutdown = Shutdown::new();
        let mut tries = 0;
        let mut told = Vec::new();
        let r: Attempted<()> = call(
            None,
            &settings(),
            &shutdown,
            |a, _, _| told.push(a),
            || {
                tries += 1;
                async { Err(error(ErrorKind::Retryable)) }
            },
        )
        .await;
        assert!(matches!(r, Attempted::Failed { attempts: 3, .. }), "{r:?}");
        assert_eq!((tries, told), (3, vec![1, 2]));

        let mut tries = 0;
        let r: Attempted<()> = call(
            None,
            &settings(),
            &shutdown,
            |_, _, _| {},
            || {
                tries += 1;
                async { Err(error(ErrorKind::NotFound)) }
            },
        )
        .await;
        assert!(matches!(r, Attempted::Failed { attempts: 1, .. }), "{r:?}");
        assert_eq!(tries, 1);

        let mut tries = 0;
        let r = call(
            None,
            &settings(),
            &shutdown,
            |_, _, _| {},
            || {
                tries += 1;
                let n = tries;
                async move {
                    if n < 2 {
                        Err(error(ErrorKind::Deploying))
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert!(matches!(r, Attempted::Done(2)), "{r:?}");
    }

    #[tokio::test]
    async fn a_stop_ends_the_wait() {
        let shutdown = Shutdown::new();
        shutdown.stop();
        let r: Attempted<()> = call(
            None,
            &settings(),
            &shutdown,
            |_, _, _| {},
            || async { Err(error(ErrorKind::Retryable)) },
        )
        .await;
        assert!(matches!(r, Attempted::Interrupted), "{r:?}");
    }

    #[test]
    fn the_delay_grows_is_capped_and_honours_retry_after() {
        let s = RetrySettings {
            attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        };
        for _ in 0..50 {
            let d1 = backoff_delay(&s, 1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d9 = backoff_delay(&s, 9, None);
            assert!(d9 >= Duration::from_millis(150) && d9 <= Duration::from_millis(300));
        }
        assert_eq!(
            backoff_delay(&s, 1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }
}
