//! Steering by annotation, the same on every kind: a resync on request
//! (`applinks.io/reconcile-requested-at`, or Flux's `reconcile.fluxcd.io/requestedAt`), echoed in
//! `status.lastHandledReconcileAt` once handled, and a pause (`applinks.io/paused: "true"`): no
//! remote call, the `Paused` condition, one event. The decisions here are pure and
//! table-tested; the controllers call [`hold`] and [`resumed`] for the I/O.

use std::hash::{Hash, Hasher};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use kube::runtime::events::EventType;

use super::Context;
use crate::reasons::{PAUSE_REQUESTED, PAUSED, RECONCILING, RESUMED};

/// Set to a new value (a timestamp, by convention) to have the object verified now.
pub const RECONCILE_REQUESTED_AT: &str = "applinks.io/reconcile-requested-at";
/// Flux's request annotation (`flux reconcile` sets it), honoured the same way.
pub const FLUX_REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// `"true"` pauses the object; any other value, or none, does not.
pub const PAUSED_ANNOTATION: &str = "applinks.io/paused";

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

pub fn is_paused(meta: &ObjectMeta) -> bool {
    annotation(meta, PAUSED_ANNOTATION) == Some("true")
}

/// What wakes a controller: a spec change (generation) or a change of a steering annotation;
/// not the operator's own status writes (that would bypass the backoff).
pub fn wakes<K: kube::Resource>(obj: &K) -> Option<u64> {
    let meta = obj.meta();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut h);
    steering_fingerprint(meta, &mut h);
    Some(h.finish())
}

/// Adds the steering annotations to a wake fingerprint.
pub fn steering_fingerprint(meta: &ObjectMeta, h: &mut impl Hasher) {
    annotation(meta, RECONCILE_REQUESTED_AT).hash(h);
    annotation(meta, FLUX_REQUESTED_AT).hash(h);
    is_paused(meta).hash(h);
}

/// The request value a pass records as handled, given the one recorded before: the request
/// present; with both annotations, the later timestamp (ours when they are not both
/// timestamps). It depends on the annotations alone, so it stays put between requests (two
/// values never take turns), and the newest request, `flux reconcile`'s or the CLI's, is the
/// one answered.
pub fn handled(previous: Option<&str>, meta: &ObjectMeta) -> Option<String> {
    let present = |key| annotation(meta, key);
    match (present(RECONCILE_REQUESTED_AT), present(FLUX_REQUESTED_AT)) {
        (Some(ours), Some(flux)) => {
            let t = |v: &str| v.parse::<k8s_openapi::jiff::Timestamp>().ok();
            Some(
                match (t(ours), t(flux)) {
                    (Some(a), Some(b)) if b > a => flux,
                    _ => ours,
                }
                .to_string(),
            )
        }
        (Some(v), None) | (None, Some(v)) => Some(v.to_string()),
        (None, None) => previous.map(str::to_string),
    }
}

/// Whether a request not handled yet is present (the pass then starts its backoff afresh).
pub fn requested(previous: Option<&str>, meta: &ObjectMeta) -> bool {
    handled(previous, meta).as_deref() != previous
}

/// The conditions of a paused object: what was last known stays (Ready, Stalled and the
/// kind's own), `Reconciling` goes (nothing is in progress) and `Paused` is set.
pub fn paused_conditions(
    old: &[Condition],
    generation: Option<i64>,
    deleting: bool,
    now: &Time,
) -> Vec<Condition> {
    let message = if deleting {
        format!(
            "{PAUSED_ANNOTATION} is \"true\": no call is made to the applications, so the deletion waits (the finalizer stays) until the annotation is removed; to let the resource go without deleting anything in the applications, set spec.deletionPolicy: Orphan"
        )
    } else {
        format!(
            "{PAUSED_ANNOTATION} is \"true\": no call is made to the applications and changes of the spec wait; remove the annotation to resume"
        )
    };
    let since = old
        .iter()
        .find(|c| c.type_ == PAUSED && c.status == "True")
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    let mut conds: Vec<Condition> = old
        .iter()
        .filter(|c| c.type_ != RECONCILING && c.type_ != PAUSED)
        .cloned()
        .collect();
    conds.push(Condition {
        type_: PAUSED.into(),
        status: "True".into(),
        reason: PAUSE_REQUESTED.into(),
        message,
        observed_generation: generation,
        last_transition_time: since,
    });
    conds
}

fn was_paused(old: &[Condition]) -> bool {
    crate::conditions::is_true(old, PAUSED)
}

/// A paused pass: writes the paused conditions (and publishes the one `Paused` event when the
/// pause begins). No remote call; the next pass comes with a change of the object.
pub async fn hold<K, S>(
    ctx: &Context,
    api: &kube::Api<K>,
    obj: &K,
    old: &S,
    old_conds: &[Condition],
    set: impl FnOnce(&mut S, Vec<Condition>),
) -> Result<kube::runtime::controller::Action, crate::errors::Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize + Clone,
{
    let meta = obj.meta();
    let deleting = meta.deletion_timestamp.is_some();
    let mut new = old.clone();
    let conds = paused_conditions(
        old_conds,
        meta.generation,
        deleting,
        &crate::conditions::now(),
    );
    set(&mut new, conds);
    super::status_patch::write(api, meta.name.as_deref().unwrap_or_default(), old, &new).await?;
    // After the write: a pass that failed to record the pause announces it on its retry.
    if !was_paused(old_conds) {
        ctx.event(
            obj,
            EventType::Normal,
            PAUSED,
            "paused by the annotation applinks.io/paused: no call is made to the applications until it is removed",
            "Pause",
        )
        .await;
    }
    Ok(kube::runtime::controller::Action::await_change())
}

