//! One Atlassian client per (application URL, credentials, CA bundle), shared by every reconcile,
//! so the per-application concurrency limit holds across all links that touch an application.
//!
//! Bounded without forgetting what matters: the cache holds at most [`CAPACITY`] clients and
//! evicts the least recently used one at a time. Which credentials an application refused is
//! kept apart from the clients, per instance (its UID): a client rebuilt after an eviction
//! still never sends them. That memory goes only when the instance's credentials change (a new
//! Secret version) or the instance goes, so it is bounded by the number of instances and no
//! amount of other clients can make the operator retry a refused password (which could lock
//! the account behind a CAPTCHA).

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use crate::atlassian::{
    ApiError, AtlassianClient, CallMetrics, ClientConfig, CredentialHold, Credentials,
};

/// Clients kept at once.
pub const CAPACITY: usize = 1024;

pub struct ClientCache {
    timeout: Duration,
    max_concurrent: usize,
    capacity: usize,
    state: Mutex<State>,
    /// Where every client counts its calls.
    calls: CallMetrics,
    /// Every client only reads ([`ClientConfig::read_only`]).
    read_only: bool,
}

#[derive(Default)]
struct State {
    /// By key (see [`key`]): the client and when it was last handed out.
    clients: HashMap<u64, (AtlassianClient, u64)>,
    /// A counter that orders uses, for the eviction.
    tick: u64,
    /// Per instance UID: the key of its current credentials and whether they were refused.
    holds: HashMap<String, (u64, Arc<CredentialHold>)>,
    /// Per instance UID: the last admin client built for it and the URL it is for, for
    /// deletions after its Secret is gone.
    last_admin: HashMap<String, (String, AtlassianClient)>,
}

/// The cache key: hashes the secret values so a rotated password gets a new client; the hash
/// stays in memory only.
fn key(
    url: &str,
    credentials: &Credentials,
    ca: Option<&str>,
    secret_version: Option<&str>,
) -> u64 {
    let mut h = DefaultHasher::new();
    url.trim_end_matches('/').hash(&mut h);
    match credentials {
        Credentials::Anonymous => 0u8.hash(&mut h),
        Credentials::Basic { username, password } => {
            (1u8, username, password.expose()).hash(&mut h);
        }
        Credentials::Bearer { token } => (2u8, token.expose()).hash(&mut h),
        #[allow(unreachable_patterns)]
        _ => 3u8.hash(&mut h),
    }
    ca.hash(&mut h);
    if !credentials.is_anonymous() {
        secret_version.hash(&mut h);
    }
    h.finish()
}

impl ClientCache {
    pub fn new(timeout: Duration, max_concurrent: usize) -> Self {
        Self::with_capacity(timeout, max_concurrent, CAPACITY)
    }

    fn with_capacity(timeout: Duration, max_concurrent: usize, capacity: usize) -> Self {
        Self {
            timeout,
            max_concurrent,
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
            calls: CallMetrics::default(),
            read_only: false,
        }
    }

    /// Every client built only reads: a write is refused before it leaves the process.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Counts the calls of every client in `calls` (the operator's registry).
    pub fn with_call_metrics(mut self, calls: CallMetrics) -> Self {
        self.calls = calls;
        self
    }

