//! What the user typed → what they meant: FUNCTION (a canonical key, a unique prefix of one,
//! or a unique trailing part such as the bare name), FUNCTION@VERSION, and TIME.

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, NaiveDate, Utc};

use crate::db::FunctionRow;

/// The function `arg` names among `functions`: the exact key; else the only one whose key
/// starts with `arg`, ends with `/arg`, or whose name is `arg`. An ambiguous or unknown name
/// is an error listing the candidates (or the known functions).
pub fn function<'a>(functions: &'a [FunctionRow], arg: &str) -> anyhow::Result<&'a FunctionRow> {
    let matches = candidates(functions, arg);
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let known: Vec<&str> = functions.iter().map(|f| f.target.key.as_str()).collect();
            if known.is_empty() {
                bail!("no function matches `{arg}`: nothing is archived yet");
            }
            bail!(
                "no function matches `{arg}`; the archive knows:\n  {}",
                known.join("\n  ")
            )
        }
        many => bail!(
            "`{arg}` is ambiguous; it matches:\n  {}\nname one by its full key",
            many.iter()
                .map(|f| f.target.key.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
    }
}

fn candidates<'a>(functions: &'a [FunctionRow], arg: &str) -> Vec<&'a FunctionRow> {
    if arg.is_empty() {
        return Vec::new();
    }
    if let Some(exact) = functions.iter().find(|f| f.target.key == arg) {
        return vec![exact];
    }
    // `name@$LATEST` (SCF) and `name@LATEST` (FC) are `name`: keys are canonical without the
    // latest alias, but people still type it.
    for alias in ["@$LATEST", "@LATEST"] {
        if let Some(bare) = arg.strip_suffix(alias) {
            let found = candidates(functions, bare);
            let found: Vec<&FunctionRow> = found
                .into_iter()
                .filter(|f| {
                    f.target.qualifier.is_none()
                        && alias[1..] == *crate::cloud::latest_alias(f.target.cloud)
                })
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
    }
    // Whole path parts first: `ali-demo` is the account `ali-demo`, not also the start of
    // `ali-demo-fc-sig`; `default/order-api` also names `…/default/order-api@prod`.
    let tail = format!("/{arg}");
    let head = format!("{arg}/");
    let by_parts: Vec<&FunctionRow> = functions
        .iter()
        .filter(|f| {
            let key = f.target.key.as_str();
            let unqualified = match &f.target.qualifier {
                Some(q) => key.strip_suffix(&format!("@{q}")).unwrap_or(key),
                None => key,
            };
            key.starts_with(&head)
                || key.ends_with(&tail)
                || unqualified.ends_with(&tail)
                || unqualified == arg
                || f.target.name == arg
        })
        .collect();
    if !by_parts.is_empty() {
        return by_parts;
    }
    functions
        .iter()
        .filter(|f| f.target.key.starts_with(arg))
        .collect()
}

/// `FUNCTION[@VERSION]`. Qualifiers also follow an `@` (and may be digits), so: the exact key
/// wins; else a trailing `@<digits>` is a version when what precedes it names one function;
/// if the whole text names a different function too, that is ambiguous.
pub fn function_version<'a>(
    functions: &'a [FunctionRow],
    arg: &str,
) -> anyhow::Result<(&'a FunctionRow, Option<i64>)> {
    if let Some(exact) = functions.iter().find(|f| f.target.key == arg) {
        return Ok((exact, None));
    }
    if let Some((head, tail)) = arg.rsplit_once('@')
        && !head.is_empty()
        && !tail.is_empty()
        && tail.bytes().all(|b| b.is_ascii_digit())
        && let [f] = candidates(functions, head).as_slice()
    {
        let version: i64 = tail
            .parse()
            .with_context(|| format!("`{tail}` in `{arg}` is not a version number"))?;
        if let [whole] = candidates(functions, arg).as_slice()
            && whole.id != f.id
        {
            bail!(
                "`{arg}` is ambiguous: version {version} of {} or the function {}; \
                 write the full key (with @VERSION after it for a version)",
                f.target.key,
                whole.target.key
            );
        }
        return Ok((f, Some(version)));
    }
    Ok((function(functions, arg)?, None))
}

