//! How results look: aligned tables for people, JSON with stable field names for scripts.
//! The JSON shape is built here, field by field, so domain types never grow a `Serialize`
//! that would silently change the output format when they change.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::db::FunctionSummary;
use crate::sweep::human_bytes;

/// `fnvault list --json`: one object per configured function, in config order. Written
/// entry by entry ([`JsonSeq`]): at 100,000 functions the whole array as one value was
/// ≈ 150 MiB of small allocations.
pub fn list_json(rows: &[FunctionSummary]) -> JsonSeq<impl Iterator<Item = serde_json::Value>> {
    JsonSeq::new(rows.iter().map(|s| {
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
            "last_full_check": s.last_full_check,
            "last_check_kind": s.last_check_kind,
        })
    }))
}

/// A JSON array whose elements are made as it is written, so a large output never exists
/// as one tree in memory; serialized like the `Value::Array` of the same elements (same
/// bytes, pretty or not). It can be serialized once: after that it is an empty array.
pub struct JsonSeq<I>(std::cell::Cell<Option<I>>);

impl<I> JsonSeq<I> {
    pub fn new(items: I) -> JsonSeq<I> {
        JsonSeq(std::cell::Cell::new(Some(items)))
    }
}

impl<I: Iterator<Item = serde_json::Value>> serde::Serialize for JsonSeq<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.take() {
            Some(items) => s.collect_seq(items),
            None => s.collect_seq(std::iter::empty::<serde_json::Value>()),
        }
    }
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

/// `text` safe for a terminal: control characters (ESC, CR, newline, tab, DEL, C1) and the
/// bidirectional overrides are shown as `\x1b`, `\u{202e}`, …, and a backslash as `\\`.
/// Zip entry names and cloud error messages come from outside; printed raw, an escape
/// sequence in one could retitle the operator's terminal, write to the clipboard or hide text.
pub fn shown(text: &str) -> Cow<'_, str> {
    shown_keeping(text, &[])
}

/// [`shown`], leaving the characters in `keep` (the line structure of a diff) as they are.
pub fn shown_keeping<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !keep.contains(&c))
            || c == '\\'
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if unsafe_char(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Columns padded to their widest cell; the last column is never padded. Every cell is
/// [`shown`]: cells hold names and errors from the clouds and from packages.
pub fn write_table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| shown(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
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
    for row in &rows {
        line(out, row.iter().map(|c| c.as_ref()).collect())?;
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

    /// Review X3: a cloud's error message (kept in `last_error`) reached `list` raw.
    #[test]
    fn a_last_error_with_escape_sequences_lists_escaped() {
        let row = FunctionSummary {
            key: "tc/ap-guangzhou/default/f".into(),
            cloud: "tencent".into(),
            versions: 0,
            latest_version: None,
            latest_sha256: None,
            latest_size: None,
            last_checked: None,
            last_status: Some("failed".into()),
            last_error: Some("SCF InvalidParameter: \x1b]0;owned\x07bad".into()),
            gone_since: None,
            last_full_check: None,
            last_check_kind: None,
        };
        let mut out = Vec::new();
        list_table(&mut out, &[row]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        assert!(text.contains("\\x1b]0;owned\\x07bad"), "{text}");
    }

    /// Review X3: cloud-supplied text reached the terminal raw.
    #[test]
    fn control_characters_in_cells_are_escaped() {
        let mut out = Vec::new();
        write_table(
            &mut out,
            &["PATH", "STATUS"],
            &[vec![
                "evil\x1b]0;pwned\x07.js".into(),
                "failed: bad\r\nline \u{202e}txt.exe \\x1b".into(),
            ]],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("evil\\x1b]0;pwned\\x07.js"), "{text}");
        assert!(
            text.contains("failed: bad\\x0d\\x0aline \\u{202e}txt.exe \\\\x1b"),
            "{text}"
        );
        assert_eq!(shown("plain ünïcode"), "plain ünïcode");
        assert_eq!(shown_keeping("a\tb\n\x1b", &['\n', '\t']), "a\tb\n\\x1b");
    }

    /// The streamed array is byte for byte the array value `list --json` printed before.
    #[test]
    fn a_streamed_array_prints_as_the_whole_value_did() {
        let items =
            || (0..3).map(|i| serde_json::json!({"function": format!("f{i}"), "n": i, "x": null}));
        for n in [0, 1, 3] {
            let whole = serde_json::Value::Array(items().take(n).collect());
            let pretty = serde_json::to_string_pretty(&JsonSeq::new(items().take(n))).unwrap();
            assert_eq!(pretty, serde_json::to_string_pretty(&whole).unwrap());
            let compact = serde_json::to_string(&JsonSeq::new(items().take(n))).unwrap();
            assert_eq!(compact, serde_json::to_string(&whole).unwrap());
            // Inside an object too (`at --json`), without a length known in advance.
            let filtered = JsonSeq::new(items().take(n).filter(|_| true));
            assert_eq!(
                serde_json::to_string_pretty(&serde_json::json!({"a": 1, "functions": whole}))
                    .unwrap(),
                serde_json::to_string_pretty(&AtLike {
                    a: 1,
                    functions: filtered
                })
                .unwrap()
            );
        }
    }

    struct AtLike<I> {
        a: i64,
        functions: JsonSeq<I>,
    }

    impl<I: Iterator<Item = serde_json::Value>> serde::Serialize for AtLike<I> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("a", &self.a)?;
            m.serialize_entry("functions", &self.functions)?;
            m.end()
        }
    }
}
