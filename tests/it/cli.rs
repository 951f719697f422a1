//! The command line itself: help with examples on every command, shell completions and the
//! man page, all generated from the one clap definition.

use crate::common::*;

const COMMANDS: [&str; 8] = [
    "sync",
    "daemon",
    "list",
    "demo",
    "config",
    "status",
    "completions",
    "man",
];

async fn run(args: &[&str]) -> Run {
    run_fnvault(std::path::Path::new("/nonexistent/config.toml"), args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_has_help_with_examples() {
    for command in COMMANDS {
        let r = run(&[command, "--help"]).await;
        assert_eq!(r.code, 0, "{command}: {}", r.stderr);
        assert!(
            r.stdout.contains("Example"),
            "{command} --help: {}",
            r.stdout
        );
    }
    let top = run(&["--help"]).await;
    assert!(top.stdout.contains("FNVAULT_CONFIG"), "{}", top.stdout);
    assert!(
        top.stdout.contains("/etc/fnvault/config.toml"),
        "{}",
        top.stdout
    );
    assert!(top.stdout.contains("Exit status"), "{}", top.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_name_every_command_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completions", shell]).await;
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        for command in COMMANDS {
            assert!(r.stdout.contains(command), "{shell} lacks {command}");
        }
        assert!(r.stdout.contains("dry-run"), "{shell} lacks sync's flags");
    }
    let bad = run(&["completions", "tcsh"]).await;
    assert_eq!(bad.code, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bash_accepts_the_bash_completion_script() {
    let r = run(&["completions", "bash"]).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fnvault.bash");
    std::fs::write(&script, &r.stdout).unwrap();
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .expect("bash runs");
    assert!(status.success());
}

/// Every command, nested ones as `config check`; checked against what `--help` lists below.
const ALL_COMMANDS: [&str; 22] = [
    "sync",
    "daemon",
    "list",
    "demo",
    "config",
    "config example",
    "config check",
    "check",
    "status",
    "completions",
    "man",
    "history",
    "aliases",
    "show",
    "at",
    "diff",
    "verify",
    "restore",
    "export",
    "reindex",
    "prune",
    "mirror",
];

/// The command names under "Commands:" in a help text (clap's own `help` left out).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The long flags under "Options:" in a help text, e.g. `--dry-run`.
fn listed_flags(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Options:"))
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| {
            l.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[')
                .find(|w| w.starts_with("--"))
                .map(str::to_string)
        })
        .collect()
}

/// The `.SS "fnvault COMMAND"` section of the page, up to the next section.
fn man_section<'a>(page: &'a str, command: &str) -> &'a str {
    let heading = format!(".SS \"fnvault {command}\"\n");
    let start = page
        .find(&heading)
        .unwrap_or_else(|| panic!("the man page has no section for `{command}`"));
    let body = &page[start + heading.len()..];
    let end = [body.find("\n.SS "), body.find("\n.SH ")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(body.len());
    &body[..end]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_man_page_documents_every_command_with_its_options() {
    let page = run(&["man"]).await.stdout;
    // The list above is complete: a new command cannot go undocumented unnoticed.
    let mut listed = listed_commands(&run(&["--help"]).await.stdout);
    for sub in listed_commands(&run(&["config", "--help"]).await.stdout) {
        listed.push(format!("config {sub}"));
    }
    for command in &listed {
        assert!(ALL_COMMANDS.contains(&command.as_str()), "{command}");
    }
    assert_eq!(listed.len(), ALL_COMMANDS.len(), "{listed:?}");

    let globals = listed_flags(&run(&["--help"]).await.stdout);
    assert!(globals.contains(&"--config".to_string()), "{globals:?}");
    for command in ALL_COMMANDS {
        let section = man_section(&page, command);
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let help = run(&args).await.stdout;
        for flag in listed_flags(&help) {
            if globals.contains(&flag) {
                continue;
            }
            let in_roff = flag.replace('-', "\\-");
            assert!(
                section.contains(&in_roff),
                "the man page's `{command}` section lacks {flag}:\n{section}"
            );
        }
    }
    // The ones a tester looked for, by name.
    for (command, flag) in [
        ("sync", "\\-\\-dry\\-run"),
        ("sync", "\\-\\-only"),
        ("status", "\\-\\-sweeps"),
        ("status", "\\-\\-json"),
        ("restore", "\\-\\-to"),
        ("verify", "\\-\\-sample"),
    ] {
        assert!(
            man_section(&page, command).contains(flag),
            "{command} {flag}"
        );
    }
    // Examples come along, and nothing refers to pages that are never installed.
    assert!(man_section(&page, "sync").contains("fnvault sync \\-\\-dry\\-run"));
    assert!(!page.contains("(1)"), "a reference to another page");
    // Every option has its description (an empty line after `.TP` and its header means none).
    let lines: Vec<&str> = page.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if *line == ".TP" {
            let description = lines.get(i + 2).copied().unwrap_or("");
            assert!(
                !description.trim().is_empty(),
                "undocumented: {}",
                lines.get(i + 1).copied().unwrap_or("")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_man_page_renders_with_groff() {
    let r = run(&["man"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(".ie"),
        "not roff: {}",
        &r.stdout[..80.min(r.stdout.len())]
    );
    assert!(r.stdout.contains(".TH fnvault 1"), "{}", r.stdout);
    // Rendered by groff as `man` would, when groff is installed.
    let groff = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-P-cbou"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut child) = groff {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(r.stdout.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for heading in ["OPTIONS", "COMMANDS", "EXIT STATUS", "EXAMPLES"] {
            assert!(text.contains(heading), "no {heading}: {text}");
        }
        assert!(text.contains("FNVAULT_CONFIG"), "{text}");
        assert!(text.contains("fnvault config check"), "{text}");
    }
}

/// `demo` is for a person: its numbered story and the final table on stdout, and on stderr
/// none of the INFO lines that repeat them, unless `-v` asks for them.
#[tokio::test(flavor = "multi_thread")]
async fn demo_tells_its_story_and_logs_only_with_v() {
    let dir = tempfile::tempdir().unwrap();
    let quiet_dir = dir.path().join("plain");
    let r = run(&["demo", "--dir", quiet_dir.to_str().unwrap()]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let steps = [
        "1. first sweep",
        "2. second sweep",
        "3. order-api is redeployed",
    ];
    let mut at = 0;
    for step in steps {
        let found = r.stdout[at..].find(step);
        assert!(
            found.is_some(),
            "{step:?} missing or out of order:\n{}",
            r.stdout
        );
        at += found.unwrap_or(0);
    }
    assert!(
        r.stdout[at..].contains("FUNCTION"),
        "no final table:\n{}",
        r.stdout
    );
    // Five functions: two SCF, two FC 2.0 and one FC 3.0 (no service in its key).
    assert!(
        r.stdout
            .contains("sweep 3: 5 checked, 1 changed, 4 unchanged, 0 failed"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("ali-demo/cn-hangzhou/image-resize"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("use layer node-deps version 1"),
        "the demo shows a layer:\n{}",
        r.stdout
    );
    assert_eq!(r.stderr, "", "demo logged without -v");

    let verbose_dir = dir.path().join("verbose");
    let v = run(&["-v", "demo", "--dir", verbose_dir.to_str().unwrap()]).await;
    assert_eq!(v.code, 0, "{}", v.stderr);
    let archived = v
        .stderr
        .lines()
        .filter(|l| l.contains("INFO") && l.contains("archived") && !l.contains("layer"))
        .count();
    // Five first versions, order-api's redeploy, and checkout's configuration-only change.
    assert_eq!(
        archived, 7,
        "one INFO line per archived version:\n{}",
        v.stderr
    );
    // The layer both order-api and checkout use: once per key (SCF region, FC ARN region).
    let layers = v
        .stderr
        .lines()
        .filter(|l| l.contains("INFO") && l.contains("archived a layer version"))
        .count();
    assert_eq!(layers, 2, "{}", v.stderr);
    assert!(
        !v.stderr.contains("DEBUG"),
        "-v is INFO for demo:\n{}",
        v.stderr
    );
}
