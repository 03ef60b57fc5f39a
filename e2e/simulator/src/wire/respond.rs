//! Content negotiation and the error envelopes of the three resource families.

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::wire::model::{ErrorList, StatusEnv, v3_errors};
use crate::wire::xml::El;

/// Response format of a classic resource: XML unless the client asks for JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    Xml,
    Json,
}

impl Fmt {
    /// Classic resources list XML first, so `*/*` or no Accept gets XML; JSON must be asked for.
    pub fn from_headers(h: &HeaderMap) -> Fmt {
        let accept = h
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let json = accept.find("application/json");
        let xml = accept.find("application/xml").or(accept.find("text/xml"));
        match (json, xml) {
            (Some(j), Some(x)) if x < j => Fmt::Xml,
            (Some(_), _) => Fmt::Json,
            _ => Fmt::Xml,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Fmt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Fmt::from_headers(&parts.headers))
    }
}

pub fn negotiated(fmt: Fmt, status: StatusCode, json: Value, xml: El) -> Response {
    match fmt {
        Fmt::Json => json_response(status, &json),
        Fmt::Xml => xml_response(status, xml.to_document()),
    }
}

pub fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        v.to_string(),
    )
        .into_response()
}

pub fn xml_response(status: StatusCode, doc: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml;charset=UTF-8"),
        )],
        doc,
    )
        .into_response()
}

pub fn status_env(fmt: Fmt, env: StatusEnv) -> Response {
    let code = StatusCode::from_u16(env.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    negotiated(fmt, code, env.json(), env.xml())
}

/// An error of a handler, rendered in the envelope of its resource family.
#[derive(Debug)]
pub enum ApiError {
    /// Classic `Status` envelope (401/403/404/500 of classic resources).
    Status(Fmt, u16, String),
    /// Classic `ErrorListEntity` (400/409).
    List(Fmt, u16, Vec<String>, Vec<String>),
    /// V3 `RestErrors` (JSON only).
    V3(u16, String),
    /// V3 `RestErrors` naming the offending field in `context`.
    /// Several V3 errors at once: `(context, summary)` each.
    V3Errors(u16, Vec<(Option<String>, String)>),
    /// A ready response (boxed: responses are large).
    Raw(Box<Response>),
}

impl ApiError {
    pub fn list(fmt: Fmt, status: u16, message: impl Into<String>) -> Self {
        ApiError::List(fmt, status, vec![message.into()], vec![])
    }

    pub fn list_field(fmt: Fmt, status: u16, message: impl Into<String>, field: &str) -> Self {
        ApiError::List(fmt, status, vec![message.into()], vec![field.into()])
    }

    pub fn status(fmt: Fmt, status: u16, message: impl Into<String>) -> Self {
        ApiError::Status(fmt, status, message.into())
    }

    pub fn raw(r: Response) -> Self {
        ApiError::Raw(Box::new(r))
    }

    pub fn v3(status: u16, summary: impl Into<String>) -> Self {
        ApiError::V3(status, summary.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Status(fmt, code, msg) => status_env(fmt, StatusEnv::message(code, msg)),
            ApiError::List(fmt, code, messages, fields) => {
                let e = ErrorList {
                    status: code,
                    messages,
                    fields,
                };
                negotiated(fmt, sc(code), e.json(), e.xml())
            }
            ApiError::V3(code, summary) => {
                json_response(sc(code), &v3_errors(code, &summary, None))
            }
            ApiError::V3Errors(code, errors) => {
                let list: Vec<serde_json::Value> = errors
                    .into_iter()
                    .map(|(context, summary)| match context {
                        Some(c) => serde_json::json!({"context": c, "summary": summary}),
                        None => serde_json::json!({ "summary": summary }),
                    })
                    .collect();
                json_response(
                    sc(code),
                    &serde_json::json!({"status": code, "errors": list}),
                )
            }
            ApiError::Raw(r) => *r,
        }
    }
}

pub fn sc(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub type ApiResult = Result<Response, ApiError>;

/// Response extension: the refusal reason recorded in the request log. Never a secret.
#[derive(Clone, Debug)]
pub struct LogReason(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt_for(accept: Option<&str>) -> Fmt {
        let mut h = HeaderMap::new();
        if let Some(a) = accept {
            h.insert(header::ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        Fmt::from_headers(&h)
    }

    #[test]
    fn negotiation_prefers_xml_by_default() {
        assert_eq!(fmt_for(None), Fmt::Xml);
        assert_eq!(fmt_for(Some("*/*")), Fmt::Xml);
        assert_eq!(fmt_for(Some("application/json")), Fmt::Json);
        assert_eq!(fmt_for(Some("application/xml, application/json")), Fmt::Xml);
        assert_eq!(
            fmt_for(Some("application/json, application/xml")),
            Fmt::Json
        );
    }
}
