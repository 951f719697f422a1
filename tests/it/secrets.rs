//! Secrets never reach the output: keys, session tokens, signatures and the query strings of
//! presigned download URLs, at every log level and in every log format, nor the database, the
//! journal, the `/metrics` output or the alert bodies (webhook, pings, command stdin).

use std::sync::{Arc, Mutex};

use fnvault::sim::Fault;

use crate::common::*;

const TOKEN: &str = "FakeSessionToken/with+base64=chars==";

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_appears_in_logs_at_maximum_verbosity() {
    let env = Env::new().await;
    let fleet = Fleet::deploy(&env);
    // Temporary credentials on every account, so tokens are sent too.
    env.sim.add_tencent_key(TC_ID, TC_KEY, Some(TOKEN));
    env.sim.add_aliyun_key(ALI_ID, ALI_KEY, Some(TOKEN));
    write_private(&env.path("token"), format!("{TOKEN}\n"));
    let config = std::fs::read_to_string(env.path("config.toml"))
        .unwrap()
        .replace(
            "secret_key_file = \"tc.key\"",
            "secret_key_file = \"tc.key\"\nsession_token_file = \"token\"",
        )
        .replace(
            "access_key_secret_file = \"ali.key\"",
            "access_key_secret_file = \"ali.key\"\nsecurity_token_file = \"token\"",
        );
    std::fs::write(env.path("config.toml"), config).unwrap();
    // Failures and retries print the most: URLs, error bodies, backoff lines.
    env.sim
        .set_fault_times(&fleet.order_api, Fault::ExpiredUrl, 1);
    env.sim
        .set_fault_times(&fleet.checkout, Fault::TruncateDownload, 1);
    env.sim.set_fault(&fleet.refund, Fault::CorruptDownload);
    // Every alert channel, recording what it is sent: refund fails every sweep, so each sync
    // sends a webhook alert, the pings and a command run with the alert body on stdin.
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&bodies);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(format!("{uri} {body}"));
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let stdin_copy = env.path("alert-stdin.json");
    let port = free_port();
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        format!(
            "{config}\n[notify]\nwebhook = \"http://127.0.0.1:{hook}/hook\"\n\
             ping_url = \"http://127.0.0.1:{hook}/ping\"\n\
             command = [\"/bin/sh\", \"-c\", \"cat >> {}\"]\n\
             [schedule]\ncron = \"0 0 0 1 1 *\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n",
            stdin_copy.display()
        ),
    )
    .unwrap();

    for format in ["text", "json"] {
        let run = run_fnvault_with_env(
            &env.path("config.toml"),
            &["sync", "--log-format", format],
            &[("RUST_LOG", "trace")],
        )
        .await;
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.lines().count() > 20,
            "trace logging is on: {}",
            run.stderr
        );
        let all = format!("{}{}", run.stdout, run.stderr);
        for secret in [TC_KEY, ALI_KEY, TOKEN, "FakeSessionToken"] {
            assert!(
                !all.contains(secret),
                "{format} output contains a secret: {secret}"
            );
        }
        for fragment in ["sign=", "Signature=", "OSSAccessKeyId", "Expires="] {
            assert!(
                !all.contains(fragment),
                "{format} output contains a presigned query or signature ({fragment}):\n{all}"
            );
        }
    }
    assert_eq!(
        env.sim.stats().rejected_requests,
        0,
        "tokens were sent and accepted"
    );

    // The daemon's start-up sweep, then one scrape of everything it exposes.
    let daemon = spawn_fnvault(&env, &["daemon"]);
    let metrics = eventually("a finished sweep in /metrics", async || {
        let r = http_client()
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .ok()?;
        let text = r.text().await.ok()?;
        text.contains("fnvault_sweeps_total{").then_some(text)
    })
    .await;
    let (code, stderr) = terminate(daemon).await;
    assert_eq!(code, 0, "{stderr}");

    let bodies = bodies.lock().unwrap().clone();
    assert!(
        bodies.iter().any(|b| b.starts_with("/hook")),
        "no webhook alert was sent: {bodies:?}"
    );
    let stdin = std::fs::read_to_string(&stdin_copy).expect("the alert command ran");
    assert!(stdin.contains("sweep_failed"), "{stdin}");
    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("/metrics".into(), metrics.into_bytes()),
        (
            "webhook and ping requests".into(),
            bodies.join("\n").into_bytes(),
        ),
        ("the alert command's stdin".into(), stdin.into_bytes()),
    ];
    // The database (and its WAL) byte for byte, and every file under meta/.
    for file in ["fnvault.db", "fnvault.db-wal"] {
        if let Ok(bytes) = std::fs::read(env.path(file)) {
            places.push((file.into(), bytes));
        }
    }
    for file in env.files_in("archive/meta") {
        places.push((file.display().to_string(), std::fs::read(&file).unwrap()));
    }
    let failing = env.entry(REFUND).await;
    assert!(
        failing["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "the database holds the failure's text, so searching it means something: {failing}"
    );
    for (place, bytes) in &places {
        let text = String::from_utf8_lossy(bytes);
        for secret in [TC_KEY, ALI_KEY, TOKEN, "FakeSessionToken"] {
            assert!(
                !text.contains(secret),
                "{place} contains a secret: {secret}"
            );
        }
        for fragment in ["sign=", "Signature=", "OSSAccessKeyId", "Expires="] {
            assert!(
                !text.contains(fragment),
                "{place} contains a presigned query or signature ({fragment})"
            );
        }
    }
}
