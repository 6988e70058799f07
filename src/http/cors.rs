//! CORS for the public form endpoints: only a form's own allowed origins get CORS headers;
//! any other browser origin is refused with a 403 that carries none.

use worker::{Request, Response};

use crate::domain::form::FormDefinition;
use crate::error::{AppError, AppResult};

pub fn request_origin(req: &Request) -> Option<String> {
    req.headers()
        .get("Origin")
        .ok()
        .flatten()
        .filter(|o| !o.is_empty())
}

/// The origin to echo back, `None` for requests without `Origin` (servers, curl), or 403.
pub fn check_origin(req: &Request, form: &FormDefinition) -> AppResult<Option<String>> {
    match request_origin(req) {
        None => Ok(None),
        Some(origin) if form.allows_origin(&origin) => Ok(Some(origin)),
        Some(_) => Err(AppError::Forbidden {
            code: "origin_not_allowed",
            message: "this form does not accept submissions from this site".into(),
        }),
    }
}

pub fn allow(mut response: Response, origin: Option<&str>) -> Response {
    if let Some(origin) = origin {
        let h = response.headers_mut();
        let _ = h.set("Access-Control-Allow-Origin", origin);
        let _ = h.set("Vary", "Origin");
        let _ = h.set("Access-Control-Expose-Headers", "Retry-After");
    }
    response
}

pub fn preflight(origin: &str) -> AppResult<Response> {
    let mut response = Response::empty()?.with_status(204);
    let h = response.headers_mut();
    let _ = h.set("Access-Control-Allow-Origin", origin);
    let _ = h.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    let _ = h.set("Access-Control-Allow-Headers", "Content-Type");
    let _ = h.set("Access-Control-Max-Age", "600");
    let _ = h.set("Vary", "Origin");
    Ok(response)
}
