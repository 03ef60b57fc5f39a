//! Reconcile passes of the controllers (links, instances, ExternalApplications) against the mock API server ([`super::fixtures`]): the
//! paths the end-to-end tests reach only slowly. Each test checks the requests in order (method,
//! path, the relevant parts of the body) and what the pass returned.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::Context;
use super::claims::legacy::{SOURCE_LINK, TARGET_LINK};
use super::fixtures::*;
use super::{BACKOFF_INITIAL, BACKOFF_MAX, LINK_FINALIZER};
use super::{IN_USE_FINALIZER, backoff, external, instance, link};
use crate::crd::ApplicationLink;

const LINK: &str = "/apis/applinks.io/v1alpha1/namespaces/apps/applicationlinks/jira-confluence";

fn link_status_path() -> String {
    format!("{LINK}/status")
}

/// The requeue the first failure of the link gets (the backoff's jitter is derived from the key).
fn first_backoff() -> Duration {
    backoff::Backoff::new(BACKOFF_INITIAL, BACKOFF_MAX).failed("link/apps/jira-confluence", None)
}

fn condition<'a>(status_patch: &'a Value, type_: &str) -> &'a Value {
    status_patch["status"]["conditions"]
        .as_array()
        .expect("conditions in the status patch")
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status_patch}"))
}

const JIRA_ID: &str = "jira-0000-0000-0000-application";
const CONFLUENCE_ID: &str = "confluence-0000-0000-0000-application";

/// A link status claiming both ends (each end's id is the peer's application id).
fn claimed_both() -> Value {
    json!({"claims": {
        "source": {"applicationId": JIRA_ID, "linkId": CONFLUENCE_ID},
        "target": {"applicationId": CONFLUENCE_ID, "linkId": JIRA_ID},
    }})
}

/// The mock API server's answers for a link pass: PATCHes of the link and its status are
/// applied to `obj`, events are created, everything else is unexpected.
fn link_server(
    obj: ApplicationLink,
    allowed: Vec<String>,
) -> impl FnMut(&Seen) -> Reply + Send + 'static {
    move |req| match (req.method.as_str(), req.path.as_str()) {
        ("PATCH", p) if p == LINK || p == link_status_path() => {
            if req.content_type == "application/json-patch+json" {
                json_patched(&obj, &req.body)
            } else {
                ok(merged(&obj, &req.body))
            }
        }
        ("POST", EVENTS) => event_created(req),
        ("GET", p) if p.starts_with(SECRETS) => ok(admin_secret(
            p.rsplit('/').next().unwrap_or_default(),
            &allowed,
        )),
        _ => unexpected(),
    }
}

/// A new link whose source instance does not exist: the finalizer is added first (guarded by
/// the resourceVersion it was read at), and the same pass goes on to report the missing
/// instance: Stalled, one Warning event, status written, requeue with backoff.
#[tokio::test]
async fn new_link_gets_the_finalizer_then_reports_the_missing_instance() {
    let obj = link(json!({}));
    let (client, api) = mock_api(link_server(obj.clone(), vec![]));
    let ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));

    let action = link::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("the pass reports the error in status");
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen),
        vec![
            route("PATCH", LINK),
            route("POST", EVENTS),
            route("PATCH", link_status_path()),
        ]
    );
    let finalizer = &seen[0];
    assert_eq!(finalizer.content_type, "application/merge-patch+json");
    assert_eq!(
        finalizer.body,
        json!({"metadata": {"finalizers": [LINK_FINALIZER], "resourceVersion": "100"}})
    );
    let event = &seen[1].body;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "InstanceNotFound");
    assert_eq!(event["regarding"]["name"], "jira-confluence");
    let status = &seen[2].body;
    assert_eq!(status["status"]["observedGeneration"], 1);
    let ready = condition(status, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "InstanceNotFound");
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("jira"),
        "{ready}"
    );
    assert_eq!(condition(status, "Stalled")["status"], "True");
    assert_eq!(action, Action::requeue(first_backoff()));
}

