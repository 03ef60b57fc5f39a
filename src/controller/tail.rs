//! The end of every pass, written once for every kind: the verdict escalated (Stalled), the
//! resync request echoed, the verdict reported (metric, backoff, event), the conditions merged,
//! the status written (or kept for a write of its own, [`status_patch::write_or_keep`]) and a
//! resume announced.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::runtime::controller::Action;

use super::outcome::{self, Subject, Verdict};
use super::{Context, status_patch, steering};
use crate::conditions::{self, Cond};
use crate::crd::{ApplicationInstanceStatus, ApplicationLinkStatus, ExternalApplicationStatus};
use crate::errors::Error;

/// What the tail sets in a kind's status.
pub(crate) trait Reported: serde::Serialize {
    fn conditions(&self) -> &[Condition];
    fn set_conditions(&mut self, conditions: Vec<Condition>);
    fn last_handled(&self) -> Option<&str>;
    fn set_last_handled(&mut self, at: Option<String>);
}

macro_rules! reported {
    ($($status:ty),*) => {$(
        impl Reported for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn set_conditions(&mut self, conditions: Vec<Condition>) {
                self.conditions = conditions;
            }
            fn last_handled(&self) -> Option<&str> {
                self.last_handled_reconcile_at.as_deref()
            }
            fn set_last_handled(&mut self, at: Option<String>) {
                self.last_handled_reconcile_at = at;
            }
        }
    )*};
}
reported!(
    ApplicationLinkStatus,
    ApplicationInstanceStatus,
    ExternalApplicationStatus
);

/// One pass's end.
pub(crate) struct Tail<'a, K, S> {
    pub(crate) subject: Subject<'a, K>,
    pub(crate) api: &'a Api<K>,
    /// The status the pass started from.
    pub(crate) old: &'a S,
    /// The status the pass computed, without its conditions.
    pub(crate) new: S,
    pub(crate) verdict: Verdict,
    /// The kind's own conditions beside the verdict's (an instance's facts).
    pub(crate) facts: Vec<Cond>,
    /// A pass due sooner than the verdict's delay (an ExternalApplication's rotation).
    pub(crate) due: Option<Duration>,
}

/// Reports the verdict and writes the status: the new status, whether it was written now (not
/// kept for later, nor unchanged), and the action.
pub(crate) async fn finish<K, S>(
    ctx: &Context,
    tail: Tail<'_, K, S>,
) -> Result<(S, bool, Action), Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: Reported,
{
    let Tail {
        subject,
        api,
        old,
        mut new,
        verdict,
        facts,
        due,
    } = tail;
    let (obj, key) = (subject.obj, subject.key);
    let verdict = outcome::escalate(ctx, obj, old.conditions(), verdict);
    new.set_last_handled(steering::handled(old.last_handled(), obj.meta()));
    let mut delay = outcome::record(ctx, subject, old.conditions(), &verdict).await;
    if let Some(due) = due {
        delay = delay.min(due);
    }
    let mut wanted = verdict.conditions();
    wanted.extend(facts);
    new.set_conditions(conditions::merge(
        old.conditions(),
        wanted,
        obj.meta().generation,
        &conditions::now(),
    ));
    let (written, action) =
        status_patch::write_or_keep(ctx, api, obj, key, old, &new, delay).await?;
    if written {
        steering::resumed(ctx, obj, old.conditions()).await;
    }
    Ok((new, written, action))
}
