//! The top layer: each app's listening socket (`listen.rs`), its routes (`routes.rs`), and the
//! request pipeline in front of the router: faults, `.json` suffix, caller, the access gate
//! (cloud refusals, rate limit, XSRF, WebSudo; see `access.rs`), request log.

mod listen;
pub(crate) mod routes;

pub(crate) use listen::Host;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use crate::control::ListenerRef;
use crate::gate::access;
use crate::gate::auth::{self, Caller, Via};
use crate::product::Product;
use crate::store::LogEntry;
use crate::wire::model::StatusEnv;
use crate::wire::respond::{Fmt, status_env};

/// Route template of the handled request, carried to the request log.
#[derive(Clone)]
pub struct RouteTag(pub String);

pub async fn tag_route(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let mut resp = next.run(req).await;
    if let Some(r) = route {
        resp.extensions_mut().insert(RouteTag(r));
    }
    resp
}

/// Entry point of every request on an app's port.
pub(crate) async fn handle(host: Arc<Host>, mut req: Request<Body>) -> Response {
    let listener: ListenerRef = host.clone();
    req.extensions_mut().insert(listener);
    let app = &host.app;
    let router = &host.router;
    if req.uri().path().starts_with("/_sim") {
        return route(router, req).await;
    }
    let started = Instant::now();
    let started_unix_micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(200).collect());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (mut resp, via) = match crate::control::faults::take(app, &method, &path) {
        Some(fault) => {
            let real = |req| async { process(&host, req).await.0 };
            (
                crate::control::faults::serve(app, fault, req, real).await,
                "fault",
            )
        }
        None => process(&host, req).await,
    };
    let skew = app.faults.lock().expect("faults").clock_skew_secs;
    if skew != 0
        && let Ok(v) = HeaderValue::from_str(&http_date(crate::wire::oauth1::now_secs() + skew))
    {
        resp.headers_mut().insert(header::DATE, v);
    }
    let status = resp.status();
    app.log.lock().expect("log").push(LogEntry {
        seq: 0,
        method: method.to_string(),
        path,
        route: resp.extensions().get::<RouteTag>().map(|r| r.0.clone()),
        status: status.as_u16(),
        auth: via.to_string(),
        reason: resp
            .extensions()
            .get::<crate::wire::respond::LogReason>()
            .map(|r| r.0.clone()),
        micros: started.elapsed().as_micros() as u64,
        started_unix_micros,
        user_agent,
    });
    if method != Method::GET && status.is_success() {
        app.persist();
    }
    resp
}

async fn route(router: &Router, req: Request<Body>) -> Response {
    match router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

async fn process(host: &Host, mut req: Request<Body>) -> (Response, &'static str) {
    let app = &*host.app;
    let latency = app.faults.lock().expect("faults").latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    {
        let mut f = app.faults.lock().expect("faults");
        if f.fail_next > 0 {
            f.fail_next -= 1;
            let code = StatusCode::from_u16(f.fail_status.unwrap_or(503))
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return (
                (code, format!("simulated failure ({})", code.as_u16())).into_response(),
                "fault",
            );
        }
        if f.throttle_next > 0 {
            f.throttle_next -= 1;
            let retry = f.retry_after_secs.to_string();
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "simulated rate limit").into_response();
            if let Ok(v) = HeaderValue::from_str(&retry) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return (r, "fault");
        }
    }
    strip_json_suffix(&mut req);
    let fmt = Fmt::from_headers(req.headers());
    let path = req.uri().path().to_string();
    if app.cfg.product == Product::BitbucketCloud && access::absent_on_bitbucket_cloud(&path) {
        return (access::not_found(), "anonymous");
    }
    if is_manifest_path(&path) {
        let redirect = app.faults.lock().expect("faults").manifest_redirect.clone();
        if let Some(target) = redirect {
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return (r, "anonymous");
        }
    }
    let caller = match auth::resolve(app, &req) {
        Ok(c) => c,
        Err(r) => return (*r.response, r.label),
    };
    let token_login = caller.via == Via::Bearer;
    let login_denied = caller.login_denied;
    let (mut resp, mut label) = admit(host, req, caller, fmt, &path).await;
    if token_login {
        resp.headers_mut()
            .append(header::SET_COOKIE, access::dead_session_cookie());
    }
    if login_denied {
        access::mark_login_denied(resp.headers_mut(), &app.login_url());
        label = "captcha";
    }
    (resp, label)
}

