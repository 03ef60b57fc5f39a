//! The OAuth 1.0a mode of an ExternalApplication: a generic application link to the tool and its
//! incoming consumer (clients: the application, Kubernetes), with a key pair the operator
//! generates (the private key goes into the Secret) or the tool's own public key.
//!
//! Order, so that a crash never loses a key the application trusts: claim the link id (in
//! status), create the link, write the Secret (with a new private key), then set the consumer to
//! its public half and record a digest of what was set. Deletion deletes only the generic link to
//! this resource's own URL whose consumer has this resource's key (or none yet): what the
//! application holds, not what the object says.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::json;

use super::super::claims::Held;
use super::super::{Context, finalizer};
use super::act::{Here, step};
use super::observe::{self, App};
use super::plan::{ConsumerObserved, Rotate, plan_consumer};
use super::secret::{self, Stored};
use super::status::Pass;
use super::template::{self, Inputs, OAUTH1};
use super::{FINALIZER, claim};
use crate::atlassian::{IncomingConsumer, NewLink};
use crate::crd::{
    ClientView, ExternalApplication, ExternalClaims, LinkClaim, OAuth1Consumer, same_url,
};
use crate::errors::Error;
use crate::reasons;

/// Digest of the consumer last set (key, name, public key, callback): set again only when it
/// changes.
const CONSUMER_DIGEST: &str = "applinks.io/oauth1-consumer-sha256";
const KEY_BITS: usize = 2048;

/// The consumer's key.
struct KeyPair {
    public_pem: String,
    /// The private key (PKCS#8 PEM), when the operator holds the key pair.
    private_pem: Option<String>,
    /// The key pair was generated in this pass.
    generated: bool,
}

/// What the consumer should be, with its key.
struct Wanted {
    consumer: IncomingConsumer,
    private_pem: Option<String>,
    generated: bool,
}