/// The second pass over the same failure, with the object as the API server now holds it:
/// nothing is written (the status equals what the pass computes, kstatus), no second event, and
/// the backoff grows.
#[tokio::test]
async fn unchanged_status_is_not_written_again() {
    let obj = link(json!({}));
    let (client, api) = mock_api(link_server(obj.clone(), vec![]));
    let ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));
    let first = link::reconcile(Arc::new(obj.clone()), ctx.clone())
        .await
        .expect("first pass");
    let after_first = api.seen();
    assert_eq!(after_first.len(), 3, "{:?}", routes(&after_first));
    // The object with both of the first pass's patches applied, as the next watch event has it.
    let stored = merged(&obj, &after_first[0].body);
    let stored: ApplicationLink =
        serde_json::from_value(merged(&stored, &after_first[2].body)).expect("the patched link");

    let second = link::reconcile(Arc::new(stored), ctx.clone())
        .await
        .expect("second pass");
    let seen = api.finish(ctx).await;

    assert_eq!(routes(&seen), routes(&after_first), "nothing more was sent");
    let doubled = {
        let b = backoff::Backoff::new(BACKOFF_INITIAL, BACKOFF_MAX);
        b.failed("link/apps/jira-confluence", None);
        b.failed("link/apps/jira-confluence", None)
    };
    assert_eq!(first, Action::requeue(first_backoff()));
    assert_eq!(second, Action::requeue(doubled));
}

/// The finalizer PATCH meets a concurrent change (409): the pass ends with the error, nothing
/// else is written, and the error policy retries shortly with a fresh read.
#[tokio::test]
async fn finalizer_conflict_is_retried_shortly() {
    let obj = link(json!({}));
    let (client, api) = mock_api(|req| {
        if req.is("PATCH", LINK) {
            failure(409, "Conflict")
        } else {
            unexpected()
        }
    });
    let ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));
    let obj = Arc::new(obj);

    let err = link::reconcile(obj.clone(), ctx.clone())
        .await
        .expect_err("a conflict ends the pass");
    assert!(err.is_conflict(), "{err}");
    let action = link::error_policy(obj, &err, ctx.clone());
    let seen = api.finish(ctx).await;

    assert_eq!(routes(&seen), vec![route("PATCH", LINK)]);
    assert_eq!(action, Action::requeue(Duration::from_millis(200)));
}

/// Deleting with `deletionPolicy: Orphan`: the finalizer is removed with a JSON patch that tests
/// the entry it removes (another controller's finalizer before it stays), an Orphaned event is
/// published, and neither application nor Secret is touched, though both instances are there.
#[tokio::test]
async fn orphan_deletion_removes_the_finalizer_without_remote_calls() {
    let url = closed_port_url();
    let mut extra = deleting(&["example.com/other", LINK_FINALIZER]);
    json_patch::merge(
        &mut extra,
        &json!({
            "status": claimed_both(),
            "spec": {"deletionPolicy": "Orphan"},
        }),
    );
    let obj = link(extra);
    let (client, api) = mock_api(link_server(obj.clone(), vec![url.clone()]));
    let instances = store_of([
        instance("jira", "jira", &url, json!({})),
        instance("confluence", "confluence", &url, json!({})),
    ]);
    let ctx = Context::for_tests(client, settings(), instances, store_of([]));

    let action = link::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("orphaned");
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen),
        vec![route("PATCH", LINK), route("POST", EVENTS)]
    );
    assert_eq!(seen[0].content_type, "application/json-patch+json");
    assert_eq!(
        seen[0].body,
        json!([
            {"op": "test", "path": "/metadata/finalizers/1", "value": LINK_FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/1"},
        ])
    );
    assert_eq!(seen[1].body["type"], "Normal");
    assert_eq!(seen[1].body["reason"], "Orphaned");
    assert_eq!(action, Action::await_change());
}