/// A moment: RFC 3339 (`2026-03-03T12:00:00+08:00`), or a date (`2026-03-03`), meaning the
/// end of that day in UTC — "what ran on 3 March" includes that day's deployments. Returned
/// in the stored format, so it compares with stored times as text.
pub fn time(arg: &str) -> anyhow::Result<String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(arg) {
        return Ok(crate::time::format_rfc3339(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(arg, "%Y-%m-%d")
        && let Some(end) = d.and_hms_milli_opt(23, 59, 59, 999)
    {
        return Ok(crate::time::format_rfc3339(end.and_utc()));
    }
    Err(anyhow!(
        "`{arg}` is not a time: give RFC 3339 (2026-03-03T09:30:00Z, 2026-03-03T17:30:00+08:00) \
         or a date (2026-03-03, meaning the end of that day, UTC)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Cloud, Target};

    fn row(id: i64, ns: &str, name: &str, q: Option<&str>) -> FunctionRow {
        FunctionRow {
            id,
            target: Target::new(Cloud::Tencent, "tc", "ap-guangzhou", ns, name, q),
            first_seen: String::new(),
        }
    }

    fn fleet() -> Vec<FunctionRow> {
        vec![
            row(1, "default", "order-api", None),
            row(2, "default", "order-api", Some("1")),
            row(3, "batch", "report", None),
            row(4, "batch", "report-v2", None),
        ]
    }

    #[test]
    fn the_exact_key_a_prefix_and_a_bare_name_resolve_when_unique() {
        let f = fleet();
        assert_eq!(function(&f, "tc/ap-guangzhou/batch/report").unwrap().id, 3);
        assert_eq!(function(&f, "report-v2").unwrap().id, 4);
        // The latest alias names the unqualified function: one function, one key.
        assert_eq!(
            function(&f, "tc/ap-guangzhou/default/order-api@$LATEST")
                .unwrap()
                .id,
            1
        );
        assert_eq!(function(&f, "order-api@$LATEST").unwrap().id, 1);
        assert!(
            function(&f, "order-api@LATEST").is_err(),
            "FC's alias is not SCF's"
        );
    }

    #[test]
    fn path_parts_win_over_text_prefixes_and_qualifiers_may_be_left_out() {
        let fs = vec![
            row(1, "default", "order-api", Some("prod")),
            row(2, "batch", "report", None),
        ];
        assert_eq!(function(&fs, "default/order-api").unwrap().id, 1);
        assert_eq!(
            function(&fs, "tc/ap-guangzhou/default/order-api")
                .unwrap()
                .id,
            1
        );
        assert_eq!(
            function(&fs, "tc/ap-guangzhou/bat").unwrap().id,
            2,
            "text prefix"
        );
    }

    #[test]
    fn an_ambiguous_name_lists_the_candidates() {
        let e = function(&fleet(), "order-api").unwrap_err().to_string();
        assert!(e.contains("ambiguous"), "{e}");
        assert!(
            e.contains("default/order-api\n") && e.contains("order-api@1"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_name_lists_what_is_known() {
        let e = function(&fleet(), "nope").unwrap_err().to_string();
        assert!(
            e.contains("no function matches `nope`") && e.contains("report-v2"),
            "{e}"
        );
    }

    #[test]
    fn a_trailing_number_is_a_version_unless_it_is_part_of_a_key() {
        let f = fleet();
        assert_eq!(
            function_version(&f, "report-v2@3")
                .map(|(f, v)| (f.id, v))
                .unwrap(),
            (4, Some(3))
        );
        assert_eq!(
            function_version(&f, "tc/ap-guangzhou/default/order-api@1")
                .map(|(f, v)| (f.id, v))
                .unwrap(),
            (2, None)
        );
        assert_eq!(
            function_version(&f, "tc/ap-guangzhou/default/order-api@1@7")
                .map(|(f, v)| (f.id, v))
                .unwrap(),
            (2, Some(7))
        );
    }

    #[test]
    fn times_are_rfc3339_or_a_date_meaning_its_end() {
        assert_eq!(
            time("2026-03-03T17:30:00+08:00").unwrap(),
            "2026-03-03T09:30:00.000Z"
        );
        assert_eq!(time("2026-03-03").unwrap(), "2026-03-03T23:59:59.999Z");
        assert!(time("3 March").is_err());
    }
}
