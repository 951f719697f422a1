//! Issue 14's views: `aliases FUNCTION` (each alias with its history, newest first),
//! `history FUNCTION --aliases` (alias moves interleaved with the function's versions and its
//! published versions on one timeline), `history FUNCTION@<alias>` (one alias), and the alias
//! part of `at TIME`. Read-only, like every audit command.

use std::process::ExitCode;

use super::Fatal;
use super::read_only::{ReadOnly, print_json, print_table, short};
use crate::db::{AliasState, FunctionRow};
use crate::sweep::versions::describe;

fn versions_json(versions: &[(String, f64)]) -> serde_json::Value {
    versions
        .iter()
        .map(|(v, w)| serde_json::json!({"version": v, "weight": w}))
        .collect()
}

fn state_json(s: &AliasState) -> serde_json::Value {
    serde_json::json!({
        "from": s.from,
        "to": s.to,
        "versions": versions_json(&s.versions),
        "deleted": s.deleted,
        "cloud_modified": s.cloud_modified,
    })
}

/// Each alias of `function` (key without qualifier) with its states, newest first; only
/// `only` when given.
fn by_alias(states: Vec<AliasState>, only: Option<&str>) -> Vec<(String, Vec<AliasState>)> {
    let mut out: Vec<(String, Vec<AliasState>)> = Vec::new();
    for s in states {
        if only.is_some_and(|a| a != s.alias) {
            continue;
        }
        match out.last_mut() {
            Some((name, list)) if *name == s.alias => list.push(s),
            _ => out.push((s.alias.clone(), vec![s])),
        }
    }
    for (_, list) in &mut out {
        list.reverse();
    }
    out
}

