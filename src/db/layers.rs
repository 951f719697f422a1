//! Queries of layers (migration 0009): each archived layer version (`layers`, one row per
//! `<account>/<region>/layer/<name>/<version>`, its zip a blob) and the ordered links from the
//! versions that use them (`version_layers`).
//!
//! A layer version is immutable: its row is written once, after its blob is durable and its
//! journal line appended, and never changed. `prune` keeps every layer's blob (see README).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Db, DbError, sqlite};

/// One archived layer version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRow {
    pub key: String,
    pub cloud: String,
    pub account: String,
    pub region: String,
    pub name: String,
    pub version: String,
    pub cloud_checksum: String,
    pub sha256: String,
    pub crc64: u64,
    pub size: u64,
    pub first_seen: String,
}

const COLUMNS: &str = "key, cloud, account, region, name, version, cloud_checksum, sha256, crc64, \
                       size, first_seen";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(LayerRow, String)> {
    let crc: String = r.get(8)?;
    Ok((
        LayerRow {
            key: r.get(0)?,
            cloud: r.get(1)?,
            account: r.get(2)?,
            region: r.get(3)?,
            name: r.get(4)?,
            version: r.get(5)?,
            cloud_checksum: r.get(6)?,
            sha256: r.get(7)?,
            crc64: 0,
            size: r.get::<_, i64>(9)?.max(0) as u64,
            first_seen: r.get(10)?,
        },
        crc,
    ))
}

impl Db {
    fn layer_from(&self, (mut l, crc): (LayerRow, String)) -> Result<LayerRow, DbError> {
        l.crc64 = crc.parse::<u64>().map_err(|_| DbError::Other {
            path: self.path.clone(),
            message: format!("layer {}: crc64 `{crc}` is not a decimal u64", l.key),
        })?;
        Ok(l)
    }

