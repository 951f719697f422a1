//! `[metrics]` and `[notify]`: operations settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::locate::Locator;

/// `[metrics]`: the daemon's Prometheus endpoint.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// Where `GET /metrics` is served (its own listener, separate from anything else). A
    /// loopback address unless `allow_remote`.
    pub listen: std::net::SocketAddr,
    /// `allow_remote = true`: the operator chose to expose the unauthenticated endpoint.
    pub allow_remote: bool,
}

/// `[notify]`: who is told when sweeps fail, and the dead man's switch.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// POSTed a JSON body when a sweep ends with failures. It may hold a token, so it is
    /// never printed whole.
    pub webhook: Option<crate::secret::EndpointUrl>,
    /// Run with the same JSON body on stdin: program and arguments, no shell.
    pub command: Option<Vec<String>>,
    /// healthchecks.io-style: `<ping_url>/start`, `<ping_url>` (success), `<ping_url>/fail`.
    pub ping_url: Option<crate::secret::EndpointUrl>,
    /// Alert only for functions that failed this many sweeps in a row (1 = every failure).
    pub after_failures: u32,
    /// Limit of each webhook call, ping and command run.
    pub timeout: Duration,
    /// A mirror whose oldest uncopied version is older than this alerts (once per episode)
    /// and makes `status` exit 1.
    pub mirror_lag_alert: Duration,
}

/// `[notify] mirror_lag_alert` when not set (and when there is no `[notify]`).
pub const DEFAULT_MIRROR_LAG_ALERT: Duration = Duration::from_secs(48 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: String,
    pub(super) allow_remote: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) webhook: Option<String>,
    pub(super) command: Option<Vec<String>>,
    pub(super) ping_url: Option<String>,
    pub(super) after_failures: Option<i64>,
    pub(super) timeout: Option<String>,
    pub(super) mirror_lag_alert: Option<String>,
}

pub(super) fn parse_metrics(
    raw: Option<&RawMetrics>,
    loc: &Locator,
) -> Result<Option<MetricsSettings>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let listen: std::net::SocketAddr = raw.listen.trim().parse().map_err(|_| {
        loc.err(
            &["metrics", "listen"],
            format!(
                "`{}` is not an address and port (example: \"127.0.0.1:9464\")",
                raw.listen
            ),
        )
    })?;
    let allow_remote = raw.allow_remote.unwrap_or(false);
    // No authentication, every function's key in the output, and each scrape costs database
    // reads: reachable from elsewhere only when asked for.
    if !listen.ip().is_loopback() && !allow_remote {
        return Err(loc.err(
            &["metrics", "listen"],
            format!(
                "`{listen}` is not a loopback address; /metrics has no authentication and names \
                 every function: listen on 127.0.0.1 (or ::1), or set `allow_remote = true` \
                 behind a firewall"
            ),
        ));
    }
    Ok(Some(MetricsSettings {
        listen,
        allow_remote,
    }))
}

