//! What the user typed → what they meant: FUNCTION (a canonical key, a unique prefix of one,
//! or a unique trailing part such as the bare name), FUNCTION@VERSION, and TIME.

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, NaiveDate, Utc};

use crate::db::FunctionRow;

/// Where FUNCTION arguments are looked up. The database answers `containing` with two index
/// lookups (keys starting with the text, names equal to its last part), so naming one
/// function among 100,000 reads only the few rows that can match; every key is read only to
/// suggest close ones after a miss.
pub trait Known {
    /// The function whose key is exactly `key` (an exact key always wins, so most scripts,
    /// which name functions in full, need this one lookup).
    fn exact(&self, key: &str) -> anyhow::Result<Option<FunctionRow>>;
    /// At least the functions whose key starts with `text` or whose name is its last `/` part
    /// (a superset of what any rule below matches; more is harmless).
    fn containing(&self, text: &str) -> anyhow::Result<Vec<FunctionRow>>;
    /// Every key, for suggestions.
    fn all_keys(&self) -> anyhow::Result<Vec<String>>;
    /// The aliases recorded for the function `function_key` (without qualifier), by name.
    fn aliases_of(&self, _function_key: &str) -> anyhow::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

impl Known for [FunctionRow] {
    fn exact(&self, key: &str) -> anyhow::Result<Option<FunctionRow>> {
        Ok(self.iter().find(|f| f.target.key == key).cloned())
    }

    fn containing(&self, text: &str) -> anyhow::Result<Vec<FunctionRow>> {
        Ok(self
            .iter()
            .filter(|f| f.target.key.contains(text))
            .cloned()
            .collect())
    }

    fn all_keys(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.iter().map(|f| f.target.key.clone()).collect())
    }
}

/// The part of `arg` every key it can name contains: what comes before its first `@` (an
/// exact key, a prefix, trailing parts, a bare name, with or without a latest alias or a
/// version after the `@`, all contain it).
fn needle(arg: &str) -> &str {
    arg.split('@').next().unwrap_or(arg)
}

/// The function `arg` names: the exact key; else the only one whose key starts with `arg`,
/// ends with `/arg`, or whose name is `arg`. An ambiguous name is an error listing the
/// candidates; an unknown one suggests the closest keys.
pub fn function(known: &(impl Known + ?Sized), arg: &str) -> anyhow::Result<FunctionRow> {
    if let Some(exact) = known.exact(arg)? {
        return Ok(exact);
    }
    let rows = known.containing(needle(arg))?;
    function_in(&rows, known, arg).cloned()
}

fn function_in<'a>(
    functions: &'a [FunctionRow],
    known: &(impl Known + ?Sized),
    arg: &str,
) -> anyhow::Result<&'a FunctionRow> {
    let matches = candidates(functions, arg);
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(unknown(known, arg)?),
        many => bail!(
            "`{arg}` is ambiguous; it matches:\n  {}\nname one by its full key",
            many.iter()
                .map(|f| f.target.key.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
    }
}

/// Most keys an unknown FUNCTION suggests.
const SUGGESTIONS: usize = 5;

/// The error for a FUNCTION nothing matches: the few closest keys, never the whole archive
/// (100,000 lines help nobody).
fn unknown(known: &(impl Known + ?Sized), arg: &str) -> anyhow::Result<anyhow::Error> {
    let keys = known.all_keys()?;
    if keys.is_empty() {
        return Ok(anyhow!(
            "no function matches `{arg}`: nothing is archived yet"
        ));
    }
    let close = closest(&keys, arg, SUGGESTIONS);
    let all = format!(
        "`fnvault list` shows all {} function{}",
        keys.len(),
        if keys.len() == 1 { "" } else { "s" }
    );
    Ok(if close.is_empty() {
        anyhow!("no function matches `{arg}`, and no archived key is close to it ({all})")
    } else {
        anyhow!(
            "no function matches `{arg}`; the closest archived:\n  {}\n({all})",
            close.join("\n  ")
        )
    })
}

