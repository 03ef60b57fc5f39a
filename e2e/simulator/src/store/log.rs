//! The request log the control API shows (bounded) and the refusal reason a handler records.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// Route template, e.g. `/rest/applinks/1.0/applicationlink/{id}`.
    pub route: Option<String>,
    pub status: u16,
    pub auth: String,
    /// Why the request was refused, when a resource says (e.g. `invalid_grant: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub micros: u64,
    /// When the request arrived (microseconds since the Unix epoch, the simulator's clock):
    /// with `micros`, the interval the request was being handled.
    pub started_unix_micros: u64,
    /// The client's `User-Agent` (at most 200 bytes), e.g. to tell operator replicas apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    pub seq: u64,
    pub entries: std::collections::VecDeque<LogEntry>,
    /// `"METHOD route"` → count.
    pub counts: BTreeMap<String, u64>,
}

impl RequestLog {
    pub const MAX: usize = 10_000;

    pub fn push(&mut self, mut e: LogEntry) {
        self.seq += 1;
        e.seq = self.seq;
        let key = format!("{} {}", e.method, e.route.as_deref().unwrap_or(&e.path));
        *self.counts.entry(key).or_default() += 1;
        if self.entries.len() >= Self::MAX {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
    }
}
