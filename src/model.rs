//! The shared model: what a function is ([`Target`], keyed canonically), which cloud serves it
//! ([`Cloud`]) and how a cloud announces a package's checksum ([`Checksum`]).
//!
//! A leaf: it imports nothing from the crate, so `config` (which builds targets) and `cloud`
//! (which calls the APIs about them) both depend on it and no longer on each other.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    Tencent,
    Aliyun,
}

impl Cloud {
    /// The name stored in the database and used in config (`cloud = "tencent"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Tencent => "tencent",
            Cloud::Aliyun => "aliyun",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Cloud::Tencent => "SCF",
            Cloud::Aliyun => "FC",
        }
    }

    pub fn parse(s: &str) -> Option<Cloud> {
        match s {
            "tencent" => Some(Cloud::Tencent),
            "aliyun" => Some(Cloud::Aliyun),
            _ => None,
        }
    }
}

/// The `namespace` of an FC 3.0 function. FC 3.0 (API 2023-03-30) has no services, so its
/// functions have no scope and their key has one part less.
pub const NO_SCOPE: &str = "";

/// One function to archive, identified everywhere by its canonical key
/// `<account>/<region>/<namespace or service>/<name>[@<qualifier>]`, or for an FC 3.0 function
/// (empty `namespace`, [`NO_SCOPE`]) `<account>/<region>/<name>[@<qualifier>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub key: String,
    pub cloud: Cloud,
    pub account: String,
    pub region: String,
    /// SCF namespace or FC 2.0 service; empty ([`NO_SCOPE`]) for an FC 3.0 function.
    pub namespace: String,
    pub name: String,
    pub qualifier: Option<String>,
}

/// The qualifier that names what no qualifier names: SCF's `$LATEST`, FC's `LATEST`.
pub fn latest_alias(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Tencent => "$LATEST",
        Cloud::Aliyun => "LATEST",
    }
}

/// A qualifier in canonical form: the cloud's latest alias is no qualifier, so `name` and
/// `name@$LATEST` (SCF), `name` and `name@LATEST` (FC) are one function with one history.
pub fn canonical_qualifier(cloud: Cloud, qualifier: Option<&str>) -> Option<&str> {
    qualifier.filter(|q| *q != latest_alias(cloud))
}

impl Target {
    /// The target with its canonical key; the cloud's latest alias as qualifier means no
    /// qualifier ([`canonical_qualifier`]).
    pub fn new(
        cloud: Cloud,
        account: &str,
        region: &str,
        namespace: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Target {
        Target::as_named(
            cloud,
            account,
            region,
            namespace,
            name,
            canonical_qualifier(cloud, qualifier),
        )
    }

    /// The target exactly as named, latest alias included: only for reading what an older
    /// fnvault recorded under such a key (`recovery` merges it into the canonical one).
    pub fn as_named(
        cloud: Cloud,
        account: &str,
        region: &str,
        namespace: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Target {
        let mut key = if namespace.is_empty() {
            format!("{account}/{region}/{name}")
        } else {
            format!("{account}/{region}/{namespace}/{name}")
        };
        if let Some(q) = qualifier {
            key.push('@');
            key.push_str(q);
        }
        Target {
            key,
            cloud,
            account: account.to_string(),
            region: region.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
        }
    }
}

impl Target {
    /// Whether this is an FC 3.0 function (an Alibaba function without a service), served by
    /// API 2023-03-30 instead of 2021-04-06.
    pub fn is_fc3(&self) -> bool {
        self.cloud == Cloud::Aliyun && self.namespace.is_empty()
    }
}

/// What a function's entry asks beyond its own code and configuration (issue 14): every
/// published version (`versions = true`) and every alias's history (`aliases = true`). Both
/// belong to the function without qualifier, whatever qualifier the entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Follow {
    pub versions: bool,
    pub aliases: bool,
}

impl Follow {
    pub fn any(self) -> bool {
        self.versions || self.aliases
    }

    /// Both entries' wishes (a function named by two entries or rules follows what either asks).
    pub fn or(self, other: Follow) -> Follow {
        Follow {
            versions: self.versions || other.versions,
            aliases: self.aliases || other.aliases,
        }
    }
}

impl Target {
    /// The key of the function without its qualifier: what published versions
    /// (`<this>@<version>`) and aliases belong to.
    pub fn unqualified_key(&self) -> String {
        match &self.qualifier {
            Some(q) => self
                .key
                .strip_suffix(&format!("@{q}"))
                .unwrap_or(&self.key)
                .to_string(),
            None => self.key.clone(),
        }
    }

    /// The same function with another qualifier (`None`: the latest code).
    pub fn with_qualifier(&self, qualifier: Option<&str>) -> Target {
        Target::new(
            self.cloud,
            &self.account,
            &self.region,
            &self.namespace,
            &self.name,
            qualifier,
        )
    }
}

/// The checksum a cloud announces for a package, in that cloud's own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// SCF `CodeSha256`: SHA-256 of the package bytes.
    Sha256([u8; 32]),
    /// FC `checksum`: CRC-64/XZ of the package bytes.
    Crc64(u64),
}

impl Checksum {
    /// The form stored in the database: lowercase hex for SHA-256, unsigned decimal for CRC-64,
    /// exactly as the clouds print them.
    pub fn to_db_string(&self) -> String {
        match self {
            Checksum::Sha256(d) => hex::encode(d),
            Checksum::Crc64(c) => c.to_string(),
        }
    }

    /// Whether `sha256`/`crc64` of the downloaded bytes match this announced checksum.
    pub fn matches(&self, sha256: &[u8; 32], crc64: u64) -> bool {
        match self {
            Checksum::Sha256(d) => d == sha256,
            Checksum::Crc64(c) => *c == crc64,
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checksum::Sha256(_) => write!(f, "sha256 {}", self.to_db_string()),
            Checksum::Crc64(_) => write!(f, "crc64 {}", self.to_db_string()),
        }
    }
}