/// The keys closest to `arg` by edit distance, at most `n`, best first. A key is compared
/// whole and by as many trailing `/` parts as `arg` has (so `oder-api` is one edit from the
/// name of `tc/ap-guangzhou/default/order-api`), with and without its `@qualifier`. Only
/// keys within about a third of `arg`'s length are offered: a far one is noise.
fn closest(keys: &[String], arg: &str, n: usize) -> Vec<String> {
    let parts = arg.split('/').count();
    let limit = (arg.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &String)> = keys
        .iter()
        .filter_map(|key| {
            let unqualified = key.split('@').next().unwrap_or(key);
            [key.as_str(), unqualified]
                .into_iter()
                .flat_map(|k| [k, tail(k, parts)])
                .map(|k| levenshtein(arg, k))
                .min()
                .filter(|d| *d <= limit)
                .map(|d| (d, key))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(n).map(|(_, k)| k.clone()).collect()
}

/// The last `parts` `/`-separated parts of `key` (all of it when it has fewer).
fn tail(key: &str, parts: usize) -> &str {
    let mut cut = key.len();
    for _ in 0..parts {
        match key[..cut].rfind('/') {
            Some(i) => cut = i,
            None => return key,
        }
    }
    &key[cut + 1..]
}

/// Edit distance (insertions, deletions, substitutions) between `a` and `b`, by characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
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
        return prefer_function_over_its_versions(by_parts);
    }
    functions
        .iter()
        .filter(|f| f.target.key.starts_with(arg))
        .collect()
}

/// A function's published versions (`<key>@<digits>`, issue 14) never make its name
/// ambiguous: when every candidate but one is a published version of that one, the name means
/// the function itself (`F@<n>` names a version). Other qualifiers (`F@prod`) still do.
fn prefer_function_over_its_versions(found: Vec<&FunctionRow>) -> Vec<&FunctionRow> {
    let plain: Vec<&FunctionRow> = found
        .iter()
        .copied()
        .filter(|f| f.target.qualifier.is_none())
        .collect();
    if let [one] = plain.as_slice()
        && found.iter().all(|f| {
            f.id == one.id
                || (f.target.unqualified_key() == one.target.key
                    && f.target
                        .qualifier
                        .as_deref()
                        .is_some_and(crate::cloud::versions::valid_version))
        })
    {
        return vec![*one];
    }
    found
}

/// What `FUNCTION@<something>` names (issue 14).
#[derive(Debug, Clone, PartialEq)]
pub enum Named {
    /// A function (a key: the function itself, a configured qualifier or a published
    /// version), and an archive version number of it if one was given.
    Function(FunctionRow, Option<i64>),
    /// An alias of the function `function` (key without qualifier), resolved at a time.
    Alias { function: String, alias: String },
}

/// `FUNCTION[@VERSION]`, `FUNCTION@<published version>` or `FUNCTION@<alias>`:
///
/// 1. the exact key wins (`F@prod` configured as a qualifier, `F@3` a published version);
/// 2. `F@<digits>`: the published version's key `F@<digits>` when it is archived, else
///    archive version `<digits>` of F (so archive version 3 of a function that also has a
///    published version 3 is `F@$LATEST@3` on SCF, `F@LATEST@3` on FC);
/// 3. `F@<name>`: a function whose key this names (a configured qualifier), else an alias
///    `<name>` recorded for F.
pub fn named(known: &(impl Known + ?Sized), arg: &str) -> anyhow::Result<Named> {
    if let Some(exact) = known.exact(arg)? {
        return Ok(Named::Function(exact, None));
    }
    if let Some((head, tail)) = arg.rsplit_once('@')
        && !head.is_empty()
        && crate::cloud::versions::valid_alias(tail)
        && !tail.bytes().all(|b| b.is_ascii_digit())
    {
        let functions = known.containing(needle(arg))?;
        if candidates(&functions, arg).is_empty()
            && let Some(key) = function_key_in(&functions, head)
            && known.aliases_of(&key)?.iter().any(|a| a == tail)
        {
            return Ok(Named::Alias {
                function: key,
                alias: tail.to_string(),
            });
        }
    }
    let (f, v) = function_version(known, arg)?;
    Ok(Named::Function(f, v))
}

