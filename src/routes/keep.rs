//! "Keep me subscribed": the page a re-permission email's button opens (a GET never changes
//! state, because mail scanners prefetch links) and the POST that renews the consent, once.

use worker::{Request, Response};

use crate::config::Config;
use crate::domain::i18n::{text, Locale, Text};
use crate::error::{AppError, AppResult};
use crate::flows::lifecycle::{self, Presser};
use crate::http::app::{param_value, query_pairs, App};
use crate::http::body::parse_token;
use crate::http::client::{self, page_locale};
use crate::http::response::html_page;
use crate::pages::{escape, page};

/// `GET /keep?t=…`: the words of the consent and one button; nothing changes until it is
/// pressed. A used or expired link says so.
pub async fn page_get(req: Request, app: &App) -> AppResult<Response> {
    let locale = page_locale(&req);
    let title = text(locale, Text::KeepTitle);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    let invalid = |status| {
        let body = format!(
            r#"<p id="result" role="alert">{}</p>"#,
            escape(text(locale, Text::LinkInvalid))
        );
        html_page(status, page(locale, title, &body))
    };
    let Ok(token) = parse_token(token) else {
        return invalid(400);
    };
    let Some(offer) = lifecycle::keep_offer(&app.db()?, token).await? else {
        return invalid(410);
    };
    let body = format!(
        r#"<p id="notice">{notice}</p>
<form method="post" action="/keep?t={token}">
<button type="submit" id="keep">{button}</button>
</form>"#,
        notice = escape(&lifecycle::keep_notice(locale, &offer.purpose)),
        token = escape(token),
        button = escape(text(locale, Text::KeepButton)),
    );
    html_page(200, page(locale, title, &body))
}

/// `POST /keep?t=…`: the page's button. Renews the consent with the words the page showed, and
/// answers with a page; a second press, an expired link or a consent withdrawn since is 410.
pub async fn page_post(req: Request, app: &App) -> AppResult<Response> {
    let locale = page_locale(&req);
    let title = text(locale, Text::KeepTitle);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    let outcome = match parse_token(token) {
        Ok(token) => press(&req, app, token, locale).await,
        Err(e) => Err(e),
    };
    let (status, message) = match outcome {
        Ok(_) => (200, text(locale, Text::KeepDone)),
        Err(AppError::BadRequest { .. }) => (400, text(locale, Text::LinkInvalid)),
        Err(AppError::Gone) => (410, text(locale, Text::LinkInvalid)),
        Err(e) => {
            if let AppError::Internal(cause) = &e {
                worker::console_error!("keep page: {cause}");
            }
            (e.status(), text(locale, Text::TryAgainLater))
        }
    };
    let body = format!(r#"<p id="result" role="status">{}</p>"#, escape(message));
    html_page(status, page(locale, title, &body))
}

/// Renews once the caller is within its per-IP limit.
async fn press(req: &Request, app: &App, token: &str, locale: Locale) -> AppResult<String> {
    client::limit_per_ip(&app.env, req, "keep").await?;
    let config = Config::from_env(&app.env)?;
    let by = Presser {
        ip_hash: client::ip_hash(req, &config.keys),
        user_agent: client::user_agent(req),
        locale,
    };
    lifecycle::keep(&app.db()?, token, &by).await
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /keep`: [`page_get`](super::page_get).
    pub fn page_get() -> Value {
        json!({
            "operationId": "keepPage",
            "summary": "The page a re-permission email's button opens: the consent's words and one button, no state change",
            "parameters": [token_param()],
            "responses": { "200": html_response("page"), "400": html_response("malformed link"), "410": html_response("used or expired link") }
        })
    }

    /// `POST /keep`: [`page_post`](super::page_post).
    pub fn page_post() -> Value {
        json!({
            "operationId": "keepPagePost",
            "summary": "The page's button: renews the consent (a `granted` event by `re_permission` with the words shown) and answers with a page",
            "parameters": [token_param()],
            "responses": {
                "200": html_response("renewed"), "400": html_response("malformed link"),
                "410": html_response("used or expired link, or a consent withdrawn since the email"),
                "429": html_response("too many requests from this address (per-IP limit): a page asking to try again later")
            }
        })
    }
}