/// Deleting with the default policy while both applications refuse connections: the ends
/// cannot be deleted, so the finalizer stays and the status says how to let the resource go.
/// Time is paused: the application client's retry pauses pass at once.
#[tokio::test(start_paused = true)]
async fn unreachable_applications_block_the_deletion() {
    let url = closed_port_url();
    let mut extra = deleting(&[LINK_FINALIZER]);
    json_patch::merge(&mut extra, &json!({"status": claimed_both()}));
    let obj = link(extra);
    let (client, api) = mock_api(link_server(obj.clone(), vec![url.clone()]));
    let instances = store_of([
        instance("jira", "jira", &url, json!({})),
        instance("confluence", "confluence", &url, json!({})),
    ]);
    let ctx = Context::for_tests(client, settings(), instances, store_of([]));

    let action = link::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("the pass reports the blocked deletion in status");
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen),
        vec![
            route("GET", format!("{SECRETS}/jira-admin")),
            route("GET", format!("{SECRETS}/confluence-admin")),
            route("POST", EVENTS),
            route("PATCH", link_status_path()),
        ],
        "no finalizer removal"
    );
    assert_eq!(seen[2].body["type"], "Warning");
    assert_eq!(seen[2].body["reason"], "DeletionBlocked");
    assert_eq!(seen[2].body["action"], "Delete");
    let ready = condition(&seen[3].body, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "DeletionBlocked");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(message.contains("deletionPolicy: Orphan"), "{message}");
    assert!(message.contains(&url), "names the application: {message}");
    assert_eq!(action, Action::requeue(first_backoff()));
}

/// An instance being deleted keeps its finalizer while a link in its namespace names it (links
/// of the same name elsewhere do not count), and loses it once none does.
#[tokio::test]
async fn instance_finalizer_stays_while_a_link_names_it() {
    let jira = format!("{INSTANCES}/jira");
    let obj = instance(
        "jira",
        "jira",
        "https://jira.example.com",
        deleting(&[IN_USE_FINALIZER]),
    );
    let elsewhere = link(json!({"metadata": {"namespace": "other"}}));

    // A link names it: the finalizer stays, a Terminating condition names the link (the
    // only write), and the cache is looked at again shortly.
    let (held, status_path) = (obj.clone(), format!("{jira}/status"));
    let (client, api) = mock_api(move |req| {
        if req.is("PATCH", &status_path) {
            ok(merged(&held, &req.body))
        } else {
            unexpected()
        }
    });
    let links = store_of([link(json!({})), elsewhere.clone()]);
    let ctx = Context::for_tests(client, settings(), store_of([]), links);
    let action = instance::reconcile(Arc::new(obj.clone()), ctx.clone())
        .await
        .expect("in use");
    let seen = api.finish(ctx).await;
    assert_eq!(
        routes(&seen),
        vec![route("PATCH", format!("{jira}/status"))]
    );
    let blocked = condition(&seen[0].body, "Terminating");
    assert_eq!(blocked["status"], "True");
    assert_eq!(blocked["reason"], "InUse");
    assert!(
        blocked["message"]
            .as_str()
            .unwrap_or_default()
            .contains("used by jira-confluence."),
        "{blocked}"
    );
    assert_eq!(action, Action::requeue(Duration::from_secs(2)));

    // No link names it any more: the finalizer goes.
    let (removed, path) = (obj.clone(), jira.clone());
    let (client, api) = mock_api(move |req| {
        if req.is("PATCH", &path) {
            json_patched(&removed, &req.body)
        } else {
            unexpected()
        }
    });
    let ctx = Context::for_tests(client, settings(), store_of([]), store_of([elsewhere]));
    let action = instance::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("released");
    let seen = api.finish(ctx).await;
    assert_eq!(routes(&seen), vec![route("PATCH", jira)]);
    assert_eq!(
        seen[0].body,
        json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": IN_USE_FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/0"},
        ])
    );
    assert_eq!(action, Action::await_change());
}

