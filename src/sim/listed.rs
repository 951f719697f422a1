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

    /// Counts one verified request of `action` of `cloud` (`scf`, `fc`); false when it is
    /// over that action's rate limit (`Simulator::set_rate_limit`): the caller answers it
    /// throttled, as the cloud would, and it is counted as throttled instead.
    pub(super) fn count_action(&mut self, cloud: &str, action: &str) -> bool {
        let key = format!("{cloud}:{action}");
        if let Some((limit, window)) = self.rate_limits.get_mut(&key) {
            let now = std::time::Instant::now();
            while window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= std::time::Duration::from_secs(1))
            {
                window.pop_front();
            }
            if window.len() >= *limit as usize {
                self.throttled += 1;
                return false;
            }
            window.push_back(now);
        }
        *self.by_action.entry(action.to_string()).or_default() += 1;
        true
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

    /// Answers more than `per_second` requests of `action` of `cloud` (`scf` or `fc`) within
    /// any one second as throttled (SCF `RequestLimitExceeded`, FC 429), as the clouds'
    /// published per-API limits do. `0` removes the limit.
    pub fn set_rate_limit(&self, cloud: &str, action: &str, per_second: u32) {
        let key = format!("{cloud}:{action}");
        let mut inner = self.shared.lock();
        if per_second == 0 {
            inner.rate_limits.remove(&key);
        } else {
            inner
                .rate_limits
                .insert(key, (per_second, std::collections::VecDeque::new()));
        }
    }

    /// Requests answered as throttled by [`Simulator::set_rate_limit`] so far.
    pub fn throttled(&self) -> u64 {
        self.shared.lock().throttled
    }

    /// Every action's count of verified requests so far.
    pub fn requests_by_action(&self) -> HashMap<String, u64> {
        self.shared.lock().by_action.clone()
    }
}
