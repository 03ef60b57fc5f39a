//! Start-up checks that turn a misconfigured cluster into one clear message instead of a
//! stream of watch errors.

use kube::Client;

/// The resources the operator serves, as the API server must list them.
const REQUIRED: [&str; 2] = ["applicationinstances", "applicationlinks"];
/// Served by the current CRDs; an operator upgraded before its CRDs runs without it.
const EXTERNAL_APPLICATIONS: &str = "externalapplications";
/// Likewise, the shared applications.
const CLUSTER_INSTANCES: &str = "clusterapplicationinstances";

/// What of the API the preflight found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub external_applications: bool,
    pub shared_applications: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "the applinks.io/v1alpha1 CRDs are not installed in this cluster (missing: {missing}); install them with `kubectl apply -f crds/` or the Helm chart in charts/applink-operator"
    )]
    CrdsMissing { missing: String },
    #[error("cannot reach the Kubernetes API server: {0}")]
    Api(#[from] kube::Error),
}

/// Checks through discovery (which needs no extra RBAC) that both CRDs are served.
pub async fn check_crds(client: &Client) -> Result<Served, PreflightError> {
    let served: Vec<String> = match client
        .list_api_group_resources(&format!("{}/v1alpha1", crate::crd::GROUP))
        .await
    {
        Ok(list) => list.resources.into_iter().map(|r| r.name).collect(),
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|r| !served.iter().any(|s| s == r))
        .collect();
    if missing.is_empty() {
        Ok(Served {
            external_applications: served.iter().any(|s| s == EXTERNAL_APPLICATIONS),
            shared_applications: served.iter().any(|s| s == CLUSTER_INSTANCES),
        })
    } else {
        Err(PreflightError::CrdsMissing {
            missing: missing.join(", "),
        })
    }
}
