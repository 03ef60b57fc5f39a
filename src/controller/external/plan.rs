//! What to do for an ExternalApplication (no client): from what was observed of the client and
//! the Secret, the steps that make them what the spec asks. Pure and table-tested.

/// The client as the spec wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Desired {
    pub(super) name: String,
    pub(super) redirects: Vec<String>,
    pub(super) scope: String,
}

/// The client as the application shows it (the secret is not here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) redirects: Vec<String>,
    pub(super) scope: String,
    /// The application shows the client's secret (older lines always do; some newer ones only
    /// once, at creation or reset).
    pub(super) secret_readable: bool,
}

/// The Secret compared with what it should hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SecretState {
    /// No Secret of that name yet.
    Absent,
    /// Ours, and exactly what the operator would write.
    Current,
    /// Ours, but edited, or rendered from other inputs.
    Stale,
}

/// Why a new secret is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rotate {
    /// `applinks.io/rotate` changed.
    Requested,
    /// `spec.rotation.every` has passed since the secret was issued.
    Due,
    /// The Secret must be rewritten, but the application no longer shows the secret.
    SecretLost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Observed {
    /// The client this resource owns, if it exists.
    pub(super) client: Option<Found>,
    /// The claim annotation was written (a create may have happened before a crash).
    pub(super) claimed: bool,
    /// The client id recorded on the resource (annotation), if any.
    pub(super) recorded_id: Option<String>,
    /// A client with the desired name exists that this resource does not own.
    pub(super) name_taken_by: Option<String>,
    pub(super) secret: SecretState,
    /// Rotation asked for by the annotation or the schedule.
    pub(super) rotation: Option<Rotate>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Steps {
    /// Record the claim (the desired name) before creating.
    pub(super) claim: bool,
    pub(super) create: bool,
    /// The recorded client was deleted behind the operator's back: the create is a repair.
    pub(super) recreate: bool,
    /// Record the client's id on the resource.
    pub(super) record_id: bool,
    /// Change name, redirects or scope.
    pub(super) update: bool,
    pub(super) rotate: Option<Rotate>,
    pub(super) write_secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    Act(Steps),
    /// A client with this name exists and is not ours: nothing is created or changed.
    NameTaken {
        id: String,
    },
}

pub(super) fn plan(desired: &Desired, o: &Observed) -> Plan {
    let Some(found) = &o.client else {
        if let Some(id) = &o.name_taken_by {
            return Plan::NameTaken { id: id.clone() };
        }
        return Plan::Act(Steps {
            claim: !o.claimed,
            create: true,
            recreate: o.recorded_id.is_some(),
            record_id: true,
            write_secret: true,
            ..Steps::default()
        });
    };
    let update = found.name != desired.name
        || found.redirects != desired.redirects
        || !same_scope(&found.scope, &desired.scope);
    let rotate = o.rotation.or_else(|| {
        (o.secret != SecretState::Current && !found.secret_readable).then_some(Rotate::SecretLost)
    });
    Plan::Act(Steps {
        record_id: o.recorded_id.as_deref() != Some(found.id.as_str()),
        update,
        rotate,
        write_secret: rotate.is_some() || o.secret != SecretState::Current,
        ..Steps::default()
    })
}

/// OAuth 1.0a mode: the generic link to the tool and its incoming consumer, as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ConsumerObserved {
    /// The link id is claimed in status (a create may have happened before a crash).
    pub(super) claimed: bool,
    pub(super) link_exists: bool,
    /// The link's incoming authentication is on (a deleted consumer turns it off).
    pub(super) consumer_enabled: bool,
    /// The consumer last set (its digest, recorded on the resource) is the one wanted now.
    pub(super) consumer_recorded: bool,
    /// Some consumer was set before (the digest annotation exists): a create is a repair.
    pub(super) set_before: bool,
    pub(super) secret: SecretState,
    /// This pass generated a key pair (first pass, an unreadable stored key, or a rotation).
    pub(super) key_generated: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ConsumerSteps {
    /// Record the link id in status before creating.
    pub(super) claim: bool,
    pub(super) create: bool,
    /// The link was deleted behind the operator's back: the create is a repair.
    pub(super) recreate: bool,
    /// Before the consumer: the tool must hold the private key the application will trust.
    pub(super) write_secret: bool,
    /// Set the consumer and record its digest.
    pub(super) set_consumer: bool,
}

/// The steps for a link this resource owns: a link it never claimed was refused before (the
/// pass reads nor generates nothing more for it).
pub(super) fn plan_consumer(o: &ConsumerObserved) -> ConsumerSteps {
    let create = !o.link_exists;
    ConsumerSteps {
        claim: !o.claimed,
        create,
        recreate: create && o.set_before,
        write_secret: o.secret != SecretState::Current || o.key_generated,
        set_consumer: create || !o.consumer_enabled || !o.consumer_recorded,
    }
}

/// Scopes compare as sets of names (the application may reorder them).
fn same_scope(a: &str, b: &str) -> bool {
    let set = |s: &str| {
        let mut v: Vec<String> = s.split_whitespace().map(str::to_ascii_uppercase).collect();
        v.sort();
        v
    };
    set(a) == set(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Desired {
        Desired {
            name: "che".into(),
            redirects: vec!["https://che.example.test/cb".into()],
            scope: "REPO_WRITE".into(),
        }
    }

    fn found() -> Found {
        Found {
            id: "id-1".into(),
            name: "che".into(),
            redirects: vec!["https://che.example.test/cb".into()],
            scope: "REPO_WRITE".into(),
            secret_readable: true,
        }
    }

    fn observed(client: Option<Found>) -> Observed {
        Observed {
            client,
            claimed: true,
            recorded_id: Some("id-1".into()),
            name_taken_by: None,
            secret: SecretState::Current,
            rotation: None,
        }
    }

    #[test]
    fn table() {
        let settled = Plan::Act(Steps::default());
        let cases: Vec<(&str, Observed, Plan)> = vec![
            ("in sync: nothing", observed(Some(found())), settled.clone()),
            (
                "first pass: claim, create, record, write",
                Observed {
                    claimed: false,
                    recorded_id: None,
                    secret: SecretState::Absent,
                    ..observed(None)
                },
                Plan::Act(Steps {
                    claim: true,
                    create: true,
                    record_id: true,
                    write_secret: true,
                    ..Steps::default()
                }),
            ),
            (
                "crash after the claim, before the create: no second claim",
                Observed {
                    recorded_id: None,
                    secret: SecretState::Absent,
                    ..observed(None)
                },
                Plan::Act(Steps {
                    create: true,
                    record_id: true,
                    write_secret: true,
                    ..Steps::default()
                }),
            ),
            (
                "crash after the create: found by the claimed name, id recorded, Secret written",
                Observed {
                    recorded_id: None,
                    secret: SecretState::Absent,
                    ..observed(Some(found()))
                },
                Plan::Act(Steps {
                    record_id: true,
                    write_secret: true,
                    ..Steps::default()
                }),
            ),
            (
                "deleted behind our back: recreated",
                observed(None),
                Plan::Act(Steps {
                    create: true,
                    recreate: true,
                    record_id: true,
                    write_secret: true,
                    ..Steps::default()
                }),
            ),
            (
                "someone else's client has the name",
                Observed {
                    claimed: false,
                    recorded_id: None,
                    name_taken_by: Some("other".into()),
                    ..observed(None)
                },
                Plan::NameTaken { id: "other".into() },
            ),
            (
                "redirects changed in the spec or the application: update",
                observed(Some(Found {
                    redirects: vec!["https://old.example.test/cb".into()],
                    ..found()
                })),
                Plan::Act(Steps {
                    update: true,
                    ..Steps::default()
                }),
            ),
            (
                "scope reordered by the application is the same scope",
                Observed {
                    ..observed(Some(Found {
                        scope: "repo_write".into(),
                        ..found()
                    }))
                },
                settled.clone(),
            ),
            (
                "Secret edited, secret readable: rewrite only",
                Observed {
                    secret: SecretState::Stale,
                    ..observed(Some(found()))
                },
                Plan::Act(Steps {
                    write_secret: true,
                    ..Steps::default()
                }),
            ),
            (
                "Secret deleted, secret shown only once: rotate and write",
                Observed {
                    secret: SecretState::Absent,
                    ..observed(Some(Found {
                        secret_readable: false,
                        ..found()
                    }))
                },
                Plan::Act(Steps {
                    rotate: Some(Rotate::SecretLost),
                    write_secret: true,
                    ..Steps::default()
                }),
            ),
            (
                "rotation requested",
                Observed {
                    rotation: Some(Rotate::Requested),
                    ..observed(Some(found()))
                },
                Plan::Act(Steps {
                    rotate: Some(Rotate::Requested),
                    write_secret: true,
                    ..Steps::default()
                }),
            ),
        ];
        for (name, o, expected) in cases {
            assert_eq!(plan(&desired(), &o), expected, "{name}");
        }
    }

    fn consumer(f: impl FnOnce(&mut ConsumerObserved)) -> ConsumerObserved {
        let mut o = ConsumerObserved {
            claimed: true,
            link_exists: true,
            consumer_enabled: true,
            consumer_recorded: true,
            set_before: true,
            secret: SecretState::Current,
            key_generated: false,
        };
        f(&mut o);
        o
    }

    fn steps(f: impl FnOnce(&mut ConsumerSteps)) -> ConsumerSteps {
        let mut s = ConsumerSteps::default();
        f(&mut s);
        s
    }

    #[test]
    fn consumer_table() {
        let cases: Vec<(&str, ConsumerObserved, ConsumerSteps)> = vec![
            ("in place: nothing", consumer(|_| {}), steps(|_| {})),
            (
                "first pass: claim, create, write the key, set the consumer",
                consumer(|o| {
                    *o = ConsumerObserved {
                        claimed: false,
                        link_exists: false,
                        consumer_enabled: false,
                        consumer_recorded: false,
                        set_before: false,
                        secret: SecretState::Absent,
                        key_generated: true,
                    }
                }),
                steps(|s| {
                    *s = ConsumerSteps {
                        claim: true,
                        create: true,
                        recreate: false,
                        write_secret: true,
                        set_consumer: true,
                    }
                }),
            ),
            (
                "crash after the claim: create without claiming again",
                consumer(|o| {
                    o.link_exists = false;
                    o.consumer_enabled = false;
                    o.set_before = false;
                    o.secret = SecretState::Absent;
                    o.key_generated = true;
                }),
                steps(|s| {
                    s.create = true;
                    s.write_secret = true;
                    s.set_consumer = true;
                }),
            ),
            (
                "link deleted behind our back: a repair, the kept key set again",
                consumer(|o| {
                    o.link_exists = false;
                    o.consumer_enabled = false;
                }),
                steps(|s| {
                    s.create = true;
                    s.recreate = true;
                    s.set_consumer = true;
                }),
            ),
            (
                "consumer removed in the application (auth off): set again",
                consumer(|o| o.consumer_enabled = false),
                steps(|s| s.set_consumer = true),
            ),
            (
                "name or callback changed: set again",
                consumer(|o| o.consumer_recorded = false),
                steps(|s| s.set_consumer = true),
            ),
            (
                "Secret edited: rewritten, the consumer kept",
                consumer(|o| o.secret = SecretState::Stale),
                steps(|s| s.write_secret = true),
            ),
            (
                "rotation: the new key written before the consumer trusts it",
                consumer(|o| {
                    o.key_generated = true;
                    o.consumer_recorded = false;
                    o.secret = SecretState::Stale;
                }),
                steps(|s| {
                    s.write_secret = true;
                    s.set_consumer = true;
                }),
            ),
        ];
        for (name, o, expected) in cases {
            assert_eq!(plan_consumer(&o), expected, "{name}");
        }
    }
}
