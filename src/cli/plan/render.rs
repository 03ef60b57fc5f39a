//! The `plan` command's output (pure, table-tested): per link the steps a pass would take, one
//! line each, marked like a diff (`+` adds, `~` changes, `-` removes), and the exit code.

use crate::controller::preview::Preview;
use crate::planner::{End, Step};

/// What `plan` found for one link.
pub struct LinkPlan {
    /// `namespace/name`.
    pub name: String,
    /// The pending steps, or why the link cannot be planned (the error, as the operator's
    /// condition message would say it).
    pub plan: Result<Preview, String>,
    /// Paused (`applinks.io/paused`): the operator takes no step until it is resumed.
    pub paused: bool,
}

/// Nothing pending.
pub const EXIT_CLEAN: u8 = 0;
/// An error: a link cannot be planned (or the manifests or the cluster could not be read).
pub const EXIT_ERROR: u8 = 1;
/// Changes pending.
pub const EXIT_CHANGES: u8 = 2;

/// 1 when any link failed, else 2 when any has a step pending, else 0.
pub fn exit_code(plans: &[LinkPlan]) -> u8 {
    if plans.iter().any(|p| p.plan.is_err()) {
        EXIT_ERROR
    } else if plans
        .iter()
        .any(|p| p.plan.as_ref().is_ok_and(|s| !s.steps.is_empty()))
    {
        EXIT_CHANGES
    } else {
        EXIT_CLEAN
    }
}

/// Every link, then a one-line summary.
pub fn render(plans: &[LinkPlan]) -> String {
    let mut out = String::new();
    let (mut pending, mut failed) = (0, 0);
    for p in plans {
        match &p.plan {
            Ok(preview) if preview.steps.is_empty() => {
                out.push_str(&format!("ApplicationLink {}: up to date\n", p.name));
            }
            Ok(preview) => {
                pending += 1;
                out.push_str(&format!(
                    "ApplicationLink {} ({} → {}){}:\n",
                    p.name,
                    preview.source,
                    preview.target,
                    if p.paused {
                        " [paused: these steps wait until it is resumed]"
                    } else {
                        ""
                    }
                ));
                for step in &preview.steps {
                    out.push_str(&format!("  {}\n", step_line(step, preview)));
                }
            }
            Err(why) => {
                failed += 1;
                out.push_str(&format!("ApplicationLink {}: cannot plan: {why}\n", p.name));
            }
        }
    }
    out.push_str(&format!(
        "{} link(s): {pending} with changes, {failed} that cannot be planned, {} up to date\n",
        plans.len(),
        plans.len() - pending - failed
    ));
    out
}

