//! `[[discover]]` blocks: which namespaces/services of which account and regions to list at the
//! start of every sweep, and which of the listed functions to archive.
//!
//! Owns: validating the block (errors name file, line and key like every [`ConfigError`]) and
//! deciding whether a function belongs to a rule ([`Discover::wants_name`], [`Discover::covers`]).
//! The listing itself is `crate::discover`.

use std::collections::HashMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use super::{
    Account, ConfigError, Locator, Seg, valid_fc_name, valid_qualifier, valid_region,
    valid_scf_name,
};
use crate::model::{Cloud, Target};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscover {
    account: String,
    regions: Vec<String>,
    namespaces: Option<Vec<String>>,
    services: Option<Vec<String>>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    qualifier: Option<String>,
    fc_version: Option<String>,
    versions: Option<bool>,
    aliases: Option<bool>,
}

/// One validated `[[discover]]` block.
#[derive(Debug, Clone)]
pub struct Discover {
    /// 1-based position among the `[[discover]]` blocks, for messages (`discover[2]`).
    pub index: usize,
    pub account: String,
    pub cloud: Cloud,
    pub regions: Vec<String>,
    /// SCF namespaces or FC services to list; `None` means all of them (`["*"]`), found with
    /// `ListNamespaces` / `ListServices`. An FC 3.0 rule has the one scope
    /// [`crate::model::NO_SCOPE`]: its functions are listed per region.
    pub scopes: Option<Vec<String>>,
    /// `fc_version = "3.0"`: the rule lists FC 3.0 functions (API 2023-03-30), and only those.
    pub fc3: bool,
    /// Globs on the function name, as written (for `check` and messages).
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    include_set: Option<GlobSet>,
    exclude_set: GlobSet,
    pub qualifier: Option<String>,
    /// `versions` / `aliases` (issue 14): for every function the rule archives.
    pub follow: crate::model::Follow,
}

impl Discover {
    /// Whether a listed function of this name is archived: it matches an `include` glob (or
    /// there is none) and no `exclude` glob.
    pub fn wants_name(&self, name: &str) -> bool {
        self.include_set.as_ref().is_none_or(|s| s.is_match(name))
            && !self.exclude_set.is_match(name)
    }

    /// Whether `scope` (namespace or service) is one this rule lists.
    pub fn lists_scope(&self, scope: &str) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == scope))
    }

    /// Whether `t` is a function this rule would archive if the cloud listed it.
    pub fn covers(&self, t: &Target) -> bool {
        // An FC 2.0 rule listing every service must not claim FC 3.0 functions (they have no
        // service, and its listing never shows them), nor an FC 3.0 rule the 2.0 ones.
        t.account == self.account
            && t.is_fc3() == self.fc3
            && self.regions.contains(&t.region)
            && self.lists_scope(&t.namespace)
            && t.qualifier == self.qualifier
            && self.wants_name(&t.name)
    }

    /// The target of a listed function under this rule.
    pub fn target(&self, region: &str, scope: &str, name: &str) -> Target {
        Target::new(
            self.cloud,
            &self.account,
            region,
            scope,
            name,
            self.qualifier.as_deref(),
        )
    }
}

