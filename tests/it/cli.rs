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

#[tokio::test(flavor = "multi_thread")]
async fn the_man_page_lists_every_command_and_renders() {
    let r = run(&["man"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(".ie"),
        "not roff: {}",
        &r.stdout[..80.min(r.stdout.len())]
    );
    assert!(r.stdout.contains(".TH fnvault 1"), "{}", r.stdout);
    for command in COMMANDS {
        assert!(
            r.stdout.contains(&format!("fnvault\\-{command}")),
            "the man page lacks {command}"
        );
    }
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
        assert!(text.contains("SUBCOMMANDS"), "{text}");
        assert!(text.contains("FNVAULT_CONFIG"), "{text}");
    }
}
