//! The one remote-administrator check: `authenticationinfo` on the remote with the credentials
//! given, 2xx iff they are an administrator's there (docs/simulator.md#ui-resources).

use crate::app::App;
use crate::peer::{PeerAuth, PeerRequest, join};
use crate::wire::respond::{ApiError, Fmt};

/// The form error of a remote that did not answer.
pub(super) fn unreachable(fmt: Fmt, e: impl std::fmt::Display) -> ApiError {
    ApiError::list(
        fmt,
        400,
        format!("The remote application is not reachable: {e}"),
    )
}

/// Refuses (400, on the form's `authorization` field) credentials that are not those of an
/// administrator of the application at `remote`.
pub(super) async fn require(
    app: &App,
    fmt: Fmt,
    remote: &str,
    auth: &PeerAuth,
) -> Result<(), ApiError> {
    let r = app
        .call(
            PeerRequest::get(join(remote, "/rest/applinks/1.0/authenticationinfo"))
                .auth(auth.clone()),
        )
        .await
        .map_err(|e| unreachable(fmt, e))?;
    if !r.status.is_success() {
        return Err(ApiError::list_field(
            fmt,
            400,
            "The credentials are not those of an administrator of the remote application",
            "authorization",
        ));
    }
    Ok(())
}
