//! Reconciles `ApplicationInstance`.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::info;

use super::Context;
use crate::crd::ApplicationInstance;

#[derive(Debug, thiserror::Error)]
pub enum Error {}

pub async fn reconcile(obj: Arc<ApplicationInstance>, ctx: Arc<Context>) -> Result<Action, Error> {
    info!(
        namespace = obj.namespace().unwrap_or_default(),
        name = obj.name_any(),
        url = %obj.spec.url,
        generation = obj.metadata.generation,
        "observed ApplicationInstance"
    );
    Ok(Action::requeue(ctx.settings.instance_check_interval))
}

pub fn error_policy(_obj: Arc<ApplicationInstance>, _err: &Error, _ctx: Arc<Context>) -> Action {
    super::requeue_soon()
}
