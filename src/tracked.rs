//! Which functions fnvault answers for: the one rule `list`, `status`, the daemon's metrics
//! and the failure alerts share.
//!
//! Owns: "a tracked function is every `[[functions]]` entry, in config order, then every
//! function the database has recorded that a `[[discover]]` rule covers, by key". Discovered
//! functions are not in the file, so the database (a listing found them in some sweep) and the
//! rules together say which rows are theirs. A row no rule covers any more (the rule was
//! edited or removed) is not tracked: its archive stays, but nobody asked for it to be kept
//! current. Calls `db` (read-only) and `config` (types).
//!
//! A discovered function the cloud no longer lists is *gone* (`gone_since`): it is tracked,
//! so `list` keeps showing its archive, but it is no longer checked, so it is never failing
//! or stale and has no per-function metric series (see README, `status` and `[metrics]`).
//! An explicit function is checked every sweep whatever the listing says, so it is never gone.

use crate::cloud::Target;
use crate::config::{Config, Discover};
use crate::db::{Db, DbError, FunctionHealth, FunctionSummary};

/// One function fnvault answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub target: Target,
    /// When discovery found it missing from the cloud; `None` for explicit functions and for
    /// discovered ones still listed.
    pub gone_since: Option<String>,
}

impl Tracked {
    pub fn is_gone(&self) -> bool {
        self.gone_since.is_some()
    }
}

/// The tracked functions of `config`. Without a database (no sweep yet) only the explicit
/// ones are known.
pub fn tracked_targets(config: &Config, db: Option<&Db>) -> Result<Vec<Tracked>, DbError> {
    tracked(&config.functions, &config.discover, db)
}

/// [`tracked_targets`] from the parts of a config, for the long-lived holders (the daemon's
/// metrics and notifier) that keep only these.
pub fn tracked(
    explicit: &[Target],
    rules: &[Discover],
    db: Option<&Db>,
) -> Result<Vec<Tracked>, DbError> {
    let mut out: Vec<Tracked> = explicit
        .iter()
        .map(|t| Tracked {
            target: t.clone(),
            gone_since: None,
        })
        .collect();
    let Some(db) = db else {
        return Ok(out);
    };
    if rules.is_empty() {
        return Ok(out);
    }
    // A set, not a scan of `explicit` per known function (review P2: known × explicit).
    let explicit_keys: std::collections::HashSet<&str> =
        explicit.iter().map(|t| t.key.as_str()).collect();
    for known in db.known_functions()? {
        if rules.iter().any(|r| r.covers(&known.target))
            && !explicit_keys.contains(known.target.key.as_str())
        {
            out.push(Tracked {
                target: known.target,
                gone_since: known.gone_since,
            });
        }
    }
    Ok(out)
}

/// What `status` reports on, read without building every tracked function: the health of
/// each explicit function (config order), then of each discovered function that may need
/// attention (by key, from [`Db::functions_needing_attention`]: failing, gone, or not
/// confirmed archived since `confirmed_by`), gone ones apart. A tracked function left out is
/// one whose row says it is healthy, so the failing and stale lists drawn from this are those
/// drawn from every tracked function's health, in the same order.
pub struct Attention {
    /// Tracked and not gone.
    pub live: Vec<FunctionHealth>,
    /// Discovered and gone: the function, and its health.
    pub gone: Vec<(Tracked, FunctionHealth)>,
}

pub fn needing_attention(
    config: &Config,
    db: &Db,
    confirmed_by: &str,
) -> Result<Attention, DbError> {
    let mut live = db.function_health(&config.functions)?;
    let mut gone = Vec::new();
    if config.discover.is_empty() {
        return Ok(Attention { live, gone });
    }
    let explicit_keys: std::collections::HashSet<&str> =
        config.functions.iter().map(|t| t.key.as_str()).collect();
    for row in db.functions_needing_attention(confirmed_by)? {
        // The rule of `tracked`: covered by a rule and not an explicit function.
        if !config.discover.iter().any(|r| r.covers(&row.target))
            || explicit_keys.contains(row.target.key.as_str())
        {
            continue;
        }
        match row.gone_since {
            Some(since) => gone.push((
                Tracked {
                    target: row.target,
                    gone_since: Some(since),
                },
                row.health,
            )),
            None => live.push(row.health),
        }
    }
    Ok(Attention { live, gone })
}

