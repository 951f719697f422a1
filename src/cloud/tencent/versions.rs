//! SCF `ListVersionByFunction` and `ListAliases` (`shared/api/tencent-scf-more.md` §4): one
//! page each, parsed into `cloud::versions`' shapes.
//!
//! Quirks kept here: `ListVersionByFunction` lists `$LATEST` among the versions (skipped, it is
//! not a published version) and spells `OrderBy` with a capital B; `ListAliases` types `Offset`
//! and `Limit` as strings and may answer `TotalCount: null`.

use serde::Deserialize;

use super::{Client, request_id};
use crate::cloud::versions::{AliasTargets, AliasesPage, PublishedVersion, VersionsPage};
use crate::cloud::{Cloud, CloudError, Cursor};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionItem {
    version: String,
    mod_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionsAnswer {
    versions: Option<Vec<VersionItem>>,
    total_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Weight {
    version: String,
    weight: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Match {
    version: String,
}

#[derive(Deserialize, Default)]
struct Routing {
    #[serde(rename = "AdditionalVersionWeights")]
    weights: Option<Vec<Weight>>,
    /// Spelled so by the API itself.
    #[serde(rename = "AddtionVersionMatchs")]
    matches: Option<Vec<Match>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasItem {
    name: String,
    function_version: String,
    routing_config: Option<Routing>,
    mod_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasesAnswer {
    aliases: Option<Vec<AliasItem>>,
    total_count: Option<u64>,
}

/// The next offset: none after an empty page or once `TotalCount` is reached; without a
/// total, none after a short page.
fn next(offset: u64, len: usize, total: Option<u64>, limit: u32) -> Option<Cursor> {
    let end = offset + len as u64;
    let more = match total {
        Some(t) => end < t,
        None => len as u64 >= u64::from(limit),
    };
    (len > 0 && more).then_some(Cursor::Offset(end))
}

impl Client {
    /// One page of `ListVersionByFunction`, oldest first (`OrderBy=AddTime`, `Order=ASC`, so
    /// a version published during the walk lands on the last page, not between two).
    pub async fn list_versions(
        &self,
        region: &str,
        namespace: &str,
        name: &str,
        offset: u64,
        limit: u32,
    ) -> Result<VersionsPage, CloudError> {
        let body = serde_json::json!({
            "FunctionName": name, "Namespace": namespace, "Offset": offset, "Limit": limit,
            "Order": "ASC", "OrderBy": "AddTime"
        });
        let action = "ListVersionByFunction";
        let response = self
            .call(action, region, body.to_string().into_bytes())
            .await?;
        let rid = request_id(&response);
        let answer: VersionsAnswer = serde_json::from_value(response).map_err(|e| {
            CloudError::invalid_response(
                Cloud::Tencent,
                200,
                rid.clone(),
                format!("{action} answered unexpected JSON: {e}"),
            )
        })?;
        let items = answer.versions.unwrap_or_default();
        let len = items.len();
        Ok(VersionsPage {
            versions: items
                .into_iter()
                .filter(|v| v.version != "$LATEST")
                .map(|v| PublishedVersion {
                    version: v.version,
                    modified: v.mod_time,
                })
                .collect(),
            next: next(offset, len, answer.total_count, limit),
        })
    }

    /// One page of `ListAliases` (`Offset` and `Limit` sent as strings, as both SDKs type
    /// them).
    pub async fn list_aliases(
        &self,
        region: &str,
        namespace: &str,
        name: &str,
        offset: u64,
        limit: u32,
    ) -> Result<AliasesPage, CloudError> {
        let body = serde_json::json!({
            "FunctionName": name, "Namespace": namespace,
            "Offset": offset.to_string(), "Limit": limit.to_string()
        });
        let action = "ListAliases";
        let response = self
            .call(action, region, body.to_string().into_bytes())
            .await?;
        let rid = request_id(&response);
        let bad = |m: String| {
            CloudError::invalid_response(
                Cloud::Tencent,
                200,
                rid.clone(),
                format!("{action} answered unexpected JSON: {m}"),
            )
        };
        let answer: AliasesAnswer =
            serde_json::from_value(response.clone()).map_err(|e| bad(e.to_string()))?;
        let items = answer.aliases.unwrap_or_default();
        let len = items.len();
        let mut aliases = Vec::with_capacity(len);
        for a in items {
            let routing = a.routing_config.unwrap_or_default();
            let mut extra: Vec<(String, f64)> = routing
                .weights
                .unwrap_or_default()
                .into_iter()
                .map(|w| (w.version, w.weight))
                .collect();
            extra.extend(
                routing
                    .matches
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| (m.version, 0.0)),
            );
            let versions = crate::cloud::versions::routing(&a.function_version, &extra)
                .map_err(|m| bad(format!("alias `{}`: {m}", a.name)))?;
            aliases.push(AliasTargets {
                name: a.name,
                versions,
                modified: a.mod_time,
            });
        }
        Ok(AliasesPage {
            aliases,
            next: next(offset, len, answer.total_count, limit),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_ends_at_the_total_or_without_one_at_a_short_page() {
        assert_eq!(next(0, 100, Some(250), 100), Some(Cursor::Offset(100)));
        assert_eq!(next(200, 50, Some(250), 100), None);
        assert_eq!(next(0, 0, Some(250), 100), None, "an empty page ends it");
        // ListAliases may answer TotalCount: null.
        assert_eq!(next(0, 100, None, 100), Some(Cursor::Offset(100)));
        assert_eq!(next(100, 7, None, 100), None);
    }
}
