//! `fnvault demo`: a real sweep against the built-in simulator, for a newcomer with no cloud
//! account. Everything goes through the same code as `fnvault sync`: a config file on disk,
//! signed API calls, verified downloads, the archive and the database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::sim::{SimFunction, Simulator};
use crate::sweep::{Outcome, SweepReport};

const TC_ID: &str = "AKIDdemo0000000000000000000000000000";
const ALI_ID: &str = "LTAI5tDemoAccessKey0001";
const ALI_ACCOUNT: &str = "1234567890123456";

pub async fn run(dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let dir = match dir {
        Some(d) => {
            // The demo writes config.toml, key files, an archive and a database: never over
            // someone's real ones.
            let used = std::fs::read_dir(d)
                .map(|mut e| e.next().is_some())
                .unwrap_or(false);
            if used {
                anyhow::bail!(
                    "{} is not empty: give `demo --dir` a new or empty folder",
                    d.display()
                );
            }
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.to_path_buf()
        }
        None => tempfile::Builder::new()
            .prefix("fnvault-demo-")
            .tempdir()
            .context("creating a temp folder")?
            .keep(),
    };
    let sim = Simulator::start()
        .await
        .context("starting the simulator on 127.0.0.1")?;

    // Random secrets, known only to the simulator and the demo's key files.
    let tc_key = hex::encode(rand::random::<[u8; 16]>());
    let ali_key = hex::encode(rand::random::<[u8; 16]>());
    sim.add_tencent_key(TC_ID, &tc_key, None);
    sim.add_aliyun_key(ALI_ID, &ali_key, None);
    sim.set_aliyun_account_id(ALI_ACCOUNT);
    write_secret(&dir.join("tencent.key"), &tc_key)?;
    write_secret(&dir.join("aliyun.key"), &ali_key)?;

    let order_api = SimFunction::scf("ap-guangzhou", "default", "order-api", Some("$LATEST"));
    let report_job = SimFunction::scf("ap-shanghai", "batch", "report-job", None);
    let checkout = SimFunction::fc("orders", "checkout", Some("LATEST"));
    let refund = SimFunction::fc("payments", "refund", None);
    // An FC 3.0 function (API 2023-03-30): no service, its own API, ACS3 always.
    let resize = SimFunction::fc3("image-resize", None);
    sim.deploy(&order_api, package("order-api", 1, 300_000)?);
    sim.deploy(&report_job, package("report-job", 1, 120_000)?);
    sim.deploy(&checkout, package("checkout", 1, 450_000)?);
    sim.deploy(&refund, package("refund", 1, 80_000)?);
    sim.deploy(&resize, package("image-resize", 1, 150_000)?);
    // A layer, used by order-api (SCF) and checkout (FC 2.0): archived once per key, linked
    // in order to the versions that use it.
    sim.deploy_layer("node-deps", 1, package("node-deps", 1, 60_000)?);
    let mut order_config = sim.config(&order_api);
    order_config.layers = vec![("node-deps".into(), 1)];
    sim.set_config(&order_api, order_config);
    let mut checkout_config = sim.config(&checkout);
    checkout_config.layers = vec![("node-deps".into(), 1)];
    checkout_config
        .env
        .insert("PAYMENT_API_KEY".into(), "demo-key-1".into());
    sim.set_config(&checkout, checkout_config);

    let config_path = dir.join("config.toml");
    let config_text = demo_config(&sim.endpoint());
    std::fs::write(&config_path, config_text)
        .with_context(|| format!("writing {}", config_path.display()))?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "fnvault demo: simulator of SCF, FC 2.0, FC 3.0, COS and OSS on {} (it checks every signature)",
        sim.endpoint()
    )?;
    writeln!(out, "config:   {}", config_path.display())?;
    let config = Config::load(&config_path)?;
    writeln!(out, "archive:  {}", config.archive.dir.display())?;
    writeln!(out, "database: {}\n", config.database_path.display())?;

    writeln!(out, "1. first sweep: every function is new")?;
    let first = super::sync(&config, "demo", &crate::shutdown::Shutdown::new()).await?;
    show(&mut out, &first)?;
    writeln!(
        out,
        "   order-api and checkout use layer node-deps version 1: archived under \
         tc-demo/ap-guangzhou/layer/node-deps/1 and ali-demo/{}/layer/node-deps/1 \
         (fnvault --config {} show tc-demo/ap-guangzhou/default/order-api lists it)",
        crate::sim::LAYER_ARN_REGION,
        config_path.display()
    )?;

    writeln!(
        out,
        "\n2. second sweep: nothing changed, nothing is downloaded"
    )?;
    let second = super::sync(&config, "demo", &crate::shutdown::Shutdown::new()).await?;
    show(&mut out, &second)?;

    writeln!(
        out,
        "\n3. order-api is redeployed; the next sweep archives exactly that"
    )?;
    sim.deploy(&order_api, package("order-api", 2, 310_000)?);
    let third = super::sync(&config, "demo", &crate::shutdown::Shutdown::new()).await?;
    show(&mut out, &third)?;

    writeln!(
        out,
        "\n4. checkout's memory and an environment variable change, its code does not: a new \
         version with the same package, no new blob (FC moved the function's modified time, so \
         fnvault downloaded the package once and compared its SHA-256: a CRC-64 can be forged)"
    )?;
    let mut changed = sim.config(&checkout);
    changed.memory_mb = 1024;
    changed
        .env
        .insert("PAYMENT_API_KEY".into(), "demo-key-rotated".into());
    sim.set_config(&checkout, changed);
    let fourth = super::sync(&config, "demo", &crate::shutdown::Shutdown::new()).await?;
    show(&mut out, &fourth)?;
    writeln!(
        out,
        "   (fnvault --config {} diff ali-demo/cn-shanghai/orders/checkout 1 2 shows the memory \
         and names the variable; its value is kept only as a keyed hash)",
        config_path.display()
    )?;

    writeln!(
        out,
        "\nWhat the archive holds (fnvault --config {} list):",
        config_path.display()
    )?;
    super::list(&config, false)?;
    let stats = sim.stats();
    writeln!(
        out,
        "\nThe simulator verified {} signed API requests, rejected {}, and served {} downloads.",
        stats.api_requests, stats.rejected_requests, stats.downloads
    )?;
    writeln!(
        out,
        "Look around in {} (blobs/ is content-addressed by SHA-256).",
        dir.display()
    )?;
    let ok = [&first, &second, &third, &fourth]
        .iter()
        .all(|r| r.all_succeeded());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn show(out: &mut dyn Write, report: &SweepReport) -> std::io::Result<()> {
    for r in &report.results {
        let what = match &r.outcome {
            Outcome::New {
                version_no,
                size,
                sha256,
            }
            | Outcome::Changed {
                version_no,
                size,
                sha256,
            } => {
                format!(
                    "archived v{version_no} ({}, sha256 {})",
                    crate::sweep::human_bytes(*size),
                    &sha256[..12]
                )
            }
            Outcome::Unchanged => "unchanged".to_string(),
            Outcome::Failed { error } => format!("FAILED: {error}"),
            Outcome::Interrupted => "interrupted".to_string(),
        };
        writeln!(out, "   {:<48} {what}", r.key)?;
    }
    writeln!(out, "   {}", report.summary_line())
}

