//! Types that hold secrets (keys, tokens, presigned download URLs) and refuse to print them.
//!
//! Invariant: nothing secret reaches a log line, an error message or the database. Holding a
//! secret in [`Secret`] or [`SecretUrl`] makes the accidental `{:?}` in a log line harmless; the
//! only way to the value is an explicit `expose()` at the place that needs it (signing, sending).

use std::fmt;

/// A secret string (access key secret, session token). `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().into_boxed_str())
    }

    /// The value itself, for the signer. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A presigned download URL. Its query string is a credential (COS `sign=`, OSS `Signature=`),
/// so it prints as `scheme://host/path?***`; the path alone is enough to diagnose a failure.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Box<str>);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into().into_boxed_str())
    }

    /// The URL byte for byte, as the cloud gave it: the download must not re-encode it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without its query and fragment, safe for logs and errors.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

/// Cuts the query and fragment (and any userinfo) off a URL so it can be shown.
pub fn redact_url(url: &str) -> String {
    let (without_query, had_query) = match url.find(['?', '#']) {
        Some(i) => (&url[..i], true),
        None => (url, false),
    };
    // Userinfo (`user:pass@host`) is a credential too.
    let shown = match without_query.find("://") {
        Some(scheme_end) => {
            let rest = &without_query[scheme_end + 3..];
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!(
                    "{}***@{}",
                    &without_query[..scheme_end + 3],
                    &rest[at + 1..]
                ),
                None => without_query.to_string(),
            }
        }
        None => without_query.to_string(),
    };
    if had_query {
        format!("{shown}?***")
    } else {
        shown
    }
}

/// `text` with the query, fragment and userinfo cut off every `http(s)://` URL in it (see
/// [`redact_url`]): for text a cloud or a server wrote (an error's code or message), which may
/// quote a presigned URL.
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_url(rest) {
        out.push_str(&rest[..start]);
        let url = &rest[start..];
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(url.len());
        out.push_str(&redact_url(&url[..end]));
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

/// Where the first `http://` or `https://` (any case) in `text` starts.
fn find_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    [lower.find("http://"), lower.find("https://")]
        .into_iter()
        .flatten()
        .min()
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A URL that is a credential as a whole: a webhook or ping URL whose token may sit in its
/// path (Slack's `/services/T…/B…/<token>`, healthchecks.io's `/<uuid>`), its query or its
/// userinfo. Prints only `scheme://host[:port]/…`.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointUrl(Box<str>);

impl EndpointUrl {
    pub fn new(url: impl Into<String>) -> Self {
        EndpointUrl(url.into().into_boxed_str())
    }

    /// The URL itself, to send the request. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `https://host:port/…`: enough to tell which endpoint failed, nothing of its path,
    /// query or userinfo.
    pub fn origin(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(u) => match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{}://{h}:{p}/…", u.scheme()),
                (Some(h), None) => format!("{}://{h}/…", u.scheme()),
                _ => "(URL)".into(),
            },
            Err(_) => "(URL)".into(),
        }
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn urls_quoted_in_a_text_lose_their_query_and_userinfo() {
        assert_eq!(
            redact_urls_in(r#"{"code":"http://127.0.0.1:1/a.zip?sign=x"}"#),
            r#"{"code":"http://127.0.0.1:1/a.zip?***"}"#
        );
        assert_eq!(
            redact_urls_in("see HTTPS://u:p@h/x?Signature=s#f and https://h/y?a=b"),
            "see HTTPS://***@h/x?*** and https://h/y?***"
        );
        assert_eq!(redact_urls_in("no url here"), "no url here");
    }

    use super::*;

    /// Review X5: webhook and ping URLs printed their path, where Slack and healthchecks.io
    /// keep the token.
    #[test]
    fn an_endpoint_prints_only_its_origin() {
        let u = EndpointUrl::new("https://u:pw@hooks.slack.com/services/T0/B0/s3cret?token=x");
        assert_eq!(format!("{u}"), "https://hooks.slack.com/…");
        assert_eq!(format!("{u:?}"), "https://hooks.slack.com/…");
        let p = EndpointUrl::new("http://127.0.0.1:8000/ping/5e1c-uuid");
        assert_eq!(
            format!("{p} {p:?}"),
            "http://127.0.0.1:8000/… http://127.0.0.1:8000/…"
        );
        assert_eq!(EndpointUrl::new("not a url").origin(), "(URL)");
    }

    #[test]
    fn a_secret_never_formats_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn a_presigned_url_prints_without_its_query() {
        let u = SecretUrl::new("http://b.cos.example/a/fn.zip?sign=abc%2B%2F&t=1");
        assert_eq!(format!("{u}"), "http://b.cos.example/a/fn.zip?***");
        assert_eq!(format!("{u:?}"), "http://b.cos.example/a/fn.zip?***");
    }

    #[test]
    fn userinfo_in_a_url_is_redacted() {
        assert_eq!(
            redact_url("https://user:pw@host.example/x"),
            "https://***@host.example/x"
        );
    }
}