    /// The client for these settings, built on first use. `secret_version` is the credentials
    /// Secret's resourceVersion and `owner` the UID of the instance the credentials are for:
    /// credentials an application refused are never sent again for that instance, and only a
    /// changed Secret (a new version) lets a client try once more.
    pub fn get(
        &self,
        url: &str,
        credentials: &Credentials,
        ca: Option<&str>,
        secret_version: Option<&str>,
        owner: Option<&str>,
    ) -> Result<AtlassianClient, ApiError> {
        let key = key(url, credentials, ca, secret_version);
        let mut state = self.state.lock().expect("client cache lock");
        state.tick += 1;
        let tick = state.tick;
        let hold = match owner {
            Some(owner) if !credentials.is_anonymous() => Some(state.hold_for(owner, key)),
            _ => None,
        };
        if let Some((client, used)) = state.clients.get_mut(&key) {
            *used = tick;
            return Ok(client.clone());
        }
        let base = Url::parse(url).map_err(|e| ApiError::InvalidConfig {
            detail: format!("invalid URL {url:?}: {e}"),
        })?;
        let mut config = ClientConfig::new(base)
            .with_credentials(credentials.clone())
            .with_timeout(self.timeout)
            .with_max_concurrent_requests(self.max_concurrent)
            .with_call_metrics(self.calls.clone());
        if let Some(pem) = ca {
            config = config.with_ca_bundle(pem);
        }
        if let Some(hold) = hold {
            config = config.with_hold(hold);
        }
        if self.read_only {
            config = config.read_only();
        }
        let client = AtlassianClient::new(config)?;
        if state.clients.len() >= self.capacity {
            // The least recently used goes; O(n) over a bounded map, only when a client is new.
            if let Some(oldest) = state
                .clients
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
            {
                state.clients.remove(&oldest);
            }
        }
        state.clients.insert(key, (client.clone(), tick));
        Ok(client)
    }

    /// Remembers the admin client of the instance `uid` at `url`.
    pub fn remember_admin(&self, uid: &str, url: &str, client: &AtlassianClient) {
        self.state
            .lock()
            .expect("client cache lock")
            .last_admin
            .insert(uid.to_string(), (url.to_string(), client.clone()));
    }

    /// The last admin client of the instance `uid`, if it was built for this `url`.
    pub fn last_admin(&self, uid: &str, url: &str) -> Option<AtlassianClient> {
        self.state
            .lock()
            .expect("client cache lock")
            .last_admin
            .get(uid)
            .filter(|(u, _)| u == url)
            .map(|(_, c)| c.clone())
    }

    /// The instance `uid` is gone: forget its admin client and refused credentials.
    pub fn forget(&self, uid: &str) {
        let mut state = self.state.lock().expect("client cache lock");
        state.holds.remove(uid);
        state.last_admin.remove(uid);
    }

    /// Keeps what is remembered for the instances in `live` only (after a relisting: instances
    /// that went while the watch was down send no deletion).
    pub fn retain(&self, live: &HashSet<String>) {
        let mut state = self.state.lock().expect("client cache lock");
        state.holds.retain(|uid, _| live.contains(uid));
        state.last_admin.retain(|uid, _| live.contains(uid));
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize) {
        let s = self.state.lock().expect("client cache lock");
        (s.clients.len(), s.holds.len(), s.last_admin.len())
    }
}

