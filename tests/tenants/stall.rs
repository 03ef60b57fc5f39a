//! Finding 13, the silent stall. An instance created (or changed) and deleted at once gives two
//! watch events back to back. With kube-runtime's shared stream a controller that read the
//! first after the second had been applied looked the object up, missed it, and was never woken
//! again: from then on no instance change reached that controller, with nothing in the log.
//! The operator must still see instances created after such deletions, and stay ready.
//!
//! Against the build before the fix this scenario passed too (three runs, also with 150 more
//! instances keeping the operator busy): the burst needs the controllers' task to be late, which
//! a test cannot force from outside. The defect itself is reproduced deterministically in
//! `src/controller/fanout.rs` (a kube-runtime Controller on a shared-stream subscriber); this
//! keeps the whole path (watch, queues, controllers, readiness) honest.

use futures::StreamExt;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::json;

use applink_operator::crd::ApplicationInstance;

use crate::common;
use crate::common::e2e::{Operator, SHARD_LABEL, Sim, wait_for, wait_instance};

#[tokio::test]
async fn instances_created_after_deletions_are_still_picked_up() {
    let shard = format!("stall-{}", std::process::id());
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, "stall").await;
    let sim = Sim::start(
        "control_port: 0\napps:\n- name: jira\n  product: jira\n  key_bits: 1024\n  users:\n  - {username: admin, password: admin, role: sysadmin}\n",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _op = Operator::start_cluster_wide(
        &shard,
        &[],
        &["--health-addr", &format!("127.0.0.1:{port}")],
    );
    let instance = |name: &str| {
        json!({
            "apiVersion": "applinks.io/v1alpha1",
            "kind": "ApplicationInstance",
            "metadata": {"name": name, "labels": {SHARD_LABEL: &shard}},
            "spec": {"url": sim.app("jira").base_url, "type": "jira"},
        })
    };
    let api: Api<ApplicationInstance> = Api::namespaced(client.clone(), &ns);
    // Deleted at once after its creation, many at a time: the watch delivers the two events
    // of an instance together.
    futures::stream::iter(0..60)
        .for_each_concurrent(20, |round| {
            let (client, api, ns) = (&client, &api, &ns);
            let doc = instance(&format!("brief{round}"));
            async move {
                common::apply(client, ns, &doc).await.unwrap();
                api.delete(&format!("brief{round}"), &DeleteParams::default())
                    .await
                    .unwrap();
            }
        })
        .await;
    // Deleted once checked: its in-use finalizer goes first.
    common::apply(&client, &ns, &instance("checked"))
        .await
        .unwrap();
    // Checked: any verdict (the instances all name one application, so they may well be
    // refused as duplicates; what matters is that a pass ran).
    wait_instance(&client, &ns, "checked", "Ready", |_| true).await;
    api.delete("checked", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("every deleted instance gone", || async {
        let left = api
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} left"))
        }
    })
    .await;
    common::apply(&client, &ns, &instance("new")).await.unwrap();
    wait_instance(&client, &ns, "new", "Ready", |_| true).await;
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}
