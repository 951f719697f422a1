//! `--only`: which of a sweep's functions the user asked for.
//!
//! Owns the pattern rules: a glob (`*`, `?`, `[...]`, via globset) matched against a function's
//! canonical key or its bare name; several patterns select the union. Used by `cli` (explicit
//! functions), `sweep` (discovered ones, which exist only once listed) and `dryrun`.

use crate::cloud::Target;

#[derive(Debug, Clone)]
pub struct Only {
    patterns: Vec<(String, globset::GlobMatcher)>,
}

impl Only {
    /// `None` when no pattern is given (everything is selected).
    pub fn new(patterns: &[String]) -> Result<Option<Only>, String> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut compiled = Vec::with_capacity(patterns.len());
        for p in patterns {
            let glob = globset::Glob::new(p)
                .map_err(|e| format!("--only `{p}` is not a valid pattern: {e}"))?;
            compiled.push((p.clone(), glob.compile_matcher()));
        }
        Ok(Some(Only { patterns: compiled }))
    }

    pub fn matches(&self, t: &Target) -> bool {
        self.patterns
            .iter()
            .any(|(_, g)| g.is_match(&t.key) || g.is_match(&t.name))
    }

    /// Also for keys without a `Target` (a failed listing scope): matched as a key.
    pub fn matches_key(&self, key: &str) -> bool {
        self.patterns.iter().any(|(_, g)| g.is_match(key))
    }

    /// The patterns that select none of `targets`: a typo must not become a silent no-op.
    pub fn unmatched(&self, targets: &[Target]) -> Vec<&str> {
        self.patterns
            .iter()
            .filter(|(_, g)| {
                !targets
                    .iter()
                    .any(|t| g.is_match(&t.key) || g.is_match(&t.name))
            })
            .map(|(p, _)| p.as_str())
            .collect()
    }

    pub fn filter(&self, targets: &[Target]) -> Vec<Target> {
        targets
            .iter()
            .filter(|t| self.matches(t))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;

    fn t(name: &str) -> Target {
        Target::new(Cloud::Tencent, "tc", "ap-guangzhou", "default", name, None)
    }

    #[test]
    fn a_pattern_matches_the_key_or_the_bare_name() {
        let only = Only::new(&["order-*".into(), "tc/ap-guangzhou/default/pay".into()])
            .unwrap()
            .unwrap();
        let all = [t("order-api"), t("pay"), t("report")];
        let names: Vec<String> = only.filter(&all).into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["order-api", "pay"]);
        assert!(only.unmatched(&all).is_empty());
    }

    #[test]
    fn a_pattern_that_selects_nothing_is_named() {
        let only = Only::new(&["ordr-*".into()]).unwrap().unwrap();
        assert_eq!(only.unmatched(&[t("order-api")]), ["ordr-*"]);
    }

    #[test]
    fn a_bad_pattern_is_an_error_and_no_pattern_selects_all() {
        assert!(Only::new(&["[".into()]).unwrap_err().contains("--only `[`"));
        assert!(Only::new(&[]).unwrap().is_none());
    }
}
