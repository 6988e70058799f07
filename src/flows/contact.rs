//! What a contact's documents say: everything held about them (the admin's view, and the
//! person's own with orders, answers and segments), and what a preferences link shows.

use crate::store::Db;
use serde_json::{json, Value};

use crate::domain::consent::{Basis, ConsentLifetimes, Frequency, PROFILING, SATISFACTION_SURVEYS};
use crate::domain::email::EmailAddress;
use crate::domain::i18n::{preference_notice, Locale};
use crate::domain::segment::{explanation, Audience, SegmentRule};
use crate::domain::time;
use crate::error::AppResult;
use crate::flows::lifecycle;
use crate::http::session::SessionScope;
use crate::store::{consents, contacts, profile, segments};

/// The contact, its attributes, current consents and full consent history.
pub async fn contact_document(db: &Db, contact: contacts::ContactRow) -> AppResult<Value> {
    let attributes: serde_json::Map<String, Value> = contacts::attributes(db, &contact.id)
        .await?
        .into_iter()
        .map(|a| {
            (
                a.key,
                serde_json::from_str(&a.value).unwrap_or(Value::String(a.value)),
            )
        })
        .collect();
    let current: Vec<Value> = consents::current(db, &contact.id)
        .await?
        .into_iter()
        .map(|c| json!({"purpose": c.purpose, "granted": c.granted, "frequency": c.frequency, "policy_version": c.policy_version, "updated_at": c.updated_at}))
        .collect();
    let history = consents::history(db, &contact.id).await?;
    let stats = profile::stats(db, &contact.id).await?.map(|s| {
        json!({
            "order_count": s.order_count,
            "total_spent_cents": s.total_spent_cents,
            "first_order_at": s.first_order_at,
            "last_order_at": s.last_order_at,
            "last_nps": s.last_nps,
            "nps_category": s.nps_category,
            "avg_csat": s.avg_csat,
            "csat_count": s.csat_count,
            "temperature": s.temperature,
            "rfm": s.rfm_segment.as_ref().map(|group| json!({
                "r": s.rfm_r,
                "f": s.rfm_f,
                "m": s.rfm_m,
                "group": group,
            })),
        })
    });
    let mut doc = serde_json::to_value(&contact)?;
    if let Some(map) = doc.as_object_mut() {
        map.insert("attributes".into(), Value::Object(attributes));
        map.insert("consents".into(), json!(current));
        map.insert("consent_history".into(), serde_json::to_value(history)?);
        map.insert("stats".into(), stats.unwrap_or(Value::Null));
    }
    Ok(doc)
}

/// The contact document as support reads it (`GET /admin/v1/contacts/{id}`): with the segments
/// the person is in and why, in `locale` (the admin's `Accept-Language`, else English), and
/// their latest orders and survey answers ([`profile::LATEST_SHOWN`] each, with totals).
pub async fn contact_document_with_segments(
    db: &Db,
    contact: contacts::ContactRow,
    locale: Locale,
) -> AppResult<Value> {
    let id = contact.id.clone();
    let mut doc = contact_document(db, contact).await?;
    let explained = explained_segments(db, &id, locale).await?;
    let latest = profile::latest(db, &id).await?;
    let orders: Vec<Value> = latest
        .orders
        .into_iter()
        .map(|o| {
            json!({
                "external_id": o.external_id,
                "total_cents": o.total_cents,
                "currency": o.currency,
                "placed_at": o.placed_at,
                "items": serde_json::from_str::<Value>(&o.items).unwrap_or(Value::Array(vec![])),
            })
        })
        .collect();
    let answers: Vec<Value> = latest
        .answers
        .into_iter()
        .map(|r| {
            json!({
                "survey_id": r.survey_id,
                "survey_name": r.survey_name,
                "answers": serde_json::from_str::<Value>(&r.answers)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({})),
                "nps": r.nps,
                "csat": r.csat,
                "ces": r.ces,
                "created_at": r.created_at,
            })
        })
        .collect();
    if let Some(map) = doc.as_object_mut() {
        map.insert("segments".into(), json!(explained));
        map.insert(
            "orders".into(),
            json!({ "total": latest.order_total, "latest": orders }),
        );
        map.insert(
            "survey_responses".into(),
            json!({ "total": latest.answer_total, "latest": answers }),
        );
    }
    Ok(doc)
}