pub(super) fn parse_notify(
    raw: Option<&RawNotify>,
    loc: &Locator,
    resolve_path: &dyn Fn(&str) -> PathBuf,
) -> Result<Option<NotifySettings>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let http_url = |key: &'static str, v: &Option<String>| match v {
        None => Ok(None),
        Some(u) => match url::Url::parse(u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {
                Ok(Some(crate::secret::EndpointUrl::new(u.clone())))
            }
            // The value may hold a token: show only what is needed to spot the mistake.
            Ok(p) => Err(loc.err(
                &["notify", key],
                format!(
                    "must be an http:// or https:// URL with a host, not `{}:`",
                    p.scheme()
                ),
            )),
            Err(e) => Err(loc.err(&["notify", key], format!("is not a URL ({e})"))),
        },
    };
    let webhook = http_url("webhook", &raw.webhook)?;
    let ping_url = http_url("ping_url", &raw.ping_url)?;
    let command = match &raw.command {
        None => None,
        Some(c) if c.first().is_none_or(|p| p.trim().is_empty()) => {
            return Err(loc.err(
                &["notify", "command"],
                "must name a program: [\"/path/to/program\", \"arg\", ...]",
            ));
        }
        Some(c) => {
            let mut c = c.clone();
            // A relative path with a folder in it (`./alert.sh`, `bin/alert`) means the same as
            // the `*_file` keys: relative to the config file's folder, not to wherever the
            // daemon was started. A bare name (`curl`) is looked up in $PATH, as exec does.
            if let Some(program) = c.first_mut()
                && program.contains('/')
                && !Path::new(program.as_str()).is_absolute()
            {
                *program = resolve_path(program).to_string_lossy().into_owned();
            }
            Some(c)
        }
    };
    // Set alone, it still means something: `status` exits 1 past it.
    if webhook.is_none()
        && command.is_none()
        && ping_url.is_none()
        && raw.mirror_lag_alert.is_none()
    {
        return Err(loc.err(
            &["notify"],
            "set at least one of `webhook`, `command`, `ping_url` or `mirror_lag_alert` (or remove \
             [notify])",
        ));
    }
    let after_failures = match raw.after_failures {
        None => 1,
        Some(n) if (1..=10_000).contains(&n) => n as u32,
        Some(n) => {
            return Err(loc.err(
                &["notify", "after_failures"],
                format!("{n} is out of range 1..=10000"),
            ));
        }
    };
    let timeout = match &raw.timeout {
        None => Duration::from_secs(10),
        Some(s) => match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() && d <= Duration::from_secs(300) => d,
            Ok(_) => {
                return Err(loc.err(&["notify", "timeout"], "must be more than 0 and at most 5m"));
            }
            Err(e) => {
                return Err(loc.err(
                    &["notify", "timeout"],
                    format!("`{s}` is not a duration ({e}; examples: \"10s\", \"1m\")"),
                ));
            }
        },
    };
    let mirror_lag_alert = match &raw.mirror_lag_alert {
        None => DEFAULT_MIRROR_LAG_ALERT,
        Some(s) => match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                return Err(loc.err(&["notify", "mirror_lag_alert"], "must be more than 0"));
            }
            Err(e) => {
                return Err(loc.err(
                    &["notify", "mirror_lag_alert"],
                    format!("`{s}` is not a duration ({e}; examples: \"48h\", \"3days\")"),
                ));
            }
        },
    };
    Ok(Some(NotifySettings {
        webhook,
        command,
        ping_url,
        after_failures,
        timeout,
        mirror_lag_alert,
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    const BASE: &str = "[archive]\ndir = \"a\"\n[database]\npath = \"d\"\n";

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!("{BASE}{extra}"), Path::new("/etc/f.toml"), &|_| {
            None
        })
    }

    #[test]
    fn metrics_and_notify_are_off_unless_configured() {
        let c = parse("").unwrap();
        assert!(c.metrics.is_none() && c.notify.is_none());
    }

    #[test]
    fn a_metrics_address_must_have_a_port() {
        let e = parse("[metrics]\nlisten = \"127.0.0.1\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("metrics.listen"));
        assert_eq!(e.position.map(|p| p.0), Some(6));
        let c = parse("[metrics]\nlisten = \"127.0.0.1:9464\"\n").unwrap();
        assert_eq!(c.metrics.unwrap().listen.port(), 9464);
    }

    /// Review X8: `0.0.0.0` was accepted without a word.
    #[test]
    fn a_metrics_address_off_loopback_needs_allow_remote() {
        for addr in ["0.0.0.0:9464", "192.168.1.10:9464", "[::]:9464"] {
            let e = parse(&format!("[metrics]\nlisten = \"{addr}\"\n")).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("metrics.listen"), "{addr}");
            assert!(e.message.contains("allow_remote = true"), "{e}");
            let c = parse(&format!(
                "[metrics]\nlisten = \"{addr}\"\nallow_remote = true\n"
            ))
            .unwrap();
            assert!(c.metrics.unwrap().allow_remote);
        }
        assert!(parse("[metrics]\nlisten = \"[::1]:9464\"\n").is_ok());
    }

    #[test]
    fn notify_takes_a_webhook_a_command_and_a_ping_url() {
        let c = parse(
            "[notify]\nwebhook = \"https://h.example/hook?token=s3cret\"\ncommand = [\"/bin/true\", \"x\"]\nping_url = \"https://hc.example/abc\"\nafter_failures = 3\ntimeout = \"2s\"\n",
        )
        .unwrap();
        let n = c.notify.unwrap();
        assert_eq!(n.after_failures, 3);
        assert_eq!(n.timeout, Duration::from_secs(2));
        assert_eq!(n.command.unwrap(), vec!["/bin/true", "x"]);
        assert!(!format!("{:?}", n.webhook).contains("s3cret"));
    }

    /// Review X5: Slack and healthchecks.io keep the token in the path, which `SecretUrl`
    /// printed.
    #[test]
    fn a_webhook_or_ping_token_in_the_path_never_prints() {
        let c = parse(
            "[notify]\nwebhook = \"https://hooks.slack.com/services/T0/B0/s3cret-path\"\nping_url = \"https://hc-ping.com/5e1c-s3cret-uuid\"\n",
        )
        .unwrap();
        let n = c.notify.unwrap();
        let shown = format!(
            "{n:?} {} {}",
            n.webhook.as_ref().unwrap(),
            n.ping_url.as_ref().unwrap()
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("https://hooks.slack.com/…"), "{shown}");
    }

    #[test]
    fn a_relative_command_path_is_relative_to_the_config_folder() {
        let program = |c: &str| {
            parse(&format!("[notify]\ncommand = [\"{c}\", \"x\"]\n"))
                .unwrap()
                .notify
                .unwrap()
                .command
                .unwrap()
        };
        assert_eq!(program("bin/alert"), vec!["/etc/bin/alert", "x"]);
        assert_eq!(program("./alert.sh"), vec!["/etc/./alert.sh", "x"]);
        assert_eq!(program("/usr/bin/alert"), vec!["/usr/bin/alert", "x"]);
        // A bare name is left for the $PATH lookup.
        assert_eq!(program("curl"), vec!["curl", "x"]);
    }

    #[test]
    fn an_empty_notify_section_is_refused() {
        let e = parse("[notify]\nafter_failures = 2\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify"));
    }

    #[test]
    fn a_webhook_that_is_not_http_is_refused_without_echoing_it() {
        let e = parse("[notify]\nwebhook = \"ftp://u:pw@h.example/x\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify.webhook"));
        assert!(!e.to_string().contains("pw"), "{e}");
        let e = parse("[notify]\ncommand = []\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify.command"));
    }

    #[test]
    fn mirror_lag_alert_defaults_to_48h_and_takes_a_duration() {
        assert_eq!(
            parse("").unwrap().mirror_lag_alert(),
            Duration::from_secs(48 * 3600)
        );
        let c = parse("[notify]\nping_url = \"https://hc.example/abc\"\n").unwrap();
        assert_eq!(c.mirror_lag_alert(), Duration::from_secs(48 * 3600));
        // Alone it is enough: `status` judges mirrors by it.
        let c = parse("[notify]\nmirror_lag_alert = \"3days 2h\"\n").unwrap();
        assert_eq!(c.mirror_lag_alert(), Duration::from_secs(74 * 3600));
    }

    #[test]
    fn a_bad_mirror_lag_alert_names_its_line_and_key() {
        for (value, says) in [("soon", "is not a duration"), ("0s", "more than 0")] {
            let e = parse(&format!(
                "[notify]\nping_url = \"https://hc.example/abc\"\nmirror_lag_alert = \"{value}\"\n"
            ))
            .unwrap_err();
            assert_eq!(e.key.as_deref(), Some("notify.mirror_lag_alert"), "{e}");
            assert_eq!(e.position.map(|p| p.0), Some(7), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
