//! Double opt-in: the confirmation email, the page its link opens (a GET never changes state,
//! because mail scanners prefetch links), and the POST that consumes the token.

use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

use crate::config::Config;
use crate::domain::i18n::{text, Locale, Text};
use crate::error::{AppError, AppResult};
use crate::flows::confirmation::{self, Confirmer};
use crate::http::app::{param_value, query_pairs, App};
use crate::http::body::{parse_token, read_json, JSON_LIMIT};
use crate::http::client::{self, page_locale};
use crate::http::response::{self, html_page};
use crate::pages::{escape, page};

/// Follows a confirmation link for either entry point, once the caller is within its limit.
async fn confirm(req: &Request, app: &App, token: &str) -> AppResult<Locale> {
    let config = Config::from_env(&app.env)?;
    let db = app.db()?;
    client::limit_per_ip(&app.env, req, "confirm").await?;
    let by = Confirmer {
        ip_hash: client::ip_hash(req, &config.keys),
        user_agent: client::user_agent(req),
        gpc: client::gpc(req),
    };
    confirmation::confirm(&app.env, &config, &db, token, by).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    token: String,
}

/// `POST /v1/confirm {"token"}` for the widget and API clients.
pub async fn post_json(mut req: Request, app: &App) -> AppResult<Response> {
    let body: ConfirmRequest = read_json(&mut req, JSON_LIMIT).await?;
    let token = parse_token(&body.token)?;
    confirm(&req, app, token).await?;
    response::json(200, &json!({ "status": "confirmed" }))
}

/// `GET /confirm?t=…`: a page with one button; nothing changes until it is pressed.
pub async fn page_get(req: Request, _app: &App) -> AppResult<Response> {
    let locale = page_locale(&req);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    if parse_token(token).is_err() {
        let body = format!(
            r#"<p id="result" role="alert">{}</p>"#,
            escape(text(locale, Text::LinkInvalid))
        );
        return html_page(400, page(locale, text(locale, Text::ConfirmTitle), &body));
    }
    let body = format!(
        r#"<p>{intro}</p>
<form method="post" action="/confirm?t={token}">
<button type="submit" id="confirm">{button}</button>
</form>"#,
        intro = escape(text(locale, Text::ConfirmIntro)),
        token = escape(token),
        button = escape(text(locale, Text::ConfirmButton)),
    );
    html_page(200, page(locale, text(locale, Text::ConfirmTitle), &body))
}

/// `POST /confirm?t=…`: the button on the page, as a plain form post, answered with a page.
pub async fn page_post(req: Request, app: &App) -> AppResult<Response> {
    let fallback = page_locale(&req);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    let outcome = match parse_token(token) {
        Ok(token) => confirm(&req, app, token).await,
        Err(e) => Err(e),
    };
    let (status, locale, message) = match outcome {
        Ok(locale) => (200, locale, text(locale, Text::ConfirmDone)),
        // As on the GET page and in `POST /v1/confirm`: malformed is 400, spent or forged 410.
        Err(AppError::BadRequest { .. }) => (400, fallback, text(fallback, Text::LinkInvalid)),
        Err(AppError::Gone) => (410, fallback, text(fallback, Text::LinkInvalid)),
        Err(e) => {
            if let AppError::Internal(cause) = &e {
                worker::console_error!("confirm page: {cause}");
            }
            (e.status(), fallback, text(fallback, Text::TryAgainLater))
        }
    };
    let body = format!(r#"<p id="result" role="status">{}</p>"#, escape(message));
    html_page(
        status,
        page(locale, text(locale, Text::ConfirmTitle), &body),
    )
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /confirm`: [`page_get`](super::page_get).
    pub fn page_get() -> Value {
        json!({
            "operationId": "confirmPage",
            "summary": "The page a confirmation link opens: one button, no state change",
            "parameters": [token_param()],
            "responses": { "200": html_response("page"), "400": html_response("malformed link") }
        })
    }

    /// `POST /confirm`: [`page_post`](super::page_post).
    pub fn page_post() -> Value {
        json!({
            "operationId": "confirmPagePost",
            "summary": "The page's button: confirms and answers with a page",
            "parameters": [token_param()],
            "responses": {
                "200": html_response("confirmed"), "400": html_response("malformed link"), "410": html_response("used, expired or invalid link"),
                "429": html_response("too many requests from this address (per-IP limit): a page asking to try again later")
            }
        })
    }

    /// `POST /v1/confirm`: [`post_json`](super::post_json).
    pub fn post_json() -> Value {
        json!({
            "operationId": "confirm",
            "summary": "Confirm a signup with the token from the email",
            "requestBody": json_body(json!({ "type": "object", "additionalProperties": false, "required": ["token"], "properties": { "token": { "type": "string" } } })),
            "responses": with_body_errors(json!({
                "200": json_response("confirmed", status_only("confirmed")),
                "410": error_response("used, expired, forged or wrong-purpose token"),
                "429": rate_limited("too many requests from this address; see Retry-After")
            }))
        })
    }
}
