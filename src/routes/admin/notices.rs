//! `/admin/v1/notices/{sha256}`: the words behind a consent event's `notice_text_hash`.

use worker::{Request, Response};

use crate::domain::scope::Scope;
use crate::error::{AppError, AppResult};
use crate::http::response;
use crate::routes::admin::admit;
use crate::routes::App;
use crate::store::notices;

/// Scope `contacts:read`: whoever may read consent histories may read what they point at.
pub async fn get(req: Request, app: &App) -> AppResult<Response> {
    let call = admit(&req, app, Scope::ContactsRead).await?;
    let sha256 = app.param(0)?;
    if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::validation("sha256", "64 hexadecimal characters"));
    }
    let notice = notices::find(&call.db, &sha256.to_ascii_lowercase())
        .await?
        .ok_or(AppError::NotFound)?;
    response::json(200, &notice)
}
