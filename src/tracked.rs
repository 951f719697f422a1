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
use crate::db::{Db, DbError};

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
}