pub(super) async fn pass(
    obj: &ExternalApplication,
    spec: &OAuth1Consumer,
    here: &Here<'_>,
    claims: &mut ExternalClaims,
    now: k8s_openapi::jiff::Timestamp,
) -> Result<Pass, Error> {
    let Here {
        ctx,
        api,
        ns,
        app,
        others,
    } = *here;
    // Rules: the template can be rendered, and the operator can find its private key in it.
    template::check(&obj.spec.secret, &OAUTH1).map_err(Error::InvalidSecretTemplate)?;
    let key_field = template::key_holding(&obj.spec.secret, &OAUTH1, "privateKey");
    if spec.public_key_secret_ref.is_none() && key_field.is_none() {
        return Err(Error::InvalidSecretTemplate(
            "the operator generates the key pair (no oauth1.publicKeySecretRef), so one key of spec.secret.data must be exactly \"{{ privateKey }}\": that is where the tool reads its private key and where the operator keeps it".into(),
        ));
    }
    let url = spec.url.normalized().to_string();
    let link_id = crate::atlassian::generic_link_id(&url);
    let name = obj.client_name();
    let key = obj.consumer_key().unwrap_or_else(|| obj.name_any());

    // Observe.
    let (secret_name, stored) = observe::read_secret(obj, ctx, ns).await?;
    let annotations = obj.annotations();
    let own = LinkClaim {
        application_id: app.application_id.clone(),
        link_id: link_id.clone(),
    };
    let claimed = claims.oauth1.as_ref() == Some(&own);
    claim::check(obj, others, Held::Link(own.clone()), claimed, app)?;
    let link = app
        .client
        .get_link(&link_id)
        .await
        .map_err(|e| Error::remote(format!("reading the link to {url} in {}", app.label), e))?;
    if link.is_some() && !claimed {
        return Err(Error::NotOwned {
            application: app.label.clone(),
            link_id,
        });
    }
    let (rotate_request, rotation) = observe::rotation(obj, now);
    let rotate = rotation.filter(|_| spec.public_key_secret_ref.is_none());
    let stored_private = match (&stored, &key_field) {
        (Stored::Ours { data, .. }, Some(k)) => data.get(k).cloned(),
        _ => None,
    };
    let pair = key_pair(spec, ctx, ns, stored_private, rotate).await?;
    let wanted = Wanted {
        consumer: consumer(obj, spec, &key, &name, pair.public_pem),
        private_pem: pair.private_pem,
        generated: pair.generated,
    };
    let inputs = inputs(app, &key, &name, &wanted.consumer.public_key);
    let secrets: BTreeMap<&'static str, String> = wanted
        .private_pem
        .iter()
        .map(|p| ("privateKey", p.clone()))
        .collect();
    let rendered = observe::render(obj, &OAUTH1, &inputs, &secrets)?;
    let secret_state = secret::state(&stored, &rendered, true);
    let digest = consumer_digest(&wanted.consumer);
    let consumer_enabled = match &link {
        Some(_) => app
            .client
            .get_oauth_config(&link_id)
            .await
            .map_err(|e| {
                Error::remote(format!("reading the OAuth status of the link to {url}"), e)
            })?
            .is_none_or(|c| c.incoming.enabled),
        None => false,
    };

    // Plan.
    let steps = plan_consumer(&ConsumerObserved {
        claimed,
        link_exists: link.is_some(),
        consumer_enabled,
        consumer_recorded: annotations.get(CONSUMER_DIGEST) == Some(&digest),
        set_before: annotations.contains_key(CONSUMER_DIGEST),
        secret: secret_state,
        key_generated: wanted.generated,
    });

    // Act, in the plan's order.
    let mut changes = Vec::new();
    let obj_name = obj.name_any();
    if steps.claim {
        claims.oauth1 = Some(own);
        step("claim", || claim::write(api, &obj_name, claims)).await?;
    }
    if steps.create {
        step("create", || async {
            app.client
                .create_link(&NewLink {
                    id: None,
                    name: name.clone(),
                    type_id: "generic".into(),
                    rpc_url: url.clone(),
                    display_url: url.clone(),
                    is_primary: false,
                })
                .await
                .map_err(|e| {
                    Error::remote(
                        format!("creating the generic link to {url} in {}", app.label),
                        e,
                    )
                })
        })
        .await?;
        let (reason, note) = if steps.recreate {
            (
                reasons::CLIENT_RECREATED,
                format!(
                    "the generic link to {url} was deleted in {} behind the operator's back; created it again with its consumer",
                    app.label
                ),
            )
        } else {
            (
                reasons::CREATED,
                format!("created the generic link to {url} in {}", app.label),
            )
        };
        ctx.event(obj, EventType::Normal, reason, &note, "Reconcile")
            .await;
        changes.push("created the link");
    }
    if steps.write_secret {
        let api_secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
        step("secret-write", || async {
            secret::write(
                &api_secrets,
                obj,
                &secret_name,
                &stored,
                &rendered,
                secret::NOT_SET,
            )
            .await
        })
        .await?;
        ctx.event(
            obj,
            EventType::Normal,
            reasons::SECRET_WRITTEN,
            &format!(
                "wrote the consumer key and private key of consumer {key} to Secret {secret_name}"
            ),
            "Reconcile",
        )
        .await;
        changes.push("wrote the Secret");
    }
    if steps.set_consumer {
        step("consumer", || async {
            app.client
                .put_incoming_consumer(&link_id, &wanted.consumer)
                .await
                .map_err(|e| {
                    Error::remote(
                        format!("setting the incoming consumer of the link to {url}"),
                        e,
                    )
                })
        })
        .await?;
        step("record-consumer", || async {
            let patch = json!({"metadata": {"annotations": {CONSUMER_DIGEST: digest}}});
            api.patch(&obj_name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            Ok(())
        })
        .await?;
        if rotate.is_some() {
            ctx.event(
                obj,
                EventType::Normal,
                reasons::SECRET_ROTATED,
                &format!("generated a new key pair for consumer {key}; the old private key no longer works"),
                "Reconcile",
            )
            .await;
        }
        changes.push("set the consumer");
    }
    Ok(Pass {
        app_label: app.label.clone(),
        client_id: key.clone(),
        view: ClientView {
            id: link_id,
            name,
            redirect_uris: spec.callback_url.iter().cloned().collect(),
            scope: String::new(),
        },
        settled: format!(
            "the generic link to {url} has incoming consumer {key}; its key is in Secret {secret_name}"
        ),
        secret_name,
        issued: wanted.generated,
        rotated: rotate.is_some(),
        rotate_request,
        changes,
        claims: claims.clone(),
    })
}

/// The consumer to set (pure): this resource's key and name, and the public key.
fn consumer(
    obj: &ExternalApplication,
    spec: &OAuth1Consumer,
    key: &str,
    name: &str,
    public_key: String,
) -> IncomingConsumer {
    IncomingConsumer {
        key: key.to_string(),
        name: name.to_string(),
        description: format!(
            "ExternalApplication {}/{}, managed by applink-operator",
            obj.namespace().unwrap_or_default(),
            obj.name_any()
        ),
        public_key,
        callback: spec.callback_url.clone(),
        two_lo_allowed: false,
        two_lo_impersonation_allowed: false,
        outgoing: false,
    }
}

/// The key the consumer is set to: the tool's public key, or the operator's key pair (kept, or
/// new when there is none yet, it cannot be read, or a rotation is due).
async fn key_pair(
    spec: &OAuth1Consumer,
    ctx: &Context,
    ns: &str,
    stored_private: Option<String>,
    rotate: Option<Rotate>,
) -> Result<KeyPair, Error> {
    if let Some(r) = &spec.public_key_secret_ref {
        return Ok(KeyPair {
            public_pem: tool_public_key(ctx, ns, r).await?,
            private_pem: None,
            generated: false,
        });
    }
    let kept = stored_private.filter(|_| rotate.is_none()).and_then(|pem| {
        rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
            .ok()
            .map(|k| (k, pem))
    });
    let (private, pem, generated) = match kept {
        Some((k, pem)) => (k, pem, false),
        None => {
            // Seconds of CPU: off the async workers.
            let k = tokio::task::spawn_blocking(|| {
                rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)
            })
            .await
            .map_err(|e| Error::KeyGeneration(format!("the generating task ended: {e}")))?
            .map_err(|e| Error::KeyGeneration(e.to_string()))?;
            let pem = k
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| Error::KeyGeneration(format!("encoding the private key: {e}")))?
                .to_string();
            (k, pem, true)
        }
    };
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| Error::KeyGeneration(format!("encoding the public key: {e}")))?;
    Ok(KeyPair {
        public_pem,
        private_pem: Some(pem),
        generated,
    })
}

