//! The rules of changing a link, written once for every resource line: the classic v1 PUT and
//! v2 POST, and the V3 PUT (docs/simulator.md#link-resources). Each line renders a refusal in
//! its own envelope.

use uuid::Uuid;

use crate::store::{AppState, Link};

/// The resource line whose rules apply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Line {
    /// v1 `PUT applicationlink/{id}` and v2 `POST applicationlink/{id}`: the RPC URL is fixed,
    /// a system link needs a system administrator, only the name must be free.
    Classic,
    /// V3 `PUT applinks/{id}`: a system link is never changed, URLs must be absolute, and the
    /// name, RPC URL and display URL must all be free.
    V3,
}

/// A change asked of a link; absent fields stay as they are.
#[derive(Default)]
pub(super) struct Change {
    pub name: Option<String>,
    pub rpc_url: Option<String>,
    pub display_url: Option<String>,
    pub primary: Option<bool>,
}

/// Why a change is refused, in the order the products check.
#[derive(Debug, PartialEq)]
pub(super) enum Refusal {
    SystemLink,
    RpcUrlFixed,
    NotAbsolute { field: &'static str, url: String },
    NameTaken { other: String },
    RpcUrlTaken { other: String },
    DisplayUrlTaken { other: String },
}

pub(super) fn is_absolute_http(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Checks `change` of `link` against the line's rules and the application's other links.
pub(super) fn check(
    st: &AppState,
    link: &Link,
    change: &Change,
    line: Line,
    sysadmin: bool,
) -> Result<(), Refusal> {
    match line {
        Line::Classic if link.system && !sysadmin => return Err(Refusal::SystemLink),
        Line::V3 if link.system => return Err(Refusal::SystemLink),
        _ => {}
    }
    if line == Line::Classic
        && let Some(rpc) = &change.rpc_url
        && !same_url(rpc, &link.rpc_url)
    {
        return Err(Refusal::RpcUrlFixed);
    }
    if line == Line::V3 {
        for (field, u) in [
            ("rpcUrl", &change.rpc_url),
            ("displayUrl", &change.display_url),
        ] {
            if let Some(u) = u
                && !is_absolute_http(u)
            {
                return Err(Refusal::NotAbsolute {
                    field,
                    url: u.clone(),
                });
            }
        }
    }
    for other in st.persisted.links.values().filter(|o| o.id != link.id) {
        if change.name.as_deref() == Some(other.name.as_str()) {
            return Err(Refusal::NameTaken {
                other: other.name.clone(),
            });
        }
        if line == Line::Classic {
            continue;
        }
        if change
            .rpc_url
            .as_deref()
            .is_some_and(|u| same_url(u, &other.rpc_url))
        {
            return Err(Refusal::RpcUrlTaken {
                other: other.name.clone(),
            });
        }
        if change
            .display_url
            .as_deref()
            .is_some_and(|u| same_url(u, &other.display_url))
        {
            return Err(Refusal::DisplayUrlTaken {
                other: other.name.clone(),
            });
        }
    }
    Ok(())
}

/// Every rule a V3 change breaks, in the products' order: system link, each URL, then the
/// name, RPC URL and display URL another link holds (each once). The products collect them
/// all before refusing (docs/simulator.md#link-resources).
pub(super) fn check_v3_all(st: &AppState, link: &Link, change: &Change) -> Vec<Refusal> {
    let mut out = Vec::new();
    if link.system {
        out.push(Refusal::SystemLink);
    }
    for (field, u) in [
        ("rpcUrl", &change.rpc_url),
        ("displayUrl", &change.display_url),
    ] {
        if let Some(u) = u
            && !is_absolute_http(u)
        {
            out.push(Refusal::NotAbsolute {
                field,
                url: u.clone(),
            });
        }
    }
    let others: Vec<&Link> = st
        .persisted
        .links
        .values()
        .filter(|o| o.id != link.id)
        .collect();
    let taken = |f: &dyn Fn(&Link) -> bool| others.iter().find(|o| f(o)).map(|o| o.name.clone());
    if let Some(name) = &change.name
        && let Some(other) = taken(&|o| &o.name == name)
    {
        out.push(Refusal::NameTaken { other });
    }
    if let Some(u) = &change.rpc_url
        && let Some(other) = taken(&|o| same_url(u, &o.rpc_url))
    {
        out.push(Refusal::RpcUrlTaken { other });
    }
    if let Some(u) = &change.display_url
        && let Some(other) = taken(&|o| same_url(u, &o.display_url))
    {
        out.push(Refusal::DisplayUrlTaken { other });
    }
    out
}

/// Applies a checked change; `primary: true` also takes the flag from the type's other links.
pub(super) fn apply(st: &mut AppState, id: &Uuid, change: Change) {
    let Some(link) = st.persisted.links.get_mut(id) else {
        return;
    };
    if let Some(n) = change.name {
        link.name = n;
    }
    if let Some(r) = change.rpc_url {
        link.rpc_url = r.trim_end_matches('/').to_string();
    }
    if let Some(d) = change.display_url {
        link.display_url = d;
    }
    if change.primary == Some(true) {
        let t = link.type_id.clone();
        st.set_primary_flag(&t, *id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AppState;

    fn link(id: u128, name: &str, rpc: &str, system: bool) -> Link {
        let l: Link = serde_json::from_value(serde_json::json!({
            "id": Uuid::from_u128(id), "typeId": "jira", "name": name, "displayUrl": rpc,
            "rpcUrl": rpc, "primary": false, "system": system,
        }))
        .unwrap();
        l
    }

    /// The link, the change, the line, whether the caller is a system administrator, the verdict.
    type Row<'a> = (&'a Link, Change, Line, bool, Result<(), Refusal>);

    fn state(links: &[Link]) -> AppState {
        let mut st = AppState::default();
        for l in links {
            st.persisted.links.insert(l.id, l.clone());
        }
        st
    }

    #[test]
    fn each_line_refuses_what_the_product_refuses() {
        let a = link(1, "A", "http://a", false);
        let b = link(2, "B", "http://b", false);
        let sys = link(3, "S", "http://s", true);
        let st = state(&[a.clone(), b.clone(), sys.clone()]);
        let rename = |n: &str| Change {
            name: Some(n.into()),
            ..Default::default()
        };
        let move_to = |u: &str| Change {
            rpc_url: Some(u.into()),
            ..Default::default()
        };
        let table: Vec<Row> = vec![
            (&a, rename("C"), Line::Classic, false, Ok(())),
            (
                &a,
                rename("B"),
                Line::Classic,
                false,
                Err(Refusal::NameTaken { other: "B".into() }),
            ),
            (&a, move_to("http://a/"), Line::Classic, false, Ok(())),
            (
                &a,
                move_to("http://z"),
                Line::Classic,
                false,
                Err(Refusal::RpcUrlFixed),
            ),
            (
                &sys,
                rename("T"),
                Line::Classic,
                false,
                Err(Refusal::SystemLink),
            ),
            (&sys, rename("T"), Line::Classic, true, Ok(())),
            (&sys, rename("T"), Line::V3, true, Err(Refusal::SystemLink)),
            (&a, move_to("http://z"), Line::V3, false, Ok(())),
            (
                &a,
                move_to("http://b/"),
                Line::V3,
                false,
                Err(Refusal::RpcUrlTaken { other: "B".into() }),
            ),
            (
                &a,
                move_to("/relative"),
                Line::V3,
                false,
                Err(Refusal::NotAbsolute {
                    field: "rpcUrl",
                    url: "/relative".into(),
                }),
            ),
            (
                &a,
                Change {
                    display_url: Some("http://b".into()),
                    ..Default::default()
                },
                Line::V3,
                false,
                Err(Refusal::DisplayUrlTaken { other: "B".into() }),
            ),
        ];
        for (i, (l, change, line, sysadmin, want)) in table.into_iter().enumerate() {
            assert_eq!(check(&st, l, &change, line, sysadmin), want, "row {i}");
        }
    }
}
