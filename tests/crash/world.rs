//! The crash suites' world: one namespace, simulated applications seeded with links the operator
//! does not own, a model of what the cluster and the applications must hold, and the invariants
//! checked against both after each round.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use applink_operator::crd::{ApplicationInstance, ApplicationLink, LinkClaim};
use kube::Api;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::e2e::{self, Env, Sim};

/// The application every other one is seeded with a link to (and holds a consumer of). It is
/// never declared as an ApplicationInstance: the operator must never send it anything, nor write
/// to those links.
pub const FOREIGN: &str = "foreign";

/// Every simulated application of a world: `(name, product)`. `confluence-copy` serves
/// Confluence's application id (same seed) at another address, for relocation.
const APPS: &[(&str, &str)] = &[
    ("jira", "jira"),
    ("jira2", "jira"),
    ("bitbucket", "bitbucket"),
    ("confluence", "confluence"),
    ("bamboo", "bamboo"),
    (FOREIGN, "jira"),
];
pub const COPY: &str = "confluence-copy";

fn sim_config() -> String {
    let apps = APPS
        .iter()
        .fold(e2e::SimConfig::default(), |c, (n, p)| c.app(n, p));
    apps.app(COPY, "confluence")
        .with(
            "seed: confluence
display_name: confluence",
        )
        .yaml()
}

/// An ApplicationInstance as the model has it.
#[derive(Clone, Debug)]
pub struct Inst {
    /// The simulated application serving it now (changes on relocation).
    pub app: String,
    pub type_: &'static str,
    pub credentials: bool,
}

#[derive(Clone, Debug)]
pub struct Link {
    pub source: String,
    pub target: String,
}

/// What the cluster and the applications must hold once the operator has converged.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub instances: BTreeMap<String, Inst>,
    pub links: BTreeMap<String, Link>,
}

impl Model {
    fn two_way(&self, l: &Link) -> bool {
        self.instances[&l.target].credentials
    }
}

pub struct World {
    pub env: Env,
    pub sim: Sim,
    pub model: Model,
    /// Applications ever declared as an ApplicationInstance in this world.
    declared: BTreeSet<String>,
    /// Applications stopped (moved away): not checked any more.
    stopped: BTreeSet<String>,
    /// Each seeded application's foreign link as seeded (the control API's view).
    foreign_links: BTreeMap<String, Value>,
    /// Consumer-info requests the seeding made to the foreign application (the only requests
    /// it may ever see).
    foreign_requests: u64,
    /// Each application's link ends (not foreign) when the current phase began, to count the
    /// creates the phase needs.
    before: BTreeMap<String, BTreeSet<String>>,
    /// Hand-made ends no ApplicationLink has adopted yet: app -> peer ids. They stay.
    hand_made: BTreeMap<String, BTreeSet<String>>,
}

fn level(cfg: &Value) -> &'static str {
    let flag = |k: &str| cfg[k].as_bool().unwrap_or(false);
    if !flag("enabled") {
        "disabled"
    } else if flag("twoLoImpersonationEnabled") {
        "impersonation"
    } else if flag("twoLoEnabled") {
        "default"
    } else {
        "three_lo_only"
    }
}

fn trim(u: &str) -> &str {
    u.trim_end_matches('/')
}

impl World {
    /// A namespace, the simulator, and a foreign link (with its incoming consumer) in every
    /// application the operator may administer.
    pub async fn new(prefix: &str) -> World {
        let env = e2e::env(prefix).await;
        let sim = Sim::start(&sim_config());
        let mut w = World {
            env,
            sim,
            model: Model::default(),
            declared: BTreeSet::new(),
            stopped: BTreeSet::new(),
            foreign_links: BTreeMap::new(),
            foreign_requests: 0,
            before: BTreeMap::new(),
            hand_made: BTreeMap::new(),
        };
        let foreign = w.sim.app(FOREIGN).clone();
        for (app, _) in APPS.iter().filter(|(a, _)| *a != FOREIGN) {
            let body = json!({"id": foreign.id, "typeId": "jira", "name": "foreign-jira",
                "rpcUrl": foreign.base_url, "incoming": "default", "outgoing": "default"});
            let view = w.sim.control(app, Method::POST, "links", Some(body)).await;
            w.foreign_requests += 1;
            w.foreign_links.insert(app.to_string(), view);
        }
        w
    }

