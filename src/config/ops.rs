//! `[metrics]` and `[notify]`: operations settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::locate::Locator;

/// `[metrics]`: the daemon's Prometheus endpoint.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// Where `GET /metrics` is served (its own listener, separate from anything else).
    pub listen: std::net::SocketAddr,
}

/// `[notify]`: who is told when sweeps fail, and the dead man's switch.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// POSTed a JSON body when a sweep ends with failures. It may hold a token, so it is
    /// never printed whole.
    pub webhook: Option<crate::secret::SecretUrl>,
    /// Run with the same JSON body on stdin: program and arguments, no shell.
    pub command: Option<Vec<String>>,
    /// healthchecks.io-style: `<ping_url>/start`, `<ping_url>` (success), `<ping_url>/fail`.
    pub ping_url: Option<crate::secret::SecretUrl>,
    /// Alert only for functions that failed this many sweeps in a row (1 = every failure).
    pub after_failures: u32,
    /// Limit of each webhook call, ping and command run.
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) webhook: Option<String>,
    pub(super) command: Option<Vec<String>>,
    pub(super) ping_url: Option<String>,
    pub(super) after_failures: Option<i64>,
    pub(super) timeout: Option<String>,
}

pub(super) fn parse_metrics(
    raw: Option<&RawMetrics>,
    loc: &Locator,
) -> Result<Option<MetricsSettings>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let listen = raw.listen.trim().parse().map_err(|_| {
        loc.err(
            &["metrics", "listen"],
            format!(
                "`{}` is not an address and port (example: \"127.0.0.1:9464\")",
                raw.listen
            ),
        )
    })?;
    Ok(Some(MetricsSettings { listen }))
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
                Ok(Some(crate::secret::SecretUrl::new(u.clone())))
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
    if webhook.is_none() && command.is_none() && ping_url.is_none() {
        return Err(loc.err(
            &["notify"],
            "set at least one of `webhook`, `command` or `ping_url` (or remove [notify])",
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
    Ok(Some(NotifySettings {
        webhook,
        command,
        ping_url,
        after_failures,
        timeout,
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
}