/// The checks between an authenticated caller and the resource, then the resource.
async fn admit(
    host: &Host,
    mut req: Request<Body>,
    caller: Caller,
    fmt: Fmt,
    path: &str,
) -> (Response, &'static str) {
    let app = &*host.app;
    let via = caller.via.label();
    if app.is_cloud()
        && matches!(caller.via, Via::Basic | Via::Bearer)
        && access::cloud_refuses(req.method(), path)
    {
        return (access::cloud_refusal(), "cloud_refused");
    }
    let settings = app.settings();
    let mut rate = None;
    if let (Some(rl), Some(key)) = (
        &settings.rate_limit,
        crate::gate::rate_limit::bucket(app, &caller, req.headers(), path),
    ) {
        let outcome = app
            .access
            .lock()
            .expect("access")
            .take_token(rl, &key, Instant::now());
        if !outcome.allowed {
            let mut r = crate::gate::rate_limit::refusal(req.headers());
            outcome.apply(r.headers_mut());
            return (r, "rate_limited");
        }
        // The headers go on answers to authenticated callers only.
        if key != crate::gate::rate_limit::ANONYMOUS {
            rate = Some(outcome);
        }
    }
    if let Some(r) = crate::gate::bearer::scope_refusal(app, &caller, req.method()) {
        return (r, via);
    }
    if path.starts_with("/rest/")
        && !crate::gate::bearer::xsrf_excluded(path)
        && xsrf_refused(app, &req)
    {
        return (crate::gate::xsrf::refusal(), via);
    }
    if settings.missing_content_type_415
        && matches!(*req.method(), Method::POST | Method::PUT)
        && path.starts_with("/rest/")
        && !req.headers().contains_key(header::CONTENT_TYPE)
    {
        let env = StatusEnv::message(415, "Unsupported Media Type");
        return (status_env(fmt, env), via);
    }
    if access::websudo_guarded(req.method(), path, &app.profile.allowlist_paths()) {
        let session = access::session_id(&req).and_then(|id| {
            app.access
                .lock()
                .expect("access")
                .sessions
                .get(&id)
                .cloned()
        });
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let oauth_signed = matches!(
            caller.via,
            Via::TwoLo | Via::TwoLoImpersonation | Via::ThreeLo | Via::OAuth2
        );
        if !access::websudo_passes(&settings, authorization, session.as_ref(), oauth_signed) {
            return (access::websudo_refusal(fmt), "websudo");
        }
    }
    req.extensions_mut().insert::<Caller>(caller);
    let mut resp = route(&host.router, req).await;
    if let Some(r) = rate {
        r.apply(resp.headers_mut());
    }
    (resp, via)
}

/// The XSRF filter's decision (docs/simulator.md#xsrf), with the origin the request was sent
/// to (this listener's scheme and the `Host` it named) and the links' rpcUrls for the CORS
/// allowance.
fn xsrf_refused(app: &crate::app::App, req: &Request<Body>) -> bool {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| format!("127.0.0.1:{}", app.port));
    let request_origin = format!("{}://{host}", app.scheme);
    let link_rpc_urls = || {
        app.links_where(|_| true)
            .into_iter()
            .map(|l| l.rpc_url)
            .collect()
    };
    crate::gate::xsrf::refused(&crate::gate::xsrf::XsrfInput {
        method: req.method(),
        headers: req.headers(),
        request_origin: &request_origin,
        link_rpc_urls: &link_rpc_urls,
    })
}

/// RFC 7231 IMF-fixdate of a Unix time.
fn http_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `/manifest.json` style suffixes select JSON (docs/simulator.md#content-negotiation); the
/// suffix is removed before routing.
fn strip_json_suffix(req: &mut Request<Body>) {
    let path = req.uri().path();
    if !path.starts_with("/rest/") || !path.ends_with(".json") {
        return;
    }
    let new_path = path.trim_end_matches(".json").to_string();
    let pq = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
            req.headers_mut()
                .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        }
    }
}

fn is_manifest_path(path: &str) -> bool {
    path.starts_with("/rest/applinks/") && path.ends_with("/manifest")
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(super::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            super::http_date(1_798_761_599),
            "Thu, 31 Dec 2026 23:59:59 GMT"
        );
        assert_eq!(
            super::http_date(951_782_400),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }
}