    pub fn ns(&self) -> &str {
        &self.env.ns
    }

    fn id(&self, app: &str) -> String {
        self.sim.app(app).id.clone()
    }

    /// Declares (or re-declares) an instance as the model has it.
    pub fn apply_instance(&mut self, name: &str, type_: &'static str, credentials: bool) {
        let app = self
            .model
            .instances
            .get(name)
            .map(|i| i.app.clone())
            .unwrap_or_else(|| name.to_string());
        e2e::apply(
            self.ns(),
            &e2e::instance_yaml(name, self.sim.app(&app), type_, credentials),
        );
        self.declared.insert(app.clone());
        self.model.instances.insert(
            name.to_string(),
            Inst {
                app,
                type_,
                credentials,
            },
        );
    }

    pub fn apply_link(&mut self, name: &str, source: &str, target: &str, adopt: bool) {
        let mut y = e2e::link_yaml(name, source, target, "OAuth");
        if adopt {
            y.push_str("  adoptionPolicy: Adopt\n");
        }
        e2e::apply(self.ns(), &y);
        if adopt {
            // From now on the link owns the hand-made ends it names.
            let (s, t) = (
                self.model.instances[source].app.clone(),
                self.model.instances[target].app.clone(),
            );
            let (sid, tid) = (self.id(&s), self.id(&t));
            self.hand_made.entry(s).or_default().remove(&tid);
            self.hand_made.entry(t).or_default().remove(&sid);
        }
        self.model.links.insert(
            name.to_string(),
            Link {
                source: source.into(),
                target: target.into(),
            },
        );
    }

    pub fn delete_link(&mut self, name: &str) {
        e2e::delete(self.ns(), "applink", name);
        self.model.links.remove(name);
    }

    /// Gives a declared instance administrator credentials (a one-way link to it becomes
    /// two-way).
    pub fn give_credentials(&mut self, name: &str) {
        let type_ = self.model.instances[name].type_;
        self.apply_instance(name, type_, true);
    }

    /// A hand-made link in `app` to `peer` (not made by the operator), through the control API
    /// so that it is in no request log; its display URL differs from the peer's, so adopting it
    /// changes it.
    pub async fn hand_made_link(&mut self, app: &str, peer: &str, type_id: &str) {
        let p = self.sim.app(peer).clone();
        let display = p.base_url.replace("127.0.0.1", "localhost");
        let body = json!({"id": p.id, "typeId": type_id, "name": format!("by hand to {peer}"),
            "rpcUrl": p.base_url, "displayUrl": display});
        self.sim
            .control(app, Method::POST, "links", Some(body))
            .await;
        self.hand_made.entry(app.into()).or_default().insert(p.id);
    }