/// Just after a start, the link controller may run before the instance cache is filled. The
/// pass must not read it then: it used to report the instance "not found" (Stalled, a Warning
/// event, the status written) although the instance exists. Now it waits, gives up without a
/// single request, and is retried.
#[tokio::test(start_paused = true)]
async fn a_link_pass_waits_for_the_instance_cache() {
    let obj = link(json!({}));
    let (client, api) = mock_api(|_| unexpected());
    let mut ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));
    let (_mark, pending) = super::synced::pending();
    Arc::get_mut(&mut ctx).expect("one owner").instances_synced = pending;
    let err = link::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect_err("nothing is decided on an empty cache");
    assert_eq!(err.reason(), "CacheNotSynced");
    assert!(!err.is_stalled(), "retried, not Stalled");
    assert!(api.finish(ctx).await.is_empty(), "no request at all");
}

/// The same for an instance being deleted: with the link cache not filled yet, no link seems
/// to use it, and its in-use finalizer used to go while links still needed the instance to
/// delete their ends. Now the finalizer stays until the cache is filled.
#[tokio::test(start_paused = true)]
async fn an_instance_deletion_waits_for_the_link_cache() {
    let obj = instance(
        "jira",
        "jira",
        "https://jira.example.com",
        deleting(&[IN_USE_FINALIZER]),
    );
    let (client, api) = mock_api(|_| unexpected());
    let mut ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));
    let (_mark, pending) = super::synced::pending();
    Arc::get_mut(&mut ctx).expect("one owner").links_synced = pending;
    let err = instance::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect_err("nothing is decided on an empty cache");
    assert_eq!(err.reason(), "CacheNotSynced");
    assert!(
        api.finish(ctx).await.is_empty(),
        "the finalizer is not removed"
    );
}

/// A copy of a link (`kubectl get -o yaml`, another name) carries the original's claim
/// annotations but no status (the API server drops it on create): being deleted, it owns
/// nothing, so its finalizer goes without a single request to either application or Secret.
#[tokio::test]
async fn a_copy_with_copied_claim_annotations_deletes_nothing() {
    let url = closed_port_url();
    let mut extra = deleting(&[LINK_FINALIZER]);
    json_patch::merge(
        &mut extra,
        &json!({"metadata": {"annotations": {SOURCE_LINK: CONFLUENCE_ID, TARGET_LINK: JIRA_ID}}}),
    );
    let obj = link(extra);
    let (client, api) = mock_api(link_server(obj.clone(), vec![url.clone()]));
    let instances = store_of([
        instance("jira", "jira", &url, json!({})),
        instance("confluence", "confluence", &url, json!({})),
    ]);
    let ctx = Context::for_tests(client, settings(), instances, store_of([]));

    let action = link::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("released");
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen),
        vec![route("PATCH", LINK)],
        "only the finalizer"
    );
    assert_eq!(seen[0].content_type, "application/json-patch+json");
    assert_eq!(action, Action::await_change());
}

/// A link whose status an older operator wrote (no `claims`) has its annotation claims taken
/// over once, keyed by the resolved applications' ids, before anything else is done: here the
/// applications are unreachable, so the deletion stays blocked, but the claims are in status.
#[tokio::test(start_paused = true)]
async fn an_older_operators_annotation_claims_are_migrated_once() {
    let url = closed_port_url();
    let mut extra = deleting(&[LINK_FINALIZER]);
    json_patch::merge(
        &mut extra,
        &json!({
            "metadata": {"annotations": {SOURCE_LINK: CONFLUENCE_ID, TARGET_LINK: JIRA_ID}},
            "status": {"observedGeneration": 1, "mode": "TwoWay"},
        }),
    );
    let obj = link(extra);
    let (client, api) = mock_api(link_server(obj.clone(), vec![url.clone()]));
    let instances = store_of([
        instance("jira", "jira", &url, json!({})),
        instance("confluence", "confluence", &url, json!({})),
    ]);
    let ctx = Context::for_tests(client, settings(), instances, store_of([]));

    link::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("the pass reports the blocked deletion in status");
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen),
        vec![
            route("GET", format!("{SECRETS}/jira-admin")),
            route("GET", format!("{SECRETS}/confluence-admin")),
            route("PATCH", link_status_path()),
            route("POST", EVENTS),
            route("PATCH", link_status_path()),
        ]
    );
    assert_eq!(seen[2].body, json!({"status": claimed_both()}));
    assert_eq!(
        condition(&seen[4].body, "Ready")["reason"],
        "DeletionBlocked"
    );
}

