//! Leader election on a `coordination.k8s.io/v1` Lease, so several replicas can run and only one
//! reconciles. The holder renews the lease; a replica takes it over only once it has expired.
//! Updates carry the lease's resourceVersion, so two replicas can never both win a race.
//! A holder that cannot renew before the lease runs out stops (the process exits and is
//! restarted), rather than risk two active reconcilers.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct Config {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_every: Duration,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn expired(spec: &LeaseSpec, default: Duration) -> bool {
    let Some(renewed) = &spec.renew_time else {
        return true;
    };
    let secs = spec
        .lease_duration_seconds
        .map(|s| s.max(0) as u64)
        .map(Duration::from_secs)
        .unwrap_or(default);
    let age = k8s_openapi::jiff::Timestamp::now().duration_since(renewed.0);
    age.is_negative() || age.unsigned_abs() >= secs
}

/// Tries once to take or renew the lease. Ok(true) when this process holds it afterwards.
async fn try_acquire(api: &Api<Lease>, cfg: &Config) -> Result<bool, kube::Error> {
    let duration = cfg.lease_duration.as_secs() as i32;
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(duration),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let mine = holder == cfg.identity;
    if !mine && !holder.is_empty() && !expired(spec, cfg.lease_duration) {
        return Ok(false);
    }
    if !mine {
        spec.holder_identity = Some(cfg.identity.clone());
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.lease_duration_seconds = Some(duration);
    spec.renew_time = Some(now());
    // `replace` sends the resourceVersion we read: a concurrent change makes it fail with 409.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until this process holds the lease.
pub async fn acquire(client: &Client, cfg: &Config) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let mut announced = false;
    loop {
        match try_acquire(&api, cfg).await {
            Ok(true) => {
                info!(lease = %cfg.name, namespace = %cfg.namespace, identity = %cfg.identity, "became the leader");
                return;
            }
            Ok(false) if !announced => {
                info!(lease = %cfg.name, "another replica is the leader; standing by");
                announced = true;
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "leader election: cannot read or write the lease"),
        }
        tokio::time::sleep(cfg.renew_every).await;
    }
}

/// Renews the lease until it is lost; returns when it is (the caller must stop reconciling).
pub async fn hold(client: &Client, cfg: &Config) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.renew_every).await;
        match try_acquire(&api, cfg).await {
            Ok(true) => last_renewal = tokio::time::Instant::now(),
            Ok(false) => {
                warn!(lease = %cfg.name, "leadership lost to another replica");
                return;
            }
            Err(e) => {
                warn!(error = %e, "leader election: renewal failed");
                if last_renewal.elapsed() >= cfg.lease_duration {
                    warn!(lease = %cfg.name, "could not renew the lease in time; stepping down");
                    return;
                }
            }
        }
    }
}

/// Gives the lease up on shutdown so a standby replica takes over at once.
pub async fn release(client: &Client, cfg: &Config) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    if let Ok(Some(mut lease)) = api.get_opt(&cfg.name).await
        && let Some(spec) = lease.spec.as_mut()
        && spec.holder_identity.as_deref() == Some(cfg.identity.as_str())
    {
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        if let Err(e) = api.replace(&cfg.name, &PostParams::default(), &lease).await {
            warn!(error = %e, "could not release the lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry() {
        let fresh = LeaseSpec {
            renew_time: Some(now()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        };
        assert!(!expired(&fresh, Duration::from_secs(15)));
        let old = LeaseSpec {
            renew_time: Some(MicroTime(
                k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap(),
            )),
            lease_duration_seconds: Some(15),
            ..Default::default()
        };
        assert!(expired(&old, Duration::from_secs(15)));
        assert!(
            expired(&LeaseSpec::default(), Duration::from_secs(15)),
            "never renewed"
        );
    }
}