    /// The application behind instance `name` moves to `to` with its data: the old address
    /// stops answering, its links (foreign ones too) are copied to `to` as a restored database
    /// would hold them, and the instance's URL is changed.
    pub async fn relocate(&mut self, name: &str, to: &str) {
        let from = self.model.instances[name].app.clone();
        self.sim.control(&from, Method::POST, "stop", None).await;
        self.stopped.insert(from.clone());
        let foreign_id = self.id(FOREIGN);
        // The foreign link first, as it was made first (it keeps its primary flag).
        let mut links: Vec<Value> = self.sim.links(&from).await.into_values().collect();
        links.sort_by_key(|l| l["id"].as_str() != Some(foreign_id.as_str()));
        let before = self.before.entry(to.to_string()).or_default();
        for l in links {
            let body = json!({"id": l["id"], "typeId": l["typeId"], "name": l["name"],
                "rpcUrl": l["rpcUrl"], "displayUrl": l["displayUrl"], "primary": l["primary"],
                "system": l["system"], "incoming": level(&l["oauth"]["incoming"]),
                "outgoing": level(&l["oauth"]["outgoing"])});
            let view = self
                .sim
                .control(to, Method::POST, "links", Some(body))
                .await;
            let id = l["id"].as_str().unwrap_or_default().to_string();
            if id == foreign_id {
                if level(&l["oauth"]["incoming"]) != "disabled" {
                    self.foreign_requests += 1;
                }
                self.foreign_links.insert(to.to_string(), view);
            } else {
                before.insert(id);
            }
        }
        let inst = self.model.instances[name].clone();
        self.model.instances.get_mut(name).unwrap().app = to.to_string();
        // The old address only refuses connections, which proves no move: confirmed, as an
        // administrator who decommissioned it would.
        e2e::apply(
            self.ns(),
            &e2e::moved_instance_yaml(
                name,
                self.sim.app(to),
                inst.type_,
                inst.credentials,
                self.sim.app(&from),
            ),
        );
        self.declared.insert(to.to_string());
    }

    /// The applications still running that the checks look at.
    fn live_apps(&self) -> Vec<String> {
        APPS.iter()
            .map(|(a, _)| a.to_string())
            .chain([COPY.to_string()])
            .filter(|a| a != FOREIGN && !self.stopped.contains(a))
            .collect()
    }

    /// The application serving an application id now.
    fn app_of_id(&self, id: &str) -> Option<String> {
        self.model
            .instances
            .values()
            .map(|i| i.app.clone())
            .find(|a| self.sim.app(a).id == id)
    }

    /// The ends the model says each application holds: app -> peer ids.
    fn expected_ends(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut ends = self.hand_made.clone();
        for l in self.model.links.values() {
            let (s, t) = (
                &self.model.instances[&l.source].app,
                &self.model.instances[&l.target].app,
            );
            ends.entry(s.clone()).or_default().insert(self.id(t));
            if self.model.two_way(l) {
                ends.entry(t.clone()).or_default().insert(self.id(s));
            }
        }
        ends
    }

    /// An application's links other than the foreign one: id -> the control API's view.
    async fn own_ends(&self, app: &str) -> BTreeMap<String, Value> {
        let foreign = self.id(FOREIGN);
        self.sim
            .links(app)
            .await
            .into_iter()
            .filter(|(id, _)| *id != foreign)
            .collect()
    }

