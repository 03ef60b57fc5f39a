//! The companion CLI as a user runs it (the binary's `status`, `resync`, `pause`, `resume`),
//! against a cluster-wide operator serving two tenants: each sees its own tree, with what is
//! wrong said in full.

use super::{World, apps};
use crate::common::e2e::{self, Sim};
use std::process::Command;

/// Runs the binary as `kubectl applink` would; (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let bin = crate::common::repo_path("target/debug/applink-operator");
    let out = Command::new(bin).args(args).output().expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn status_shows_each_tenant_its_own_tree_and_says_what_is_wrong() {
    let w = World::new("cli", 2).await;
    let sim = Sim::start(&apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
        ("jira2", "jira"),
    ]));
    let (t0, t1) = (w.tenant(0).to_string(), w.tenant(1).to_string());
    for (n, t) in [("jira", "jira"), ("confluence", "confluence")] {
        w.apply(&t0, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    w.apply(&t0, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    // Tenant 1's Secret does not allow its credentials to go anywhere.
    let unmarked = e2e::instance_yaml("jira", sim.app("jira2"), "jira", true).replace(
        &format!(
            ", annotations: {{{}: '{}'}}",
            e2e::ALLOWED_URLS,
            sim.app("jira2").base_url
        ),
        "",
    );
    w.apply(&t1, &unmarked);
    e2e::wait_link_ready(&w.client, &t0, "l", "True").await;
    e2e::wait_instance(&w.client, &t1, "jira", "Ready", |c| {
        c.0 == "False" && c.1 == "CredentialsNotAllowed"
    })
    .await;

    let (code, out, err) = cli(&["status", "-n", &t0]);
    assert_eq!(code, 0, "{err}");
    for want in [
        format!("ApplicationInstance {t0}/jira {}", sim.app("jira").base_url),
        format!("  ApplicationLink {t0}/l → ApplicationInstance {t0}/confluence  [OAuth, TwoWay"),
        format!("  ApplicationLink {t0}/l ← ApplicationInstance {t0}/jira"),
        "      this end:  link ".to_string(),
        "; working; incoming OAuth".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains("NotReady"), "{out}");
    assert!(!out.contains(&t1), "tenant 0's view names tenant 1:\n{out}");

    let (code, out, _) = cli(&["status", "-n", &t1]);
    assert_eq!(code, 0);
    assert!(out.contains("NotReady: CredentialsNotAllowed"), "{out}");
    // The full message, with the command that fixes it.
    assert!(
        out.contains("    Ready=False CredentialsNotAllowed: ") && out.contains("kubectl annotate"),
        "{out}"
    );

    let (_, all, _) = cli(&["status", "-A"]);
    assert!(
        all.contains(&format!("{t0}/l")) && all.contains(&format!("{t1}/jira")),
        "{all}"
    );

    // One name narrows the tree to its object.
    let (_, one, _) = cli(&["status", "-n", &t0, "l"]);
    assert!(one.contains(&format!("ApplicationLink {t0}/l")), "{one}");
    let (code, _, err) = cli(&["status", "-n", &t0, "nothing-here"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("\"nothing-here\"") && err.contains("-A"),
        "{err}"
    );
    let (code, _, err) = cli(&["resync", "-n", &t0, "pod/x"]);
    assert_eq!(code, 1);
    assert!(err.contains("link/NAME"), "{err}");

    // Steering: resync waits for the operator's echo; pause and resume show in the tree.
    let (code, out, err) = cli(&["resync", "-n", &t0, "link/l", "jira"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ApplicationLink l: re-verified")
            && out.contains("ApplicationInstance jira: re-verified"),
        "{out}"
    );
    let l = e2e::link(&w.client, &t0, "l").await;
    assert!(l.status.unwrap().last_handled_reconcile_at.is_some());
    let (code, out, err) = cli(&["pause", "-n", &t0, "l"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ApplicationLink l: paused"), "{out}");
    e2e::wait_for("the link to show Paused", || async {
        let (_, out, _) = cli(&["status", "-n", &t0, "l"]);
        if out.contains("Paused=True PauseRequested") {
            Ok(())
        } else {
            Err(out)
        }
    })
    .await;
    // A resync of a paused object says why it would not be handled instead of waiting.
    let (code, _, err) = cli(&["resync", "-n", &t0, "link/l", "--timeout", "60s"]);
    assert_eq!(code, 1);
    assert!(err.contains("paused") && err.contains("resume"), "{err}");
    let (code, _, err) = cli(&["resume", "-n", &t0, "link/l"]);
    assert_eq!(code, 0, "{err}");
    e2e::wait_for("the link to be resumed", || async {
        let (_, out, _) = cli(&["status", "-n", &t0, "l"]);
        if out.contains("Paused=") {
            Err(out)
        } else {
            Ok(())
        }
    })
    .await;
    let (code, out, err) = cli(&["resync", "-n", &t0, "link/l"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("re-verified"), "{out}");
}
