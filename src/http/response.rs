//! Building responses: JSON with the headers every answer carries, and errors via `AppError`.

use serde::Serialize;
use worker::{Headers, Response};

use crate::error::AppError;

/// Headers on every response: no sniffing, no caching of personal data, and no referrer, since
/// our URLs carry link tokens.
fn base_headers(content_type: &str) -> Headers {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", content_type);
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    let _ = headers.set("Referrer-Policy", "no-referrer");
    let _ = headers.set("Cache-Control", "no-store");
    headers
}

pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, AppError> {
    let bytes = serde_json::to_vec(body)?;
    Ok(Response::from_bytes(bytes)?
        .with_status(status)
        .with_headers(base_headers("application/json")))
}

pub fn text(
    status: u16,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> Result<Response, AppError> {
    Ok(Response::from_bytes(body.into())?
        .with_status(status)
        .with_headers(base_headers(content_type)))
}

/// A hosted page (confirm, unsubscribe): no script, styles inline, posts only to itself.
pub fn html_page(status: u16, body: String) -> Result<Response, AppError> {
    let mut r = text(status, "text/html; charset=utf-8", body)?;
    r.headers_mut().set(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    )?;
    Ok(r)
}

/// The response for an error. Server errors are logged here with their cause, which carries
/// no request data; the body stays generic.
pub fn error(err: &AppError) -> worker::Result<Response> {
    if let AppError::Internal(cause) = err {
        worker::console_error!("internal error: {cause}");
    }
    if let AppError::Misconfigured(what) = err {
        worker::console_error!("misconfigured: {what}");
    }
    let body = err.body().to_string();
    let headers = base_headers("application/json");
    for (name, value) in err.extra_headers() {
        let _ = headers.set(name, &value);
    }
    Ok(Response::from_bytes(body.into_bytes())?
        .with_status(err.status())
        .with_headers(headers))
}
