//! One-click unsubscribe (RFC 8058): `GET` shows a page with a button, `POST` withdraws the
//! purpose of the email the link came in (`marketing_email` or `satisfaction_surveys`) and
//! nothing else. The link is signed per contact and stateless; it expires after 400 days and
//! dies when the contact's link epoch moves on.

use worker::{Request, Response};

use crate::config::Config;
use crate::domain::consent::{ConsentMethod, MARKETING_EMAIL};
use crate::domain::i18n::{text, Locale, Text};
use crate::domain::link::{self, LinkPurpose, VerifiedLink};
use crate::domain::privacy_request::Channel;
use crate::domain::time;
use crate::error::AppResult;
use crate::flows::requests;
use crate::http::app::{param_value, query_pairs, App};
use crate::http::client::{self, page_locale};
use crate::http::response::html_page;
use crate::jobs::{enqueue, message::Job};
use crate::pages::{escape, page};
use crate::store::{self, audit, consents, contacts, profile, webhooks};

/// The link in `t`, if it is a genuine unsubscribe link of either kind.
fn verified(config: &Config, token: &str) -> Option<VerifiedLink> {
    let now = time::now();
    [
        LinkPurpose::UnsubscribeMarketing,
        LinkPurpose::UnsubscribeSurveys,
    ]
    .into_iter()
    .find_map(|purpose| link::verify(&config.keys, token, purpose, now))
}

fn texts(purpose: LinkPurpose) -> (Text, Text) {
    match purpose {
        LinkPurpose::UnsubscribeSurveys => {
            (Text::UnsubscribeSurveysIntro, Text::UnsubscribeSurveysDone)
        }
        _ => (Text::UnsubscribeIntro, Text::UnsubscribeDone),
    }
}

fn invalid(locale: Locale) -> AppResult<Response> {
    let body = format!(
        r#"<p id="result" role="alert">{}</p>"#,
        escape(text(locale, Text::LinkInvalid))
    );
    html_page(
        400,
        page(locale, text(locale, Text::UnsubscribeTitle), &body),
    )
}

pub async fn page_get(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let locale = page_locale(&req);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    let Some(link) = verified(&config, token) else {
        return invalid(locale);
    };
    let (intro, _) = texts(link.purpose);
    let body = format!(
        r#"<p>{intro}</p>
<form method="post" action="/unsubscribe?t={token}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit" id="unsubscribe">{button}</button>
</form>"#,
        intro = escape(text(locale, intro)),
        token = escape(token),
        button = escape(text(locale, Text::UnsubscribeButton)),
    );
    html_page(
        200,
        page(locale, text(locale, Text::UnsubscribeTitle), &body),
    )
}

/// Mail providers POST `List-Unsubscribe=One-Click` here without a person present; the page's
/// button posts the same. Either way the answer is a page, and repeating it is harmless.
///
/// Only invalid links count against the per-IP limit: a mail provider posts a campaign's
/// unsubscribes from a few shared addresses, and a genuine withdrawal must never meet a 429.
pub async fn post(req: Request, app: &App) -> AppResult<Response> {
    let config = Config::from_env(&app.env)?;
    let db = app.db()?;
    let locale = page_locale(&req);
    let pairs = query_pairs(&req)?;
    let token = param_value(&pairs, "t").unwrap_or("");
    let Some(link) = verified(&config, token) else {
        client::limit_per_ip(&app.env, &req, "unsubscribe").await?;
        return invalid(locale);
    };
    let purpose = link.purpose.withdraws().unwrap_or(MARKETING_EMAIL);
    let id = link.contact_id.as_str();
    let contact = contacts::find(&db, id).await?;
    // Revoked ("sign out everywhere", or by an operator): said plainly, not a false success;
    // newer emails carry links that work. An erased person has nothing left to withdraw, and
    // gets the same page as a withdrawal, which tells nobody which case it was.
    if contact.as_ref().is_some_and(|c| c.link_epoch != link.epoch) {
        return invalid(locale);
    }
    if contact.is_some() {
        let at = time::now_string();
        let mut statements = vec![webhooks::consent_changed_statement(
            &db,
            id,
            purpose,
            false,
            "unsubscribe_link",
            &at,
        )?];
        statements.push(requests::withdrawal_statement(
            &db,
            &config,
            id,
            purpose,
            Channel::OneClick,
            &at,
        )?);
        statements.extend(consents::record_statements(
            &db,
            &consents::ConsentEvent {
                contact_id: id,
                purpose,
                granted: false,
                policy_version: None,
                notice_text_hash: None,
                source: "unsubscribe_link",
                method: ConsentMethod::OneClickUnsubscribe,
                ip_hash: Some(&client::ip_hash(&req, &config.keys)),
                user_agent: client::user_agent(&req).as_deref(),
                at: &at,
                frequency: None,
            },
        )?);
        if purpose == MARKETING_EMAIL {
            statements.push(profile::marketing_status_statement(&db, id, false, &at)?);
        }
        statements.push(audit::record(
            &db,
            &format!("contact:{id}"),
            "consent.withdraw",
            Some(id),
        )?);
        store::batch(&db, statements).await?;
        if let Err(e) = enqueue(&app.env, Job::ContactChanged { id: id.to_string() }).await {
            worker::console_error!("unsubscribe: enqueue failed: {e:?}");
        }
    }
    let (_, done) = texts(link.purpose);
    let body = format!(
        r#"<p id="result" role="status">{}</p>"#,
        escape(text(locale, done))
    );
    html_page(
        200,
        page(locale, text(locale, Text::UnsubscribeTitle), &body),
    )
}

/// The contract: each handler's OpenAPI operation, written beside it.
pub mod doc {
    #[allow(unused_imports)]
    use crate::http::contract::*;
    use serde_json::{json, Value};

    /// `GET /unsubscribe`: [`page_get`](super::page_get).
    pub fn page_get() -> Value {
        json!({
            "operationId": "unsubscribePage",
            "summary": "Unsubscribe page with one button",
            "parameters": [token_param()],
            "responses": { "200": html_response("page"), "400": html_response("invalid or expired link") }
        })
    }

    /// `POST /unsubscribe`: [`post`](super::post).
    pub fn post() -> Value {
        json!({
            "operationId": "unsubscribe",
            "summary": "RFC 8058 one-click unsubscribe (body List-Unsubscribe=One-Click): withdraws the purpose of the email the link came in (marketing_email or satisfaction_surveys)",
            "description": "A revoked link, or one of an erased person, changes nothing and gets the same page.",
            "parameters": [token_param()],
            "responses": {
                "200": html_response("unsubscribed"), "400": html_response("invalid or expired link"),
                "429": rate_limited("too many requests from this address (per-IP limit); see Retry-After")
            }
        })
    }
}
