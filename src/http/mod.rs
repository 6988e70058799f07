//! HTTP plumbing shared by every route: bodies, auth, responses and their headers.

pub mod app;
pub mod auth;
pub mod body;
pub mod client;
pub mod contract;
pub mod cors;
pub mod response;
pub mod session;
pub mod turnstile;
