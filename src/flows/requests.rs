//! Data-subject requests on the register (`store::privacy_requests`): who asked and how, the
//! statement each change pushes into its own batch, and the access request's answer, the same
//! export document whether the person downloads it or staff answer a request given offline.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use worker::D1PreparedStatement;

use crate::config::Config;
use crate::domain::consent::{MARKETING_EMAIL, PROFILING};
use crate::domain::i18n::Locale;
use crate::domain::privacy_request::{Channel, Kind, OfflineChannel, Reason};
use crate::domain::time;
use crate::error::AppResult;
use crate::flows::contact::full_document;
use crate::store::privacy_requests::{self, RequestRow};
use crate::store::{self, audit, consents, contacts, Db};

/// The register's actor for what a person did themselves.
pub const SELF: &str = "self";

/// Who asked, and how.
pub enum Asked<'a> {
    /// The person, through self-service: done as asked.
    Themselves,
    /// Staff, for a request the person gave them (`actor`: the API key).
    Offline {
        channel: OfflineChannel,
        reason: &'a Reason,
        received_at: DateTime<Utc>,
        actor: &'a str,
    },
}

impl Asked<'_> {
    /// The register's entry for `kind`, completed at `done_at`.
    pub fn request(
        &self,
        config: &Config,
        contact_id: &str,
        kind: Kind,
        done_at: &str,
    ) -> RequestRow {
        let done = time::parse(done_at).unwrap_or_else(time::now);
        match self {
            Asked::Themselves => RequestRow::new(
                contact_id,
                kind,
                Channel::SelfService,
                None,
                done,
                config.privacy_deadline,
                Some(done),
            ),
            Asked::Offline {
                channel,
                reason,
                received_at,
                ..
            } => RequestRow::new(
                contact_id,
                kind,
                Channel::Offline(*channel),
                Some(reason),
                *received_at,
                config.privacy_deadline,
                Some(done),
            ),
        }
    }

    pub fn actor(&self) -> &str {
        match self {
            Asked::Themselves => SELF,
            Asked::Offline { actor, .. } => actor,
        }
    }
}

/// A withdrawal of `purpose` (an objection when it rests on legitimate interest), made by the
/// person through `channel` and done at `at`; on the register only if it changes the decision
/// on record. It goes before the consent's upsert in the batch.
pub fn withdrawal_statement(
    db: &Db,
    config: &Config,
    contact_id: &str,
    purpose: &str,
    channel: Channel,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    let request = RequestRow::done_at_once(
        contact_id,
        Kind::of_withdrawn(purpose),
        channel,
        config.privacy_deadline,
        at,
    );
    privacy_requests::record_withdrawal(db, &request, SELF, purpose)
}

/// The person's own request carried `Sec-GPC: 1`: their objection to profiling, recorded (on
/// the register too, as a self-service objection) only while they have made no decision on
/// profiling themselves. Statements for the caller's batch, in order.
pub fn gpc_objection_statements(
    db: &Db,
    config: &Config,
    contact_id: &str,
    ip_hash: Option<&str>,
    user_agent: Option<&str>,
    at: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    let request = RequestRow::done_at_once(
        contact_id,
        Kind::Objection,
        Channel::SelfService,
        config.privacy_deadline,
        at,
    );
    let mut statements = vec![privacy_requests::record_first_decision(
        db, &request, SELF, PROFILING,
    )?];
    statements.extend(consents::gpc_objection_statements(
        db, contact_id, ip_hash, user_agent, at,
    )?);
    Ok(statements)
}

