//! One Atlassian client per (application URL, credentials, CA bundle), shared by every reconcile,
//! so the per-application concurrency limit holds across all links that touch an application.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use url::Url;

use crate::atlassian::{ApiError, AtlassianClient, ClientConfig, Credentials};

pub struct ClientCache {
    timeout: Duration,
    max_concurrent: usize,
    clients: Mutex<HashMap<u64, AtlassianClient>>,
    /// Last admin client per instance (`namespace/name`), for deletions after its Secret is gone.
    last_admin: Mutex<HashMap<String, AtlassianClient>>,
}

impl ClientCache {
    pub fn new(timeout: Duration, max_concurrent: usize) -> Self {
        Self {
            timeout,
            max_concurrent,
            clients: Mutex::new(HashMap::new()),
            last_admin: Mutex::new(HashMap::new()),
        }
    }

    /// The client for these settings, built on first use. `secret_version` is the credentials
    /// Secret's resourceVersion: a client that had its credentials rejected never sends them
    /// again, and only a changed Secret (a new version) gets a fresh client that tries once more.
    pub fn get(
        &self,
        url: &str,
        credentials: &Credentials,
        ca: Option<&str>,
        secret_version: Option<&str>,
    ) -> Result<AtlassianClient, ApiError> {
        // The key hashes the secret values so a rotated password gets a new client; the hash
        // stays in memory only.
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
        let key = h.finish();
        let mut clients = self.clients.lock().expect("client cache lock");
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let base = Url::parse(url).map_err(|e| ApiError::InvalidConfig {
            detail: format!("invalid URL {url:?}: {e}"),
        })?;
        let mut config = ClientConfig::new(base)
            .with_credentials(credentials.clone())
            .with_timeout(self.timeout)
            .with_max_concurrent_requests(self.max_concurrent);
        if let Some(pem) = ca {
            config = config.with_ca_bundle(pem);
        }
        let client = AtlassianClient::new(config)?;
        // Bounded: stale entries (old passwords, old URLs) are dropped wholesale.
        if clients.len() > 1024 {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    pub fn remember_admin(&self, instance: &str, client: &AtlassianClient) {
        self.last_admin
            .lock()
            .expect("client cache lock")
            .insert(instance.to_string(), client.clone());
    }

    pub fn last_admin(&self, instance: &str) -> Option<AtlassianClient> {
        self.last_admin
            .lock()
            .expect("client cache lock")
            .get(instance)
            .cloned()
    }
}