/// `list`'s rows: the summary of every tracked function, in [`tracked_targets`]'s order
/// (explicit ones in config order, an unswept one empty, then the discovered ones by key),
/// from one pass over the database's functions.
pub fn tracked_summaries(config: &Config, db: &Db) -> Result<Vec<FunctionSummary>, DbError> {
    // The first entry of a key wins, as `Db::summaries` gave it (a repeated key's later
    // entries got an empty summary).
    let mut explicit_at: std::collections::HashMap<&str, usize> = Default::default();
    for (i, t) in config.functions.iter().enumerate() {
        explicit_at.entry(t.key.as_str()).or_insert(i);
    }
    let mut explicit: Vec<Option<FunctionSummary>> = vec![None; config.functions.len()];
    let mut discovered = Vec::new();
    for (target, summary) in db.all_summaries()? {
        if let Some(&i) = explicit_at.get(target.key.as_str()) {
            explicit[i] = Some(FunctionSummary {
                cloud: config.functions[i].cloud.as_str().to_string(),
                ..summary
            });
        } else if config.discover.iter().any(|r| r.covers(&target)) {
            discovered.push(summary);
        }
    }
    // Keys are unique, so this is the database's `ORDER BY key` (bytes in both).
    discovered.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(explicit
        .into_iter()
        .zip(&config.functions)
        .map(|(s, t)| s.unwrap_or_else(|| crate::db::empty_summary(t)))
        .chain(discovered)
        .collect())
}