    /// Whether the operator has converged on the model: every instance Ready at its URL, every
    /// link in it Ready (Working, or
    /// OneWayLink for a one-way link) for its current generation, no other link left, and every
    /// application holding exactly the ends the model gives it.
    pub async fn converged(&self) -> Result<(), String> {
        let instances = Api::<ApplicationInstance>::namespaced(self.env.client.clone(), self.ns());
        for (name, inst) in &self.model.instances {
            let i = instances
                .get(name)
                .await
                .map_err(|e| format!("instance {name}: {e}"))?;
            let st = i.status.clone().unwrap_or_default();
            let ready = e2e::condition(&st.conditions, "Ready").map(|c| c.0);
            let url = st.url.as_deref().map(trim).map(str::to_string);
            if st.observed_generation != i.metadata.generation
                || ready.as_deref() != Some("True")
                || url.as_deref() != Some(self.sim.app(&inst.app).base_url.as_str())
            {
                return Err(format!(
                    "instance {name}: Ready {ready:?} at {url:?} (generation {:?}, observed {:?})",
                    i.metadata.generation, st.observed_generation
                ));
            }
        }
        let api = Api::<ApplicationLink>::namespaced(self.env.client.clone(), self.ns());
        let list = api
            .list(&Default::default())
            .await
            .map_err(|e| format!("listing links: {e}"))?;
        let names: BTreeSet<String> = list
            .items
            .iter()
            .filter_map(|l| l.metadata.name.clone())
            .collect();
        let want: BTreeSet<String> = self.model.links.keys().cloned().collect();
        if names != want {
            return Err(format!("links {names:?}, want {want:?}"));
        }
        for l in &list.items {
            let name = l.metadata.name.clone().unwrap_or_default();
            let reason = if self.model.two_way(&self.model.links[&name]) {
                "Working"
            } else {
                "OneWayLink"
            };
            let st = l.status.clone().unwrap_or_default();
            let ready = e2e::condition(&st.conditions, "Ready");
            let current = st.observed_generation == l.metadata.generation;
            if !current
                || ready.as_ref().map(|c| (c.0.as_str(), c.1.as_str())) != Some(("True", reason))
            {
                return Err(format!(
                    "{name}: Ready {ready:?}, want True/{reason} (current: {current})"
                ));
            }
        }
        // A link's status does not change when an instance moves until the operator acts, so
        // the ends' URLs are part of convergence, not only of the checks.
        let expected = self.expected_ends();
        for app in self.live_apps() {
            let ends = self.own_ends(&app).await;
            let have: BTreeSet<String> = ends.keys().cloned().collect();
            let want = expected.get(&app).cloned().unwrap_or_default();
            if have != want {
                return Err(format!("{app} holds ends {have:?}, want {want:?}"));
            }
            for (id, view) in &ends {
                let rpc = trim(view["rpcUrl"].as_str().unwrap_or_default()).to_string();
                let peer = self
                    .app_of_id(id)
                    .ok_or_else(|| format!("{app}: end {id} points at no declared application"))?;
                if rpc != self.sim.app(&peer).base_url {
                    return Err(format!(
                        "{app}: end {id} points at {rpc}, not at {peer}'s {}",
                        self.sim.app(&peer).base_url
                    ));
                }
            }
        }
        Ok(())
    }

