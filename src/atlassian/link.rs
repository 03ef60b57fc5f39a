//! Application links: list, get, create (one end, locally), update/relocate, primary, delete
//! (docs/protocol.md, Links).

use serde::{Deserialize, Serialize};

use crate::crd::same_url;
use serde_json::Value;

use super::client::{AtlassianClient, Call};
use super::envelope::{RestLink, StatusEnvelope, one_or_many};
use super::error::ApiError;

/// Atlassian's id of a link to an application without a manifest (a generic application):
/// `UUID.nameUUIDFromBytes(url)` (MD5, version 3), so it is known before the link exists.
pub fn generic_link_id(url: &str) -> String {
    use md5::{Digest, Md5};
    let digest: [u8; 16] = Md5::digest(url.as_bytes()).into();
    uuid::Builder::from_md5_bytes(digest)
        .into_uuid()
        .to_string()
}

/// Classic (v1/v2) `applicationLink` entity, as served under `/rest/applinks/{1.0,2.0}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationLinkEntity {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub type_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub display_url: Option<String>,
    /// Omitted for system links.
    #[serde(default)]
    pub rpc_url: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub icon_uri: Option<String>,
    #[serde(default)]
    pub is_primary: bool,
    #[serde(default)]
    pub is_system: bool,
    #[serde(default, deserialize_with = "one_or_many")]
    pub link: Vec<RestLink>,
}

/// V3 entity (`/rest/applinks/3.0/applinks`); note `type`, `primary`, `system` key names.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationLinkV3 {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub display_url: Option<String>,
    #[serde(default)]
    pub rpc_url: Option<String>,
    #[serde(rename = "type", default)]
    pub type_id: String,
    #[serde(default)]
    pub system: bool,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub properties: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub data: Option<serde_json::Map<String, Value>>,
}

/// One end of an application link as stored on this application, whichever API it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteLink {
    /// The linked (remote) application's manifest id.
    pub id: String,
    pub name: String,
    pub type_id: String,
    pub display_url: Option<String>,
    pub rpc_url: Option<String>,
    pub primary: bool,
    pub system: bool,
}

impl RemoteLink {
    /// Every field within its cap: they go into status and into comparisons with the spec.
    fn checked(self, url: &str) -> Result<Self, ApiError> {
        use super::limits::{self, MAX_ID_BYTES, MAX_NAME_BYTES, MAX_URL_BYTES};
        limits::check(url, "link id", &self.id, MAX_ID_BYTES)?;
        limits::check(url, "link name", &self.name, MAX_NAME_BYTES)?;
        limits::check(url, "link typeId", &self.type_id, MAX_ID_BYTES)?;
        for (field, value) in [
            ("link displayUrl", &self.display_url),
            ("link rpcUrl", &self.rpc_url),
        ] {
            if let Some(v) = value {
                limits::check(url, field, v, MAX_URL_BYTES)?;
            }
        }
        Ok(self)
    }
}

impl From<ApplicationLinkV3> for RemoteLink {
    fn from(v: ApplicationLinkV3) -> Self {
        Self {
            id: v.id,
            name: v.name,
            type_id: v.type_id,
            display_url: v.display_url,
            rpc_url: v.rpc_url,
            primary: v.primary,
            system: v.system,
        }
    }
}