/// The `ready` segments the person is a member of (at most [`profile::MAX_SEGMENTS_SHOWN`], by
/// name), each `{id, name, explanation}`: the sentences of `domain::segment::explanation`,
/// rendered from the segment's rule and the person's own facts, so nobody else's data and no
/// SQL can appear. D1 cost: one statement for the memberships with their rules (joined); when
/// there is any, one batch of the six per-contact fact reads segments evaluate on (the
/// person's own rows: their attributes, consents, orders' items, memberships); nothing written.
pub async fn explained_segments(
    db: &Db,
    contact_id: &str,
    locale: Locale,
) -> AppResult<Vec<Value>> {
    let memberships = profile::memberships(db, contact_id).await?;
    if memberships.is_empty() {
        return Ok(Vec::new());
    }
    let Some(facts) = segments::facts_for(db, &[contact_id.to_string()])
        .await?
        .into_iter()
        .next()
    else {
        return Ok(Vec::new()); // erased meanwhile
    };
    let now = time::now();
    // Which live segments profile (one paged read): an objector is a member of none of them,
    // and the explanation checks membership as the segment engine does.
    let profiling = segments::profiling_among(&segments::list(db).await?);
    // Names of the segments the person is in: the only ones a `segment` condition that holds
    // can name. A segment they are not in is left unnamed (and its condition unsaid).
    let segment_name = |id: &str| {
        memberships
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.name.clone())
    };
    Ok(memberships
        .iter()
        .map(|m| {
            // Stored rules were parsed when saved; one that no longer parses explains nothing
            // rather than failing the whole document.
            let explained = serde_json::from_str::<SegmentRule>(&m.rule)
                .map(|rule| {
                    let audience = Audience::of(&rule, &m.purpose, &profiling);
                    explanation(&rule, &audience, &facts, now, locale, &segment_name)
                })
                .unwrap_or_default();
            json!({"id": m.id, "name": m.name, "explanation": explained})
        })
        .collect())
}

/// Every purpose the person can decide on, with its state and the exact words shown beside it:
/// those on record, and the legitimate-interest purposes (on until objected to); for a granted
/// purpose that offers a choice, the frequencies and the one chosen; for one that lapses
/// without engagement, when it would.
async fn purposes(
    db: &Db,
    contact: &contacts::ContactRow,
    locale: Locale,
    lifetimes: &ConsentLifetimes,
) -> AppResult<Vec<Value>> {
    let current = consents::current(db, &contact.id).await?;
    let active = contact.last_activity_at.as_deref();
    let offered = |purpose: &str| -> Vec<&'static str> {
        Frequency::offered(purpose)
            .iter()
            .map(|f| f.as_str())
            .collect()
    };
    let mut list: Vec<Value> = current
        .iter()
        .map(|c| {
            json!({
                "purpose": c.purpose,
                "granted": c.granted,
                "basis": Basis::of(&c.purpose).as_str(),
                "policy_version": c.policy_version,
                "updated_at": c.updated_at,
                "notice": preference_notice(locale, &c.purpose),
                "frequencies": offered(&c.purpose),
                "frequency": c.granted.then(|| c.frequency.as_deref().unwrap_or("all")),
                "lapses_at": lifecycle::lapses_at(lifetimes, c, active).map(time::format),
            })
        })
        .collect();
    for purpose in [PROFILING, SATISFACTION_SURVEYS] {
        if !current.iter().any(|c| c.purpose == purpose) {
            list.push(json!({
                "purpose": purpose,
                "granted": Basis::of(purpose).allows(None),
                "basis": Basis::LegitimateInterest.as_str(),
                "policy_version": null,
                "updated_at": null,
                "notice": preference_notice(locale, purpose),
                "frequencies": offered(purpose),
                "frequency": null,
                "lapses_at": null,
            }));
        }
    }
    Ok(list)
}

/// Everything we hold about the person (a `full` session).
pub async fn full_document(
    db: &Db,
    contact: contacts::ContactRow,
    locale: Locale,
    lifetimes: &ConsentLifetimes,
) -> AppResult<Value> {
    let id = contact.id.clone();
    let purposes = purposes(db, &contact, locale, lifetimes).await?;
    let mut doc = contact_document(db, contact).await?;
    let orders: Vec<Value> = profile::orders(db, &id)
        .await?
        .into_iter()
        .map(|o| {
            json!({
                "external_id": o.external_id,
                "total": format!("{}.{:02}", o.total_cents / 100, o.total_cents.rem_euclid(100)),
                "currency": o.currency,
                "placed_at": o.placed_at,
                "items": serde_json::from_str::<Value>(&o.items).unwrap_or(Value::Array(vec![])),
            })
        })
        .collect();
    let responses: Vec<Value> = profile::survey_responses(db, &id)
        .await?
        .into_iter()
        .map(|r| json!({"survey_id": r.survey_id, "answers": serde_json::from_str::<Value>(&r.answers).unwrap_or(Value::Null), "created_at": r.created_at}))
        .collect();
    if let Some(map) = doc.as_object_mut() {
        map.insert("scope".into(), json!(SessionScope::Full.as_str()));
        map.insert("consents".into(), json!(purposes));
        map.insert("orders".into(), json!(orders));
        map.insert("survey_responses".into(), json!(responses));
        map.insert(
            "segments".into(),
            json!(explained_segments(db, &id, locale).await?),
        );
    }
    Ok(doc)
}

/// What a preferences link shows: the purposes and the address masked, nothing else.
pub async fn preferences_document(
    db: &Db,
    contact: &contacts::ContactRow,
    locale: Locale,
    lifetimes: &ConsentLifetimes,
) -> AppResult<Value> {
    let masked = EmailAddress::parse(&contact.email)
        .map(|e| e.masked())
        .unwrap_or_else(|_| "***".into());
    Ok(json!({
        "scope": SessionScope::Preferences.as_str(),
        "email": masked,
        "locale": contact.fields.locale,
        "consents": purposes(db, contact, locale, lifetimes).await?,
    }))
}