    /// The archived layer version `key`, if there is one.
    pub fn layer_by_key(&self, key: &str) -> Result<Option<LayerRow>, DbError> {
        let found = self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM layers WHERE key = ?1"),
                [key],
                row,
            )
            .optional()
            .map_err(|e| sqlite(&self.path, e))?;
        found.map(|r| self.layer_from(r)).transpose()
    }

    /// Records an archived layer version unless its key is recorded already (layer versions
    /// are immutable: the first record stands). Returns whether it was inserted.
    pub fn record_layer(&mut self, l: &LayerRow) -> Result<bool, DbError> {
        let n = self
            .conn
            .execute(
                &format!(
                    "INSERT INTO layers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (key) DO NOTHING"
                ),
                params![
                    l.key,
                    l.cloud,
                    l.account,
                    l.region,
                    l.name,
                    l.version,
                    l.cloud_checksum,
                    l.sha256,
                    l.crc64.to_string(),
                    l.size as i64,
                    l.first_seen
                ],
            )
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(n > 0)
    }

    /// Links version `version_no` of function `function_key` to `layer_keys`, in order,
    /// unless it has links already. Returns whether it linked. A layer key without a row is
    /// an error (a link never points at a layer that is not archived).
    pub fn link_layers(
        &mut self,
        function_key: &str,
        version_no: i64,
        layer_keys: &[String],
    ) -> Result<bool, DbError> {
        if layer_keys.is_empty() {
            return Ok(false);
        }
        let path = self.path.clone();
        let version_id: Option<i64> = self
            .conn
            .query_row(
                "SELECT v.id FROM versions v JOIN functions f ON f.id = v.function_id
                 WHERE f.key = ?1 AND v.version_no = ?2",
                params![function_key, version_no],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sqlite(&path, e))?;
        let Some(version_id) = version_id else {
            return Ok(false);
        };
        let linked: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM version_layers WHERE version_id = ?1",
                [version_id],
                |r| r.get(0),
            )
            .map_err(|e| sqlite(&path, e))?;
        if linked > 0 {
            return Ok(false);
        }
        self.conn
            .execute_batch("SAVEPOINT link_layers")
            .map_err(|e| sqlite(&path, e))?;
        let mut result = Ok(true);
        for (i, key) in layer_keys.iter().enumerate() {
            let n = self.conn.execute(
                "INSERT INTO version_layers (version_id, position, layer_id)
                 SELECT ?1, ?2, id FROM layers WHERE key = ?3",
                params![version_id, i as i64 + 1, key],
            );
            match n {
                Ok(1) => {}
                Ok(_) => {
                    result = Err(DbError::Other {
                        path: path.clone(),
                        message: format!(
                            "{function_key}@{version_no}: layer {key} is not archived"
                        ),
                    });
                    break;
                }
                Err(e) => {
                    result = Err(sqlite(&path, e));
                    break;
                }
            }
        }
        let end = match &result {
            Ok(_) => "RELEASE link_layers",
            Err(_) => "ROLLBACK TO link_layers; RELEASE link_layers",
        };
        self.conn.execute_batch(end).map_err(|e| sqlite(&path, e))?;
        result
    }

    /// The id of version `version_no` of function `function_key`, if recorded.
    pub fn version_id(&self, function_key: &str, version_no: i64) -> Result<Option<i64>, DbError> {
        self.conn
            .query_row(
                "SELECT v.id FROM versions v JOIN functions f ON f.id = v.function_id
                 WHERE f.key = ?1 AND v.version_no = ?2",
                params![function_key, version_no],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// The layers of version `version_id`, in order.
    pub fn layers_of_version(&self, version_id: i64) -> Result<Vec<LayerRow>, DbError> {
        Ok(self
            .layers_of_versions(&[version_id])?
            .remove(&version_id)
            .unwrap_or_default())
    }

    /// The layers of each of `version_ids`, in the cloud's order, in one statement (`export`
    /// asks for every exported version at once). A version without layers has no entry.
    pub fn layers_of_versions(
        &self,
        version_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<LayerRow>>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {}, vl.version_id FROM version_layers vl JOIN layers l ON l.id = vl.layer_id
                 WHERE vl.version_id IN (SELECT value FROM json_each(?1))
                 ORDER BY vl.version_id, vl.position",
                COLUMNS
                    .split(", ")
                    .map(|c| format!("l.{}", c.trim()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([super::id_array(version_ids.iter().copied())], |r| {
                Ok((r.get::<_, i64>(11)?, row(r)?))
            })
            .map_err(|e| sqlite(&self.path, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlite(&self.path, e))?;
        let mut out: HashMap<i64, Vec<LayerRow>> = HashMap::new();
        for (version_id, r) in rows {
            out.entry(version_id).or_default().push(self.layer_from(r)?);
        }
        Ok(out)
    }

    /// Every version's layer keys in order, by (function key, version number), for
    /// `reconcile`.
    pub fn all_layer_links(&self) -> Result<HashMap<(String, i64), Vec<String>>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.key, v.version_no, l.key
                 FROM version_layers vl JOIN versions v ON v.id = vl.version_id
                 JOIN functions f ON f.id = v.function_id JOIN layers l ON l.id = vl.layer_id
                 ORDER BY f.key, v.version_no, vl.position",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| sqlite(&self.path, e))?;
        let mut out: HashMap<(String, i64), Vec<String>> = HashMap::new();
        for r in rows {
            let (f, v, l) = r.map_err(|e| sqlite(&self.path, e))?;
            out.entry((f, v)).or_default().push(l);
        }
        Ok(out)
    }

    /// Every archived layer version (for `verify`, `reconcile` and `prune`'s kept blobs).
    pub fn all_layers(&self) -> Result<Vec<LayerRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM layers ORDER BY key"))
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], row)
            .map_err(|e| sqlite(&self.path, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlite(&self.path, e))?;
        rows.into_iter().map(|r| self.layer_from(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(key: &str, sha: char) -> LayerRow {
        LayerRow {
            key: key.into(),
            cloud: "tencent".into(),
            account: "a".into(),
            region: "r".into(),
            name: "n".into(),
            version: "1".into(),
            cloud_checksum: sha.to_string().repeat(64),
            sha256: sha.to_string().repeat(64),
            crc64: u64::MAX,
            size: 3,
            first_seen: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn a_layer_is_recorded_once_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        let l = layer("a/r/layer/n/1", 'a');
        assert!(db.record_layer(&l).unwrap());
        // Immutable: a second record (even different) does not replace the first.
        assert!(!db.record_layer(&layer("a/r/layer/n/1", 'b')).unwrap());
        assert_eq!(db.layer_by_key("a/r/layer/n/1").unwrap(), Some(l.clone()));
        assert_eq!(db.all_layers().unwrap(), vec![l]);
        // Linking to a version that does not exist links nothing.
        assert!(
            !db.link_layers("a/r/ns/f", 1, &["a/r/layer/n/1".into()])
                .unwrap()
        );
    }
}