pub(super) fn validate(
    d: &RawDiscover,
    i: usize,
    loc: &Locator,
    accounts: &HashMap<&str, &Account>,
) -> Result<Discover, ConfigError> {
    let here = |key: &'static str| [Seg::Key("discover"), Seg::Index(i), Seg::Key(key)];
    let err = |key: &'static str, msg: String| loc.err_at(&here(key), msg);

    let account = super::find_account(accounts, &d.account).map_err(|m| err("account", m))?;
    let cloud = account.cloud();
    if d.regions.is_empty() {
        return Err(err("regions", "must name at least one region".to_string()));
    }
    let mut regions: Vec<String> = Vec::new();
    for r in &d.regions {
        if !valid_region(r) {
            return Err(err(
                "regions",
                format!("`{r}` is not a region name (like `ap-guangzhou`)"),
            ));
        }
        if regions.contains(r) {
            return Err(err("regions", format!("`{r}` is listed twice")));
        }
        regions.push(r.clone());
    }

    let fc3 = match (cloud, d.fc_version.as_deref()) {
        (_, None) => false,
        (Cloud::Tencent, Some(_)) => {
            return Err(err(
                "fc_version",
                "`fc_version` is for aliyun accounts (SCF has one API)".to_string(),
            ));
        }
        (Cloud::Aliyun, Some("2.0")) => false,
        (Cloud::Aliyun, Some("3.0")) => true,
        (Cloud::Aliyun, Some(other)) => {
            return Err(err(
                "fc_version",
                format!("unknown FC version `{other}` (expected \"2.0\" or \"3.0\")"),
            ));
        }
    };
    if fc3 && d.services.is_some() {
        return Err(err(
            "services",
            "FC 3.0 has no services: remove `services` or set fc_version = \"2.0\"".to_string(),
        ));
    }

    let (scope_key, given, other_key, other) = match cloud {
        Cloud::Tencent => ("namespaces", &d.namespaces, "services", &d.services),
        Cloud::Aliyun => ("services", &d.services, "namespaces", &d.namespaces),
    };
    if other.is_some() {
        return Err(err(
            other_key,
            format!(
                "{} accounts list `{scope_key}`, not `{other_key}`",
                cloud.display_name()
            ),
        ));
    }
    let scopes = match given {
        None if fc3 => Some(vec![crate::model::NO_SCOPE.to_string()]),
        None => None,
        Some(list) if list.iter().any(|s| s == "*") => {
            if list.len() != 1 {
                return Err(err(
                    scope_key,
                    "`\"*\"` means all of them and stands alone".to_string(),
                ));
            }
            None
        }
        Some(list) if list.is_empty() => {
            return Err(err(
                scope_key,
                "is empty: give names or [\"*\"] for all".to_string(),
            ));
        }
        Some(list) => {
            for s in list {
                let ok = match cloud {
                    Cloud::Tencent => valid_scf_name(s, 64),
                    Cloud::Aliyun => valid_fc_name(s, 128),
                };
                if !ok {
                    return Err(err(
                        scope_key,
                        format!(
                            "`{s}` is not a valid {} name",
                            scope_key.trim_end_matches('s')
                        ),
                    ));
                }
            }
            Some(list.clone())
        }
    };

    let globs =
        |key: &'static str, list: &Option<Vec<String>>| -> Result<Option<GlobSet>, ConfigError> {
            let Some(list) = list else {
                return Ok(None);
            };
            let mut b = GlobSetBuilder::new();
            for g in list {
                let glob = Glob::new(g)
                    .map_err(|e| err(key, format!("`{g}` is not a glob: {}", e.kind())))?;
                b.add(glob);
            }
            b.build()
                .map(Some)
                .map_err(|e| err(key, format!("invalid globs: {e}")))
        };
    let include_set = globs("include", &d.include)?;
    let exclude_set = globs("exclude", &d.exclude)?.unwrap_or_else(GlobSet::empty);

    if let Some(q) = &d.qualifier {
        let ok = match cloud {
            Cloud::Tencent => q == "$LATEST" || valid_scf_name(q, 128),
            Cloud::Aliyun => valid_qualifier(q),
        };
        if !ok {
            return Err(err("qualifier", format!("`{q}` is not a valid qualifier")));
        }
    }
    let follow = crate::model::Follow {
        versions: d.versions.unwrap_or(false),
        aliases: d.aliases.unwrap_or(false),
    };
    Ok(Discover {
        follow,
        index: i + 1,
        account: account.name.clone(),
        cloud,
        regions,
        scopes,
        fc3,
        include: d.include.clone().unwrap_or_default(),
        exclude: d.exclude.clone().unwrap_or_default(),
        include_set,
        exclude_set,
        // Canonical, like the targets it builds and covers (`$LATEST`/`LATEST` is none).
        qualifier: crate::model::canonical_qualifier(cloud, d.qualifier.as_deref())
            .map(str::to_string),
    })
}
