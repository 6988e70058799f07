//! Erasure (GDPR Art. 17, LGPD Art. 18 VI): every row about a person, gone in one D1 batch.

use crate::store::Db;
use worker::D1PreparedStatement;

use crate::error::AppResult;
use crate::store::{statement, Arg};

/// Statements that erase contact `id`. Orders stay for the shop's books but lose the link;
/// survey scores stay for aggregates without text, person or order (an order id would lead back
/// to the person through the shop's own books). With `suppress_hash` (the email HMAC) a
/// suppression keeps imports from bringing the person back, and consent events stay as minimal
/// proof: the email HMAC instead of the person, purpose, action, method, time, policy version
/// and notice hash; no IP hash, no user agent. Retention of never-confirmed signups passes
/// `None`: those people never joined, and nothing of them is kept.
/// Who is erased: the contact, and the mailbox HMAC its messages carry.
pub struct Erased<'a> {
    pub id: &'a str,
    pub mailbox_hash: &'a str,
}

pub fn erase_statements(
    db: &Db,
    erased: &Erased<'_>,
    suppress_hash: Option<&str>,
    at: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    let id = erased.id;
    let by_contact = [
        "DELETE FROM contact_attributes WHERE contact_id = ?1",
        "DELETE FROM consents WHERE contact_id = ?1",
        "DELETE FROM tokens WHERE contact_id = ?1",
        // Written before every message carried its mailbox HMAC (`outbox_legacy_contact`).
        "DELETE FROM outbox WHERE mailbox_hash IS NULL AND contact_id = ?1",
        // The segments' counts follow at once, as they do when a contact change moves someone
        // out; the next rebuild would only correct them later.
        "UPDATE segments SET size = MAX(size - 1, 0) \
         WHERE id IN (SELECT segment_id FROM segment_members WHERE contact_id = ?1)",
        "DELETE FROM segment_members WHERE contact_id = ?1",
        "DELETE FROM contact_stats WHERE contact_id = ?1",
        "UPDATE orders SET contact_id = NULL WHERE contact_id = ?1",
        "UPDATE survey_invitations SET contact_id = NULL, order_id = NULL WHERE contact_id = ?1",
        "UPDATE survey_responses SET contact_id = NULL, answers = '{}' WHERE contact_id = ?1",
        "DELETE FROM contacts WHERE id = ?1",
    ];
    let mut statements = by_contact
        .iter()
        .map(|sql| statement(db, sql, &[Arg::Text(id)]))
        .collect::<AppResult<Vec<_>>>()?;
    // Every message to the person or their address, by the mailbox index; and the legacy ones
    // to the address. Both read the contact's email, so they run before its row goes: at the
    // front.
    statements.insert(
        0,
        statement(
            db,
            "DELETE FROM outbox WHERE mailbox_hash = ?2 \
               AND (contact_id = ?1 OR to_email IN (SELECT email FROM contacts WHERE id = ?1))",
            &[Arg::Text(id), Arg::Text(erased.mailbox_hash)],
        )?,
    );
    statements.insert(
        1,
        statement(
            db,
            "DELETE FROM outbox WHERE mailbox_hash IS NULL \
               AND to_email IN (SELECT email FROM contacts WHERE id = ?1)",
            &[Arg::Text(id)],
        )?,
    );
    statements.push(match suppress_hash {
        Some(hash) => statement(
            db,
            "UPDATE consent_events SET email_hash = ?2, ip_hash = NULL, user_agent = NULL WHERE contact_id = ?1",
            &[Arg::Text(id), Arg::Text(hash)],
        )?,
        None => statement(
            db,
            "DELETE FROM consent_events WHERE contact_id = ?1",
            &[Arg::Text(id)],
        )?,
    });
    if let Some(hash) = suppress_hash {
        statements.push(statement(
            db,
            "INSERT INTO suppressions (email_hash, reason, at) VALUES (?1, 'erased', ?2) \
             ON CONFLICT (email_hash) DO UPDATE SET reason = 'erased', at = excluded.at",
            &[Arg::Text(hash), Arg::Text(at)],
        )?);
    }
    Ok(statements)
}
