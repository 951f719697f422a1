//! FC `GetLayerVersion`, 2.0 (`/2021-04-06/layers/{name}/versions/{version}`) and 3.0
//! (`/2023-03-30/layers/{name}/versions/{version}`): the body is one `Layer`, whose
//! `code.location` is the zip's address and `codeChecksum` its CRC-64 (ECMA-182, decimal).
//! See `shared/api/aliyun-fc-more.md` A.6 and B.8.

use super::{API_VERSION, Client, fc3, json_object, parse_checksum};
use crate::cloud::{Checksum, Cloud, CloudError, CodeLocation};
use crate::secret::SecretUrl;

impl Client {
    /// FC 2.0 `GetLayerVersion`. Names and versions were checked by `capture` (letters,
    /// digits, `-`, `_`; decimal), so the path needs no escaping.
    pub async fn get_layer_version(
        &self,
        region: &str,
        name: &str,
        version: &str,
    ) -> Result<CodeLocation, CloudError> {
        let path = format!("/{API_VERSION}/layers/{name}/versions/{version}");
        let (status, rid, body) = self.call("GetLayerVersion", region, &path, &[]).await?;
        layer_location(status, rid, &body)
    }
}

impl fc3::Client {
    /// FC 3.0 `GetLayerVersion`.
    pub async fn get_layer_version(
        &self,
        region: &str,
        name: &str,
        version: &str,
    ) -> Result<CodeLocation, CloudError> {
        let path = format!(
            "/{}/layers/{}/versions/{}",
            fc3::API_VERSION,
            super::sign::percent_encode(name),
            super::sign::percent_encode(version)
        );
        let (status, rid, body) = self.call("GetLayerVersion", region, &path, &[]).await?;
        layer_location(status, rid, &body)
    }
}

/// A `Layer` answer (2.0 and 3.0 alike) as a [`CodeLocation`].
pub(crate) fn layer_location(
    status: u16,
    rid: Option<String>,
    body: &[u8],
) -> Result<CodeLocation, CloudError> {
    let value = json_object("GetLayerVersion", status, rid.clone(), body)?;
    let url = value
        .get("code")
        .and_then(|c| c.get("location"))
        .and_then(|v| v.as_str());
    let checksum = value.get("codeChecksum").and_then(parse_checksum);
    let (Some(url), Some(checksum)) = (url, checksum) else {
        return Err(CloudError::invalid_response(
            Cloud::Aliyun,
            status,
            rid,
            "GetLayerVersion answered without code.location or a decimal CRC-64 codeChecksum",
        ));
    };
    crate::cloud::tencent::check_download_url(url)
        .map_err(|m| CloudError::invalid_response(Cloud::Aliyun, status, rid.clone(), m))?;
    Ok(CodeLocation {
        url: SecretUrl::new(url),
        checksum: Checksum::Crc64(checksum),
        request_id: rid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_answer_gives_its_location_and_crc64() {
        let body = br#"{"layerName":"deps","version":2,"code":{"location":"https://oss.example/x.zip?Signature=s","repositoryType":"OSS"},"codeChecksum":"18446744073709551615","codeSize":10}"#;
        let l = layer_location(200, None, body).unwrap();
        assert_eq!(l.checksum, Checksum::Crc64(u64::MAX));
        let e = layer_location(200, None, br#"{"layerName":"deps"}"#).unwrap_err();
        assert!(e.to_string().contains("GetLayerVersion"), "{e}");
    }
}
