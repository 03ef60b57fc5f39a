//! Shared floor, kept by the ExternalApplication pipeline across passes (the Context owns it):
//! client secrets the application issued that are not stored yet (the Secret write failed after
//! the create or reset). The next passes write this one instead of asking for another: a
//! provider that shows a secret only once would otherwise need a new reset per retry, and a
//! rotation still pending would run again. Kept in memory only, one per ExternalApplication,
//! for at most [`KEEP_FOR`]; dropped once a pass ends with the Secret written.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::atlassian::Secret;

/// How long an unstored secret is offered to later passes. Past it, the provider is asked for a
/// new one (someone may have reset the secret in the application meanwhile).
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub(crate) struct Issued {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    /// The client's id (UUID) in the application.
    client: String,
    secret: Secret,
    rotated: bool,
    at: Instant,
}

/// A secret issued by an earlier pass and not stored yet.
#[derive(Clone, Debug)]
pub(crate) struct Kept {
    pub(crate) secret: Secret,
    /// Issued by a rotation (else by the create).
    pub(crate) rotated: bool,
}

impl Issued {
    /// Remembers the secret just issued for `client` of the resource `uid`.
    pub(crate) fn keep(&self, uid: &str, client: &str, secret: &Secret, rotated: bool) {
        if let Ok(mut m) = self.entries.lock() {
            m.insert(
                uid.to_string(),
                Entry {
                    client: client.to_string(),
                    secret: secret.clone(),
                    rotated,
                    at: Instant::now(),
                },
            );
        }
    }

    /// The secret kept for this resource's `client`, if it is fresh.
    pub(crate) fn get(&self, uid: &str, client: &str) -> Option<Kept> {
        self.get_at(uid, client, Instant::now())
    }

    fn get_at(&self, uid: &str, client: &str, now: Instant) -> Option<Kept> {
        let mut m = self.entries.lock().ok()?;
        let e = m.get(uid)?;
        if e.client != client || now.saturating_duration_since(e.at) > KEEP_FOR {
            m.remove(uid);
            return None;
        }
        Some(Kept {
            secret: e.secret.clone(),
            rotated: e.rotated,
        })
    }

    /// The Secret holds what it should: nothing is pending for this resource.
    pub(crate) fn forget(&self, uid: &str) {
        if let Ok(mut m) = self.entries.lock() {
            m.remove(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_for_its_client_while_fresh() {
        let issued = Issued::default();
        let s = Secret::from("s2");
        issued.keep("uid-1", "client-a", &s, true);
        let now = Instant::now();
        let got = issued.get_at("uid-1", "client-a", now).expect("kept");
        assert_eq!(got.secret.expose(), "s2");
        assert!(got.rotated);
        assert!(
            issued.get_at("uid-2", "client-a", now).is_none(),
            "other resource"
        );
        assert!(
            issued.get_at("uid-1", "client-b", now).is_none(),
            "another client: dropped"
        );
        assert!(
            issued.get_at("uid-1", "client-a", now).is_none(),
            "and gone"
        );
        issued.keep("uid-1", "client-a", &s, false);
        let later = now + KEEP_FOR + Duration::from_secs(1);
        assert!(
            issued.get_at("uid-1", "client-a", later).is_none(),
            "expired"
        );
        issued.keep("uid-1", "client-a", &s, false);
        issued.forget("uid-1");
        assert!(issued.get("uid-1", "client-a").is_none(), "forgotten");
    }
}
