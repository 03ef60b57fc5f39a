//! Reconciles `ApplicationLink`.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use tracing::info;

use super::Context;
use crate::crd::{ApplicationInstance, ApplicationLink};

#[derive(Debug, thiserror::Error)]
pub enum Error {}

pub async fn reconcile(obj: Arc<ApplicationLink>, ctx: Arc<Context>) -> Result<Action, Error> {
    info!(
        namespace = obj.namespace().unwrap_or_default(),
        name = obj.name_any(),
        source = obj.spec.source.instance_ref.name,
        generation = obj.metadata.generation,
        "observed ApplicationLink"
    );
    Ok(Action::requeue(ctx.settings.link_resync_interval))
}

pub fn error_policy(_obj: Arc<ApplicationLink>, _err: &Error, _ctx: Arc<Context>) -> Action {
    super::requeue_soon()
}

/// The links in the instance's namespace that name it as source or target.
pub fn links_of_instance(
    links: &Store<ApplicationLink>,
    instance: &ApplicationInstance,
) -> Vec<ObjectRef<ApplicationLink>> {
    let ns = instance.namespace();
    let name = instance.name_any();
    links
        .state()
        .iter()
        .filter(|l| l.namespace() == ns)
        .filter(|l| {
            l.spec.source.instance_ref.name == name
                || l.spec
                    .target
                    .instance_ref
                    .as_ref()
                    .is_some_and(|t| t.name == name)
        })
        .map(|l| ObjectRef::from_obj(l.as_ref()))
        .collect()
}
