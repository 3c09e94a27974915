//! Authentication at the HTTP edge: the [`Authenticated`] extractor, the session cookie, and the
//! client address for the audit trail.
//!
//! * `Authorization: Bearer fcrm_…` → [`Auth::authenticate_bearer`](fincrm_service::auth::Auth).
//!   When the header is present it alone decides (no fallback to the cookie).
//! * Otherwise the cookie [`SESSION_COOKIE`] → `Auth::authenticate_session`; on every request
//!   whose method is not `GET`, `HEAD` or `OPTIONS`, the `X-CSRF-Token` header must carry the
//!   session's CSRF token (403 otherwise). Bearer tokens need no CSRF token: browsers never send
//!   them by themselves.
//! * Anything missing, unknown, expired or revoked → one generic 401 problem.

use crate::AppState;
use crate::problem::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use fincrm_service::auth::Principal;
use std::net::SocketAddr;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "fincrm_session";

/// The header carrying the CSRF token on state-changing cookie-authenticated requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The client's address for the audit trail and the login limit: the socket's peer, or behind
/// a trusted reverse proxy the address it forwarded ([`crate::edge::EdgeSettings::client_of`]);
/// `None` when the server was not started with connect info (tests).
pub fn client_ip(parts: &Parts, state: &AppState) -> Option<std::net::IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    Some(state.edge.client_of(peer, forwarded))
}

/// Whether the request reached us over TLS: an `https` request URI, or `X-Forwarded-Proto:
/// https` from a TLS-terminating proxy. Only decides the cookie's `Secure` flag, which can only
/// restrict where the browser sends the cookie, so a forged header weakens nothing.
pub fn came_over_tls(parts: &Parts) -> bool {
    parts.uri.scheme_str() == Some("https")
        || parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

fn safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = chrono::Utc::now();
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or_else(ApiError::unauthenticated)?;
            let principal = state.auth.authenticate_bearer(token, now).await?;
            return Ok(Self(principal));
        }
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(ApiError::unauthenticated());
        };
        let principal = state.auth.authenticate_session(token, now).await?;
        if !safe_method(&parts.method) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !principal.check_csrf(presented) {
                return Err(ApiError::forbidden(
                    "missing or wrong X-CSRF-Token for this session",
                ));
            }
        }
        Ok(Self(principal))
    }
}

/// The client address of a request, as an extractor (see [`client_ip`]).
#[derive(Debug, Clone, Default)]
pub struct ClientAddr(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts, state).map(|ip| ip.to_string())))
    }
}
