//! Property tests of the parsers of untrusted input (issue 12): the config file, both clouds'
//! API answers (success bodies and error envelopes), journal lines and zip central
//! directories. Each must turn anything into a value or a clear error: never a panic, never
//! an allocation the input's size does not justify. Case counts are modest so the suite stays
//! quick on a small machine; a failure prints the smallest input proptest found.

use std::path::Path;
use std::sync::{Arc, Mutex};

use fnvault::cloud::{Cloud, Cursor, Target};
use proptest::prelude::*;
use serde_json::Value;

/// Keys the clouds' answers use, so random JSON often has the right shape with wrong values.
const KEYS: &[&str] = &[
    "Response",
    "Url",
    "CodeSha256",
    "RequestId",
    "Error",
    "Code",
    "Message",
    "Namespaces",
    "Functions",
    "TotalCount",
    "Name",
    "FunctionName",
    "url",
    "checksum",
    "services",
    "functions",
    "serviceName",
    "functionName",
    "nextToken",
    "code",
    "message",
    "requestId",
    "ErrorCode",
    "x",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(vec![
            "http://127.0.0.1:1/a.zip?sign=x",
            "https://b.cos.ap-guangzhou.myqcloud.com/x.zip?sign=1",
            "http://downloads.example.invalid/x.zip",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "\u{1b}]0;title\u{7}",
            "../../etc/passwd",
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
            "18446744073709551615",
            "-1",
            "",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..6).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// An answer body: random JSON, JSON wrapped in SCF's envelope, or raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        json().prop_map(|v| serde_json::to_vec(&serde_json::json!({ "Response": v })).unwrap()),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![
        200u16, 200, 200, 204, 301, 400, 403, 404, 409, 429, 500, 503,
    ])
}

/// A local server answering every request with the current `(status, body)`.
struct Stub {
    answer: Arc<Mutex<(u16, Vec<u8>)>>,
    endpoint: String,
}