/// A correction the person made themselves, done at `at`; on the register only if some of
/// `changes` differs from what is stored. It goes before the updates in the batch.
pub fn rectification_statement(
    db: &Db,
    config: &Config,
    contact_id: &str,
    changes: &[(&'static str, Option<&str>)],
    at: &str,
) -> AppResult<D1PreparedStatement> {
    let request = RequestRow::done_at_once(
        contact_id,
        Kind::Rectification,
        Channel::SelfService,
        config.privacy_deadline,
        at,
    );
    privacy_requests::record_rectification(db, &request, SELF, changes)
}

/// What we keep, why and for how long: part of every export (GDPR Art. 15(1), LGPD Art. 9).
fn processing_record(config: &Config) -> Value {
    // The periods as this deployment is configured, so the person is told what applies to them.
    let lapse = match config.consent_lifetimes.months(MARKETING_EMAIL) {
        Some(months) => format!(
            "a consent to marketing email lapses {months} months after your last sign of engagement, after one email to ask"
        ),
        None => "consents do not lapse here".to_string(),
    };
    let freshness = match config.freshness_months {
        0 => "we do not ask about your details periodically".to_string(),
        months => format!("we ask once if they have not been confirmed for {months} months"),
    };
    json!([
        {"data": "email address", "purpose": "to identify you and send what you agreed to", "retention": "until you erase your data; unconfirmed signups are removed after 30 days"},
        {"data": "profile fields (name, phone, locale, country, city, birth date, gender, preferences)", "purpose": "to personalise and group our messages", "retention": "until you erase your data"},
        {"data": "consent history (purpose, policy version, hash of the text shown, IP hash, hash of the browser's user agent)", "purpose": "proof of your consent", "retention": "IP hash and browser until you erase your data; after erasure only a keyed fingerprint of your address with each decision (purpose, action, method, time, text hash) is kept as proof, for 5 years after the decision"},
        {"data": "orders", "purpose": "purchase history and satisfaction surveys", "retention": "kept for accounting, unlinked from you on erasure"},
        {"data": "survey answers", "purpose": "to improve our service (legitimate interest; you can object in the preference center or with the link in every survey email)", "retention": "scores kept anonymously for statistics after erasure, without the order; text removed"},
        {"data": "facts derived from your orders and answers (temperature, RFM scores) and the groups you are in", "purpose": "to choose offers for you (profiling, legitimate interest; you can object in the preference center, or with your browser's Global Privacy Control)", "retention": "recomputed as your data changes; erased with your data; if you object, no group built from them includes you"},
        {"data": "when your consents were last renewed and your details last confirmed", "purpose": format!("to stop writing when you stop reading ({lapse}) and to keep your details correct ({freshness})"), "retention": "until you erase your data"},
        {"data": "your requests about your data (access, correction, erasure, objection, withdrawal: kind, channel, dates)", "purpose": "proof that each request was answered, and in time", "retention": "5 years after the request, also after erasure (by your contact id only, never your address)"}
    ])
}

/// The access request answered: everything held about the person, with purposes and retention
/// (the document the person downloads) and their requests on the register, this one included;
/// then this request on the register (audited when staff answer it), in one batch.
pub async fn export(
    db: &Db,
    config: &Config,
    contact: contacts::ContactRow,
    locale: Locale,
    asked: &Asked<'_>,
) -> AppResult<(Value, RequestRow)> {
    let id = contact.id.clone();
    let doc = full_document(db, contact, locale, &config.consent_lifetimes).await?;
    let at = time::now_string();
    let request = asked.request(config, &id, Kind::Access, &at);
    let mut requests: Vec<Value> = privacy_requests::of_contact(db, &id)
        .await?
        .iter()
        .map(|r| r.to_json(&at))
        .collect();
    requests.push(request.to_json(&at));
    let export = json!({
        "format": "clientela-export/1",
        "generated_at": at,
        "data": doc,
        "requests": requests,
        "processing": processing_record(config),
    });
    let mut statements = vec![privacy_requests::record(db, &request, asked.actor())?];
    if let Asked::Offline { actor, .. } = asked {
        statements.push(audit::record(db, actor, "contact.export", Some(&id))?);
    }
    store::batch(db, statements).await?;
    Ok((export, request))
}