impl ApplicationLinkEntity {
    fn into_link(self) -> Option<RemoteLink> {
        Some(RemoteLink {
            id: self.id.filter(|id| !id.is_empty())?,
            name: self.name,
            type_id: self.type_id,
            display_url: self.display_url,
            rpc_url: self.rpc_url,
            primary: self.is_primary,
            system: self.is_system,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationLinkList {
    #[serde(default, deserialize_with = "one_or_many")]
    application_links: Vec<ApplicationLinkEntity>,
}

/// Body of the v2 create (`PUT /rest/applinks/2.0/applicationlink`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewLink {
    /// The peer's manifest id. Ignored by the server for `generic` links, which get
    /// UUIDv3(rpcUrl) instead; the returned [`CreatedLink::id`] is authoritative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub type_id: String,
    pub rpc_url: String,
    pub display_url: String,
    pub is_primary: bool,
}

/// Result of [`AtlassianClient::create_link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedLink {
    pub id: String,
    /// `self` link from `resources-created`, when the server sent one.
    pub href: Option<String>,
}

/// Full desired state for a V3 update (`PUT /rest/applinks/3.0/applinks/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkUpdate {
    pub name: String,
    pub rpc_url: String,
    pub display_url: String,
    pub primary: bool,
}

/// Outcome of a delete; deleting a missing link is not an error (idempotent cleanup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    AlreadyAbsent,
}

const V3_APPLINKS: &str = "rest/applinks/3.0/applinks";
const V1_APPLICATIONLINK: &str = "rest/applinks/1.0/applicationlink";
/// Listed entries checked per field when naming the link in the way (each check is a GET).
const MAX_COLLISION_CHECKS: usize = 3;

/// Whether an applinks version (the manifest's `applinksVersion`) serves the V3 link resource:
/// every 5.x and newer does, so its 404 for an id can be trusted without listing first.
fn serves_v3_applinks(applinks_version: &str) -> bool {
    applinks_version
        .split('.')
        .next()
        .and_then(|major| major.trim().parse::<u32>().ok())
        .is_some_and(|major| major >= 5)
}

impl AtlassianClient {
    /// Learns from the manifest's `applinksVersion` (read by this client or another one for the
    /// same application) that the V3 link resource exists, which saves the list that
    /// [`get_link`](Self::get_link) otherwise reads once per client to trust a 404.
    pub(crate) fn learn_applinks_version(&self, applinks_version: Option<&str>) {
        if applinks_version.is_some_and(serves_v3_applinks) {
            self.set_v3_applinks_known();
        }
    }

    /// All links stored on this application: `GET rest/applinks/3.0/applinks`, falling back to
    /// the classic `GET rest/applinks/1.0/applicationlink` when V3 is absent (applinks < 5).
    /// Entries that are not application links (e.g. OAuth 2.0 integrations listed by the V4
    /// UI) are skipped.
    pub async fn list_links(&self) -> Result<Vec<RemoteLink>, ApiError> {
        match self
            .execute(Call::get(V3_APPLINKS).admin("listing application links"))
            .await
        {
            Ok(reply) => {
                let items: Vec<Value> = reply.json()?;
                self.set_v3_applinks_known();
                items
                    .into_iter()
                    .filter_map(|item| match serde_json::from_value::<ApplicationLinkV3>(item) {
                        Ok(link) if !link.id.is_empty() => Some(link.into()),
                        Ok(_) | Err(_) => {
                            tracing::debug!(url = %reply.url, "skipping unparsable applinks entry");
                            None
                        }
                    })
                    .map(|l: RemoteLink| l.checked(&reply.url))
                    .collect()
            }
            Err(ApiError::NotFound { .. }) => {
                let reply = self
                    .execute(Call::get(V1_APPLICATIONLINK).admin("listing application links"))
                    .await?;
                let list: ApplicationLinkList = reply.json()?;
                list.application_links
                    .into_iter()
                    .filter_map(ApplicationLinkEntity::into_link)
                    .map(|l| l.checked(&reply.url))
                    .collect()
            }
            Err(e) => Err(e),
        }
    }

