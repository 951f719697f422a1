//! SCF `GetLayerVersion` (2018-04-16): where one layer version's zip is (`Location`, a
//! presigned COS URL) and its `CodeSha256`. Layers belong to a region, not to a namespace.
//! See `shared/api/tencent-scf-more.md` section 3.3.

use serde::Serialize;

use super::{Client, check_download_url, parse_sha256, request_id};
use crate::cloud::{Checksum, Cloud, CloudError, CodeLocation};
use crate::secret::SecretUrl;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetLayerVersionRequest<'a> {
    layer_name: &'a str,
    /// A number in the JSON body, as the API requires.
    layer_version: u64,
}

impl Client {
    /// `GetLayerVersion`: the layer version's download address and SHA-256.
    pub async fn get_layer_version(
        &self,
        region: &str,
        name: &str,
        version: &str,
    ) -> Result<CodeLocation, CloudError> {
        let layer_version = version.parse::<u64>().map_err(|_| {
            CloudError::invalid_response(
                Cloud::Tencent,
                0,
                None,
                format!("layer {name}: version `{version}` is not a number"),
            )
        })?;
        let body = serde_json::to_vec(&GetLayerVersionRequest {
            layer_name: name,
            layer_version,
        })
        .map_err(|e| CloudError::invalid_response(Cloud::Tencent, 0, None, e.to_string()))?;
        let response = self.call("GetLayerVersion", region, body).await?;
        let rid = request_id(&response);
        let (Some(url), Some(sha)) = (
            response.get("Location").and_then(|v| v.as_str()),
            response.get("CodeSha256").and_then(|v| v.as_str()),
        ) else {
            return Err(CloudError::invalid_response(
                Cloud::Tencent,
                200,
                rid,
                "GetLayerVersion answered without Location or CodeSha256",
            ));
        };
        let checksum = parse_sha256(sha).ok_or_else(|| {
            CloudError::invalid_response(
                Cloud::Tencent,
                200,
                rid.clone(),
                format!(
                    "GetLayerVersion: CodeSha256 `{}` is not 64 hex digits",
                    sha.escape_default()
                ),
            )
        })?;
        check_download_url(url)
            .map_err(|m| CloudError::invalid_response(Cloud::Tencent, 200, rid.clone(), m))?;
        Ok(CodeLocation {
            url: SecretUrl::new(url),
            checksum: Checksum::Sha256(checksum),
            request_id: rid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_version_is_a_number_in_the_body() {
        let b = serde_json::to_string(&GetLayerVersionRequest {
            layer_name: "deps",
            layer_version: 3,
        })
        .unwrap();
        assert_eq!(b, r#"{"LayerName":"deps","LayerVersion":3}"#);
    }
}
