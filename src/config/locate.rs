//! Finding the line of a key, for errors found after deserialisation: toml_edit spans turned
//! into `file:line:col: key: message`.

use std::path::Path;

use super::ConfigError;

#[derive(Clone, Copy)]
pub(super) enum Seg {
    Key(&'static str),
    Index(usize),
}

pub(super) struct Locator<'a> {
    pub(super) src: &'a str,
    pub(super) file: &'a Path,
    /// Parsed only when a place is asked for (an error, an inline secret): a valid config
    /// never pays for a second parse — a measurable part of start-up with 10,000 functions.
    pub(super) doc: std::cell::OnceCell<Option<toml_edit::Document<&'a str>>>,
}

impl<'a> Locator<'a> {
    pub(super) fn new(src: &'a str, file: &'a Path) -> Self {
        Locator {
            src,
            file,
            doc: std::cell::OnceCell::new(),
        }
    }

    pub(super) fn doc(&self) -> Option<&toml_edit::Document<&'a str>> {
        self.doc
            .get_or_init(|| toml_edit::Document::parse(self.src).ok())
            .as_ref()
    }

    /// A parse or type error from serde/toml. toml's message names at most the field, so the
    /// dotted key is found from the error's place in the file.
    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            position: e.span().map(|s| self.line_col(s.start)),
            key: e.span().and_then(|s| self.key_at(s.start)),
            message: e.message().trim_end().to_string(),
        }
    }

    /// The dotted key (1-based indexes, as in every other message) of the innermost key, value,
    /// array element or table header whose text holds `offset`: a wrong type points at the
    /// value, an unknown field at its key, a missing field at its table's header.
    pub(super) fn key_at(&self, offset: usize) -> Option<String> {
        let doc = self.doc()?;
        let mut path = Vec::new();
        if !find_in_table(doc.as_table(), offset, &mut path) || path.is_empty() {
            return None;
        }
        Some(path.concat())
    }

    pub(super) fn err(&self, path: &[&'static str], msg: impl Into<String>) -> ConfigError {
        let segs: Vec<Seg> = path.iter().map(|k| Seg::Key(k)).collect();
        self.err_at(&segs, msg)
    }

    pub(super) fn err_at(&self, path: &[Seg], msg: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            position: self.span(path).map(|s| self.line_col(s)),
            key: Some(dotted(path)),
            message: msg.into(),
        }
    }

    /// The start of the key at `path`, or of the closest enclosing table that exists.
    pub(super) fn span(&self, path: &[Seg]) -> Option<usize> {
        let doc = self.doc()?;
        let mut best = None;
        let mut node: &dyn toml_edit::TableLike = doc.as_table();
        let mut segs = path.iter().peekable();
        while let Some(seg) = segs.next() {
            let Seg::Key(k) = seg else { return best };
            let Some((key, value)) = node.get_key_value(k) else {
                return best;
            };
            best = key.span().map(|s| s.start).or(best);
            node = match segs.peek() {
                Some(Seg::Index(n)) => {
                    segs.next();
                    let table = value.as_array_of_tables()?.get(*n)?;
                    best = table.span().map(|s| s.start).or(best);
                    table
                }
                Some(Seg::Key(_)) => match value.as_table_like() {
                    Some(t) => t,
                    None => return best,
                },
                None => return best,
            };
        }
        best
    }

    pub(super) fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.src[..offset.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map(|n| before.len() - n)
            .unwrap_or(before.len() + 1);
        (line, col)
    }
}

/// Whether a toml_edit span holds `offset` (an empty span holds its start).
pub(super) fn holds(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start == offset || s.contains(&offset))
}

/// Searches `table` for what holds `offset`, leaving its path in `path` (segments `.key`,
/// `[n]`) when found. Children first, so the innermost match wins.
pub(super) fn find_in_table(
    table: &dyn toml_edit::TableLike,
    offset: usize,
    path: &mut Vec<String>,
) -> bool {
    for (name, _) in table.iter() {
        let Some((key, item)) = table.get_key_value(name) else {
            continue;
        };
        path.push(if path.is_empty() {
            name.to_string()
        } else {
            format!(".{name}")
        });
        if holds(key.span(), offset) || find_in_item(item, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

pub(super) fn find_in_item(item: &toml_edit::Item, offset: usize, path: &mut Vec<String>) -> bool {
    match item {
        toml_edit::Item::None => false,
        toml_edit::Item::Value(v) => find_in_value(v, offset, path),
        toml_edit::Item::Table(t) => find_in_table(t, offset, path) || holds(t.span(), offset),
        toml_edit::Item::ArrayOfTables(tables) => {
            for (i, t) in tables.iter().enumerate() {
                path.push(format!("[{}]", i + 1));
                if find_in_table(t, offset, path) || holds(t.span(), offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
    }
}

pub(super) fn find_in_value(
    value: &toml_edit::Value,
    offset: usize,
    path: &mut Vec<String>,
) -> bool {
    match value {
        toml_edit::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(format!("[{}]", i + 1));
                if find_in_value(v, offset, path) {
                    return true;
                }
                path.pop();
            }
        }
        toml_edit::Value::InlineTable(t) if find_in_table(t, offset, path) => return true,
        _ => {}
    }
    holds(value.span(), offset)
}

pub(super) fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            // Shown 1-based: "the 3rd [[functions]]" reads as functions[3].
            Seg::Index(n) => out.push_str(&format!("[{}]", n + 1)),
        }
    }
    out
}
