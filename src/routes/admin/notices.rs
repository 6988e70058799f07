//! `/admin/v1/notices/{sha256}`: the words behind a consent event's `notice_text_hash`.

use worker::{Request, Response};

use crate::error::{AppError, AppResult};
use crate::http::app::App;
use crate::http::response;
use crate::store::notices;

/// Scope `contacts:read`: whoever may read consent histories may read what they point at.
pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    let call = app.admin()?;
    let sha256 = app.param("sha256")?;
    if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::validation("sha256", "64 hexadecimal characters"));
    }
    let notice = notices::find(&call.db, &sha256.to_ascii_lowercase())
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &notice)
}

// The contract: each handler's OpenAPI operation.

/// `GET /admin/v1/notices/{sha256}`: the contract of [`get`].
pub fn get_doc() -> serde_json::Value {
    crate::routes::openapi::legacy_operation("get", "/admin/v1/notices/{sha256}")
}
