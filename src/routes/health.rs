//! `GET /healthz`: 200 once D1 answers with the schema applied, 503 otherwise; 500
//! `misconfigured` when a setting is missing or malformed, including the one only a background
//! job reads (the relay's signing secret), so a deployment shows it at once, not when mail stops.

use serde_json::json;
use worker::{Request, Response};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::app::App;
use crate::http::response;
use crate::store;

pub async fn get(_req: Request, app: &App) -> AppResult<Response> {
    Config::from_env(&app.env)?.email_webhook_secret()?;
    let db = app.db()?;
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

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /healthz`: [`get`](super::get).
    pub fn get() -> Value {
        json!({
            "operationId": "healthz",
            "summary": "Liveness and D1 readiness",
            "responses": {
                "200": json_response("D1 answers", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "ok" } } })),
                "500": error_response("a setting is missing or malformed (`misconfigured`, naming it)"),
                "503": error_response("D1 does not answer")
            }
        })
    }
}
