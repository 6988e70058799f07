//! `GET /healthz`: 200 once D1 answers with the schema applied, 503 otherwise.

use serde_json::json;
use worker::Response;

use crate::error::{AppError, AppResult};
use crate::http::response;
use crate::routes::App;
use crate::store;

pub async fn get(app: &App) -> AppResult<Response> {
    let db = store::database(&app.env)?;
    match store::health::database_answers(&db).await {
        Ok(true) => response::json(200, &json!({ "status": "ok" })),
        Ok(false) => {
            worker::console_error!("healthz: schema not applied");
            Err(AppError::Unavailable)
        }
        Err(e) => {
            worker::console_error!("healthz: {e:?}");
            Err(AppError::Unavailable)
        }
    }
}
