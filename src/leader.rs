//! Leader election on a `coordination.k8s.io/v1` Lease, so several replicas can run and only one
//! reconciles.
//!
//! Safety rests on three durations, `retry period < renew deadline < lease duration`:
//! - the holder renews every retry period; every Lease request gives up after half the renew
//!   deadline (and never after the deadline itself), so a partition cannot hang it;
//! - a holder that has not renewed within the renew deadline (counted from when its last
//!   successful renewal was *sent*) steps down: the caller cancels in-flight work at once;
//! - a standby takes the lease only once it has seen the lease unchanged for the lease duration
//!   on its own monotonic clock (as client-go does). The holder's timestamps are never compared
//!   with the standby's clock, so clock skew (a renew time in the future, or far in the past)
//!   neither hands the lease over early nor keeps it from being taken.
//!
//! The standby's wait starts no earlier than the holder's last renewal was sent, so it ends at
//! least `lease duration − renew deadline` after the old holder stopped sending.
//! Updates carry the lease's resourceVersion, so two replicas can never both win a race.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::time::Instant;
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct Config {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// How long a standby waits, after it last saw the lease change, before it takes it over.
    pub lease_duration: Duration,
    /// How long a holder may go without a successful renewal before it stops leading.
    pub renew_deadline: Duration,
    /// Pause between two attempts to take or renew the lease.
    pub retry_period: Duration,
}

impl Config {
    /// Refuses durations that would let two replicas lead at once, saying what to change.
    pub fn validate(&self) -> Result<(), String> {
        let (lease, renew, retry) = (self.lease_duration, self.renew_deadline, self.retry_period);
        if retry.is_zero() {
            return Err("--leader-election-retry-period must be more than 0".into());
        }
        if renew <= retry {
            return Err(format!(
                "--leader-election-renew-deadline ({}) must be longer than --leader-election-retry-period ({}), so that a leader gets more than one try to renew",
                humantime::format_duration(renew),
                humantime::format_duration(retry)
            ));
        }
        if lease <= renew {
            return Err(format!(
                "--leader-election-lease-duration ({}) must be longer than --leader-election-renew-deadline ({}): a leader that cannot renew must stop before a standby may take over (e.g. renew deadline = 2/3 of the lease duration)",
                humantime::format_duration(lease),
                humantime::format_duration(renew)
            ));
        }
        Ok(())
    }

    /// Bound of one Lease request: a hung connection cannot use up the renew deadline alone.
    fn request_timeout(&self) -> Duration {
        self.renew_deadline / 2
    }

    /// The lease duration as the Lease records it (whole seconds, rounded up).
    fn lease_seconds(&self) -> i32 {
        let d = self.lease_duration;
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        i32::try_from(secs).unwrap_or(i32::MAX)
    }
}

/// What a replica may do with the lease it has just read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// This replica holds it: renew.
    Renew,
    /// Nobody holds it, or its holder has not renewed it for a whole lease duration: take it.
    Take,
    /// Another replica holds it.
    Wait,
}

/// Decides from the lease's holder and how long this replica has seen the lease unchanged; the
/// holder's timestamps play no part (another machine's clock).
fn verdict(spec: &LeaseSpec, me: &str, unchanged_for: Duration, default: Duration) -> Verdict {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == me {
        return Verdict::Renew;
    }
    if holder.is_empty() {
        return Verdict::Take;
    }
    let lease = spec
        .lease_duration_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(default);
    if unchanged_for >= lease {
        Verdict::Take
    } else {
        Verdict::Wait
    }
}

/// The last version of the lease this replica saw, and since when (its own monotonic clock).
#[derive(Clone, Debug, PartialEq)]
struct Observed {
    version: String,
    since: Instant,
}

/// A new version of the lease restarts the wait; the same version keeps its first sighting.
fn observe(previous: Option<Observed>, version: &str, now: Instant) -> Observed {
    match previous {
        Some(o) if o.version == version => o,
        _ => Observed {
            version: version.to_string(),
            since: now,
        },
    }
}

/// How one attempt to renew ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Attempt {
    Renewed,
    /// Another replica holds the lease now.
    Taken,
    /// The API server did not answer (in time), or refused.
    Failed,
}

/// Whether the holder keeps leading after an attempt, `since_renewal` after its last successful
/// renewal was sent.
fn keeps_leading(
    attempt: &Attempt,
    since_renewal: Duration,
    renew_deadline: Duration,
) -> Result<(), &'static str> {
    match attempt {
        Attempt::Renewed => Ok(()),
        Attempt::Taken => Err("another replica holds the lease"),
        Attempt::Failed if since_renewal >= renew_deadline => {
            Err("could not renew the lease within the renew deadline")
        }
        Attempt::Failed => Ok(()),
    }
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// One replica's side of the election.
pub struct Elector {
    api: Api<Lease>,
    cfg: Config,
    observed: Option<Observed>,
}

