//! `fnvault man`: one complete manual page, generated from the clap definition.
//!
//! clap_mangen renders one page per command and points at `fnvault-sync(1)` and friends for
//! the rest, which would leave us shipping pages that refer to pages nobody installs. So the
//! top-level page is composed here from clap_mangen's sections, and every command (recursively,
//! `config check` too) gets a `.SS` section under COMMANDS with its synopsis, description,
//! options and examples.

use std::io::{self, Write};

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

/// Writes the whole page for `cmd` (the unbuilt top-level command) to `w`.
pub fn render(cmd: clap::Command, w: &mut dyn Write) -> io::Result<()> {
    let name = cmd.get_name().to_string();
    let after_help = cmd.get_after_help().map(|h| h.to_string());
    let has_version = cmd.get_version().is_some();
    let subcommands: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let top = Man::new(cmd);
    let (notes, headed) = split_after_help(after_help.as_deref().unwrap_or(""));

    // The title keeps clap_mangen's preamble (the apostrophe string every later part uses).
    top.render_title(w)?;
    for part in [
        rendered(|b| top.render_name_section(b), true)?,
        rendered(|b| top.render_synopsis_section(b), true)?,
        rendered(|b| top.render_description_section(b), true)?,
    ] {
        w.write_all(part.as_bytes())?;
    }
    let mut roff = Roff::default();
    roff.control("PP", []);
    roff.text([roman(
        "The options under OPTIONS are global: every command accepts them, before or after \
         its name. Each command's own options are listed in its section under COMMANDS.",
    )]);
    roff.text([
        bold(format!("{name} help ")),
        roman("COMMAND"),
        roman(" (or "),
        bold(format!("{name} ")),
        roman("COMMAND "),
        bold("--help"),
        roman(") prints the same text for one command."),
    ]);
    for paragraph in notes {
        roff.control("PP", []);
        roff.text([roman(paragraph.join(" "))]);
    }
    write_body(w, &roff)?;
    w.write_all(rendered(|b| top.render_options_section(b), true)?.as_bytes())?;

    let mut heading = Roff::default();
    heading.control("SH", ["COMMANDS"]);
    write_body(w, &heading)?;
    for sub in &subcommands {
        render_command(w, sub, &name)?;
    }

    for (title, lines) in headed {
        let mut roff = Roff::default();
        roff.control("SH", [title.to_uppercase().as_str()]);
        preformatted(&mut roff, &lines);
        write_body(w, &roff)?;
    }
    if has_version {
        w.write_all(rendered(|b| top.render_version_section(b), true)?.as_bytes())?;
    }
    Ok(())
}

/// One command's `.SS` section, then its own subcommands'.
fn render_command(w: &mut dyn Write, cmd: &clap::Command, parent: &str) -> io::Result<()> {
    let full_name = format!("{parent} {}", cmd.get_name());
    // Global options and the help flag are documented once, at the top.
    let page = Man::new(
        cmd.clone()
            .bin_name(&full_name)
            .disable_help_flag(true)
            .disable_help_subcommand(true),
    );

    let mut heading = Roff::default();
    heading.control("SS", [full_name.as_str()]);
    write_body(w, &heading)?;
    w.write_all(rendered(|b| page.render_synopsis_section(b), false)?.as_bytes())?;
    let description = rendered(|b| page.render_description_section(b), false)?;
    if !description.trim().is_empty() {
        write_body(w, Roff::default().control("PP", []))?;
        w.write_all(description.as_bytes())?;
    }
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let mut label = Roff::default();
        let visible = |positional: bool| {
            cmd.get_arguments()
                .any(|a| !a.is_hide_set() && a.is_positional() == positional)
        };
        let label_text = match (visible(false), visible(true)) {
            (true, true) => "Options and arguments:",
            (true, false) => "Options:",
            (false, _) => "Arguments:",
        };
        label.control("PP", []).text([bold(label_text)]);
        write_body(w, &label)?;
        w.write_all(rendered(|b| page.render_options_section(b), false)?.as_bytes())?;
    }
    if let Some(after) = cmd.get_after_help() {
        let text = after.to_string();
        let mut lines: Vec<&str> = text.lines().collect();
        let mut roff = Roff::default();
        roff.control("PP", []);
        // "Examples:" becomes a bold label, the examples themselves stay as typed.
        if lines.first().is_some_and(|l| l.ends_with(':')) {
            roff.text([bold(lines.remove(0))]);
        }
        preformatted(&mut roff, &lines);
        write_body(w, &roff)?;
    }

    let subcommands: Vec<&clap::Command> =
        cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    for sub in subcommands {
        render_command(w, sub, &full_name)?;
    }
    Ok(())
}

/// Lines kept as written (indentation matters in examples).
fn preformatted(roff: &mut Roff, lines: &[&str]) {
    roff.control("nf", []);
    for line in lines {
        roff.text([roman(*line)]);
    }
    roff.control("fi", []);
}

/// The top-level after-help text split at blank lines: paragraphs whose first line is a
/// heading (`Exit status:`) become sections; the others are plain notes for DESCRIPTION.
type Headed<'a> = Vec<(&'a str, Vec<&'a str>)>;
fn split_after_help(text: &str) -> (Vec<Vec<&str>>, Headed<'_>) {
    let mut notes = Vec::new();
    let mut headed = Vec::new();
    for paragraph in text.split("\n\n") {
        let lines: Vec<&str> = paragraph.lines().collect();
        match lines.split_first() {
            None => {}
            Some((first, rest)) if first.ends_with(':') => {
                headed.push((first.trim_end_matches(':'), rest.to_vec()));
            }
            Some(_) => notes.push(lines.iter().map(|l| l.trim()).collect()),
        }
    }
    (notes, headed)
}

/// A part rendered by clap_mangen, without the preamble it repeats on every part, and without
/// its `.SH` heading unless `keep_heading` (a command's section has its own headings).
fn rendered(
    render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
    keep_heading: bool,
) -> io::Result<String> {
    let mut buf = Vec::new();
    render(&mut buf)?;
    let text = String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(text
        .lines()
        .filter(|l| !is_preamble(l) && (keep_heading || !l.starts_with(".SH ")))
        .map(|l| format!("{l}\n"))
        .collect())
}

/// Writes roff lines without repeating the preamble.
fn write_body(w: &mut dyn Write, roff: &Roff) -> io::Result<()> {
    let mut buf = Vec::new();
    roff.to_writer(&mut buf)?;
    let text = String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    for line in text.lines().filter(|l| !is_preamble(l)) {
        writeln!(w, "{line}")?;
    }
    Ok(())
}

/// roff's apostrophe definition, written at the start of every rendered part.
fn is_preamble(line: &str) -> bool {
    line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq")
}