/// The targets of `tracked` still served by the cloud (not gone).
pub fn live_targets(tracked: &[Tracked]) -> Vec<Target> {
    tracked
        .iter()
        .filter(|t| !t.is_gone())
        .map(|t| t.target.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;

    fn config_with(dir: &std::path::Path, rest: &str) -> Config {
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[archive]\ndir = \"archive\"\n[database]\npath = \"db\"\n\
                 [[accounts]]\nname = \"tc\"\ncloud = \"tencent\"\n{rest}"
            ),
        )
        .unwrap();
        Config::load_without_credentials(&path).unwrap()
    }

    fn scf(name: &str, namespace: &str) -> Target {
        Target::new(Cloud::Tencent, "tc", "ap-guangzhou", namespace, name, None)
    }

    #[test]
    fn explicit_first_then_covered_rows_by_key_gone_ones_included() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with(
            dir.path(),
            "[[functions]]\naccount = \"tc\"\nregion = \"ap-guangzhou\"\nname = \"explicit\"\n\
             [[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\nnamespaces = [\"default\"]\n",
        );
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        for t in [
            scf("b-found", "default"),
            scf("a-found", "default"),
            scf("explicit", "default"),
            scf("elsewhere", "other"),
        ] {
            db.upsert_function(&t, "t1").unwrap();
        }
        let gone = db.upsert_function(&scf("c-gone", "default"), "t1").unwrap();
        db.mark_gone(gone, "t2").unwrap();
        // A gone mark on an explicit function does not make it gone: it is checked directly.
        let explicit_id = db
            .upsert_function(&scf("explicit", "default"), "t1")
            .unwrap();
        db.mark_gone(explicit_id, "t2").unwrap();

        let tracked = tracked_targets(&config, Some(&db)).unwrap();

        let keys: Vec<(&str, Option<&str>)> = tracked
            .iter()
            .map(|t| (t.target.key.as_str(), t.gone_since.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("tc/ap-guangzhou/default/explicit", None),
                ("tc/ap-guangzhou/default/a-found", None),
                ("tc/ap-guangzhou/default/b-found", None),
                ("tc/ap-guangzhou/default/c-gone", Some("t2")),
            ]
        );
        assert_eq!(live_targets(&tracked).len(), 3);
    }

    #[test]
    fn without_a_database_only_the_explicit_functions_are_known() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with(
            dir.path(),
            "[[functions]]\naccount = \"tc\"\nregion = \"ap-guangzhou\"\nname = \"explicit\"\n\
             [[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\n",
        );
        let tracked = tracked_targets(&config, None).unwrap();
        assert_eq!(tracked.len(), 1);
        assert_eq!(tracked[0].target.key, "tc/ap-guangzhou/default/explicit");
    }

    /// Issue 16: `status` reads only the rows needing attention; what it lists (failing,
    /// stale, gone, in order) must be what every tracked function's health says, around the
    /// one-day boundary too, with explicit functions (one never swept) and rows no rule
    /// covers.
    #[test]
    fn attention_rows_give_the_lists_every_tracked_function_gives() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with(
            dir.path(),
            "[[functions]]\naccount = \"tc\"\nregion = \"ap-guangzhou\"\nname = \"x-failing\"\n\
             [[functions]]\naccount = \"tc\"\nregion = \"ap-guangzhou\"\nname = \"x-never\"\n\
             [[functions]]\naccount = \"tc\"\nregion = \"ap-guangzhou\"\nname = \"x-gone-mark\"\n\
             [[discover]]\naccount = \"tc\"\nregions = [\"ap-guangzhou\"]\nnamespaces = [\"default\"]\n",
        );
        let mut db = Db::open(&dir.path().join("db")).unwrap();
        let now = chrono::Utc::now();
        let day = chrono::TimeDelta::days(1);
        let at = |d: chrono::TimeDelta| crate::time::format_rfc3339(now - d);
        let ms = chrono::TimeDelta::milliseconds(1);
        let mut add = |name: &str, ns: &str, success: Option<String>| {
            let id = db.upsert_function(&scf(name, ns), &at(day * 9)).unwrap();
            if let Some(t) = success {
                db.record_unchanged(id, 0, &t).unwrap();
            }
            id
        };
        add("healthy", "default", Some(at(chrono::TimeDelta::zero())));
        add("stale", "default", Some(at(day * 2)));
        add(
            "inside",
            "default",
            Some(at(day - chrono::TimeDelta::seconds(5))),
        );
        add("just-over", "default", Some(at(day + ms * 5)));
        add("never-succeeded", "default", None);
        let failing = add("failing", "default", Some(at(chrono::TimeDelta::hours(1))));
        let gone = add("gone", "default", Some(at(day * 3)));
        let gone_failing = add("gone-failing", "default", None);
        let other = add("elsewhere-failing", "other", None);
        let x_failing = add("x-failing", "default", Some(at(chrono::TimeDelta::zero())));
        let x_gone = add(
            "x-gone-mark",
            "default",
            Some(at(chrono::TimeDelta::zero())),
        );
        for id in [failing, gone_failing, other, x_failing] {
            db.record_failure(id, "boom", &at(chrono::TimeDelta::zero()))
                .unwrap();
        }
        for id in [gone, gone_failing, x_gone] {
            db.mark_gone(id, &at(day)).unwrap();
        }

        let stale_by = |h: &FunctionHealth| {
            h.last_success
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_none_or(|t| now.signed_duration_since(t) > day)
        };
        let lists = |live: &[FunctionHealth], gone: Vec<(String, Option<String>)>| {
            let failing: Vec<String> = live
                .iter()
                .filter(|h| h.last_status.as_deref() == Some("failed"))
                .map(|h| h.key.clone())
                .collect();
            let stale: Vec<String> = live
                .iter()
                .filter(|h| stale_by(h))
                .map(|h| h.key.clone())
                .collect();
            (failing, stale, gone)
        };
        // Every tracked function, as `status` read them before.
        let tracked = tracked_targets(&config, Some(&db)).unwrap();
        let all_health = db.function_health(&live_targets(&tracked)).unwrap();
        let gone_targets: Vec<Target> = tracked
            .iter()
            .filter(|t| t.is_gone())
            .map(|t| t.target.clone())
            .collect();
        let gone_health = db.function_health(&gone_targets).unwrap();
        let before = lists(
            &all_health,
            tracked
                .iter()
                .filter(|t| t.is_gone())
                .zip(&gone_health)
                .map(|(t, h)| (t.target.key.clone(), h.last_success.clone()))
                .collect(),
        );

        let attention = needing_attention(&config, &db, &at(day)).unwrap();
        let after = lists(
            &attention.live,
            attention
                .gone
                .iter()
                .map(|(t, h)| (t.target.key.clone(), h.last_success.clone()))
                .collect(),
        );
        assert_eq!(after, before);
        let k = |n: &str| format!("tc/ap-guangzhou/default/{n}");
        assert_eq!(before.0, [k("x-failing"), k("failing")]);
        assert_eq!(
            before.1,
            [
                k("x-never"),
                k("just-over"),
                k("never-succeeded"),
                k("stale")
            ]
        );
        assert_eq!(
            before.2.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
            [k("gone"), k("gone-failing")]
        );
        // The healthy discovered rows were not read at all.
        assert_eq!(attention.live.len(), 3 + 4);

        // `list`'s one pass gives the rows and order of `tracked_targets` + `summaries`
        // (explicit first, one never swept; gone and uncovered rows as the rule says).
        let targets: Vec<Target> = tracked.iter().map(|t| t.target.clone()).collect();
        assert_eq!(
            tracked_summaries(&config, &db).unwrap(),
            db.summaries(&targets).unwrap()
        );
    }
}