/// Publishes the one `Resumed` event when a paused object runs again: call it once the pass's
/// status (without `Paused`, so always a change) is written, so that a pass put off or whose
/// write failed announces nothing and the next one does.
pub async fn resumed<K>(ctx: &Context, obj: &K, old: &[Condition])
where
    K: kube::Resource<DynamicType = ()>,
{
    if was_paused(old) {
        ctx.event(
            obj,
            EventType::Normal,
            RESUMED,
            "the annotation applinks.io/paused was removed: reconciling again",
            "Resume",
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn meta(pairs: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            annotations: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn handled_request_table() {
        let t1 = "2026-12-03T10:00:00Z";
        let t2 = "2026-12-03T11:00:00Z";
        type Case = (
            &'static str,
            Option<&'static str>,
            Vec<(&'static str, &'static str)>,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            ("no request, nothing recorded", None, vec![], None),
            (
                "no request: the recorded value stays",
                Some(t1),
                vec![],
                Some(t1),
            ),
            (
                "ours, new",
                None,
                vec![(RECONCILE_REQUESTED_AT, t1)],
                Some(t1),
            ),
            ("Flux's, new", None, vec![(FLUX_REQUESTED_AT, t1)], Some(t1)),
            (
                "ours already handled",
                Some(t1),
                vec![(RECONCILE_REQUESTED_AT, t1)],
                Some(t1),
            ),
            (
                "ours handled, Flux's new: Flux's is answered",
                Some(t1),
                vec![(RECONCILE_REQUESTED_AT, t1), (FLUX_REQUESTED_AT, t2)],
                Some(t2),
            ),
            (
                "Flux's handled, ours older: nothing new (no flip-flop)",
                Some(t2),
                vec![(RECONCILE_REQUESTED_AT, t1), (FLUX_REQUESTED_AT, t2)],
                Some(t2),
            ),
            (
                "ours newer than Flux's handled one",
                Some(t1),
                vec![(RECONCILE_REQUESTED_AT, t2), (FLUX_REQUESTED_AT, t1)],
                Some(t2),
            ),
            (
                "both new: the later one",
                None,
                vec![(RECONCILE_REQUESTED_AT, t2), (FLUX_REQUESTED_AT, t1)],
                Some(t2),
            ),
            (
                "both new, Flux's later",
                None,
                vec![(RECONCILE_REQUESTED_AT, t1), (FLUX_REQUESTED_AT, t2)],
                Some(t2),
            ),
            (
                "both new, not timestamps: ours",
                None,
                vec![(RECONCILE_REQUESTED_AT, "a"), (FLUX_REQUESTED_AT, "b")],
                Some("a"),
            ),
            (
                "any string is a request",
                Some("x"),
                vec![(RECONCILE_REQUESTED_AT, "y")],
                Some("y"),
            ),
        ];
        for (why, previous, annotations, want) in cases {
            let m = meta(&annotations);
            assert_eq!(handled(previous, &m).as_deref(), want, "{why}");
            assert_eq!(requested(previous, &m), want != previous, "{why}");
        }
    }

    #[test]
    fn only_true_pauses() {
        assert!(is_paused(&meta(&[(PAUSED_ANNOTATION, "true")])));
        for v in ["false", "True", "yes", ""] {
            assert!(!is_paused(&meta(&[(PAUSED_ANNOTATION, v)])), "{v}");
        }
        assert!(!is_paused(&ObjectMeta::default()));
    }

    #[test]
    fn wakes_on_steering_not_on_other_annotations() {
        let obj = |pairs: &[(&str, &str)]| {
            let mut l: crate::crd::ApplicationLink = serde_yaml::from_str(
                "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {name: l}\nspec: {source: {instanceRef: {name: a}}, target: {url: 'http://b'}}\n",
            )
            .unwrap();
            l.metadata.annotations = meta(pairs).annotations;
            l.metadata.generation = Some(1);
            l
        };
        let base = wakes(&obj(&[]));
        assert_eq!(
            base,
            wakes(&obj(&[("unrelated", "x")])),
            "other annotations"
        );
        assert_ne!(base, wakes(&obj(&[(RECONCILE_REQUESTED_AT, "1")])));
        assert_ne!(base, wakes(&obj(&[(FLUX_REQUESTED_AT, "1")])));
        assert_ne!(base, wakes(&obj(&[(PAUSED_ANNOTATION, "true")])));
    }

    #[test]
    fn paused_conditions_keep_what_was_known() {
        let t0 = Time(k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap());
        let t1 = Time(k8s_openapi::jiff::Timestamp::from_second(2_000).unwrap());
        let c = |type_: &str, status: &str| Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "R".into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: t0.clone(),
        };
        let old = vec![
            c("Ready", "False"),
            c(RECONCILING, "True"),
            c("Stalled", "True"),
        ];
        let first = paused_conditions(&old, Some(2), false, &t1);
        let types: Vec<&str> = first.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec!["Ready", "Stalled", PAUSED]);
        assert_eq!(
            first[0].observed_generation,
            Some(1),
            "Ready is as last observed"
        );
        assert_eq!(first[2].last_transition_time, t1);
        let later = paused_conditions(&first, Some(2), true, &t0);
        assert_eq!(
            later[2].last_transition_time, t1,
            "paused since the first pass"
        );
        assert!(
            later[2].message.contains("deletion waits"),
            "{}",
            later[2].message
        );
        assert_eq!(later.len(), 3);
    }
}