    /// One link by id (the peer's manifest id), or `None` if this application has none.
    /// `GET rest/applinks/3.0/applinks/{id}`. Its 404 is trusted once V3 has answered; before
    /// that, the list decides (V3, or the classic list on applications without V3). The classic
    /// by-id GET is never used: real applications answer 500 for an unknown id there.
    pub async fn get_link(&self, id: &str) -> Result<Option<RemoteLink>, ApiError> {
        match self
            .execute(
                Call::get(V3_APPLINKS)
                    .segment(id)
                    .admin("reading an application link"),
            )
            .await
        {
            Ok(reply) => {
                let link =
                    RemoteLink::from(reply.json::<ApplicationLinkV3>()?).checked(&reply.url)?;
                self.set_v3_applinks_known();
                Ok(Some(link))
            }
            Err(ApiError::NotFound { .. }) if self.v3_applinks_known() => Ok(None),
            Err(ApiError::NotFound { .. }) => {
                Ok(self.list_links().await?.into_iter().find(|l| l.id == id))
            }
            Err(e) => Err(e),
        }
    }

    /// Creates this application's end of a link without contacting the peer:
    /// `PUT rest/applinks/2.0/applicationlink` (→ 201 `Status` with `resources-created`).
    /// Not retried (not idempotent). A 400 for an id that already exists becomes
    /// [`ApiError::AlreadyExists`].
    pub async fn create_link(&self, link: &NewLink) -> Result<CreatedLink, ApiError> {
        let call = Call::put("rest/applinks/2.0/applicationlink")
            .json(link)
            .idempotent(false)
            .admin("creating an application link");
        match self.execute(call).await {
            Ok(reply) => {
                let status: Option<StatusEnvelope> = reply.json().ok();
                let href =
                    status.and_then(|s| s.resources_created.into_iter().find_map(|l| l.href));
                let id = href
                    .as_deref()
                    .and_then(last_path_segment)
                    .or_else(|| link.id.clone())
                    .ok_or_else(|| {
                        reply.malformed("no resources-created link in the create response")
                    })?;
                Ok(CreatedLink { id, href })
            }
            Err(err @ (ApiError::BadRequest { .. } | ApiError::Conflict { .. })) => {
                let Some(id) = &link.id else { return Err(err) };
                if let Ok(Some(_)) = self.get_link(id).await {
                    return Err(ApiError::AlreadyExists {
                        url: self.base_url().to_string(),
                        id: id.clone(),
                    });
                }
                // Not listed, yet refused: a link registered without its properties.
                if err.server_message().is_some_and(is_type_not_installed) {
                    return Err(ApiError::CorruptedLink {
                        url: self.base_url().to_string(),
                        base: self.base_url().to_string(),
                        id: id.clone(),
                        detail: err.server_message().unwrap_or_default().to_owned(),
                    });
                }
                Err(err)
            }
            Err(e) => Err(e),
        }
    }