impl State {
    /// The hold of `owner`'s credentials `key`: the same as before while the key is; a new one
    /// when the credentials changed (shared with another instance using the very same ones).
    fn hold_for(&mut self, owner: &str, key: u64) -> Arc<CredentialHold> {
        if let Some((k, hold)) = self.holds.get(owner)
            && *k == key
        {
            return hold.clone();
        }
        let hold = self
            .holds
            .values()
            .find(|(k, _)| *k == key)
            .map(|(_, h)| h.clone())
            .unwrap_or_default();
        self.holds.insert(owner.to_string(), (key, hold.clone()));
        hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn admin() -> Credentials {
        Credentials::basic("admin", "wrong")
    }

    fn cache(capacity: usize) -> ClientCache {
        ClientCache::with_capacity(Duration::from_secs(5), 4, capacity)
    }

    fn anon(c: &ClientCache, i: usize) -> AtlassianClient {
        c.get(
            &format!("https://app{i}.example.com"),
            &Credentials::Anonymous,
            None,
            None,
            None,
        )
        .unwrap()
    }

    fn cached(c: &ClientCache, url: &str, creds: &Credentials, version: Option<&str>) -> bool {
        let k = key(url, creds, None, version);
        c.state.lock().unwrap().clients.contains_key(&k)
    }

    #[test]
    fn evicts_the_least_recently_used_one_at_a_time() {
        let c = cache(3);
        for i in 0..3 {
            anon(&c, i);
        }
        anon(&c, 0); // used again: app1 is now the oldest
        anon(&c, 3);
        assert_eq!(c.sizes().0, 3, "never more than the capacity");
        let a = Credentials::Anonymous;
        assert!(cached(&c, "https://app0.example.com", &a, None));
        assert!(!cached(&c, "https://app1.example.com", &a, None), "LRU");
        assert!(cached(&c, "https://app2.example.com", &a, None), "not all");
        assert!(cached(&c, "https://app3.example.com", &a, None));
    }

    #[test]
    fn last_admin_is_per_instance_uid_and_url_and_goes_with_the_instance() {
        let c = cache(8);
        let client = anon(&c, 0);
        c.remember_admin("uid-1", "https://app0.example.com", &client);
        assert!(c.last_admin("uid-1", "https://app0.example.com").is_some());
        assert!(
            c.last_admin("uid-1", "https://elsewhere.example.com")
                .is_none(),
            "a URL edit does not inherit the old client"
        );
        assert!(
            c.last_admin("uid-2", "https://app0.example.com").is_none(),
            "a recreated instance (new UID) does not inherit it"
        );
        c.forget("uid-1");
        assert!(c.last_admin("uid-1", "https://app0.example.com").is_none());
        c.remember_admin("uid-3", "https://app0.example.com", &client);
        c.retain(&HashSet::from(["uid-4".to_string()]));
        assert_eq!(c.sizes().2, 0, "shrinks to the live instances");
    }

    async fn refusing_server() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/1.0/authenticationinfo"))
            .respond_with(ResponseTemplate::new(401))
            .named("Basic-auth attempts")
            .mount(&server)
            .await;
        server
    }

    async fn attempts(server: &MockServer) -> usize {
        server.received_requests().await.unwrap_or_default().len()
    }

    /// The lock-out attack of finding 6: another tenant churns through more clients than the
    /// cache holds; the refused password is still not sent again.
    #[tokio::test]
    async fn a_refused_password_survives_2000_other_clients() {
        let server = refusing_server().await;
        let c = cache(CAPACITY);
        let url = server.uri();
        let get = || {
            c.get(&url, &admin(), None, Some("7"), Some("uid-a"))
                .unwrap()
        };
        let err = get().verify_admin().await.unwrap_err();
        assert_eq!(err.reason(), "CredentialsRejected");
        assert_eq!(attempts(&server).await, 1);
        for i in 0..2000 {
            anon(&c, i);
        }
        assert!(
            !cached(&c, &url, &admin(), Some("7")),
            "the refused client itself was evicted"
        );
        let again = get().verify_admin().await.unwrap_err();
        assert_eq!(again.reason(), "CredentialsRejected");
        assert!(again.to_string().contains("until the Secret changes"));
        assert_eq!(attempts(&server).await, 1, "not sent again");
        assert_eq!(c.sizes().1, 1, "one hold: one per instance");
    }

    #[tokio::test]
    async fn only_a_changed_secret_tries_once_more_and_the_memory_goes_with_the_instances() {
        let server = refusing_server().await;
        let c = cache(CAPACITY);
        let url = server.uri();
        let get = |version: &str, uid: &str| {
            c.get(&url, &admin(), None, Some(version), Some(uid))
                .unwrap()
        };
        get("7", "uid-a").verify_admin().await.unwrap_err();
        get("7", "uid-a").verify_admin().await.unwrap_err();
        assert_eq!(attempts(&server).await, 1);
        get("8", "uid-a").verify_admin().await.unwrap_err();
        get("8", "uid-a").verify_admin().await.unwrap_err();
        assert_eq!(attempts(&server).await, 2, "the new Secret version once");
        // Another instance with the very same credentials shares the memory.
        get("8", "uid-b").verify_admin().await.unwrap_err();
        assert_eq!(attempts(&server).await, 2);
        c.forget("uid-a");
        c.forget("uid-b");
        assert_eq!(c.sizes().1, 0, "shrinks when the instances go");
    }
}