impl Stub {
    async fn start() -> Stub {
        let answer: Arc<Mutex<(u16, Vec<u8>)>> = Arc::new(Mutex::new((200, Vec::new())));
        let shared = Arc::clone(&answer);
        let app = axum::Router::new().fallback(move || {
            let (status, body) = shared.lock().unwrap().clone();
            async move {
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Stub { answer, endpoint }
    }
}

/// One SCF and one FC client (both signatures) of a config pointing at `endpoint`.
fn clients(endpoint: &str) -> Vec<(Cloud, fnvault::cloud::Client)> {
    let src = format!(
        "[archive]\ndir = \"a\"\n[database]\npath = \"d.db\"\n\
         [[accounts]]\nname = \"tc\"\ncloud = \"tencent\"\nendpoint = \"{endpoint}\"\n\
         secret_id = \"AKIDx\"\nsecret_key = \"k\"\n\
         [[accounts]]\nname = \"ali\"\ncloud = \"aliyun\"\naccount_id = \"1\"\nendpoint = \"{endpoint}\"\n\
         access_key_id = \"LTAIx\"\naccess_key_secret = \"k\"\n\
         [[accounts]]\nname = \"fc\"\ncloud = \"aliyun\"\naccount_id = \"1\"\nendpoint = \"{endpoint}\"\n\
         access_key_id = \"LTAIx\"\naccess_key_secret = \"k\"\nsignature = \"fc\"\n"
    );
    let config =
        fnvault::config::Config::parse(&src, Path::new("/etc/fnvault/config.toml"), &|_| None)
            .expect("the harness config is valid");
    let http = crate::common::http_client();
    config
        .accounts
        .iter()
        .map(|a| {
            (
                a.cloud(),
                fnvault::cloud::Client::new(
                    http.clone(),
                    a,
                    a.credentials.clone().unwrap(),
                    std::time::Duration::from_secs(5),
                ),
            )
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any answer to GetFunctionAddress / GetFunctionCode and to the listings is a value or a
    /// `CloudError`; an accepted download address is an http(s) URL with a host, and a listed
    /// page never claims more names than the body could hold.
    #[test]
    fn cloud_answers_never_panic_and_only_accept_http_urls(status in status(), body in body()) {
        check_cloud_answer(status, body)?;
    }
}

/// A case proptest found: a 301 whose error code is a presigned URL put its signature in the
/// error text.
#[test]
fn a_presigned_url_in_an_error_answer_never_reaches_the_error_text() {
    let body = br#"{"code":"http://127.0.0.1:1/a.zip?sign=x"}"#.to_vec();
    for status in [301, 400, 403, 500] {
        check_cloud_answer(status, body.clone()).unwrap();
    }
}

/// The property of `cloud_answers_never_panic_and_only_accept_http_urls` for one answer.
fn check_cloud_answer(status: u16, body: Vec<u8>) -> Result<(), TestCaseError> {
    let rt = runtime();
    rt.block_on(async {
        let stub = Stub::start().await;
        *stub.answer.lock().unwrap() = (status, body.clone());
        for (cloud, client) in clients(&stub.endpoint) {
            let ns = if cloud == Cloud::Tencent {
                "default"
            } else {
                "svc"
            };
            let target = Target::new(cloud, "acct", "ap-guangzhou", ns, "f", None);
            match client.resolve(&target).await {
                Ok(loc) => {
                    let url = url::Url::parse(loc.url.expose()).expect("accepted URL parses");
                    prop_assert!(matches!(url.scheme(), "http" | "https"));
                    prop_assert!(url.host_str().is_some());
                    prop_assert!(status == 200, "accepted a {status} answer");
                }
                Err(e) => {
                    prop_assert!(!e.to_string().is_empty());
                    prop_assert!(!e.to_string().contains("sign=x"), "{e}");
                }
            }
            for page in [
                client.list_scopes("ap-guangzhou", &Cursor::Start, 20).await,
                client
                    .list_functions("ap-guangzhou", ns, &Cursor::Start, 20)
                    .await,
            ]
            .into_iter()
            .flatten()
            {
                prop_assert!(page.names.len() <= body.len());
            }
        }
        Ok(())
    })
}

/// A small zip with the given entry names.
fn zip_of(names: &[String]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (i, n) in names.iter().enumerate() {
        // The writer refuses duplicate names; make them unique without changing their kind.
        let name = format!("{n}{}", "_".repeat(i));
        w.start_file(name, options).unwrap();
        w.write_all(b"content\n").unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn hostile_name() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        prop::sample::select(vec![
            "../../etc/passwd",
            "/etc/passwd",
            "C:\\windows\\system32",
            "a/../../b",
            "\u{1b}[2J\u{1b}]52;c;ZXZpbA==\u{7}",
            "\u{202e}gpj.exe",
            "dir/",
        ])
        .prop_map(str::to_string),
    ]
}

/// A zip whose end-of-central-directory record claims `entries` entries of `size` bytes at
/// `offset`, in a file far too small for them.
fn lying_eocd(entries: u16, size: u32, offset: u32) -> Vec<u8> {
    let mut v = b"PK\x05\x06".to_vec();
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&entries.to_le_bytes());
    v.extend_from_slice(&entries.to_le_bytes());
    v.extend_from_slice(&size.to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    v.extend_from_slice(&[0, 0]);
    v
}

/// A zip64 end-of-central-directory (and its locator) claiming `entries` entries.
fn lying_zip64(entries: u64) -> Vec<u8> {
    let mut v = b"PK\x06\x06".to_vec();
    v.extend_from_slice(&44u64.to_le_bytes());
    v.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&entries.to_le_bytes());
    v.extend_from_slice(&entries.to_le_bytes());
    v.extend_from_slice(&u64::MAX.to_le_bytes());
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend_from_slice(b"PK\x06\x07");
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend_from_slice(&[1, 0, 0, 0]);
    v.extend_from_slice(&lying_eocd(0xffff, 0xffff_ffff, 0xffff_ffff));
    v
}

/// A package: a real zip (maybe damaged), random bytes, or a lying directory record.
fn package() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            prop::collection::vec(hostile_name(), 0..6),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            any::<prop::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(names, flips, cut, truncate)| {
                let mut z = zip_of(&names);
                for (at, byte) in flips {
                    let i = at.index(z.len());
                    z[i] ^= byte;
                }
                if truncate {
                    z.truncate(cut.index(z.len() + 1));
                }
                z
            }),
        prop::collection::vec(any::<u8>(), 0..512),
        (any::<u16>(), any::<u32>(), any::<u32>()).prop_map(|(n, s, o)| lying_eocd(n, s, o)),
        any::<u64>().prop_map(lying_zip64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Reading a central directory never panics and never lists more entries than the file
    /// has room for (a central directory entry takes at least 46 bytes); extracting one entry
    /// never returns more than the limit asked for.
    #[test]
    fn zip_central_directories_never_panic_nor_overallocate(bytes in package()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, &bytes).unwrap();
        match fnvault::manifest::read(&path) {
            Ok(fnvault::manifest::Package::Zip(entries)) => {
                prop_assert!(entries.len() <= bytes.len() / 46 + 1, "{} entries in {} bytes", entries.len(), bytes.len());
                for e in entries.iter().take(3) {
                    if let Ok(Some(content)) = fnvault::manifest::extract(&path, &e.path, 4) {
                        prop_assert!(content.len() <= 4);
                    }
                }
            }
            Ok(fnvault::manifest::Package::NotZip(reason)) => prop_assert!(!reason.is_empty()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Any bytes in a journal file read as events or as problems naming the file and line;
    /// never a panic or an error for the whole journal.
    #[test]
    fn journal_lines_of_any_shape_are_events_or_named_problems(
        lines in prop::collection::vec(
            prop_oneof![
                json().prop_map(|v| v.to_string()),
                ".{0,80}",
                prop::sample::select(vec![
                    r#"{"event":"version","key":"tc/r/ns/f","version_no":1}"#,
                    r#"{"event":"seen","key":"tc/r/ns/f","version_no":1,"at":"2026-01-01T00:00:00.000Z"}"#,
                    r#"{"event":"pruned","key":"tc/r/ns/f","version_no":18446744073709551615}"#,
                    "\u{0}\u{0}\u{0}\u{0}",
                ])
                .prop_map(str::to_string),
            ],
            0..12,
        ),
        raw_tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let archive = fnvault::archive::Archive::open(dir.path()).unwrap();
        let meta = dir.path().join("meta");
        std::fs::create_dir_all(&meta).unwrap();
        let mut text = lines.join("\n").into_bytes();
        text.push(b'\n');
        text.extend_from_slice(&raw_tail);
        std::fs::write(meta.join(format!("{}.jsonl", "ab".repeat(32))), &text).unwrap();
        let contents = archive.journal().read_all().expect("a journal of any content reads");
        let line_count = text.split(|b| *b == b'\n').count();
        prop_assert!(contents.events.len() + contents.problems.len() <= line_count);
        for p in &contents.problems {
            prop_assert!(p.contains(".jsonl"), "{p}");
        }
    }
}

/// A valid config to damage.
const BASE: &str = r#"[archive]
dir = "archive"
max_package_size = "1 GiB"
[database]
path = "fnvault.db"
[sync]
concurrency = 8
downloads = 2
[retry]
attempts = 3
initial_backoff = "1s"
[http]
api_timeout = "30s"
allow_http_downloads = false
[schedule]
cron = "0 */15 * * * *"
timezone = "Asia/Shanghai"
[retention]
keep_last = 5
[metrics]
listen = "127.0.0.1:9464"
[notify]
webhook = "https://hooks.example/x"
after_failures = 2
[[accounts]]
name = "tc"
cloud = "tencent"
secret_id = "AKIDx"
secret_key = "k"
[[accounts]]
name = "ali"
cloud = "aliyun"
account_id = "123"
access_key_id = "LTAIx"
access_key_secret = "k"
[[functions]]
account = "tc"
region = "ap-guangzhou"
name = "api"
qualifier = "$LATEST"
[[functions]]
account = "ali"
region = "cn-hangzhou"
service = "svc"
name = "fn"
[[discover]]
account = "tc"
regions = ["ap-guangzhou"]
include = ["order-*"]
"#;

/// One edit of a config line: drop it, repeat it, or give its value another token.
fn edit() -> impl Strategy<Value = (prop::sample::Index, u8, String)> {
    (
        any::<prop::sample::Index>(),
        0u8..3,
        prop_oneof![
            prop::sample::select(vec![
                "-1",
                "0",
                "18446744073709551616",
                "\"\"",
                "\"../../x\"",
                "[]",
                "{}",
                "true",
                "\"0.0.0.0:1\"",
                "\"99999999999 TiB\"",
                "\"1e400s\"",
                "\"* * * * * * * *\"",
                "\"Mars/Olympus\"",
                "\"http://[::1\"",
                "\"\u{1b}[2J\"",
            ])
            .prop_map(str::to_string),
            ".{0,16}",
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any text, and any damage to a valid config, gives a config or an error that names the
    /// file (and never the inline secret `k`'s neighbours: the value of a secret key).
    #[test]
    fn any_config_text_is_a_config_or_a_located_error(
        edits in prop::collection::vec(edit(), 0..4),
        garbage in prop_oneof![Just(String::new()), ".{0,64}"],
    ) {
        let mut lines: Vec<String> = BASE.lines().map(str::to_string).collect();
        for (at, kind, token) in edits {
            let i = at.index(lines.len());
            match kind {
                0 => {
                    lines.remove(i);
                }
                1 => {
                    let l = lines[i].clone();
                    lines.insert(i, l);
                }
                _ => {
                    if let Some((k, _)) = lines[i].split_once(" = ") {
                        lines[i] = format!("{k} = {token}");
                    }
                }
            }
            if lines.is_empty() {
                break;
            }
        }
        let mut src = lines.join("\n");
        src.push_str(&garbage);
        let path = Path::new("/etc/fnvault/config.toml");
        match fnvault::config::Config::parse(&src, path, &|_| None) {
            Ok(c) => {
                prop_assert!(c.sync.concurrency > 0 && c.sync.downloads > 0);
                if let Some(m) = &c.metrics {
                    prop_assert!(m.listen.ip().is_loopback() || m.allow_remote);
                }
            }
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(shown.contains("/etc/fnvault/config.toml"), "{shown}");
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_config_parser(src in ".{0,300}") {
        let _ = fnvault::config::Config::parse(&src, Path::new("/c.toml"), &|_| None);
    }
}

/// The harnesses above would pass vacuously if they never reached the parsers: a valid config,
/// a valid answer and a valid zip go through them as values.
#[tokio::test(flavor = "multi_thread")]
async fn the_property_harnesses_accept_valid_input() {
    let path = Path::new("/etc/fnvault/config.toml");
    let config = fnvault::config::Config::parse(BASE, path, &|_| None).expect("BASE is valid");
    assert_eq!(config.functions.len(), 2);

    let stub = Stub::start().await;
    let sha = "ab".repeat(32);
    *stub.answer.lock().unwrap() = (
        200,
        serde_json::to_vec(&serde_json::json!({"Response": {
            "Url": "http://127.0.0.1:1/a.zip?sign=x", "CodeSha256": sha, "RequestId": "r-1"
        }}))
        .unwrap(),
    );
    let (cloud, client) = clients(&stub.endpoint).remove(0);
    assert_eq!(cloud, Cloud::Tencent);
    let target = Target::new(cloud, "tc", "ap-guangzhou", "default", "f", None);
    let location = client
        .resolve(&target)
        .await
        .expect("a valid answer resolves");
    assert_eq!(location.request_id.as_deref(), Some("r-1"));

    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("blob");
    std::fs::write(&blob, zip_of(&["a.js".into(), "../b".into()])).unwrap();
    match fnvault::manifest::read(&blob).unwrap() {
        fnvault::manifest::Package::Zip(entries) => assert_eq!(entries.len(), 2),
        other => panic!("a valid zip read as {other:?}"),
    }
}