#[derive(Debug)]
enum Failure {
    Kube(kube::Error),
    TimedOut,
    /// The lease changed between our read and our write (409): read it again.
    Conflict,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Kube(e) => write!(f, "{e}"),
            Failure::TimedOut => f.write_str("the API server did not answer in time"),
            Failure::Conflict => f.write_str("the lease changed meanwhile"),
        }
    }
}

impl Elector {
    pub fn new(client: &Client, cfg: Config) -> Self {
        Elector {
            api: Api::namespaced(client.clone(), &cfg.namespace),
            cfg,
            observed: None,
        }
    }

    /// One Lease request, bounded by the request timeout and by `deadline`.
    async fn call<T>(
        &self,
        deadline: Option<Instant>,
        fut: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Failure> {
        let mut until = Instant::now() + self.cfg.request_timeout();
        if let Some(d) = deadline {
            until = until.min(d);
        }
        match tokio::time::timeout_at(until, fut).await {
            Ok(Err(kube::Error::Api(s))) if s.code == 409 => Err(Failure::Conflict),
            Ok(r) => r.map_err(Failure::Kube),
            Err(_) => Err(Failure::TimedOut),
        }
    }

    /// Tries once to take or renew the lease: Ok(true) when this process holds it afterwards,
    /// Ok(false) when another replica does, Err(Conflict) when it changed between read and write.
    async fn try_acquire(&mut self, deadline: Option<Instant>) -> Result<bool, Failure> {
        let cfg = self.cfg.clone();
        let Some(mut lease) = self.call(deadline, self.api.get_opt(&cfg.name)).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(cfg.identity.clone()),
                    lease_duration_seconds: Some(cfg.lease_seconds()),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            let params = PostParams::default();
            self.call(deadline, self.api.create(&params, &lease))
                .await?;
            return Ok(true);
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let seen = observe(self.observed.take(), &version, Instant::now());
        let unchanged_for = seen.since.elapsed();
        self.observed = Some(seen);
        let spec = lease.spec.get_or_insert_with(Default::default);
        let verdict = verdict(spec, &cfg.identity, unchanged_for, cfg.lease_duration);
        if verdict == Verdict::Wait {
            return Ok(false);
        }
        if verdict == Verdict::Take {
            spec.holder_identity = Some(cfg.identity.clone());
            spec.acquire_time = Some(now());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.lease_duration_seconds = Some(cfg.lease_seconds());
        spec.renew_time = Some(now());
        // `replace` sends the resourceVersion we read: a concurrent change makes it fail with 409.
        // For a holder that is not yet a loss (its own earlier write may have landed after it
        // gave up waiting): the next read tells.
        let params = PostParams::default();
        self.call(deadline, self.api.replace(&cfg.name, &params, &lease))
            .await?;
        Ok(true)
    }

    /// Waits until this process holds the lease; returns when the winning attempt was sent
    /// (the start of the first renew deadline).
    pub async fn acquire(&mut self) -> Instant {
        let mut announced = false;
        loop {
            let sent = Instant::now();
            match self.try_acquire(None).await {
                Ok(true) => {
                    info!(lease = %self.cfg.name, namespace = %self.cfg.namespace, identity = %self.cfg.identity, "became the leader");
                    return sent;
                }
                Ok(false) if !announced => {
                    info!(lease = %self.cfg.name, "another replica is the leader; standing by");
                    announced = true;
                }
                Ok(false) | Err(Failure::Conflict) => {}
                Err(e) => warn!(error = %e, "leader election: cannot read or write the lease"),
            }
            tokio::time::sleep(self.cfg.retry_period).await;
        }
    }

    /// Renews the lease until it is lost; returns why when it is. Returns at the renew deadline
    /// at the latest, however the API server behaves (the caller must stop at once).
    pub async fn hold(&mut self, mut renewed: Instant) -> &'static str {
        loop {
            let deadline = renewed + self.cfg.renew_deadline;
            // Never sleep past the deadline: stepping down late is what lets two replicas lead.
            tokio::time::sleep_until((Instant::now() + self.cfg.retry_period).min(deadline)).await;
            let sent = Instant::now();
            let attempt = if sent >= deadline {
                Attempt::Failed
            } else {
                match self.try_acquire(Some(deadline)).await {
                    Ok(true) => Attempt::Renewed,
                    Ok(false) => Attempt::Taken,
                    Err(e) => {
                        warn!(error = %e, "leader election: renewal failed");
                        Attempt::Failed
                    }
                }
            };
            if attempt == Attempt::Renewed {
                renewed = sent;
            }
            if let Err(why) = keeps_leading(&attempt, renewed.elapsed(), self.cfg.renew_deadline) {
                return why;
            }
        }
    }

    /// Gives the lease up on shutdown so a standby replica takes over at once.
    pub async fn release(&self) {
        let get = self.call(None, self.api.get_opt(&self.cfg.name)).await;
        if let Ok(Some(mut lease)) = get
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.cfg.identity.as_str())
        {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            let params = PostParams::default();
            let put = self.api.replace(&self.cfg.name, &params, &lease);
            if let Err(e) = self.call(None, put).await {
                warn!(error = %e, "could not release the lease");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Option<MicroTime> {
        Some(MicroTime(
            k8s_openapi::jiff::Timestamp::from_second(second).unwrap(),
        ))
    }

    #[test]
    fn verdict_rests_on_observed_time_only() {
        let far_future = at(4_000_000_000); // year 2096: a holder whose clock runs ahead
        let long_ago = at(1_000);
        let s = Duration::from_secs;
        // (holder, leaseDurationSeconds, renewTime, seen unchanged for, verdict)
        let table = [
            (
                Some("me"),
                Some(15),
                long_ago.clone(),
                s(100),
                Verdict::Renew,
            ),
            (
                Some("me"),
                Some(15),
                far_future.clone(),
                s(0),
                Verdict::Renew,
            ),
            (None, Some(15), far_future.clone(), s(0), Verdict::Take),
            (Some(""), Some(1), None, s(0), Verdict::Take),
            // A renew time in the future is a live holder, not an expired lease.
            (Some("b"), Some(15), far_future.clone(), s(3), Verdict::Wait),
            (
                Some("b"),
                Some(15),
                far_future.clone(),
                s(15),
                Verdict::Take,
            ),
            // An old renew time does not hand the lease over before this replica has watched
            // it stand still for a whole lease duration (a standby that just started).
            (Some("b"), Some(15), long_ago.clone(), s(0), Verdict::Wait),
            (Some("b"), Some(15), long_ago.clone(), s(14), Verdict::Wait),
            (Some("b"), Some(15), None, s(15), Verdict::Take),
            // The holder's recorded duration counts; the default only when it records none.
            (Some("b"), Some(30), long_ago.clone(), s(20), Verdict::Wait),
            (Some("b"), None, long_ago.clone(), s(9), Verdict::Wait),
            (Some("b"), None, long_ago, s(10), Verdict::Take),
        ];
        for (holder, secs, renew, unchanged, want) in table {
            let spec = LeaseSpec {
                holder_identity: holder.map(str::to_string),
                lease_duration_seconds: secs,
                renew_time: renew,
                ..Default::default()
            };
            assert_eq!(
                verdict(&spec, "me", unchanged, s(10)),
                want,
                "{holder:?} {secs:?} unchanged for {unchanged:?}"
            );
        }
    }

    #[test]
    fn a_new_version_restarts_the_wait() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(5);
        let first = observe(None, "1", t0);
        assert_eq!(first.since, t0);
        assert_eq!(
            observe(Some(first.clone()), "1", t1).since,
            t0,
            "same version"
        );
        assert_eq!(observe(Some(first), "2", t1).since, t1, "renewed meanwhile");
    }

    #[test]
    fn a_holder_steps_down_at_the_renew_deadline() {
        let s = Duration::from_secs;
        let deadline = s(10);
        let table = [
            (Attempt::Renewed, s(0), true),
            (Attempt::Failed, s(2), true),
            (Attempt::Failed, s(9), true),
            (Attempt::Failed, s(10), false),
            (Attempt::Failed, s(60), false),
            (Attempt::Taken, s(0), false),
        ];
        for (attempt, since, keeps) in table {
            assert_eq!(
                keeps_leading(&attempt, since, deadline).is_ok(),
                keeps,
                "{attempt:?} {since:?}"
            );
        }
    }

    #[test]
    fn durations_are_checked_with_a_message_saying_what_to_change() {
        let cfg = |lease: u64, renew: u64, retry: u64| Config {
            namespace: "ns".into(),
            name: "l".into(),
            identity: "me".into(),
            lease_duration: Duration::from_secs(lease),
            renew_deadline: Duration::from_secs(renew),
            retry_period: Duration::from_secs(retry),
        };
        assert_eq!(cfg(15, 10, 2).validate(), Ok(()));
        let e = cfg(10, 10, 2).validate().unwrap_err();
        assert!(
            e.contains("--leader-election-lease-duration (10s) must be longer"),
            "{e}"
        );
        let e = cfg(15, 2, 2).validate().unwrap_err();
        assert!(
            e.contains("--leader-election-renew-deadline (2s) must be longer"),
            "{e}"
        );
        assert!(cfg(15, 10, 0).validate().is_err());
    }

    #[test]
    fn lease_seconds_round_up() {
        let mut c = Config {
            namespace: "ns".into(),
            name: "l".into(),
            identity: "me".into(),
            lease_duration: Duration::from_millis(1500),
            renew_deadline: Duration::from_secs(1),
            retry_period: Duration::from_millis(200),
        };
        assert_eq!(c.lease_seconds(), 2);
        c.lease_duration = Duration::from_secs(15);
        assert_eq!(c.lease_seconds(), 15);
    }
}