/// A small but real zip code package: an `index.js` that names its version, a helper that
/// never changes, `lib/retry.js` from version 2 on, and `len` bytes of deterministic filler
/// standing in for vendored dependencies (so `show`, `diff` and `diff --content` have
/// something to show).
fn package(name: &str, version: u32, len: usize) -> anyhow::Result<Vec<u8>> {
    let mut seed = crate::fetch::crc64(format!("{name}#{version}").as_bytes()) | 1;
    let filler: Vec<u8> = (0..len)
        .map(|_| {
            // xorshift64: cheap, deterministic filler.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    let index = format!(
        "// {name}\nconst helpers = require('./lib/helpers');\n\nexports.main = async (event) => {{\n  return helpers.reply('{name}', 'v{version}', event);\n}};\n"
    );
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("index.js", index.into_bytes()),
        (
            "lib/helpers.js",
            b"exports.reply = (name, version, event) => ({ name, version, ok: true });\n".to_vec(),
        ),
        ("vendor/deps.bin", filler),
    ];
    if version >= 2 {
        files.push((
            "lib/retry.js",
            b"exports.retry = (f, n) => f().catch(e => n > 0 ? exports.retry(f, n - 1) : Promise.reject(e));\n".to_vec(),
        ));
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, data) in files {
        zip.start_file(path, options)
            .context("building a demo package")?;
        zip.write_all(&data).context("building a demo package")?;
    }
    Ok(zip
        .finish()
        .context("building a demo package")?
        .into_inner())
}

fn write_secret(path: &PathBuf, value: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{value}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn demo_config(endpoint: &str) -> String {
    format!(
        r#"# Written by `fnvault demo` for its simulator at {endpoint}.
[archive]
dir = "archive"

[database]
path = "fnvault.db"

[[accounts]]
name = "tc-demo"
cloud = "tencent"
endpoint = "{endpoint}"
secret_id = "{TC_ID}"
secret_key_file = "tencent.key"

[[accounts]]
name = "ali-demo"
cloud = "aliyun"
account_id = "{ALI_ACCOUNT}"
endpoint = "{endpoint}"
access_key_id = "{ALI_ID}"
access_key_secret_file = "aliyun.key"

[[accounts]]
name = "ali-demo-fc-sig"
cloud = "aliyun"
account_id = "{ALI_ACCOUNT}"
endpoint = "{endpoint}"
access_key_id = "{ALI_ID}"
access_key_secret_file = "aliyun.key"
signature = "fc"

[[functions]]
account = "tc-demo"
region = "ap-guangzhou"
namespace = "default"
name = "order-api"
qualifier = "$LATEST"

[[functions]]
account = "tc-demo"
region = "ap-shanghai"
namespace = "batch"
name = "report-job"

[[functions]]
account = "ali-demo"
region = "cn-shanghai"
service = "orders"
name = "checkout"
qualifier = "LATEST"

[[functions]]
account = "ali-demo-fc-sig"
region = "cn-hangzhou"
service = "payments"
name = "refund"

# No `service`: an FC 3.0 function.
[[functions]]
account = "ali-demo"
region = "cn-hangzhou"
name = "image-resize"
"#
    )
}
