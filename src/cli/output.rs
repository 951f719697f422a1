//! How results look: aligned tables for people, JSON with stable field names for scripts.
//! The JSON shape is built here, field by field, so domain types never grow a `Serialize`
//! that would silently change the output format when they change.

use std::io::{self, Write};

use crate::db::FunctionSummary;
use crate::sweep::human_bytes;

/// `fnvault list --json`: one object per configured function, in config order.
pub fn list_json(rows: &[FunctionSummary]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|s| {
                serde_json::json!({
                    "function": s.key,
                    "cloud": s.cloud,
                    "versions": s.versions,
                    "latest_version": s.latest_version,
                    "latest_sha256": s.latest_sha256,
                    "latest_size": s.latest_size,
                    "last_checked": s.last_checked,
                    "last_status": s.last_status,
                    "last_error": s.last_error,
                    "gone_since": s.gone_since,
                })
            })
            .collect(),
    )
}

/// `fnvault list`.
pub fn list_table(out: &mut dyn Write, rows: &[FunctionSummary]) -> io::Result<()> {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            vec![
                s.key.clone(),
                s.versions.to_string(),
                s.latest_size
                    .map(|n| human_bytes(n.max(0) as u64))
                    .unwrap_or_else(|| "-".into()),
                s.latest_sha256
                    .as_deref()
                    .map(|h| h.chars().take(12).collect())
                    .unwrap_or_else(|| "-".into()),
                s.last_checked.clone().unwrap_or_else(|| "never".into()),
                match (&s.last_status, &s.last_error) {
                    _ if s.gone_since.is_some() => {
                        format!("gone since {}", s.gone_since.as_deref().unwrap_or_default())
                    }
                    // The whole error is in `--json`; a table row stays readable.
                    (_, Some(e)) if e.chars().count() > 60 => {
                        format!("failed: {}…", e.chars().take(60).collect::<String>())
                    }
                    (_, Some(e)) => format!("failed: {e}"),
                    (Some(st), None) => st.clone(),
                    (None, None) => "-".into(),
                },
            ]
        })
        .collect();
    write_table(
        out,
        &[
            "FUNCTION",
            "VERSIONS",
            "SIZE",
            "SHA256",
            "LAST CHECKED",
            "STATUS",
        ],
        &table,
    )
}

/// Columns padded to their widest cell; the last column is never padded.
pub fn write_table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> io::Result<()> {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, header.to_vec())?;
    for row in rows {
        line(out, row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_aligns_its_columns() {
        let mut out = Vec::new();
        write_table(
            &mut out,
            &["A", "BB"],
            &[
                vec!["long cell".into(), "x".into()],
                vec!["s".into(), "y".into()],
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A          BB\nlong cell  x\ns          y\n"
        );
    }
}
