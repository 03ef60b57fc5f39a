//! Who is calling and whether they get through: the caller (Basic, session, OAuth 1.0a, bearer)
//! and the access rules in front of every surface.

pub(crate) mod access;
pub(crate) mod auth;
pub(crate) mod basic_blocked;
pub(crate) mod bearer;
pub(crate) mod rate_limit;
pub(crate) mod xsrf;
