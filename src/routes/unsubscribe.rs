//! One-click unsubscribe (RFC 8058): `GET` shows a page with a button, `POST` withdraws the
//! marketing consent. The link is signed per contact, so it needs no lookup table and never expires.

use worker::{Request, Response};

use crate::config::Config;
use crate::domain::i18n::{text, Text};
use crate::domain::link::{self, LinkPurpose};
use crate::domain::time;
use crate::error::AppResult;
use crate::http::client;
use crate::jobs::{enqueue, message::Job};
use crate::pages::{escape, page};
use crate::routes::confirm::{html, page_locale};
use crate::routes::{param_value, query_pairs, App};
use crate::store::{self, audit, consents, contacts, profile};

pub async fn page_get(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let locale = page_locale(&req);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    let title = text(locale, Text::UnsubscribeTitle);
    if link::verify(&config.token_secret, token, LinkPurpose::Unsubscribe).is_none() {
        let body = format!(
            r#"<p id="result" role="alert">{}</p>"#,
            escape(text(locale, Text::LinkInvalid))
        );
        return html(400, page(locale, title, &body));
    }
    let body = format!(
        r#"<p>{intro}</p>
<form method="post" action="/unsubscribe?t={token}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit" id="unsubscribe">{button}</button>
</form>"#,
        intro = escape(text(locale, Text::UnsubscribeIntro)),
        token = escape(token),
        button = escape(text(locale, Text::UnsubscribeButton)),
    );
    html(200, page(locale, title, &body))
}

/// Mail providers POST `List-Unsubscribe=One-Click` here without a person present; the page's
/// button posts the same. Either way the answer is a page, and repeating it is harmless.
pub async fn post(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = store::database(&app.env)?;
    let locale = page_locale(&req);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    let title = text(locale, Text::UnsubscribeTitle);
    let Some(id) = link::verify(&config.token_secret, token, LinkPurpose::Unsubscribe) else {
        let body = format!(
            r#"<p id="result" role="alert">{}</p>"#,
            escape(text(locale, Text::LinkInvalid))
        );
        return html(400, page(locale, title, &body));
    };
    // An erased person has nothing left to withdraw; the answer is the same.
    if contacts::find(&db, &id).await?.is_some() {
        let at = time::now_string();
        let mut statements = consents::record_statements(
            &db,
            &consents::ConsentEvent {
                contact_id: &id,
                purpose: "marketing_email",
                granted: false,
                policy_version: None,
                notice_text_hash: None,
                source: "unsubscribe_link",
                method: "one_click_unsubscribe",
                ip_hash: Some(&client::ip_hash(&req, &config.token_secret)),
                user_agent: client::user_agent(&req).as_deref(),
                at: &at,
            },
        )?;
        statements.push(profile::marketing_status_statement(&db, &id, false, &at)?);
        statements.push(audit::record(
            &db,
            &format!("contact:{id}"),
            "consent.withdraw",
            Some(&id),
        )?);
        store::batch(&db, statements).await?;
        if let Err(e) = enqueue(&app.env, Job::ContactChanged { id: id.clone() }).await {
            worker::console_error!("unsubscribe: enqueue failed: {e:?}");
        }
    }
    let body = format!(
        r#"<p id="result" role="status">{}</p>"#,
        escape(text(locale, Text::UnsubscribeDone))
    );
    html(200, page(locale, title, &body))
}