/// The API server refuses the status write (500): the pass keeps the status it computed and
/// backs off (its own key, growing); the next pass writes that status alone — no event, no
/// finalizer, nothing read — and once it is taken, requeues as the computing pass had decided.
#[tokio::test]
async fn a_refused_status_write_is_kept_and_written_again_alone_with_backoff() {
    let obj = link(json!({}));
    let refusals = Arc::new(std::sync::atomic::AtomicUsize::new(2));
    let mut inner = link_server(obj.clone(), vec![]);
    let left = refusals.clone();
    let (client, api) = mock_api(move |req: &Seen| {
        if req.is("PATCH", &link_status_path())
            && left
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok()
        {
            return failure(500, "InternalError");
        }
        inner(req)
    });
    let ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));
    let status_backoff = backoff::Backoff::new(BACKOFF_INITIAL, BACKOFF_MAX);
    let key = "link/apps/jira-confluence#status";

    let first = link::reconcile(Arc::new(obj.clone()), ctx.clone())
        .await
        .expect("a refused status write is not an error of the pass");
    let after_first = api.seen();
    assert_eq!(
        routes(&after_first),
        vec![
            route("PATCH", LINK),
            route("POST", EVENTS),
            route("PATCH", link_status_path()),
        ]
    );
    assert_eq!(first, Action::requeue(status_backoff.failed(key, None)));
    assert_eq!(ctx.unwritten.len(), 1);
    // The object as the API server holds it: finalizer added, no status.
    let stored: ApplicationLink =
        serde_json::from_value(merged(&obj, &after_first[0].body)).expect("the patched link");

    let second = link::reconcile(Arc::new(stored.clone()), ctx.clone())
        .await
        .expect("second pass");
    assert_eq!(
        second,
        Action::requeue(status_backoff.failed(key, None)),
        "longer"
    );
    let third = link::reconcile(Arc::new(stored), ctx.clone())
        .await
        .expect("third pass");
    let kept = ctx.unwritten.len();
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen[3..]),
        vec![
            route("PATCH", link_status_path()),
            route("PATCH", link_status_path()),
        ],
        "the kept status alone, twice"
    );
    assert_eq!(
        seen[4].body, after_first[2].body,
        "the status the first pass computed"
    );
    assert_eq!(
        third,
        Action::requeue(first_backoff()),
        "the first pass's own requeue"
    );
    assert_eq!(kept, 0, "nothing kept once written");
}

/// A paused link: no call to any application (the mock has no instance and would refuse one),
/// one `Paused` event, the `Paused` condition beside what was known (Ready kept as it was,
/// Reconciling dropped), and no requeue. Deleted while paused, with ends claimed: the finalizer
/// stays and the condition says the deletion waits.
#[tokio::test]
async fn a_paused_link_calls_nothing_and_a_paused_deletion_waits() {
    let known = json!({"status": {
        "observedGeneration": 1,
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "AwaitingCloudAdmin", "message": "m",
             "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1},
            {"type": "Reconciling", "status": "True", "reason": "AwaitingCloudAdmin", "message": "m",
             "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1},
        ],
    }});
    let paused = json!({"metadata": {
        "finalizers": [LINK_FINALIZER],
        "annotations": {"applinks.io/paused": "true"},
    }});
    for deleting_too in [false, true] {
        let mut extra = known.clone();
        json_patch::merge(&mut extra, &paused);
        json_patch::merge(&mut extra, &json!({"status": claimed_both()}));
        if deleting_too {
            json_patch::merge(&mut extra, &deleting(&[LINK_FINALIZER]));
        }
        let obj = link(extra);
        let (client, api) = mock_api(link_server(obj.clone(), vec![]));
        let ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));
        let action = link::reconcile(Arc::new(obj), ctx.clone())
            .await
            .expect("a paused pass");
        let seen = api.finish(ctx).await;
        assert_eq!(
            routes(&seen),
            vec![route("PATCH", link_status_path()), route("POST", EVENTS)],
            "deleting: {deleting_too}: the event once the pause is recorded"
        );
        assert_eq!(seen[1].body["reason"], "Paused");
        assert_eq!(seen[1].body["type"], "Normal");
        let status = &seen[0].body;
        let p = condition(status, "Paused");
        assert_eq!(p["status"], "True");
        assert_eq!(p["reason"], "PauseRequested");
        assert_eq!(
            p["message"].as_str().unwrap().contains("deletion waits"),
            deleting_too,
            "{p}"
        );
        // Arrays are replaced whole: the patch holds the whole list.
        let types: Vec<&str> = status["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            ["Ready", "Paused"],
            "Reconciling dropped, Ready kept"
        );
        assert_eq!(action, Action::await_change());
    }
}

