//! `GET /embed.js`: the signup widget shops embed with one script tag.

use worker::Response;

use crate::error::AppResult;
use crate::pages::EMBED_JS;

pub fn get() -> AppResult<Response> {
    let mut r = Response::from_bytes(EMBED_JS.as_bytes().to_vec())?;
    let h = r.headers_mut();
    h.set("Content-Type", "application/javascript; charset=utf-8")?;
    h.set("Cache-Control", "public, max-age=300")?;
    h.set("X-Content-Type-Options", "nosniff")?;
    h.set("Access-Control-Allow-Origin", "*")?;
    Ok(r)
}