/// One step as a line: the mark, what changes, and where.
pub fn step_line(step: &Step, p: &Preview) -> String {
    let at = |end: &End| {
        let app = match end {
            End::Source => &p.source,
            End::Target => &p.target,
        };
        format!("the {} end in {app}", end.as_str())
    };
    match step {
        Step::Claim { end, link_id } => {
            format!(
                "~ record the claim on {} (link {link_id}) in the link's status",
                at(end)
            )
        }
        Step::Create { end, link } => format!(
            "+ create {}: link {} to {} {}{}",
            at(end),
            link.id.as_deref().unwrap_or("(id from its URL)"),
            link.type_id,
            link.rpc_url,
            if link.is_primary { ", primary" } else { "" }
        ),
        Step::Update {
            end,
            link_id,
            update,
        } => format!(
            "~ relocate {} (link {link_id}) to {} (display URL {})",
            at(end),
            update.rpc_url,
            update.display_url
        ),
        Step::SetPrimary { end, link_id } => {
            format!(
                "~ make {} (link {link_id}) the primary link of its type",
                at(end)
            )
        }
        Step::ConfigureOAuth {
            end,
            link_id,
            config,
        } => format!(
            "~ set authentication on {} (link {link_id}): incoming {:?}, outgoing {:?}",
            at(end),
            config.incoming.level(),
            config.outgoing.level()
        ),
        Step::EnsureAllowlist { end, url } => {
            format!(
                "+ allow incoming requests from {url} in the allowlist of {}",
                at(end)
            )
        }
        Step::Delete { end, link_id } => format!("- delete {} (link {link_id})", at(end)),
        Step::RemoveFinalizer => "- remove the link's finalizer".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::{LinkOAuthConfig, LinkUpdate, NewLink, OAuthLevel};

    fn preview(steps: Vec<Step>) -> Preview {
        Preview {
            source: "ApplicationInstance jira".into(),
            target: "ClusterApplicationInstance wiki".into(),
            steps,
        }
    }

    fn plan(name: &str, plan: Result<Preview, String>) -> LinkPlan {
        LinkPlan {
            name: name.into(),
            plan,
            paused: false,
        }
    }

    #[test]
    fn each_step_as_a_line() {
        let p = preview(vec![]);
        let cases = [
            (
                Step::Claim {
                    end: End::Source,
                    link_id: "L1".into(),
                },
                "~ record the claim on the source end in ApplicationInstance jira (link L1) in the link's status",
            ),
            (
                Step::Create {
                    end: End::Target,
                    link: NewLink {
                        id: Some("J1".into()),
                        name: "Jira".into(),
                        type_id: "jira".into(),
                        rpc_url: "https://jira.example.com".into(),
                        display_url: "https://jira.example.com".into(),
                        is_primary: true,
                    },
                },
                "+ create the target end in ClusterApplicationInstance wiki: link J1 to jira https://jira.example.com, primary",
            ),
            (
                Step::Update {
                    end: End::Source,
                    link_id: "C1".into(),
                    update: LinkUpdate {
                        name: "Wiki".into(),
                        rpc_url: "https://wiki.new".into(),
                        display_url: "https://wiki.example.com".into(),
                        primary: false,
                    },
                },
                "~ relocate the source end in ApplicationInstance jira (link C1) to https://wiki.new (display URL https://wiki.example.com)",
            ),
            (
                Step::SetPrimary {
                    end: End::Source,
                    link_id: "C1".into(),
                },
                "~ make the source end in ApplicationInstance jira (link C1) the primary link of its type",
            ),
            (
                Step::ConfigureOAuth {
                    end: End::Target,
                    link_id: "J1".into(),
                    config: LinkOAuthConfig::symmetric(OAuthLevel::OAuthImpersonation),
                },
                "~ set authentication on the target end in ClusterApplicationInstance wiki (link J1): incoming OAuthImpersonation, outgoing OAuthImpersonation",
            ),
            (
                Step::EnsureAllowlist {
                    end: End::Source,
                    url: "https://site.atlassian.net".into(),
                },
                "+ allow incoming requests from https://site.atlassian.net in the allowlist of the source end in ApplicationInstance jira",
            ),
            (
                Step::Delete {
                    end: End::Target,
                    link_id: "J1".into(),
                },
                "- delete the target end in ClusterApplicationInstance wiki (link J1)",
            ),
            (Step::RemoveFinalizer, "- remove the link's finalizer"),
        ];
        for (step, want) in cases {
            assert_eq!(step_line(&step, &p), want, "{step:?}");
        }
    }

    #[test]
    fn exit_codes() {
        let step = || Step::SetPrimary {
            end: End::Source,
            link_id: "C1".into(),
        };
        let clean = || plan("a/clean", Ok(preview(vec![])));
        let pending = || plan("a/pending", Ok(preview(vec![step()])));
        let failed = || plan("a/failed", Err("ApplicationInstance jira not found".into()));
        let cases: [(Vec<LinkPlan>, u8); 6] = [
            (vec![], EXIT_CLEAN),
            (vec![clean()], EXIT_CLEAN),
            (vec![clean(), pending()], EXIT_CHANGES),
            (vec![pending(), failed()], EXIT_ERROR),
            (vec![failed(), clean()], EXIT_ERROR),
            (vec![pending(), pending()], EXIT_CHANGES),
        ];
        for (plans, want) in cases {
            let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(exit_code(&plans), want, "{names:?}");
        }
    }

    #[test]
    fn the_whole_output() {
        let plans = [
            plan("team-a/clean", Ok(preview(vec![]))),
            plan(
                "team-a/moved",
                Ok(preview(vec![Step::Delete {
                    end: End::Source,
                    link_id: "C1".into(),
                }])),
            ),
            plan(
                "team-b/broken",
                Err("ApplicationInstance jira not found".into()),
            ),
            LinkPlan {
                paused: true,
                ..plan("team-b/held", Ok(preview(vec![Step::RemoveFinalizer])))
            },
        ];
        assert_eq!(
            render(&plans),
            "ApplicationLink team-a/clean: up to date\n\
             ApplicationLink team-a/moved (ApplicationInstance jira → ClusterApplicationInstance wiki):\n  \
             - delete the source end in ApplicationInstance jira (link C1)\n\
             ApplicationLink team-b/broken: cannot plan: ApplicationInstance jira not found\n\
             ApplicationLink team-b/held (ApplicationInstance jira → ClusterApplicationInstance wiki) [paused: these steps wait until it is resumed]:\n  \
             - remove the link's finalizer\n\
             4 link(s): 2 with changes, 1 that cannot be planned, 1 up to date\n"
        );
    }
}