/// The key without qualifier of the one function `arg` names, qualified forms included
/// (`order-api` names `…/order-api`, its versions `…@1` and its `…@prod` alike).
fn function_key_in(functions: &[FunctionRow], arg: &str) -> Option<String> {
    let found = candidates(functions, arg);
    let first = found.first()?.target.unqualified_key();
    found
        .iter()
        .all(|f| f.target.unqualified_key() == first)
        .then_some(first)
}

/// The function (key without qualifier) `arg` names, for commands about a function's
/// versions and aliases as a whole (`aliases`): the exact key, or a name whose candidates
/// are all forms of one function.
pub fn function_key(known: &(impl Known + ?Sized), arg: &str) -> anyhow::Result<String> {
    if let Some(exact) = known.exact(arg)? {
        return Ok(exact.target.unqualified_key());
    }
    let functions = known.containing(needle(arg))?;
    if let Some(key) = function_key_in(&functions, arg) {
        return Ok(key);
    }
    Ok(function_in(&functions, known, arg)?
        .target
        .unqualified_key())
}

/// `FUNCTION[@VERSION]`. Qualifiers also follow an `@` (and may be digits), so: the exact key
/// wins; else a trailing `@<digits>` is a version when what precedes it names one function;
/// if the whole text names a different function too, that is ambiguous.
pub fn function_version(
    known: &(impl Known + ?Sized),
    arg: &str,
) -> anyhow::Result<(FunctionRow, Option<i64>)> {
    if let Some(exact) = known.exact(arg)? {
        return Ok((exact, None));
    }
    let functions = known.containing(needle(arg))?;
    let functions = functions.as_slice();
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
            // `F@<n>` where `F@<n>` is archived: the published version (issue 14).
            if whole.target.unqualified_key() == f.target.key
                && whole.target.qualifier.as_deref() == Some(tail)
            {
                return Ok(((*whole).clone(), None));
            }
            bail!(
                "`{arg}` is ambiguous: version {version} of {} or the function {}; \
                 write the full key (with @VERSION after it for a version)",
                f.target.key,
                whole.target.key
            );
        }
        return Ok(((*f).clone(), Some(version)));
    }
    Ok((function_in(functions, known, arg)?.clone(), None))
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
        assert_eq!(
            function(f.as_slice(), "tc/ap-guangzhou/batch/report")
                .unwrap()
                .id,
            3
        );
        assert_eq!(function(f.as_slice(), "report-v2").unwrap().id, 4);
        // The latest alias names the unqualified function: one function, one key.
        assert_eq!(
            function(f.as_slice(), "tc/ap-guangzhou/default/order-api@$LATEST")
                .unwrap()
                .id,
            1
        );
        assert_eq!(function(f.as_slice(), "order-api@$LATEST").unwrap().id, 1);
        assert!(
            function(f.as_slice(), "order-api@LATEST").is_err(),
            "FC's alias is not SCF's"
        );
    }

    #[test]
    fn path_parts_win_over_text_prefixes_and_qualifiers_may_be_left_out() {
        let fs = vec![
            row(1, "default", "order-api", Some("prod")),
            row(2, "batch", "report", None),
        ];
        assert_eq!(function(fs.as_slice(), "default/order-api").unwrap().id, 1);
        assert_eq!(
            function(fs.as_slice(), "tc/ap-guangzhou/default/order-api")
                .unwrap()
                .id,
            1
        );
        assert_eq!(
            function(fs.as_slice(), "tc/ap-guangzhou/bat").unwrap().id,
            2,
            "text prefix"
        );
    }

    #[test]
    fn an_ambiguous_name_lists_the_candidates() {
        let mut f = fleet();
        f.push(row(5, "default", "order-api", Some("prod")));
        let e = function(f.as_slice(), "order-api").unwrap_err().to_string();
        assert!(e.contains("ambiguous"), "{e}");
        assert!(
            e.contains("default/order-api\n") && e.contains("order-api@prod"),
            "{e}"
        );
    }

    /// Issue 14: published versions (`@<digits>` keys) do not make a name ambiguous, and
    /// `F@<n>` names the published version when it is archived.
    #[test]
    fn a_published_version_is_named_by_its_number_and_never_shadows_the_function() {
        let f = fleet();
        assert_eq!(function(f.as_slice(), "order-api").unwrap().id, 1);
        assert_eq!(
            function_version(f.as_slice(), "order-api@1")
                .map(|(f, v)| (f.id, v))
                .unwrap(),
            (2, None)
        );
        // No published version 7: archive version 7 of the function.
        assert_eq!(
            function_version(f.as_slice(), "order-api@7")
                .map(|(f, v)| (f.id, v))
                .unwrap(),
            (1, Some(7))
        );
        // Archive version 1 of the function itself, past its published version 1.
        assert_eq!(
            function_version(f.as_slice(), "order-api@$LATEST@1")
                .map(|(f, v)| (f.id, v))
                .unwrap(),
            (1, Some(1))
        );
        assert_eq!(
            function_key(f.as_slice(), "order-api@1").unwrap(),
            "tc/ap-guangzhou/default/order-api"
        );
    }

    struct WithAliases(Vec<FunctionRow>);

    impl Known for WithAliases {
        fn exact(&self, key: &str) -> anyhow::Result<Option<FunctionRow>> {
            self.0.as_slice().exact(key)
        }
        fn containing(&self, text: &str) -> anyhow::Result<Vec<FunctionRow>> {
            self.0.as_slice().containing(text)
        }
        fn all_keys(&self) -> anyhow::Result<Vec<String>> {
            self.0.as_slice().all_keys()
        }
        fn aliases_of(&self, key: &str) -> anyhow::Result<Vec<String>> {
            Ok(if key == "tc/ap-guangzhou/default/order-api" {
                vec!["prod".to_string(), "canary".to_string()]
            } else {
                Vec::new()
            })
        }
    }

    #[test]
    fn an_alias_is_named_after_the_function_unless_a_key_says_otherwise() {
        let mut f = fleet();
        f.push(row(5, "default", "order-api", Some("canary")));
        let k = WithAliases(f);
        assert_eq!(
            named(&k, "order-api@prod").unwrap(),
            Named::Alias {
                function: "tc/ap-guangzhou/default/order-api".to_string(),
                alias: "prod".to_string()
            }
        );
        // A configured qualifier of that name is a key: it wins.
        assert!(matches!(
            named(&k, "order-api@canary").unwrap(),
            Named::Function(r, None) if r.id == 5
        ));
        assert!(named(&k, "order-api@nope").is_err());
        assert!(matches!(
            named(&k, "report@2").unwrap(),
            Named::Function(r, Some(2)) if r.id == 3
        ));
    }

    /// Review P7: an unknown FUNCTION printed every known key (100,000 lines at scale); it
    /// now suggests the few closest.
    #[test]
    fn an_unknown_name_suggests_the_closest_keys_only() {
        let e = function(fleet().as_slice(), "reprot-v2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no function matches `reprot-v2`"), "{e}");
        assert!(e.contains("\n  tc/ap-guangzhou/batch/report-v2\n"), "{e}");
        assert!(e.contains("all 4 functions"), "{e}");
        assert!(!e.contains("order-api"), "a far key is not offered: {e}");

        let e = function(fleet().as_slice(), "tc/ap-guangzhou/defualt/order-api")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\n  tc/ap-guangzhou/default/order-api"), "{e}");

        let e = function(fleet().as_slice(), "zzzzzzzz")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no archived key is close"), "{e}");

        let many: Vec<FunctionRow> = (0..2000)
            .map(|i| row(i, "default", &format!("fn-{i:05}"), None))
            .collect();
        let e = function(many.as_slice(), "fn-0O123")
            .unwrap_err()
            .to_string();
        let listed = e.lines().filter(|l| l.starts_with("  ")).count();
        assert!(
            (1..=SUGGESTIONS).contains(&listed),
            "{listed} keys listed: {e}"
        );
        assert!(e.contains("default/fn-00123"), "{e}");
        assert!(e.contains("all 2000 functions"), "{e}");
    }

    #[test]
    fn edit_distance_and_trailing_parts() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("名字", "名子"), 1);
        assert_eq!(tail("a/b/c/d", 2), "c/d");
        assert_eq!(tail("a/b", 5), "a/b");
    }

    #[test]
    fn a_trailing_number_is_a_version_unless_it_is_part_of_a_key() {
        let f = fleet();
        assert_eq!(
            function_version(f.as_slice(), "report-v2@3")
                .map(|(f, v)| (f.id, v))
                .unwrap(),
            (4, Some(3))
        );
        assert_eq!(
            function_version(f.as_slice(), "tc/ap-guangzhou/default/order-api@1")
                .map(|(f, v)| (f.id, v))
                .unwrap(),
            (2, None)
        );
        assert_eq!(
            function_version(f.as_slice(), "tc/ap-guangzhou/default/order-api@1@7")
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

    /// The database answers `containing` with index lookups (keys by prefix, names), not a
    /// search of every key (issue 16). Every argument must resolve exactly as it does over
    /// the whole list, errors included.
    #[test]
    fn the_database_lookups_resolve_as_the_whole_list_does() {
        struct ByDb(crate::db::Db);
        impl Known for ByDb {
            fn exact(&self, key: &str) -> anyhow::Result<Option<FunctionRow>> {
                Ok(self.0.function_by_key(key)?)
            }
            fn containing(&self, text: &str) -> anyhow::Result<Vec<FunctionRow>> {
                Ok(self.0.functions_containing(text)?)
            }
            fn all_keys(&self) -> anyhow::Result<Vec<String>> {
                Ok(self
                    .0
                    .functions()?
                    .into_iter()
                    .map(|f| f.target.key)
                    .collect())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut db = crate::db::Db::open(&dir.path().join("db")).unwrap();
        for t in [
            Target::new(
                Cloud::Tencent,
                "tc",
                "ap-guangzhou",
                "default",
                "order-api",
                None,
            ),
            Target::new(
                Cloud::Tencent,
                "tc",
                "ap-guangzhou",
                "default",
                "order-api",
                Some("1"),
            ),
            Target::new(
                Cloud::Tencent,
                "tc",
                "ap-guangzhou",
                "default",
                "order-api",
                Some("prod"),
            ),
            Target::new(
                Cloud::Tencent,
                "tc",
                "ap-guangzhou",
                "batch",
                "report",
                None,
            ),
            Target::new(
                Cloud::Tencent,
                "tc",
                "ap-guangzhou",
                "batch",
                "report-v2",
                None,
            ),
            Target::new(
                Cloud::Tencent,
                "tc",
                "ap-shanghai",
                "other",
                "order-api",
                None,
            ),
            Target::new(Cloud::Aliyun, "ali", "cn-shanghai", "svc", "fc_one", None),
            Target::new(Cloud::Aliyun, "ali", "cn-shanghai", "", "fc3", Some("7")),
            Target::as_named(
                Cloud::Tencent,
                "tc",
                "ap-guangzhou",
                "old",
                "legacy",
                Some("$LATEST"),
            ),
        ] {
            db.upsert_function(&t, "t0").unwrap();
        }
        let all = db.functions().unwrap();
        let by_db = ByDb(db);
        let show = |r: anyhow::Result<(FunctionRow, Option<i64>)>| match r {
            Ok((f, v)) => format!("{} {v:?}", f.target.key),
            Err(e) => format!("error: {e:#}"),
        };
        let mut resolved = 0;
        for arg in [
            "tc/ap-guangzhou/default/order-api",
            "tc/ap-guangzhou/default/order-api@prod",
            "tc/ap-guangzhou/default/order-api@3",
            "tc/ap-guangzhou/default/order-api@1",
            "default/order-api",
            "default/order-api@prod",
            "order-api",
            "order-api@$LATEST",
            "ap-shanghai/other/order-api",
            "report",
            "report@2",
            "report-v2",
            "batch/report",
            "tc/ap-guangzhou/batch",
            "tc/ap-guangzhou/bat",
            "tc/ap-guangzhou/batch/rep",
            "fc_one",
            "svc/fc_one@4",
            "fc3",
            "fc3@7",
            "cn-shanghai/fc3@7@2",
            "legacy",
            "legacy@$LATEST",
            "ali",
            "tc",
            "",
            "nope",
            "oder-api",
            "/order-api",
            "order-api/",
        ] {
            let want = show(function_version(all.as_slice(), arg));
            assert_eq!(show(function_version(&by_db, arg)), want, "for `{arg}`");
            resolved += usize::from(!want.starts_with("error"));
        }
        assert!(
            resolved >= 15,
            "the cases resolve, not only fail: {resolved}"
        );
    }
}