// ExternalApplication passes: the same shapes as the link's above.

const EXTERNAL: &str = "/apis/applinks.io/v1alpha1/namespaces/apps/externalapplications/che";

fn external_status_path() -> String {
    format!("{EXTERNAL}/status")
}

/// The ExternalApplication `apps/che`: an OAuth 2.0 client in the instance `jira`, with
/// `extra` merged in.
fn external(extra: Value) -> crate::crd::ExternalApplication {
    let mut v = json!({
        "apiVersion": "applinks.io/v1alpha1",
        "kind": "ExternalApplication",
        "metadata": {
            "name": "che",
            "namespace": NS,
            "uid": "6f1b7c1e-0000-4000-8000-0000000000e1",
            "resourceVersion": "200",
            "generation": 1,
        },
        "spec": {
            "instanceRef": {"name": "jira"},
            "oauth2": {"redirectUris": ["https://che.example.com/callback"], "scope": "READ"},
        },
    });
    json_patch::merge(&mut v, &extra);
    serde_json::from_value(v).expect("a valid ExternalApplication")
}

/// Status claiming the client `che` in Jira.
fn client_claimed() -> Value {
    json!({"status": {"claims": {"oauth2": {
        "applicationId": JIRA_ID, "name": "che", "id": "client-1",
    }}}})
}

/// As [`link_server`], for the ExternalApplication.
fn external_server(
    obj: crate::crd::ExternalApplication,
    allowed: Vec<String>,
) -> impl FnMut(&Seen) -> Reply + Send + 'static {
    move |req| match (req.method.as_str(), req.path.as_str()) {
        ("PATCH", p) if p == EXTERNAL || p == external_status_path() => {
            if req.content_type == "application/json-patch+json" {
                json_patched(&obj, &req.body)
            } else {
                ok(merged(&obj, &req.body))
            }
        }
        ("POST", EVENTS) => event_created(req),
        ("GET", p) if p.starts_with(SECRETS) => ok(admin_secret(
            p.rsplit('/').next().unwrap_or_default(),
            &allowed,
        )),
        _ => unexpected(),
    }
}

fn external_backoff() -> Duration {
    backoff::Backoff::new(BACKOFF_INITIAL, BACKOFF_MAX).failed("external/apps/che", None)
}

/// A new ExternalApplication whose instance does not exist: the finalizer first, then Stalled
/// with InstanceNotFound, one Warning, the status written, backoff; no Secret is read.
#[tokio::test]
async fn new_external_application_gets_the_finalizer_then_reports_the_missing_instance() {
    let obj = external(json!({}));
    let (client, api) = mock_api(external_server(obj.clone(), vec![]));
    let ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));

    let action = external::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("the pass reports the error in status");
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen),
        vec![
            route("PATCH", EXTERNAL),
            route("POST", EVENTS),
            route("PATCH", external_status_path()),
        ]
    );
    assert_eq!(
        seen[0].body,
        json!({"metadata": {"finalizers": [external::FINALIZER], "resourceVersion": "200"}})
    );
    assert_eq!(seen[1].body["type"], "Warning");
    assert_eq!(seen[1].body["reason"], "InstanceNotFound");
    let ready = condition(&seen[2].body, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "InstanceNotFound");
    assert_eq!(condition(&seen[2].body, "Stalled")["status"], "True");
    assert_eq!(action, Action::requeue(external_backoff()));
}

