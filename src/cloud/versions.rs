//! Published versions and aliases of one function (issue 14): SCF `ListVersionByFunction` and
//! `ListAliases`, FC 3.0 `ListFunctionVersions` and `ListAliases`, FC 2.0 `ListServiceVersions`
//! and the service's `ListAliases` (a 2.0 version or alias belongs to the whole service), one
//! page per call, parsed into the common [`VersionsPage`] / [`AliasesPage`].
//!
//! Owns: the common shapes and the rule for weights. An alias serves its main version with
//! weight `1 − Σ(additional weights)` and each additional version with its own weight (SCF
//! `RoutingConfig.AdditionalVersionWeights`, FC `additionalVersionWeight`), so "which code did
//! `prod` serve" is one list of (version, weight). SCF's rule-based routes
//! (`AddtionVersionMatchs`, sic) are recorded with weight 0: they serve the version only for
//! matching requests, which no fraction describes.
//! The caller (`sweep::versions`) paces and retries every call, like every other call.

use super::{Cloud, CloudError, Cursor, Target};

/// One published version as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedVersion {
    /// `"1"`, `"2"`, …: the qualifier that reads it.
    pub version: String,
    /// The cloud's last-modified time of the version, as the cloud wrote it.
    pub modified: Option<String>,
}

/// What an alias routes to, as one listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasTargets {
    pub name: String,
    /// (version, weight), sorted by version; weights sum to 1 (rule-based routes count 0).
    pub versions: Vec<(String, f64)>,
    /// The cloud's last-modified time of the alias, as the cloud wrote it.
    pub modified: Option<String>,
}

#[derive(Debug, Clone)]
pub struct VersionsPage {
    pub versions: Vec<PublishedVersion>,
    pub next: Option<Cursor>,
}

#[derive(Debug, Clone)]
pub struct AliasesPage {
    pub aliases: Vec<AliasTargets>,
    pub next: Option<Cursor>,
}

/// Items per listing page asked for (SCF and FC both accept 100 for their other listings; the
/// answer decides the paging, so a smaller page only costs calls).
pub const PAGE: u32 = 100;

/// Weights rounded to a millionth: `1 − 0.1` must compare equal from sweep to sweep and
/// print as `0.9`.
pub fn round_weight(w: f64) -> f64 {
    (w * 1_000_000.0).round() / 1_000_000.0
}

/// The (version, weight) list of an alias: the main version gets what the others leave.
/// `extra` may name the main version (rule-based routes to it): that adds nothing.
pub fn routing(main: &str, extra: &[(String, f64)]) -> Result<Vec<(String, f64)>, String> {
    let mut out: Vec<(String, f64)> = Vec::new();
    let mut sum = 0.0;
    for (v, w) in extra {
        if !w.is_finite() || *w < 0.0 || *w > 1.0 {
            return Err(format!(
                "weight {w} of version `{v}` is not between 0 and 1"
            ));
        }
        if v == main {
            continue;
        }
        match out.iter_mut().find(|(x, _)| x == v) {
            Some((_, old)) => *old += w,
            None => out.push((v.clone(), *w)),
        }
        sum += w;
    }
    if sum > 1.000_001 {
        return Err(format!("additional weights add up to {sum}, more than 1"));
    }
    out.push((main.to_string(), (1.0 - sum).max(0.0)));
    for (_, w) in &mut out {
        *w = round_weight(*w);
    }
    out.sort_by(|a, b| version_order(&a.0, &b.0));
    Ok(out)
}

