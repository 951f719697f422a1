//! The one HTTP client of the process: rustls, connection and idle timeouts, our User-Agent.
//!
//! Owns: every `reqwest::Client` fnvault makes (clippy's `disallowed-methods` bans building one
//! anywhere else, so no request goes out without timeouts).

use std::time::Duration;

use crate::config::HttpSettings;

/// `fnvault/<version>`: what every request says it is.
pub const USER_AGENT: &str = concat!("fnvault/", env!("CARGO_PKG_VERSION"));

/// Builds the shared client. Redirects follow [`redirect_allowed`]; compression is off so the
/// bytes hashed are the bytes the cloud stored.
pub fn client(settings: &HttpSettings) -> Result<reqwest::Client, reqwest::Error> {
    #[allow(clippy::disallowed_methods)]
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(settings.connect_timeout)
        // Per read, not per request: a 1 GiB package may take minutes, a silent socket may not.
        .read_timeout(settings.download_idle_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(redirect_policy())
        .build()
}

/// The redirect policy of [`client`]: [`redirect_allowed`] on each hop.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        match redirect_allowed(attempt.previous(), attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(why) => attempt.error(why),
        }
    })
}

/// Whether a redirect from the chain `previous` (the original URL first) to `next` may be
/// followed. Downloads and webhooks share it. Refused: more than 5 hops; a scheme other than
/// http(s); https → http anywhere in the chain (a downgrade would hand the rest of the
/// transfer to anyone on the path); and a hop to an internal address (loopback, private,
/// link-local such as the 169.254.169.254 metadata service, unique-local, unspecified,
/// `localhost`) unless the original URL was itself internal. Without that last rule a man in
/// the middle of a plain-http COS URL could point fnvault at the metadata service or its own
/// `/metrics` and read the status and size back from `last_error`: a blind SSRF probe. The
/// simulator and test servers are internal from the start, so they keep working.
///
/// Only IP literals and `localhost` are recognised: a public name that resolves to an
/// internal address is not caught here.
pub fn redirect_allowed(previous: &[url::Url], next: &url::Url) -> Result<(), &'static str> {
    if previous.len() >= 5 {
        return Err("more than 5 redirects");
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Err("redirect to a scheme other than http or https");
    }
    if next.scheme() == "http" && previous.iter().any(|u| u.scheme() == "https") {
        return Err("redirect from https to plain http");
    }
    let started_internal = previous.first().is_some_and(is_internal);
    if is_internal(next) && !started_internal {
        return Err("redirect to an internal address (loopback, private or link-local)");
    }
    Ok(())
}

/// Whether `url`'s host is this machine or a private network: an IP literal in a loopback,
/// private, link-local, unique-local, shared (100.64/10) or unspecified range, or `localhost`.
pub fn is_internal(url: &url::Url) -> bool {
    use std::net::IpAddr;
    let internal_ip = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| {
                    v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
                })
        }
    };
    match url.host() {
        Some(url::Host::Ipv4(v4)) => internal_ip(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => internal_ip(IpAddr::V6(v6)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
}

/// Whether `url`'s host is this machine: a loopback IP literal or `localhost`.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => v4.is_loopback(),
        Some(url::Host::Ipv6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    /// Review X4: redirects could downgrade to http and reach internal addresses.
    #[test]
    fn a_redirect_never_downgrades_nor_moves_inside_from_outside() {
        let cos = u("https://b-1250000000.cos.ap-guangzhou.myqcloud.com/f.zip?sign=x");
        let plain = u("http://b-1250000000.cos.ap-guangzhou.myqcloud.com/f.zip?sign=x");
        assert!(
            redirect_allowed(std::slice::from_ref(&cos), &u("https://other.example/x")).is_ok()
        );
        assert!(redirect_allowed(std::slice::from_ref(&cos), &plain).is_err());
        // A downgrade later in the chain is one too.
        let chain = [cos.clone(), u("https://mirror.example/f.zip")];
        assert!(redirect_allowed(&chain, &u("http://mirror.example/f.zip")).is_err());
        for inside in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:9464/metrics",
            "https://10.0.0.8/x",
            "https://192.168.1.1/x",
            "https://172.16.0.1/x",
            "https://100.100.100.200/latest/meta-data/",
            "https://[::1]/x",
            "https://[fe80::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://0.0.0.0/x",
            "https://localhost:8080/x",
        ] {
            let plain_start = [plain.clone()];
            assert!(
                redirect_allowed(&plain_start, &u(inside)).is_err(),
                "{inside} allowed"
            );
            assert!(
                redirect_allowed(std::slice::from_ref(&cos), &u(inside)).is_err(),
                "{inside} allowed"
            );
        }
        // A URL that was internal from the start (the simulator, a LAN webhook) may move
        // within.
        let sim = [u("http://127.0.0.1:4000/cos/f.zip?sign=x")];
        assert!(redirect_allowed(&sim, &u("http://127.0.0.1:4000/cos/g.zip")).is_ok());
        assert!(redirect_allowed(&sim, &u("file:///etc/passwd")).is_err());
        let five = vec![sim[0].clone(); 5];
        assert!(redirect_allowed(&five, &sim[0]).is_err());
    }

    /// The policy as the client runs it: a public-looking host (resolved to 127.0.0.1 here, as
    /// a man in the middle would answer) that redirects to a loopback port is refused, and the
    /// loopback server never sees the request.
    #[tokio::test]
    async fn the_client_refuses_a_redirect_from_outside_to_loopback() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let inner = Arc::clone(&hits);
        let target = axum::Router::new().fallback(move || {
            inner.fetch_add(1, Ordering::SeqCst);
            async { "secret metrics" }
        });
        let target_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target_port = target_listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(target_listener, target).await });
        let location = format!("http://127.0.0.1:{target_port}/metrics");
        let redirector = axum::Router::new().fallback(move || {
            let location = location.clone();
            async move {
                (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, location)],
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, redirector).await });

        #[allow(clippy::disallowed_methods)]
        let client = reqwest::Client::builder()
            .redirect(redirect_policy())
            .resolve("cos.example.test", addr)
            .no_proxy()
            .build()
            .unwrap();
        let outside = format!("http://cos.example.test:{}/f.zip", addr.port());
        let err = client.get(&outside).send().await.unwrap_err();
        assert!(err.is_redirect(), "{err:?}");
        assert!(
            describe(&err).contains("redirect refused"),
            "{}",
            describe(&err)
        );
        assert_eq!(hits.load(Ordering::SeqCst), 0);

        // The same hop from a URL that was loopback from the start is followed.
        let inside = format!("http://127.0.0.1:{}/f.zip", addr.port());
        let body = client
            .get(&inside)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "secret metrics");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}
