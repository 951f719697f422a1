//! The one HTTP client of the process: rustls, connection and idle timeouts, our User-Agent.
//!
//! Owns: every `reqwest::Client` fnvault makes (clippy's `disallowed-methods` bans building one
//! anywhere else, so no request goes out without timeouts).

use std::time::Duration;

use crate::config::HttpSettings;

/// `fnvault/<version>`: what every request says it is.
pub const USER_AGENT: &str = concat!("fnvault/", env!("CARGO_PKG_VERSION"));

/// Builds the shared client. Redirects are limited and may not leave http(s); compression is off
/// so the bytes hashed are the bytes the cloud stored.
pub fn client(settings: &HttpSettings) -> Result<reqwest::Client, reqwest::Error> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("more than 5 redirects")
        } else if !matches!(attempt.url().scheme(), "http" | "https") {
            attempt.error("redirect to a scheme other than http or https")
        } else {
            attempt.follow()
        }
    });
    #[allow(clippy::disallowed_methods)]
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(settings.connect_timeout)
        // Per read, not per request: a 1 GiB package may take minutes, a silent socket may not.
        .read_timeout(settings.download_idle_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(policy)
        .build()
}

/// A reqwest error as one line, with the URL's query (a credential when presigned) removed.
pub fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_redirect() {
        "redirect refused"
    } else if err.is_body() || err.is_decode() {
        "reading the body failed"
    } else if err.is_request() {
        "request failed"
    } else {
        "HTTP error"
    };
    let mut msg = what.to_string();
    if let Some(url) = err.url() {
        msg.push_str(&format!(" ({})", crate::secret::redact_url(url.as_str())));
    }
    // The source chain says why (refused, reset, DNS…), without the URL.
    let mut source = std::error::Error::source(err);
    let mut seen = Vec::new();
    while let Some(s) = source {
        let text = s.to_string();
        if !seen.contains(&text) && !text.contains("://") {
            seen.push(text);
        }
        source = s.source();
    }
    if !seen.is_empty() {
        msg.push_str(": ");
        msg.push_str(&seen.join(": "));
    }
    msg
}
