//! Cross-check of the in-repo vectors (`tests/vectors/`, made by `tests/vectors/generate.sh`)
//! against `../shared/vectors`, an independent set made by running the same official SDKs.
//!
//! Every shared vector is matched with the in-repo vector that has the same signing inputs (the
//! `inputs`, method, path, query, body and the values of every signed header); each signing
//! output both record (canonical strings, signature, Authorization) must then be identical, and
//! so must every CRC-64 value for the same input. A shared vector with no such match is listed
//! as not compared. When `../shared/vectors` is absent (a clone on its own) the test says it was
//! skipped; `FNVAULT_SHARED_VECTORS=DIR` points it at another copy (`.ci/run` uses that to check
//! a copy of the repository that has no `../shared` beside it).

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const FILES: [&str; 3] = ["tencent-tc3.json", "aliyun-fc.json", "aliyun-fc3.json"];

/// The signing outputs compared when both vectors record them. Every one of them is a function
/// of the signing inputs alone.
const ALIYUN_OUTPUTS: [&str; 7] = [
    "canonical_request",
    "canonical_headers",
    "canonical_resource",
    "string_to_sign",
    "signed_headers",
    "signature",
    "authorization",
];

#[test]
fn in_repo_vectors_give_the_shared_vectors_signatures() {
    let Some(shared) = shared_dir() else {
        println!("skipped: ../shared/vectors not present");
        return;
    };
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut failures = Vec::new();
    for file in FILES {
        let mine = load(&ours.join(file));
        let theirs = load(&shared.join(file));
        let mut report = Report::default();
        if file.starts_with("tencent") {
            for section in ["vectors", "cross_checks"] {
                compare(
                    &mine,
                    &theirs,
                    section,
                    tencent_inputs,
                    &mut report,
                    |m, t| {
                        same_fields(&m["signing"], &t["signing"], None)
                            .into_iter()
                            .map(|field| format!("signing/{field}"))
                            .collect()
                    },
                );
            }
        } else {
            compare(
                &mine,
                &theirs,
                "signature_vectors",
                aliyun_inputs,
                &mut report,
                |m, t| same_fields(m, t, Some(&ALIYUN_OUTPUTS)),
            );
            if theirs.get("crc64").is_some() {
                compare_crc64(&mine, &theirs, &mut report);
            }
        }
        println!(
            "{file}: {} compared, {} differ, {} not comparable",
            report.compared,
            report.failures.len(),
            report.not_compared.len()
        );
        for note in &report.not_compared {
            println!("  not compared: {note}");
        }
        if report.compared == 0 {
            failures.push(format!(
                "{file}: no in-repo vector has the signing inputs of any shared one (regenerated \
                 on another platform? the Tea clients sign their user-agent)"
            ));
        }
        failures.extend(report.failures.into_iter().map(|f| format!("{file}: {f}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FNVAULT_SHARED_VECTORS") {
        let dir = PathBuf::from(dir);
        // Asked for explicitly: a missing folder is an error, not a skip.
        assert!(
            dir.is_dir(),
            "FNVAULT_SHARED_VECTORS={} is not a folder",
            dir.display()
        );
        return Some(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors");
    dir.is_dir().then_some(dir)
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

#[derive(Default)]
struct Report {
    compared: usize,
    failures: Vec<String>,
    not_compared: Vec<String>,
}

fn name(v: &Value) -> &str {
    v["name"].as_str().unwrap_or("<unnamed>")
}

/// Matches each shared vector of `section` with the in-repo one of equal signing inputs and
/// compares their outputs with `same` (which lists the fields that differ).
fn compare(
    mine: &Value,
    theirs: &Value,
    section: &str,
    inputs: fn(&Value) -> String,
    report: &mut Report,
    same: impl Fn(&Value, &Value) -> Vec<String>,
) {
    let Some(shared) = theirs[section].as_array() else {
        return;
    };
    let by_inputs: HashMap<String, &Value> = mine[section]
        .as_array()
        .map(|list| list.iter().map(|v| (inputs(v), v)).collect())
        .unwrap_or_default();
    for theirs in shared {
        match by_inputs.get(&inputs(theirs)) {
            None => report.not_compared.push(format!(
                "{section} {}: no in-repo vector with the same signing inputs",
                name(theirs)
            )),
            Some(mine) => {
                report.compared += 1;
                for field in same(mine, theirs) {
                    report.failures.push(format!(
                        "{section} {} (in-repo {}): {field} differs\n  in-repo {}\n  shared  {}",
                        name(theirs),
                        name(mine),
                        mine.pointer(&format!("/{field}")).unwrap_or(&Value::Null),
                        theirs.pointer(&format!("/{field}")).unwrap_or(&Value::Null),
                    ));
                }
            }
        }
    }
}

/// The fields of `theirs` (or only `fields`) whose value in `mine` is different or missing.
fn same_fields(mine: &Value, theirs: &Value, fields: Option<&[&str]>) -> Vec<String> {
    let Some(object) = theirs.as_object() else {
        return vec!["(not an object)".to_owned()];
    };
    object
        .iter()
        .filter(|(k, _)| fields.is_none_or(|f| f.contains(&k.as_str())))
        .filter(|(k, v)| mine.get(k.as_str()) != Some(v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// TC3 signs the body, content type and host of `POST /`; the inputs hold everything else.
fn tencent_inputs(v: &Value) -> String {
    canonical(&serde_json::json!({
        "inputs": v["inputs"],
        "method": v["request"]["method"],
        "path": v["request"]["path"],
        "query": v["request"]["query"],
        "content_type": v["request"]["content_type"],
        "body_hex": v["request"]["body_hex"],
    }))
}

/// The request as signed: the `FC` scheme covers Content-MD5, Content-Type, Date and the x-fc-*
/// headers; ACS3 covers the headers its Authorization names (the SDKs' user-agent among them).
fn aliyun_inputs(v: &Value) -> String {
    let scheme = v["scheme"].as_str().unwrap_or("");
    let acs3_signed: Vec<String> = v["authorization"]
        .as_str()
        .and_then(|a| a.split("SignedHeaders=").nth(1))
        .and_then(|rest| rest.split(',').next())
        .map(|list| list.split(';').map(str::to_owned).collect())
        .unwrap_or_default();
    let signed = |header: &str| {
        if scheme == "FC" {
            matches!(header, "content-md5" | "content-type" | "date") || header.starts_with("x-fc-")
        } else {
            acs3_signed.iter().any(|s| s == header)
        }
    };
    let mut headers: Vec<(String, String)> = v["request"]["headers"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|pair| {
                    Some((pair[0].as_str()?.to_ascii_lowercase(), pair[1].as_str()?))
                })
                .filter(|(n, _)| signed(n))
                .map(|(n, value)| (n, value.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    headers.sort();
    canonical(&serde_json::json!({
        "scheme": scheme,
        "inputs": v["inputs"],
        "method": v["request"]["method"],
        "path": v["request"]["path"],
        "query": v["request"]["query"],
        "body": v["request"]["body"],
        "signed_headers": headers,
    }))
}

fn compare_crc64(mine: &Value, theirs: &Value, report: &mut Report) {
    let mut wrapped_mine = mine["crc64"].clone();
    let mut wrapped_theirs = theirs["crc64"].clone();
    // Each CRC-64 case is keyed by its input, like a signature vector by its signing inputs.
    for (wrapped, source) in [(&mut wrapped_mine, mine), (&mut wrapped_theirs, theirs)] {
        let cases: Vec<Value> = source["crc64"]["vectors"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut case| {
                case["name"] = Value::String(case["input"]["description"].to_string());
                case
            })
            .collect();
        wrapped["vectors"] = Value::Array(cases);
    }
    compare(
        &wrapped_mine,
        &wrapped_theirs,
        "vectors",
        |case| canonical(&case["input"]),
        report,
        |m, t| same_fields(m, t, Some(&["crc64_decimal", "crc64_hex"])),
    );
    let check = "check_value_123456789";
    if mine["crc64"][check] != theirs["crc64"][check] {
        report
            .failures
            .push(format!("crc64.{check} differs: {}", mine["crc64"][check]));
    }
}

/// JSON text with every object's keys sorted, whatever map type serde_json was built with.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(list) => {
            let items: Vec<String> = list.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}
