//! What the simulator's listings say about each function (issue 16): FC `ListFunctions`
//! entries with `codeChecksum`, `codeSize`, `lastModifiedTime` and the configuration, SCF
//! entries with `ModTime`, `Runtime` and `Status`, as the real APIs return them; a modified
//! time that moves on every deploy and configuration change; and a count of verified requests
//! per API action, so tests and benchmarks can say which calls a sweep made.

use std::collections::HashMap;

use super::{Inner, SimFunction, Simulator};

/// The simulator's clock for modified times: each deploy or configuration change moves it
/// one second past this (a fixed base, so listings are reproducible).
const BASE_UNIX: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

impl Inner {
    /// `f` was deployed or reconfigured: its modified time moves.
    pub(super) fn touch(&mut self, f: &SimFunction) {
        self.clock += 1;
        let now = self.clock;
        self.modified.insert(f.clone(), now);
    }

    fn modified_at(&self, f: &SimFunction) -> chrono::DateTime<chrono::Utc> {
        let secs = BASE_UNIX + self.modified.get(f).copied().unwrap_or(0) as i64;
        chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    /// Counts one verified request of `action`.
    pub(super) fn count_action(&mut self, action: &str) {
        *self.by_action.entry(action.to_string()).or_default() += 1;
    }

    /// An FC (2.0 or 3.0) `ListFunctions` entry of `f`, listed as `listed_name`.
    pub(super) fn fc_entry(&self, f: &SimFunction, listed_name: &str) -> serde_json::Value {
        let c = self.configs.get(f).cloned().unwrap_or_default();
        let mut entry = serde_json::json!({
            "functionName": listed_name, "description": "",
            "runtime": c.runtime.to_lowercase(), "handler": "index.handler",
            "memorySize": c.memory_mb, "timeout": c.timeout_s,
            "environmentVariables": c.env, "createdTime": "2026-01-01T00:00:00Z",
            "lastModifiedTime": self.modified_at(f).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "state": "Active",
        });
        if let Some(&id) = self.functions.get(f)
            && let Some(p) = self.packages.get(id)
        {
            entry["codeChecksum"] = p.crc64.to_string().into();
            entry["codeSize"] = p.bytes.len().into();
        }
        entry
    }

    /// An SCF `ListFunctions` entry of `f`: no hash, no size, `ModTime` without a time zone.
    pub(super) fn scf_entry(
        &self,
        f: &SimFunction,
        name: &str,
        namespace: &str,
    ) -> serde_json::Value {
        let c = self.configs.get(f).cloned().unwrap_or_default();
        serde_json::json!({
            "FunctionName": name, "Namespace": namespace, "Status": "Active",
            "Runtime": c.runtime, "Description": "", "Type": "Event",
            "AddTime": "2026-01-01 00:00:00",
            "ModTime": self.modified_at(f).format("%Y-%m-%d %H:%M:%S").to_string(),
        })
    }
}

/// The FC action a verified request path names (both API generations).
pub(super) fn fc_action(path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["2021-04-06", "services"] => "ListServices",
        ["2021-04-06", "services", _] => "GetService",
        ["2021-04-06", "services", _, "functions"] | ["2023-03-30", "functions"] => "ListFunctions",
        ["2021-04-06", "services", _, "functions", _] | ["2023-03-30", "functions", _] => {
            "GetFunction"
        }
        [.., "code"] => "GetFunctionCode",
        [.., "triggers"] => "ListTriggers",
        _ => "Other",
    }
}

impl Simulator {
    /// Verified API requests of `action` so far (`GetFunctionCode`, `GetFunctionAddress`,
    /// `ListFunctions`, `GetFunction`, `GetService`, `ListTriggers`, …; both clouds together).
    pub fn requests_of(&self, action: &str) -> u64 {
        self.shared
            .lock()
            .by_action
            .get(action)
            .copied()
            .unwrap_or(0)
    }

    /// Every action's count of verified requests so far.
    pub fn requests_by_action(&self) -> HashMap<String, u64> {
        self.shared.lock().by_action.clone()
    }
}