/// The tool's public key from its Secret; the message names the key, never a value.
async fn tool_public_key(
    ctx: &Context,
    ns: &str,
    r: &crate::crd::SecretKeyRef,
) -> Result<String, Error> {
    let key = r.key.clone().unwrap_or_else(|| "publicKey".into());
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = api
        .get_opt(&r.name)
        .await?
        .ok_or_else(|| Error::SecretNotFound {
            namespace: ns.to_string(),
            name: r.name.clone(),
        })?;
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&key))
        .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
        .unwrap_or_default();
    let parses = rsa::pkcs8::DecodePublicKey::from_public_key_pem(value.as_str())
        .map(|_: rsa::RsaPublicKey| ())
        .is_ok();
    if !parses {
        return Err(Error::SecretIncomplete {
            name: r.name.clone(),
            detail: format!(
                "key {key:?} of Secret {:?} must hold the tool's RSA public key as PEM (-----BEGIN PUBLIC KEY-----); fix oauth1.publicKeySecretRef or the Secret",
                r.name
            ),
        });
    }
    Ok(value)
}

fn inputs(app: &App, key: &str, name: &str, public_key: &str) -> Inputs {
    let servlet = |p: &str| {
        format!(
            "{}/plugins/servlet/oauth/{p}",
            app.base_url.trim_end_matches('/')
        )
    };
    Inputs::default()
        .with("consumerKey", key)
        .with("publicKey", public_key)
        .with("requestTokenUrl", servlet("request-token"))
        .with("authorizeUrl", servlet("authorize"))
        .with("accessTokenUrl", servlet("access-token"))
        .with("baseUrl", app.base_url.clone())
        .with("name", name)
}

fn consumer_digest(c: &IncomingConsumer) -> String {
    template::sha256_hex(&serde_json::to_vec(c).unwrap_or_default())
}

/// Deletes the generic link (its consumer goes with it) and verifies it is gone: only the link
/// this resource claimed, no older object holds too, and the application shows as this
/// resource's (the generic link to its URL, with its consumer key or no consumer yet). Anything
/// else is left in place, with a Warning event.
pub(super) async fn delete(
    obj: &ExternalApplication,
    spec: &OAuth1Consumer,
    here: &Here<'_>,
    claims: &ExternalClaims,
) -> Result<(), Error> {
    let Here {
        ctx,
        api,
        app,
        others,
        ..
    } = *here;
    let url = spec.url.normalized().to_string();
    let own = LinkClaim {
        application_id: app.application_id.clone(),
        link_id: crate::atlassian::generic_link_id(&url),
    };
    let ours = claims.oauth1.as_ref() == Some(&own)
        && claim::check(obj, others, Held::Link(own.clone()), true, app).is_ok();
    if ours {
        let link_id = &own.link_id;
        let failed = |what: &'static str| {
            let what = format!("{what} the generic link to {url} in {}", app.label);
            move |e| Error::remote(what, e)
        };
        let key = obj.consumer_key().unwrap_or_else(|| obj.name_any());
        let found = app
            .client
            .get_link(link_id)
            .await
            .map_err(failed("reading"))?;
        let marker = match &found {
            None => None,
            Some(l) => Some(
                l.type_id == "generic"
                    && l.rpc_url.as_deref().is_some_and(|u| same_url(u, &url))
                    && app
                        .client
                        .incoming_consumer_key(link_id)
                        .await
                        .map_err(failed("reading the consumer of"))?
                        .is_none_or(|k| k == key),
            ),
        };
        match marker {
            None => {}
            Some(false) => {
                ctx.event(
                    obj,
                    EventType::Warning,
                    "LinkNotOwned",
                    &format!(
                        "left the link {link_id} in {} in place: it is not the generic link to {url} with consumer {key}, so it is not this resource's",
                        app.label
                    ),
                    "Delete",
                )
                .await;
            }
            Some(true) => {
                step("delete", || async {
                    app.client
                        .delete_link(link_id)
                        .await
                        .map_err(failed("deleting"))
                })
                .await?;
                if app
                    .client
                    .get_link(link_id)
                    .await
                    .map_err(failed("checking the deleted"))?
                    .is_some()
                {
                    return Err(Error::StillThereAfterDeletion {
                        what: format!("the generic link to {url} (link {link_id})"),
                        application: app.label.clone(),
                    });
                }
                ctx.event(
                    obj,
                    EventType::Normal,
                    reasons::DELETED,
                    &format!(
                        "deleted the generic link to {url} and its consumer in {}",
                        app.label
                    ),
                    "Delete",
                )
                .await;
            }
        }
    }
    step("finalizer-removal", || async {
        finalizer::remove(api, obj, FINALIZER).await
    })
    .await
}
