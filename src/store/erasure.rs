//! Erasure (GDPR Art. 17, LGPD Art. 18 VI): every row about a person, gone in one D1 batch.

use crate::store::Db;
use worker::D1PreparedStatement;

use crate::error::AppResult;
use crate::store::{statement, Arg};

/// Who is erased: the contact, and the mailbox HMAC its messages carry.
pub struct Erased<'a> {
    pub id: &'a str,
    pub mailbox_hash: &'a str,
}

/// Statements that erase contact `id`. Orders stay for the shop's books but lose the link;
/// survey scores stay for aggregates without text, person or order (an order id would lead back
/// to the person through the shop's own books). With `suppress_hash` (the email HMAC) a
/// suppression keeps imports from bringing the person back, and consent events stay as minimal
/// proof: the email HMAC instead of the person, purpose, action, method, time, policy version
/// and notice hash; no IP hash, no user agent. Retention of never-confirmed signups passes
/// `None`: those people never joined, and nothing of them is kept.
pub fn erase_statements(
    db: &Db,
    erased: &Erased<'_>,
    suppress_hash: Option<&str>,
    at: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    erase_plan(erased, suppress_hash, at)
        .iter()
        .map(|(sql, args)| statement(db, sql, args))
        .collect()
}

/// [`erase_statements`] as SQL and arguments, in order, so a unit test can run it on SQLite and
/// the restore tool can re-apply an erasure to a rebuilt backup.
pub fn erase_plan<'a>(
    erased: &Erased<'a>,
    suppress_hash: Option<&'a str>,
    at: &'a str,
) -> Vec<(&'static str, Vec<Arg<'a>>)> {
    let id = erased.id;
    // Every message to the person or their address, by the mailbox index; and those written
    // before messages carried the HMAC, by address (a contact's address never changes, so that
    // finds all of theirs). Both read the contact's email, so they run before its row goes.
    let mut plan = vec![
        (
            "DELETE FROM outbox WHERE mailbox_hash = ?2 \
               AND (contact_id = ?1 OR to_email IN (SELECT email FROM contacts WHERE id = ?1))",
            vec![Arg::Text(id), Arg::Text(erased.mailbox_hash)],
        ),
        (
            "DELETE FROM outbox WHERE mailbox_hash IS NULL \
               AND to_email IN (SELECT email FROM contacts WHERE id = ?1)",
            vec![Arg::Text(id)],
        ),
    ];
    let by_contact = [
        "DELETE FROM contact_attributes WHERE contact_id = ?1",
        "DELETE FROM consents WHERE contact_id = ?1",
        "DELETE FROM tokens WHERE contact_id = ?1",
        // The segments' counts follow at once, as they do when a contact change moves someone
        // out; the next rebuild would only correct them later.
        "UPDATE segments SET size = MAX(size - 1, 0) \
         WHERE id IN (SELECT segment_id FROM segment_members WHERE contact_id = ?1)",
        "DELETE FROM segment_members WHERE contact_id = ?1",
        "DELETE FROM contact_stats WHERE contact_id = ?1",
        "UPDATE orders SET contact_id = NULL WHERE contact_id = ?1",
        // What the shop's other tools were told about them: their answers, memberships and
        // consents, linked to their id. The erasure's own event, written after, says it.
        "DELETE FROM events WHERE contact_id = ?1",
        // A person's answers are found through their invitations, so before those let go.
        "UPDATE survey_responses SET contact_id = NULL, answers = '{}' \
         WHERE (survey_id, id) IN (SELECT survey_id, response_id FROM survey_invitations \
                                   WHERE contact_id = ?1 AND response_id IS NOT NULL)",
    ];
    plan.extend(by_contact.iter().map(|sql| (*sql, vec![Arg::Text(id)])));
    // Their survey links close too: an answer through one after erasure would store free text
    // that belongs to nobody and that nobody could erase.
    plan.push((
        "UPDATE survey_invitations SET contact_id = NULL, order_id = NULL, \
           expires_at = MIN(expires_at, ?2) WHERE contact_id = ?1",
        vec![Arg::Text(id), Arg::Text(at)],
    ));
    plan.push(("DELETE FROM contacts WHERE id = ?1", vec![Arg::Text(id)]));
    match suppress_hash {
        Some(hash) => {
            plan.push((
                "UPDATE consent_events SET email_hash = ?2, ip_hash = NULL, user_agent = NULL WHERE contact_id = ?1",
                vec![Arg::Text(id), Arg::Text(hash)],
            ));
            plan.push((
                "INSERT INTO suppressions (email_hash, reason, at) VALUES (?1, 'erased', ?2) \
                 ON CONFLICT (email_hash) DO UPDATE SET reason = 'erased', at = excluded.at",
                vec![Arg::Text(hash), Arg::Text(at)],
            ));
        }
        None => plan.push((
            "DELETE FROM consent_events WHERE contact_id = ?1",
            vec![Arg::Text(id)],
        )),
    }
    plan
}