    /// Polls [`converged`](Self::converged) until it holds, or says what was last wrong.
    pub async fn wait_converged(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let last = match self.converged().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(format!("not converged within {within:?}: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every invariant, on the cluster and in the applications, once converged:
    /// - every link Ready or gone, and each application holding exactly the model's ends;
    /// - every end in an application claimed by a live ApplicationLink (no end owned by nobody)
    ///   and pointing at its peer's current URL, no second link to the same peer (no duplicate);
    /// - each end created at most once: the creates in the request logs since the phase began
    ///   are exactly the ends that were missing then;
    /// - the foreign links and consumers exactly as seeded, no write request naming the
    ///   foreign application in any log, and no request at all to an application never declared
    ///   as an ApplicationInstance (beyond the seeding's own).
    pub async fn check(&self) -> Result<(), String> {
        self.converged().await?;
        // Claims: status names exactly the ends the model gives each link, each in the
        // application it lives in.
        let api = Api::<ApplicationLink>::namespaced(self.env.client.clone(), self.ns());
        for (name, l) in &self.model.links {
            let obj = api.get(name).await.map_err(|e| format!("{name}: {e}"))?;
            let claims = obj.status.and_then(|st| st.claims).unwrap_or_default();
            let (s, t) = (
                &self.model.instances[&l.source].app,
                &self.model.instances[&l.target].app,
            );
            let end = |lives_in: &str, points_at: &str| LinkClaim {
                application_id: self.id(lives_in),
                link_id: self.id(points_at),
            };
            let want_source = Some(end(s, t));
            let want_target = self.model.two_way(l).then(|| end(t, s));
            if claims.source != want_source || claims.target != want_target {
                return Err(format!(
                    "{name}: claims source {:?} target {:?}, want {want_source:?} {want_target:?}",
                    claims.source, claims.target
                ));
            }
        }
        let expected = self.expected_ends();
        for app in self.live_apps() {
            let ends = self.own_ends(&app).await;
            let mut peers = BTreeSet::new();
            for view in ends.values() {
                let rpc = trim(view["rpcUrl"].as_str().unwrap_or_default()).to_string();
                if !peers.insert(rpc.clone()) {
                    return Err(format!("{app}: two links to {rpc} (a duplicate)"));
                }
            }
            let want = expected.get(&app).cloned().unwrap_or_default();
            let before = self.before.get(&app).cloned().unwrap_or_default();
            let creates = want.difference(&before).count();
            let log = self.sim.control(&app, Method::GET, "log", None).await;
            let entries = log["entries"].as_array().cloned().unwrap_or_default();
            if log["total"].as_u64() != Some(entries.len() as u64) {
                return Err(format!(
                    "{app}: request log truncated ({} of {}), the checks cannot see every request",
                    entries.len(),
                    log["total"]
                ));
            }
            let made = entries
                .iter()
                .filter(|e| {
                    e["method"] == "PUT"
                        && e["route"] == "/rest/applinks/2.0/applicationlink"
                        && e["status"].as_u64().is_some_and(|s| s < 300)
                })
                .count();
            if made != creates {
                return Err(format!(
                    "{app}: {made} ends created this phase, {creates} were missing"
                ));
            }
            self.check_foreign(&app, &entries).await?;
            let from_operator = entries.iter().filter(|e| !from_an_application(e)).count();
            if !self.declared.contains(&app) && from_operator > 0 {
                return Err(format!(
                    "{app} was never declared as an ApplicationInstance, yet got {} requests: {:?}",
                    entries.len(),
                    entries.first()
                ));
            }
        }
        // Nothing from the operator; the seeding's consumer-info fetches as made. A declared
        // application may still call its peers when asked for a link's status (the instance
        // inventory asks, as the products' status page does): those calls are the application's.
        let foreign = self.sim.log_entries(FOREIGN).await;
        let seeding = foreign
            .iter()
            .filter(|e| {
                e["method"] == "GET"
                    && e["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/oauth/consumer-info"))
            })
            .count() as u64;
        let by_operator: Vec<&Value> = foreign.iter().filter(|e| !from_an_application(e)).collect();
        if !by_operator.is_empty() || seeding != self.foreign_requests {
            return Err(format!(
                "the foreign application (never declared) got {} requests from the operator, and {seeding} consumer-info fetches where the seeding made {}: {:?}",
                by_operator.len(),
                self.foreign_requests,
                by_operator.first().or(foreign.last().as_ref())
            ));
        }
        Ok(())
    }

    /// The foreign link of `app` is as seeded and no logged write names it.
    async fn check_foreign(&self, app: &str, entries: &[Value]) -> Result<(), String> {
        let Some(seeded) = self.foreign_links.get(app) else {
            return Ok(());
        };
        let foreign = self.id(FOREIGN);
        let now = self.sim.links(app).await.remove(&foreign);
        if now.as_ref() != Some(seeded) {
            return Err(format!(
                "{app}: the foreign link changed: {seeded} -> {now:?}"
            ));
        }
        if let Some(w) = entries.iter().find(|e| {
            !matches!(e["method"].as_str(), Some("GET" | "HEAD"))
                && e["path"].as_str().is_some_and(|p| p.contains(&foreign))
        }) {
            return Err(format!("{app}: a write touched the foreign link: {w}"));
        }
        Ok(())
    }

    /// Ends a phase: checks every invariant, then clears the request logs (not the foreign
    /// application's) and records the ends as the next phase's starting point.
    pub async fn phase_done(&mut self) -> Result<(), String> {
        self.check().await?;
        self.begin_phase().await;
        Ok(())
    }

    /// Clears the logs and records the ends the next phase starts from.
    pub async fn begin_phase(&mut self) {
        for app in self.live_apps() {
            self.sim.control(&app, Method::DELETE, "log", None).await;
            let ends = self.own_ends(&app).await.into_keys().collect();
            self.before.insert(app, ends);
        }
    }
}

/// A small deterministic generator (splitmix64): the random kill moments come from a printed
/// seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// A request one simulated application made to another (its peer calls carry the simulator's
/// own User-Agent, or none), not one of the operator's (`applink-operator/<version> (<pod>)`).
fn from_an_application(entry: &Value) -> bool {
    !entry["user_agent"]
        .as_str()
        .is_some_and(|ua| ua.starts_with("applink-operator/"))
}