    /// Updates name, URLs and primary flag: `PUT rest/applinks/3.0/applinks/{id}`. Unlike the
    /// classic update this may change `rpcUrl`, and checks nothing remotely.
    pub async fn update_link(&self, id: &str, update: &LinkUpdate) -> Result<RemoteLink, ApiError> {
        #[derive(Serialize)]
        struct Body<'a> {
            id: &'a str,
            #[serde(flatten)]
            update: &'a LinkUpdate,
        }
        let reply = match self
            .execute(
                Call::put(V3_APPLINKS)
                    .segment(id)
                    .json(&Body { id, update })
                    .admin("updating an application link"),
            )
            .await
        {
            Ok(reply) => reply,
            Err(err @ ApiError::BadRequest { .. }) => {
                return Err(self.explain_update_refusal(id, update, err).await);
            }
            Err(e) => return Err(e),
        };
        match reply.json::<ApplicationLinkV3>() {
            Ok(link) => Ok(link.into()),
            // Some versions answer without a body; read the result back.
            Err(_) => self.get_link(id).await?.ok_or_else(|| ApiError::NotFound {
                url: reply.url.clone(),
                message: Some("link disappeared right after the update".to_owned()),
            }),
        }
    }

    /// V3 refuses an update whose name, rpcUrl or displayUrl another link already uses: name
    /// that link, so the person can decide which of the two should go.
    async fn explain_update_refusal(
        &self,
        id: &str,
        update: &LinkUpdate,
        err: ApiError,
    ) -> ApiError {
        let Ok(links) = self.list_links().await else {
            return err;
        };
        let hint = err
            .server_message()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let same = |a: Option<&str>, b: &str| a.is_some_and(|a| same_url(a, b));
        let collides = |field: &str, l: &RemoteLink| match field {
            "rpcUrl" => same(l.rpc_url.as_deref(), &update.rpc_url),
            "displayUrl" => same(l.display_url.as_deref(), &update.display_url),
            _ => l.name == update.name,
        };
        // The field the error key names first, then any field that collides.
        let mut order = ["rpcUrl", "displayUrl", "name"];
        order.sort_by_key(|f| !hint.contains(&format!("duplicate.{}", f.to_ascii_lowercase())));
        for field in order {
            let candidates = links.iter().filter(|l| l.id != id && collides(field, l));
            for other in candidates.take(MAX_COLLISION_CHECKS) {
                // The V3 list also shows OAuth 2.0 clients as generic entries (applinks' V4 UI),
                // which the duplicate check does not count: only a link the by-id resource
                // knows can be in the way.
                if !matches!(self.get_link(&other.id).await, Ok(Some(_))) {
                    continue;
                }
                return ApiError::DuplicateLinkField {
                    url: self.base_url().to_string(),
                    field,
                    other_id: other.id.clone(),
                    other_name: other.name.clone(),
                };
            }
        }
        err
    }

    /// Makes a link the primary one of its type: `POST rest/applinks/1.0/applicationlink/primary/{id}`.
    pub async fn set_primary(&self, id: &str) -> Result<(), ApiError> {
        self.execute(
            Call::post("rest/applinks/1.0/applicationlink/primary")
                .segment(id)
                .idempotent(true)
                .admin("making an application link primary"),
        )
        .await
        .map(|_| ())
    }

    /// Deletes this application's end only (never `reciprocate`):
    /// `DELETE rest/applinks/3.0/applinks/{id}` (→ 204). A 404 is confirmed with
    /// [`get_link`](Self::get_link) and, if the link is still there (no V3 on old versions),
    /// deleted with `DELETE rest/applinks/1.0/applicationlink/{id}?reciprocate=false`.
    pub async fn delete_link(&self, id: &str) -> Result<DeleteOutcome, ApiError> {
        match self
            .execute(
                Call::delete(V3_APPLINKS)
                    .segment(id)
                    .admin("deleting an application link"),
            )
            .await
        {
            Ok(_) => Ok(DeleteOutcome::Deleted),
            Err(ApiError::NotFound { .. }) => {
                if self.get_link(id).await?.is_none() {
                    return Ok(DeleteOutcome::AlreadyAbsent);
                }
                match self
                    .execute(
                        Call::delete(V1_APPLICATIONLINK)
                            .segment(id)
                            .query("reciprocate", "false")
                            .admin("deleting an application link"),
                    )
                    .await
                {
                    Ok(_) => Ok(DeleteOutcome::Deleted),
                    Err(ApiError::NotFound { .. }) => Ok(DeleteOutcome::AlreadyAbsent),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

fn is_type_not_installed(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("type.not.installed") || m.contains("not installed")
}

fn last_path_segment(href: &str) -> Option<String> {
    let path = href.split(['?', '#']).next()?;
    let seg = path.trim_end_matches('/').rsplit('/').next()?;
    (!seg.is_empty()).then(|| seg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::test_support::*;
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};

    const CONF_ID: &str = "2841b105-5904-3c0a-9710-1ff26ae88206";

    fn v3_link_json() -> String {
        format!(
            r#"{{"id":"{CONF_ID}","name":"Confluence","displayUrl":"https://wiki.example.test","rpcUrl":"http://wiki.internal:8090","type":"confluence","system":false,"primary":true,"properties":{{}},"data":{{"atlassian":true,"editable":true}}}}"#
        )
    }

    fn classic_link_json() -> String {
        format!(
            r#"{{"link":[{{"href":"http://jira/rest/applinks/1.0/applicationlink/{CONF_ID}","rel":"self"}}],"id":"{CONF_ID}","typeId":"confluence","name":"Confluence","displayUrl":"https://wiki.example.test","rpcUrl":"http://wiki.internal:8090","iconUrl":"i","iconUri":"i","isPrimary":true,"isSystem":false}}"#
        )
    }

    fn expected_link() -> RemoteLink {
        RemoteLink {
            id: CONF_ID.into(),
            name: "Confluence".into(),
            type_id: "confluence".into(),
            display_url: Some("https://wiki.example.test".into()),
            rpc_url: Some("http://wiki.internal:8090".into()),
            primary: true,
            system: false,
        }
    }

    #[tokio::test]
    async fn list_links_v3_skips_non_applinks() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/3.0/applinks"))
            .and(header("authorization", "Basic YWRtaW46cHc="))
            .respond_with(json_response(
                200,
                &format!(r#"[{}, {{"name":"OAuth 2.0 thing"}}]"#, v3_link_json()),
            ))
            .mount(&server)
            .await;
        let links = admin_client(&server).list_links().await.unwrap();
        assert_eq!(links, vec![expected_link()]);
    }

    #[tokio::test]
    async fn list_links_falls_back_to_classic() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/1.0/applicationlink"))
            .respond_with(json_response(
                200,
                &format!(r#"{{"applicationLinks":[{}]}}"#, classic_link_json()),
            ))
            .mount(&server)
            .await;
        let links = admin_client(&server).list_links().await.unwrap();
        assert_eq!(links, vec![expected_link()]);
    }

    #[tokio::test]
    async fn a_link_with_a_field_over_its_cap_is_refused_in_the_list_and_by_id() {
        let server = server().await;
        let long = v3_link_json().replace(
            "https://wiki.example.test",
            &format!("https://wiki.example.test/{}", "a".repeat(4096)),
        );
        Mock::given(method("GET"))
            .and(path(format!("/rest/applinks/3.0/applinks/{CONF_ID}")))
            .respond_with(json_response(200, &long))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/3.0/applinks"))
            .respond_with(json_response(200, &format!("[{long}]")))
            .mount(&server)
            .await;
        let client = admin_client(&server);
        let by_id = client.get_link(CONF_ID).await.unwrap_err();
        assert_eq!(by_id.reason(), "RemoteValueTooLong");
        assert!(by_id.to_string().contains("link displayUrl"), "{by_id}");
        let listed = client.list_links().await.unwrap_err();
        assert_eq!(listed.reason(), "RemoteValueTooLong");
    }

    #[tokio::test]
    async fn get_link_found_and_absent() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path(format!("/rest/applinks/3.0/applinks/{CONF_ID}")))
            .respond_with(json_response(200, &v3_link_json()))
            .mount(&server)
            .await;
        let client = admin_client(&server);
        assert_eq!(
            client.get_link(CONF_ID).await.unwrap(),
            Some(expected_link())
        );
        assert_eq!(
            client
                .get_link("00000000-0000-0000-0000-000000000000")
                .await
                .unwrap(),
            None
        );
    }

    /// A fresh client, a fresh application: V3 404 for the unknown id must not lead to the
    /// classic by-id GET, which real products answer with 500 (NullPointerException).
    #[tokio::test]
    async fn unknown_id_on_a_fresh_client_never_asks_the_classic_by_id_resource() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path(format!(
                "/rest/applinks/1.0/applicationlink/{CONF_ID}"
            )))
            .respond_with(json_response(
                500,
                r#"{"status-code":500,"message":"java.lang.NullPointerException"}"#,
            ))
            .expect(0)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/3.0/applinks"))
            .respond_with(json_response(200, "[]"))
            .expect(1)
            .mount(&server)
            .await;
        let client = admin_client(&server);
        assert_eq!(client.get_link(CONF_ID).await.unwrap(), None);
        // V3 answered: its 404 is trusted from now on, no second list.
        assert_eq!(client.get_link(CONF_ID).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_manifest_of_applinks_5_or_newer_makes_the_v3_404_trusted_at_once() {
        for (version, lists) in [(Some("9.1.4"), 0), (Some("4.2.10"), 1), (None, 1)] {
            let server = server().await;
            Mock::given(method("GET"))
                .and(path("/rest/applinks/3.0/applinks"))
                .respond_with(json_response(200, "[]"))
                .expect(lists)
                .mount(&server)
                .await;
            let client = admin_client(&server);
            client.learn_applinks_version(version);
            assert_eq!(client.get_link(CONF_ID).await.unwrap(), None, "{version:?}");
        }
    }

    #[test]
    fn applinks_versions_serving_v3() {
        for (v, want) in [
            ("5.0.0", true),
            ("9.1.4", true),
            ("10.0", true),
            ("4.3.7", false),
            ("", false),
            ("x.y", false),
        ] {
            assert_eq!(serves_v3_applinks(v), want, "{v}");
        }
    }

    #[tokio::test]
    async fn create_refused_for_an_unlisted_id_is_a_corrupted_link() {
        let server = server().await;
        Mock::given(method("PUT"))
            .and(path("/rest/applinks/2.0/applicationlink"))
            .respond_with(json_response(
                400,
                r#"{"status-code":400,"message":"applinks.type.not.installed"}"#,
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/3.0/applinks"))
            .respond_with(json_response(200, "[]"))
            .mount(&server)
            .await;
        let link = NewLink {
            id: Some(CONF_ID.into()),
            name: "Confluence".into(),
            type_id: "confluence".into(),
            rpc_url: "http://wiki".into(),
            display_url: "http://wiki".into(),
            is_primary: false,
        };
        let err = admin_client(&server).create_link(&link).await.unwrap_err();
        assert_eq!(err.reason(), "CorruptedLink");
        let text = err.to_string();
        assert!(text.contains(CONF_ID), "{text}");
        assert!(text.contains("database"), "{text}");
    }

    #[tokio::test]
    async fn update_refused_names_the_link_that_already_uses_the_url() {
        let server = server().await;
        Mock::given(method("PUT"))
            .and(path(format!("/rest/applinks/3.0/applinks/{CONF_ID}")))
            .respond_with(json_response(
                400,
                r#"{"status":400,"errors":[{"summary":"applinks.service.error.validation.applink.duplicate.rpcUrl"}]}"#,
            ))
            .mount(&server)
            .await;
        // An OAuth 2.0 client listed as a generic entry comes first, with the same URL: the
        // by-id resource does not know it, so it is not named.
        const OLD: &str = r#"{"id":"99999999-9999-9999-9999-999999999999","name":"Old wiki","rpcUrl":"http://new-wiki","displayUrl":"http://old","type":"confluence"}"#;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/3.0/applinks"))
            .respond_with(json_response(
                200,
                &format!(
                    r#"[{}, {{"id":"88888888-8888-8888-8888-888888888888","name":"Che","rpcUrl":"http://new-wiki","displayUrl":"http://new-wiki","type":"generic"}}, {OLD}]"#,
                    v3_link_json()
                ),
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(
                "/rest/applinks/3.0/applinks/88888888-8888-8888-8888-888888888888",
            ))
            .respond_with(json_response(404, r#"{"status":404,"errors":[]}"#))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(
                "/rest/applinks/3.0/applinks/99999999-9999-9999-9999-999999999999",
            ))
            .respond_with(json_response(200, OLD))
            .mount(&server)
            .await;
        let err = admin_client(&server)
            .update_link(
                CONF_ID,
                &LinkUpdate {
                    name: "Confluence".into(),
                    rpc_url: "http://new-wiki/".into(),
                    display_url: "http://new-wiki:8090".into(),
                    primary: true,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "LinkFieldInUse");
        let text = err.to_string();
        assert!(
            text.contains("Old wiki") && text.contains("rpcUrl"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn create_link_puts_v2_entity_and_reads_created_id() {
        let server = server().await;
        Mock::given(method("PUT"))
            .and(path("/rest/applinks/2.0/applicationlink"))
            .and(header("content-type", "application/json"))
            .and(body_json(serde_json::json!({
                "id": CONF_ID, "name": "Confluence", "typeId": "confluence",
                "rpcUrl": "http://wiki.internal:8090", "displayUrl": "https://wiki.example.test",
                "isPrimary": false
            })))
            .respond_with(json_response(
                201,
                &format!(
                    r#"{{"status-code":201,"resources-created":[{{"href":"{}rest/applinks/2.0/applicationlink/{CONF_ID}","rel":"self"}}]}}"#,
                    server.uri() + "/"
                ),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let created = admin_client(&server)
            .create_link(&NewLink {
                id: Some(CONF_ID.into()),
                name: "Confluence".into(),
                type_id: "confluence".into(),
                rpc_url: "http://wiki.internal:8090".into(),
                display_url: "https://wiki.example.test".into(),
                is_primary: false,
            })
            .await
            .unwrap();
        assert_eq!(created.id, CONF_ID);
        assert!(created.href.unwrap().ends_with(CONF_ID));
    }

    #[tokio::test]
    async fn create_link_duplicate_is_already_exists_and_not_retried() {
        let server = server().await;
        Mock::given(method("PUT"))
            .and(path("/rest/applinks/2.0/applicationlink"))
            .respond_with(json_response(
                400,
                r#"{"status":400,"message":["applinks.error.duplicate.url"]}"#,
            ))
            // One request per create call below: a 400 is never retried.
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/rest/applinks/3.0/applinks/{CONF_ID}")))
            .respond_with(json_response(200, &v3_link_json()))
            .mount(&server)
            .await;
        let new = NewLink {
            id: Some(CONF_ID.into()),
            name: "Confluence".into(),
            type_id: "confluence".into(),
            rpc_url: "http://wiki.internal:8090".into(),
            display_url: "https://wiki.example.test".into(),
            is_primary: false,
        };
        let err = admin_client(&server).create_link(&new).await.unwrap_err();
        assert_eq!(err.reason(), "AlreadyExists");

        // A 400 for another reason keeps the server's message.
        let other = NewLink {
            id: Some("11111111-1111-1111-1111-111111111111".into()),
            ..new
        };
        let err = admin_client(&server).create_link(&other).await.unwrap_err();
        assert_eq!(err.reason(), "RequestRejected");
        assert!(err.to_string().contains("applinks.error.duplicate.url"));
    }

    #[tokio::test]
    async fn create_link_is_not_retried_on_5xx() {
        let server = server().await;
        Mock::given(method("PUT"))
            .and(path("/rest/applinks/2.0/applicationlink"))
            .respond_with(ResponseTemplate::new(503))
            .expect(1)
            .mount(&server)
            .await;
        let err = admin_client(&server)
            .create_link(&NewLink {
                id: None,
                name: "Jenkins".into(),
                type_id: "generic".into(),
                rpc_url: "http://jenkins".into(),
                display_url: "http://jenkins".into(),
                is_primary: false,
            })
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "ServerError");
    }

    #[tokio::test]
    async fn update_and_relocate_via_v3() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path(format!("/rest/applinks/3.0/applinks/{CONF_ID}")))
            .respond_with(json_response(200, &v3_link_json()))
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path(format!("/rest/applinks/3.0/applinks/{CONF_ID}")))
            .and(body_json(serde_json::json!({
                "id": CONF_ID, "name": "Confluence", "rpcUrl": "http://wiki-new:8090",
                "displayUrl": "https://wiki-new.example.test", "primary": true
            })))
            .respond_with(json_response(
                200,
                &format!(
                    r#"{{"id":"{CONF_ID}","name":"Confluence","displayUrl":"https://wiki-new.example.test","rpcUrl":"http://wiki-new:8090","type":"confluence","system":false,"primary":true}}"#
                ),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let link = admin_client(&server)
            .update_link(
                CONF_ID,
                &LinkUpdate {
                    name: "Confluence".into(),
                    rpc_url: "http://wiki-new:8090".into(),
                    display_url: "https://wiki-new.example.test".into(),
                    primary: true,
                },
            )
            .await
            .unwrap();
        assert_eq!(link.rpc_url.as_deref(), Some("http://wiki-new:8090"));
        assert!(link.primary);
    }

    #[tokio::test]
    async fn set_primary_posts_with_xsrf_header() {
        let server = server().await;
        Mock::given(method("POST"))
            .and(path(format!(
                "/rest/applinks/1.0/applicationlink/primary/{CONF_ID}"
            )))
            .and(header("x-atlassian-token", "no-check"))
            .respond_with(json_response(200, r#"{"status-code":200}"#))
            .expect(1)
            .mount(&server)
            .await;
        admin_client(&server).set_primary(CONF_ID).await.unwrap();
    }

    #[tokio::test]
    async fn delete_link_v3_then_absent() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/3.0/applinks"))
            .respond_with(json_response(200, "[]"))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!("/rest/applinks/3.0/applinks/{CONF_ID}")))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let client = admin_client(&server);
        assert_eq!(
            client.delete_link(CONF_ID).await.unwrap(),
            DeleteOutcome::Deleted
        );
        // Everything else 404s: already gone.
        assert_eq!(
            client
                .delete_link("00000000-0000-0000-0000-000000000000")
                .await
                .unwrap(),
            DeleteOutcome::AlreadyAbsent
        );
        // Never asks the application to reciprocate.
        for req in server.received_requests().await.unwrap() {
            assert!(!req.url.as_str().contains("reciprocate=true"));
        }
    }

    #[tokio::test]
    async fn delete_link_classic_fallback_when_v3_missing() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/1.0/applicationlink"))
            .respond_with(json_response(
                200,
                &format!(r#"{{"applicationLinks":[{}]}}"#, classic_link_json()),
            ))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!(
                "/rest/applinks/1.0/applicationlink/{CONF_ID}"
            )))
            .and(query_param("reciprocate", "false"))
            .respond_with(json_response(
                200,
                &format!(
                    r#"{{"message":"Deleted application with id '{CONF_ID}'","status-code":200}}"#
                ),
            ))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(
            admin_client(&server).delete_link(CONF_ID).await.unwrap(),
            DeleteOutcome::Deleted
        );
    }

    #[test]
    fn created_id_from_href() {
        assert_eq!(
            last_path_segment("https://bb/rest/applinks/3.0/applicationlink/abc/").as_deref(),
            Some("abc")
        );
        assert_eq!(last_path_segment(""), None);
    }
}

#[cfg(test)]
mod generic_id_tests {
    use super::generic_link_id;

    #[test]
    fn generic_id_matches_java_name_uuid_from_bytes() {
        // UUID.nameUUIDFromBytes("http://example.com".getBytes()) in Java.
        let id = generic_link_id("http://example.com");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "3", "version 3");
        assert_eq!(generic_link_id("http://example.com"), id, "deterministic");
        // The id the simulator computed for a generic link to this URL.
        assert_eq!(
            generic_link_id("http://127.0.0.1:18100"),
            "afceaba0-7033-381b-b435-9d0b0812eace"
        );
    }
}