/// Versions in numeric order where they are numbers (`2` before `10`), text after.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// Whether `s` can be a published version's qualifier: 1 to 20 digits (it becomes part of a
/// key; a listing is untrusted).
pub fn valid_version(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` can be an alias name fnvault records (letters, digits, `_`, `-`, `$`; 1–128).
pub fn valid_alias(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$'))
}

impl super::Client {
    /// The cloud's name of the version listing, for messages.
    pub fn versions_action(&self, target: &Target) -> &'static str {
        match target.cloud {
            Cloud::Tencent => "ListVersionByFunction",
            Cloud::Aliyun if target.is_fc3() => "ListFunctionVersions",
            Cloud::Aliyun => "ListServiceVersions",
        }
    }

    /// One page of the published versions of `target`'s function (its qualifier is ignored).
    /// The caller paces.
    pub async fn list_versions(
        &self,
        target: &Target,
        cursor: &Cursor,
    ) -> Result<VersionsPage, CloudError> {
        match &self.api {
            super::Api::Tencent(c) => {
                c.list_versions(
                    &target.region,
                    &target.namespace,
                    &target.name,
                    super::offset(cursor),
                    PAGE,
                )
                .await
            }
            super::Api::Aliyun { fc3, .. } if target.is_fc3() => {
                fc3.list_function_versions(&target.region, &target.name, super::token(cursor))
                    .await
            }
            super::Api::Aliyun { fc2, .. } => {
                fc2.list_service_versions(&target.region, &target.namespace, super::token(cursor))
                    .await
            }
        }
    }

    /// One page of the aliases of `target`'s function. The caller paces.
    pub async fn list_aliases(
        &self,
        target: &Target,
        cursor: &Cursor,
    ) -> Result<AliasesPage, CloudError> {
        match &self.api {
            super::Api::Tencent(c) => {
                c.list_aliases(
                    &target.region,
                    &target.namespace,
                    &target.name,
                    super::offset(cursor),
                    PAGE,
                )
                .await
            }
            super::Api::Aliyun { fc3, .. } if target.is_fc3() => {
                fc3.list_aliases(&target.region, &target.name, super::token(cursor))
                    .await
            }
            super::Api::Aliyun { fc2, .. } => {
                fc2.list_service_aliases(&target.region, &target.namespace, super::token(cursor))
                    .await
            }
        }
    }
}

impl super::Client {
    /// Whether the published version `target` (a function with a version qualifier) holds
    /// the function. An FC 2.0 version is a snapshot of a whole service, so a function added
    /// to the service later is not in the earlier versions: asked once with `GetFunction`
    /// (404 `FunctionNotFound` = not in it). SCF and FC 3.0 versions belong to the function:
    /// `true` without a call. The caller paces.
    pub async fn in_version(&self, target: &Target) -> Result<bool, CloudError> {
        match &self.api {
            super::Api::Aliyun { fc2, .. } if !target.is_fc3() => {
                match fc2
                    .get_function(
                        &target.region,
                        &target.namespace,
                        &target.name,
                        target.qualifier.as_deref(),
                    )
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind == super::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(true),
        }
    }

    /// Whether [`Self::in_version`] makes a call for `target`.
    pub fn versions_are_per_scope(&self, target: &Target) -> bool {
        matches!(&self.api, super::Api::Aliyun { .. }) && !target.is_fc3()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_version_gets_what_the_others_leave() {
        assert_eq!(routing("3", &[]).unwrap(), vec![("3".to_string(), 1.0)]);
        assert_eq!(
            routing("2", &[("3".to_string(), 0.1)]).unwrap(),
            vec![("2".to_string(), 0.9), ("3".to_string(), 0.1)]
        );
        assert_eq!(
            routing("10", &[("9".to_string(), 0.3)]).unwrap(),
            vec![("9".to_string(), 0.3), ("10".to_string(), 0.7)]
        );
        assert!(routing("1", &[("2".to_string(), 1.5)]).is_err());
        assert!(routing("1", &[("2".to_string(), 0.6), ("3".to_string(), 0.6)]).is_err());
        assert!(routing("1", &[("2".to_string(), f64::NAN)]).is_err());
    }

    #[test]
    fn versions_and_aliases_from_a_listing_are_checked() {
        assert!(valid_version("12"));
        assert!(!valid_version("$LATEST") && !valid_version("") && !valid_version("1/2"));
        assert!(valid_alias("prod") && valid_alias("$DEFAULT"));
        assert!(!valid_alias("a/b") && !valid_alias("") && !valid_alias("a@b"));
    }
}
