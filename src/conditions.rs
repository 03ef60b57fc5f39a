//! Conditions the way kstatus (Flux) and Argo CD read them: `Ready`, plus `Reconciling` or
//! `Stalled` where they apply. A condition's lastTransitionTime changes only when its status
//! does, so a steady object's status does not change between passes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// A condition to set; the time is filled in by [`merge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Cond {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Builds the new condition list from `wanted`, keeping each condition's lastTransitionTime when
/// its status did not change. Conditions not in `wanted` are dropped (kstatus: absent
/// Reconciling/Stalled means false).
pub fn merge(
    old: &[Condition],
    wanted: Vec<Cond>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    wanted
        .into_iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" }.to_string();
            let last = old
                .iter()
                .find(|o| o.type_ == c.type_ && o.status == status)
                .map(|o| o.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: c.type_.to_string(),
                status,
                reason: c.reason,
                message: truncate(&c.message, 1024),
                observed_generation: generation,
                last_transition_time: last,
            }
        })
        .collect()
}

/// At most `max` bytes of `s` (cut at a character boundary, with an ellipsis): condition messages
/// and event notes have size limits in Kubernetes.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reasons::READY;

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let t0 = Time(k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap());
        let t1 = Time(k8s_openapi::jiff::Timestamp::from_second(2_000).unwrap());
        let first = merge(
            &[],
            vec![Cond::new(READY, false, "Waiting", "a")],
            Some(1),
            &t0,
        );
        let same = merge(
            &first,
            vec![Cond::new(READY, false, "Other", "b")],
            Some(2),
            &t1,
        );
        assert_eq!(same[0].last_transition_time, t0);
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(&same, vec![Cond::new(READY, true, "Ok", "c")], Some(2), &t1);
        assert_eq!(flipped[0].last_transition_time, t1);
    }
}