/// Deleting with nothing ever claimed: nothing was made in the application, so the finalizer
/// goes without a call (and without the instance).
#[tokio::test]
async fn an_unclaimed_external_application_is_deleted_without_remote_calls() {
    let obj = external(deleting(&[external::FINALIZER]));
    let (client, api) = mock_api(external_server(obj.clone(), vec![]));
    let ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));

    let action = external::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("deleted");
    let seen = api.finish(ctx).await;

    assert_eq!(routes(&seen), vec![route("PATCH", EXTERNAL)]);
    assert_eq!(
        seen[0].body,
        json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": external::FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/0"},
        ])
    );
    assert_eq!(action, Action::await_change());
}

/// Orphan: the claimed client is left in place, the finalizer goes, one Normal event.
#[tokio::test]
async fn an_orphaned_external_application_leaves_its_client() {
    let mut extra = deleting(&[external::FINALIZER]);
    json_patch::merge(&mut extra, &client_claimed());
    json_patch::merge(&mut extra, &json!({"spec": {"deletionPolicy": "Orphan"}}));
    let obj = external(extra);
    let (client, api) = mock_api(external_server(obj.clone(), vec![]));
    let ctx = Context::for_tests(client, settings(), store_of([]), store_of([]));

    external::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("orphaned");
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen),
        vec![route("PATCH", EXTERNAL), route("POST", EVENTS)]
    );
    assert_eq!(seen[1].body["reason"], "Orphaned");
    let note = seen[1].body["note"].as_str().unwrap_or_default();
    assert!(note.contains("OAuth 2.0 client was left"), "{note}");
}

/// Deleting a claimed client while Jira refuses connections: the finalizer stays, Ready says
/// DeletionBlocked with the way out, a Warning, backoff.
#[tokio::test(start_paused = true)]
async fn an_unreachable_application_blocks_the_external_application_deletion() {
    let url = closed_port_url();
    let mut extra = deleting(&[external::FINALIZER]);
    json_patch::merge(&mut extra, &client_claimed());
    let obj = external(extra);
    let (client, api) = mock_api(external_server(obj.clone(), vec![url.clone()]));
    let instances = store_of([instance("jira", "jira", &url, json!({}))]);
    let ctx = Context::for_tests(client, settings(), instances, store_of([]));

    let action = external::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("the pass reports the blocked deletion in status");
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen),
        vec![
            route("GET", format!("{SECRETS}/jira-admin")),
            route("POST", EVENTS),
            route("PATCH", external_status_path()),
        ],
        "no finalizer removal"
    );
    assert_eq!(seen[1].body["type"], "Warning");
    assert_eq!(seen[1].body["reason"], "DeletionBlocked");
    let ready = condition(&seen[2].body, "Ready");
    assert_eq!(ready["reason"], "DeletionBlocked");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(message.contains("deletionPolicy: Orphan"), "{message}");
    assert!(message.contains("client is deleted"), "{message}");
    assert_eq!(action, Action::requeue(external_backoff()));
}

/// Paused: the pause is recorded and nothing else is called, not even the instance's Secret.
#[tokio::test]
async fn a_paused_external_application_calls_nothing() {
    let mut extra = json!({"metadata": {
        "finalizers": [external::FINALIZER],
        "annotations": {"applinks.io/paused": "true"},
    }});
    json_patch::merge(&mut extra, &client_claimed());
    let obj = external(extra);
    let (client, api) = mock_api(external_server(obj.clone(), vec![]));
    let instances = store_of([instance("jira", "jira", &closed_port_url(), json!({}))]);
    let ctx = Context::for_tests(client, settings(), instances, store_of([]));

    let action = external::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("a paused pass");
    let seen = api.finish(ctx).await;

    assert_eq!(
        routes(&seen),
        vec![
            route("PATCH", external_status_path()),
            route("POST", EVENTS)
        ]
    );
    assert_eq!(condition(&seen[0].body, "Paused")["status"], "True");
    assert_eq!(seen[1].body["reason"], "Paused");
    assert_eq!(action, Action::await_change());
}