/// `fnvault aliases FUNCTION [--json]`, and `history FUNCTION@<alias>` (`only`).
pub(super) fn aliases(
    ro: &ReadOnly,
    function: &str,
    only: Option<&str>,
    json: bool,
) -> Result<ExitCode, Fatal> {
    let states = ro.db.alias_history(function).map_err(anyhow::Error::from)?;
    let grouped = by_alias(states, only);
    if json {
        let list: Vec<serde_json::Value> = grouped
            .iter()
            .map(|(alias, history)| {
                serde_json::json!({
                    "alias": alias,
                    "history": history.iter().map(state_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        print_json(&serde_json::Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{function}");
    if grouped.is_empty() {
        println!("no alias recorded (is `aliases = true` set for it, and has a sweep run since?)");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = grouped
        .iter()
        .flat_map(|(alias, history)| {
            history.iter().map(move |s| {
                vec![
                    alias.clone(),
                    s.from.clone(),
                    s.to.clone().unwrap_or_else(|| "(current)".to_string()),
                    describe(&s.versions),
                    s.cloud_modified.clone().unwrap_or_else(|| "-".to_string()),
                ]
            })
        })
        .collect();
    print_table(
        &["ALIAS", "FROM", "TO", "VERSIONS", "CLOUD MODIFIED"],
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `history FUNCTION --aliases`: the function's archived versions, the archiving of its
/// published versions and its alias moves, oldest first, on one timeline.
pub(super) fn timeline(ro: &ReadOnly, f: &FunctionRow, json: bool) -> Result<ExitCode, Fatal> {
    let function = f.target.unqualified_key();
    let db = &ro.db;
    let versions = db.versions_of(f.id).map_err(anyhow::Error::from)?;
    let configs = db.configs_of(f.id).map_err(anyhow::Error::from)?;
    // (time, order within a time, JSON, text columns)
    let mut events: Vec<(String, u8, serde_json::Value, [String; 2])> = Vec::new();
    for v in &versions {
        let (code, conf) = match configs.get(&v.version_no) {
            Some(c) => (c.code_changed, c.config_changed),
            None => (true, false),
        };
        let what = match (code, conf) {
            (true, true) => "code and configuration changed",
            (true, false) => "code changed",
            (false, true) => "configuration changed",
            (false, false) => "first configuration read",
        };
        events.push((
            v.first_seen.clone(),
            0,
            serde_json::json!({
                "time": v.first_seen, "kind": "version", "function": f.target.key,
                "version": v.version_no, "code_changed": code, "config_changed": conf,
                "sha256": v.sha256,
            }),
            [
                format!("version {}", v.version_no),
                format!("{what} (sha256 {})", short(&v.sha256)),
            ],
        ));
    }
    for crate::db::PublishedRow {
        id,
        version,
        gone_since: gone,
        ..
    } in db.published_rows(&function).map_err(anyhow::Error::from)?
    {
        let archived = db.versions_of(id).map_err(anyhow::Error::from)?;
        for v in &archived {
            events.push((
                v.first_seen.clone(),
                1,
                serde_json::json!({
                    "time": v.first_seen, "kind": "published", "function": format!("{function}@{version}"),
                    "published_version": version, "version": v.version_no, "sha256": v.sha256,
                }),
                [
                    format!("published {version}"),
                    format!(
                        "archived{} (sha256 {})",
                        if v.version_no > 1 {
                            format!(" again as archive version {}: changed although published", v.version_no)
                        } else {
                            String::new()
                        },
                        short(&v.sha256)
                    ),
                ],
            ));
        }
        if let Some(g) = gone {
            events.push((
                g.clone(),
                1,
                serde_json::json!({
                    "time": g, "kind": "published_gone", "function": format!("{function}@{version}"),
                    "published_version": version,
                }),
                [
                    format!("published {version}"),
                    "deleted in the cloud (archive kept)".to_string(),
                ],
            ));
        }
    }
    for s in db.alias_history(&function).map_err(anyhow::Error::from)? {
        let text = if s.deleted {
            "deleted".to_string()
        } else {
            format!("→ {}", describe(&s.versions))
        };
        events.push((
            s.from.clone(),
            2,
            serde_json::json!({
                "time": s.from, "kind": "alias", "alias": s.alias,
                "versions": versions_json(&s.versions), "deleted": s.deleted,
                "cloud_modified": s.cloud_modified,
            }),
            [format!("alias {}", s.alias), text],
        ));
    }
    events.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    if json {
        print_json(&serde_json::json!({
            "function": f.target.key,
            "timeline": events.iter().map(|e| e.2.clone()).collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", f.target.key);
    let rows: Vec<Vec<String>> = events
        .into_iter()
        .map(|(t, _, _, [what, detail])| vec![t, what, detail])
        .collect();
    print_table(&["TIME", "WHAT", "DETAIL"], &rows)?;
    Ok(ExitCode::SUCCESS)
}

/// What each recorded alias pointed at, at `t`: (function, alias, state) for every function
/// with alias history, aliases unknown then left out.
pub(super) fn at(ro: &ReadOnly, t: &str) -> anyhow::Result<Vec<AliasState>> {
    let mut out = Vec::new();
    for function in ro.db.alias_function_keys()? {
        for alias in ro.db.alias_names(&function)? {
            if let Some(s) = ro.db.alias_at(&function, &alias, t)? {
                out.push(s);
            }
        }
    }
    Ok(out)
}

pub(super) fn at_json(states: &[AliasState]) -> serde_json::Value {
    states
        .iter()
        .map(|s| {
            serde_json::json!({
                "function": s.function_key, "alias": s.alias,
                "versions": versions_json(&s.versions), "deleted": s.deleted,
                "since": s.from,
            })
        })
        .collect()
}

pub(super) fn at_table(states: &[AliasState]) -> Result<(), Fatal> {
    if states.is_empty() {
        return Ok(());
    }
    println!();
    let rows: Vec<Vec<String>> = states
        .iter()
        .map(|s| {
            vec![
                s.function_key.clone(),
                s.alias.clone(),
                describe(&s.versions),
                s.from.clone(),
            ]
        })
        .collect();
    print_table(&["FUNCTION", "ALIAS", "VERSIONS", "SINCE"], &rows)
}
