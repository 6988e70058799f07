//! `webhooks`, `events` and `webhook_deliveries`: subscriptions, the event log (also the change
//! feed) and one delivery per event and subscription. Events are written in the same batch as
//! the change they report; the queue turns them into deliveries ([`fan_out_statements`]) and
//! posts those, so a change never commits without its event nor an event without its change.

use serde::Deserialize;
use serde_json::{Map, Value};
use worker::D1PreparedStatement;

use crate::domain::webhook::{Event, EventType};
use crate::error::{AppError, AppResult};
use crate::store::{all, batch_results, decode, decode_first, first, js_int, statement, Arg, Db};

/// A subscription as stored (never with its secret: see [`Signing`]).
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub events: String,
    pub segment_ids: Option<String>,
    pub description: String,
    #[serde(deserialize_with = "js_int::int")]
    pub include_rebuilds: i64,
    #[serde(deserialize_with = "js_int::int")]
    pub with_email: i64,
    pub created_by: String,
    pub failing_since: Option<String>,
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The newest delivery's state, status and time (a JSON object), for listings.
    pub last_delivery: Option<String>,
}

impl WebhookRow {
    /// The subscription as the API shows it.
    pub fn into_json(self) -> Value {
        let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
        serde_json::json!({
            "id": self.id,
            "url": self.url,
            "events": list(&self.events),
            "segment_ids": self.segment_ids.as_deref().map(list),
            "description": self.description,
            "include_rebuilds": self.include_rebuilds == 1,
            "includes_email": self.with_email == 1,
            "state": if self.disabled_at.is_some() { "disabled" } else { "active" },
            "failing_since": self.failing_since,
            "disabled_at": self.disabled_at,
            "disabled_reason": self.disabled_reason,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_delivery": self.last_delivery.as_deref()
                .and_then(|s| serde_json::from_str::<Value>(s).ok()),
        })
    }
}

const COLUMNS: &str = "w.id, w.url, w.events, w.segment_ids, w.description, w.include_rebuilds, \
    w.with_email, w.created_by, w.failing_since, w.disabled_at, w.disabled_reason, w.created_at, \
    w.updated_at, (SELECT json_object('event_id', 'evt_' || d.event_seq, 'state', d.state, \
      'attempts', d.attempts, 'last_status', d.last_status, 'created_at', d.created_at) \
     FROM webhook_deliveries d WHERE d.webhook_id = w.id ORDER BY d.event_seq DESC LIMIT 1) \
    AS last_delivery";

/// A subscription to create; `events` and `segment_ids` are JSON arrays already checked.
pub struct NewWebhook<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub events: &'a str,
    pub segment_ids: Option<&'a str>,
    pub description: &'a str,
    pub include_rebuilds: bool,
    pub secret: &'a str,
    pub with_email: bool,
    pub created_by: &'a str,
    pub at: &'a str,
}

/// It starts at the newest event: a new subscription hears what happens from now on.
pub fn insert_statement(db: &Db, w: &NewWebhook<'_>) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO webhooks (id, url, events, segment_ids, description, include_rebuilds, \
           secret, with_email, created_by, last_seq, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
           (SELECT COALESCE(MAX(seq), 0) FROM events), ?10, ?10)",
        &[
            Arg::Text(w.id),
            Arg::Text(w.url),
            Arg::Text(w.events),
            Arg::OptText(w.segment_ids),
            Arg::Text(w.description),
            Arg::Int(i64::from(w.include_rebuilds)),
            Arg::Text(w.secret),
            Arg::Int(i64::from(w.with_email)),
            Arg::Text(w.created_by),
            Arg::Text(w.at),
        ],
    )
}

pub async fn find(db: &Db, id: &str) -> AppResult<Option<WebhookRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM webhooks w WHERE w.id = ?1 AND w.deleted_at IS NULL"),
        &[Arg::Text(id)],
    )
    .await
}

pub async fn list(db: &Db) -> AppResult<Vec<WebhookRow>> {
    all(
        db,
        &format!("SELECT {COLUMNS} FROM webhooks w WHERE w.deleted_at IS NULL ORDER BY w.id"),
        &[],
    )
    .await
}

/// What a `PATCH` changes; `None` keeps the stored value. `segment_ids: Some(None)` clears the
/// filter.
#[derive(Default)]
pub struct WebhookChange<'a> {
    pub url: Option<&'a str>,
    pub events: Option<&'a str>,
    pub segment_ids: Option<Option<&'a str>>,
    pub description: Option<&'a str>,
    pub include_rebuilds: Option<bool>,
    pub enabled: Option<bool>,
    /// Whether the changing key may read contacts: one that may not takes the addresses out of
    /// the bodies, so it cannot point a subscription that carries them at itself.
    pub may_read_contacts: bool,
}

/// One statement for any change. Enabling a disabled subscription starts it at the newest event
/// (what it missed is in the change feed) and forgets its failures; disabling records why.
pub fn update_statement(
    db: &Db,
    id: &str,
    c: &WebhookChange<'_>,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    let flag = |b: Option<bool>| b.map_or(Arg::Null, |b| Arg::Int(i64::from(b)));
    statement(
        db,
        "UPDATE webhooks SET url = COALESCE(?2, url), events = COALESCE(?3, events), \
           segment_ids = CASE WHEN ?4 = 1 THEN ?5 ELSE segment_ids END, \
           description = COALESCE(?6, description), \
           include_rebuilds = COALESCE(?7, include_rebuilds), \
           last_seq = CASE WHEN ?8 = 1 AND disabled_at IS NOT NULL \
             THEN (SELECT COALESCE(MAX(seq), 0) FROM events) ELSE last_seq END, \
           failing_since = CASE WHEN ?8 = 1 THEN NULL ELSE failing_since END, \
           disabled_reason = CASE WHEN ?8 = 1 THEN NULL WHEN ?8 = 0 AND disabled_at IS NULL \
             THEN 'disabled by request' ELSE disabled_reason END, \
           disabled_at = CASE WHEN ?8 = 1 THEN NULL WHEN ?8 = 0 THEN COALESCE(disabled_at, ?9) \
             ELSE disabled_at END, \
           with_email = with_email AND ?10, \
           updated_at = ?9 \
         WHERE id = ?1 AND deleted_at IS NULL",
        &[
            Arg::Text(id),
            Arg::OptText(c.url),
            Arg::OptText(c.events),
            Arg::Int(i64::from(c.segment_ids.is_some())),
            Arg::OptText(c.segment_ids.flatten()),
            Arg::OptText(c.description),
            flag(c.include_rebuilds),
            flag(c.enabled),
            Arg::Text(at),
            Arg::Int(i64::from(c.may_read_contacts)),
        ],
    )
}

/// Deleting stops deliveries at once; the rows go with the daily purge, a bounded number at a
/// time (a subscription may have many).
pub fn delete_statement(db: &Db, id: &str, at: &str) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE webhooks SET deleted_at = ?2, disabled_at = COALESCE(disabled_at, ?2), \
           secret = '' WHERE id = ?1 AND deleted_at IS NULL",
        &[Arg::Text(id), Arg::Text(at)],
    )
}

/// `segment.entered` or `segment.exited` for those of `contact_ids` whose membership the batch
/// really changes, so that a contact another writer already moved is not announced twice.
/// Entries go just after the insert written at `at` and name the rows stamped with it; exits go
/// just before the delete and name the rows still there. One bound JSON array, whatever the
/// chunk's size.
pub fn emit_membership_statement(
    db: &Db,
    kind: EventType,
    segment_id: &str,
    contact_ids: &[&str],
    at: &str,
) -> AppResult<D1PreparedStatement> {
    let ids = serde_json::to_string(contact_ids)?;
    let just_added = if kind == EventType::SegmentEntered {
        "AND m.since = ?2"
    } else {
        ""
    };
    statement(
        db,
        &format!(
            "INSERT INTO events (type, at, contact_id, segment_id) \
             SELECT ?4, ?2, m.contact_id, ?1 FROM segment_members m \
             WHERE m.segment_id = ?1 AND m.contact_id IN (SELECT value FROM json_each(?3)) \
               {just_added} ORDER BY m.contact_id"
        ),
        &[
            Arg::Text(segment_id),
            Arg::Text(at),
            Arg::Text(&ids),
            Arg::Text(kind.as_str()),
        ],
    )
}

/// A delivery the fan-out created.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeliveryKey {
    pub webhook_id: String,
    #[serde(deserialize_with = "js_int::int")]
    pub event_seq: i64,
}

/// [`fan_out_statements`] as SQL: for every live subscription, the events after its position
/// (at most `?2` of them) that it asked for become pending deliveries, and its position moves
/// past them. `INSERT OR IGNORE` and the key make a repeated fan-out (a redelivered message, two
/// consumers at once) create each delivery once; `RETURNING` names the new ones to enqueue.
pub(crate) const FAN_OUT_SQL: [&str; 3] = [
    "INSERT OR IGNORE INTO webhook_deliveries (webhook_id, event_seq, state, attempts, next_at, created_at) \
     SELECT w.id, e.seq, 'pending', 0, ?1, ?1 \
     FROM webhooks w JOIN events e ON e.seq > w.last_seq AND e.seq <= w.last_seq + ?2 \
     WHERE w.disabled_at IS NULL AND w.deleted_at IS NULL \
       AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = e.type) \
       AND (e.rebuild = 0 OR w.include_rebuilds = 1) \
       AND (w.segment_ids IS NULL OR e.segment_id IS NULL \
            OR EXISTS (SELECT 1 FROM json_each(w.segment_ids) WHERE value = e.segment_id)) \
     RETURNING webhook_id, event_seq",
    "UPDATE webhooks SET last_seq = MIN(last_seq + ?1, (SELECT COALESCE(MAX(seq), 0) FROM events)) \
     WHERE disabled_at IS NULL AND deleted_at IS NULL \
       AND last_seq < (SELECT COALESCE(MAX(seq), 0) FROM events)",
    "SELECT EXISTS (SELECT 1 FROM webhooks WHERE disabled_at IS NULL AND deleted_at IS NULL \
       AND last_seq < (SELECT COALESCE(MAX(seq), 0) FROM events)) AS more",
];

#[derive(Deserialize)]
struct More {
    #[serde(deserialize_with = "js_int::int")]
    more: i64,
}

/// One fan-out step (one D1 round trip): the deliveries it created, and whether events remain
/// for some subscription.
pub async fn fan_out(db: &Db, at: &str, per_step: i64) -> AppResult<(Vec<DeliveryKey>, bool)> {
    let [insert, advance, more] = FAN_OUT_SQL;
    let statements = vec![
        statement(db, insert, &[Arg::Text(at), Arg::Int(per_step)])?,
        statement(db, advance, &[Arg::Int(per_step)])?,
        statement(db, more, &[])?,
    ];
    let results = batch_results(db, statements).await?;
    let created = results.first().map_or(Ok(Vec::new()), decode)?;
    let more = match results.get(2) {
        Some(r) => decode_first::<More>(r)?.is_some_and(|m| m.more == 1),
        None => false,
    };
    Ok((created, more))
}

#[derive(Deserialize)]
struct EventRow {
    #[serde(deserialize_with = "js_int::int")]
    seq: i64,
    #[serde(rename = "type")]
    kind: String,
    at: String,
    contact_id: Option<String>,
    segment_id: Option<String>,
    detail: Option<String>,
    #[serde(deserialize_with = "js_int::int")]
    rebuild: i64,
    email: Option<String>,
}

impl EventRow {
    /// The event and the person's address (when it was asked for and they still exist).
    fn into_event(self) -> AppResult<(Event, Option<String>)> {
        let kind = EventType::parse(&self.kind)
            .ok_or_else(|| AppError::internal("stored event", "unknown type"))?;
        let detail = self
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str::<Map<String, Value>>(d).ok())
            .unwrap_or_default();
        Ok((
            Event {
                seq: self.seq,
                kind,
                at: self.at,
                contact_id: self.contact_id,
                segment_id: self.segment_id,
                detail,
                rebuild: self.rebuild == 1,
            },
            self.email,
        ))
    }
}

/// The event columns and, where SQL condition `with_email` holds, the person's current address.
fn event_columns(with_email: &str) -> String {
    format!(
        "e.seq, e.type, e.at, e.contact_id, e.segment_id, e.detail, e.rebuild, \
         CASE WHEN {with_email} THEN (SELECT c.email FROM contacts c WHERE c.id = e.contact_id) \
         END AS email"
    )
}

/// Rows of the feed scanned per page: a filter matching little reads this many and answers
/// with where it stopped, so a page never reads the whole log.
pub const FEED_WINDOW: i64 = 5000;

/// A page of the change feed: events after `after` (or after the oldest kept, when `after` is
/// older), at most [`FEED_WINDOW`] positions on, of `types` (all when none), oldest first; with
/// where the page started and the newest position there is.
pub async fn feed(
    db: &Db,
    after: i64,
    types: Option<&str>,
    limit: u32,
    with_email: bool,
) -> AppResult<FeedPage> {
    let start = "MAX(?1, (SELECT COALESCE(MIN(seq), 1) - 1 FROM events))";
    let sql = format!(
        "SELECT {} FROM events e WHERE e.seq > {start} AND e.seq <= {start} + ?5 \
           AND (?2 IS NULL OR e.type IN (SELECT value FROM json_each(?2))) \
         ORDER BY e.seq LIMIT ?3",
        event_columns("?4 = 1")
    );
    let statements = vec![
        statement(
            db,
            &sql,
            &[
                Arg::Int(after),
                Arg::OptText(types),
                Arg::Int(i64::from(limit)),
                Arg::Int(i64::from(with_email)),
                Arg::Int(FEED_WINDOW),
            ],
        )?,
        statement(
            db,
            &format!("SELECT {start} AS seq, COALESCE(MAX(seq), 0) AS newest FROM events"),
            &[Arg::Int(after)],
        )?,
    ];
    let results = batch_results(db, statements).await?;
    let rows: Vec<EventRow> = results.first().map_or(Ok(Vec::new()), decode)?;
    let bounds = match results.get(1) {
        Some(r) => decode_first::<Bounds>(r)?,
        None => None,
    };
    let events = rows
        .into_iter()
        .map(EventRow::into_event)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(FeedPage {
        events,
        start: bounds.as_ref().map_or(after, |b| b.seq),
        newest: bounds.map_or(0, |b| b.newest),
    })
}

/// One page of the feed, and the positions it lies between.
pub struct FeedPage {
    pub events: Vec<(Event, Option<String>)>,
    /// Where the page started reading: `after`, or the oldest kept when that is later.
    pub start: i64,
    pub newest: i64,
}

#[derive(Deserialize)]
struct Bounds {
    #[serde(deserialize_with = "js_int::int")]
    seq: i64,
    #[serde(deserialize_with = "js_int::int")]
    newest: i64,
}

/// What one attempt needs: the claim's attempt number (none: not due, or not pending), the
/// event with the address when the subscription may carry it, and where and how to sign.
pub struct Claimed {
    pub attempts: Option<u32>,
    /// Not claimed, yet still pending: when it is due (another sender's lease, or its backoff).
    pub pending_until: Option<String>,
    pub event: Option<(Event, Option<String>)>,
    pub target: Option<Signing>,
}

/// Where a subscription posts and the secret it signs with; `live` is false once disabled or
/// deleted.
#[derive(Deserialize)]
pub struct Signing {
    pub url: String,
    pub secret: String,
    #[serde(deserialize_with = "js_int::int")]
    live: i64,
}

impl Signing {
    pub fn live(&self) -> bool {
        self.live == 1
    }
}

#[derive(Deserialize)]
struct NextAt {
    next_at: String,
}

#[derive(Deserialize)]
struct Attempts {
    #[serde(deserialize_with = "js_int::int")]
    attempts: i64,
}

/// Claims one due delivery for `lease_until` and reads what posting it needs, in one round
/// trip. Another sender holding it, or it being settled, leaves `attempts` empty.
pub async fn claim(db: &Db, key: &DeliveryKey, now: &str, lease_until: &str) -> AppResult<Claimed> {
    let seq = Arg::Int(key.event_seq);
    let statements = vec![
        statement(
            db,
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_at = ?4 \
             WHERE webhook_id = ?1 AND event_seq = ?2 AND state = 'pending' AND next_at <= ?3 \
             RETURNING attempts",
            &[
                Arg::Text(&key.webhook_id),
                Arg::Int(key.event_seq),
                Arg::Text(now),
                Arg::Text(lease_until),
            ],
        )?,
        statement(
            db,
            // The address only where the subscription's creator could read contacts.
            &format!(
                "SELECT {} FROM events e WHERE e.seq = ?1",
                event_columns("(SELECT w.with_email FROM webhooks w WHERE w.id = ?2) = 1")
            ),
            &[seq, Arg::Text(&key.webhook_id)],
        )?,
        statement(
            db,
            "SELECT url, secret, (disabled_at IS NULL AND deleted_at IS NULL) AS live \
             FROM webhooks WHERE id = ?1",
            &[Arg::Text(&key.webhook_id)],
        )?,
        statement(
            db,
            "SELECT next_at FROM webhook_deliveries \
             WHERE webhook_id = ?1 AND event_seq = ?2 AND state = 'pending'",
            &[Arg::Text(&key.webhook_id), Arg::Int(key.event_seq)],
        )?,
    ];
    let results = batch_results(db, statements).await?;
    let attempts = match results.first() {
        Some(r) => decode_first::<Attempts>(r)?.map(|a| a.attempts.clamp(0, 1000) as u32),
        None => None,
    };
    let event = match results.get(1) {
        Some(r) => decode_first::<EventRow>(r)?
            .map(EventRow::into_event)
            .transpose()?,
        None => None,
    };
    let target = match results.get(2) {
        Some(r) => decode_first::<Signing>(r)?,
        None => None,
    };
    let pending_until = match (attempts, results.get(3)) {
        (None, Some(r)) => decode_first::<NextAt>(r)?.map(|n| n.next_at),
        _ => None,
    };
    Ok(Claimed {
        attempts,
        pending_until,
        event,
        target,
    })
}

/// How an attempt ended.
pub enum Attempt<'a> {
    Delivered {
        status: u16,
    },
    /// Failed; `next_at` when another attempt follows, none when it was the last.
    Failed {
        status: Option<u16>,
        error: &'a str,
        next_at: Option<&'a str>,
    },
    /// Not sent: the subscription was disabled or deleted meanwhile, or the event erased.
    Abandoned(&'a str),
}

/// Records an attempt, appends it to the delivery's log, and keeps the subscription's health:
/// a success clears `failing_since`; a failure sets it (again, after a quiet spell: no failure
/// since `quiet_before`), and disables the subscription once it is older than `disable_before`.
pub fn record_statements(
    db: &Db,
    key: &DeliveryKey,
    attempt: &Attempt<'_>,
    at: &str,
    cuts: (&str, &str),
) -> AppResult<Vec<D1PreparedStatement>> {
    record_plan(key, attempt, at, cuts)
        .iter()
        .map(|(sql, args)| statement(db, sql, args))
        .collect()
}

/// [`record_statements`] as SQL and arguments, for a unit test on SQLite.
pub(crate) fn record_plan<'a>(
    key: &'a DeliveryKey,
    attempt: &Attempt<'a>,
    at: &'a str,
    (disable_before, quiet_before): (&'a str, &'a str),
) -> Vec<(&'static str, Vec<Arg<'a>>)> {
    let (state, status, error, next_at) = match attempt {
        Attempt::Delivered { status } => ("delivered", Some(*status), None, None),
        Attempt::Failed {
            status,
            error,
            next_at: Some(next),
        } => ("pending", *status, Some(*error), Some(*next)),
        Attempt::Failed { status, error, .. } => ("failed", *status, Some(*error), None),
        Attempt::Abandoned(why) => ("failed", None, Some(*why), None),
    };
    let status_arg = status.map_or(Arg::Null, |s| Arg::Int(i64::from(s)));
    let mut plan = vec![(
        "UPDATE webhook_deliveries SET state = ?3, last_status = ?4, next_at = COALESCE(?6, next_at), \
           log = json_insert(log, '$[#]', \
             json_object('at', ?5, 'status', CAST(?4 AS INTEGER), 'error', ?7)) \
         WHERE webhook_id = ?1 AND event_seq = ?2",
        vec![
            Arg::Text(&key.webhook_id),
            Arg::Int(key.event_seq),
            Arg::Text(state),
            status_arg,
            Arg::Text(at),
            Arg::OptText(next_at),
            Arg::OptText(error),
        ],
    )];
    match attempt {
        Attempt::Delivered { .. } => plan.push((
            "UPDATE webhooks SET failing_since = NULL WHERE id = ?1 AND failing_since IS NOT NULL",
            vec![Arg::Text(&key.webhook_id)],
        )),
        // Failing "for days" means without a quiet spell: a failure more than the longest
        // backoff after the last one starts the clock again (set in the same statement, which
        // reads the old values).
        Attempt::Failed { .. } => plan.push((
            "UPDATE webhooks SET \
               failing_since = CASE WHEN failing_since IS NULL OR last_failure_at IS NULL \
                 OR last_failure_at < ?4 THEN ?2 ELSE failing_since END, \
               disabled_reason = CASE WHEN failing_since <= ?3 AND last_failure_at >= ?4 \
                 AND disabled_at IS NULL \
                 THEN 'deliveries failing since ' || failing_since ELSE disabled_reason END, \
               disabled_at = CASE WHEN failing_since <= ?3 AND last_failure_at >= ?4 \
                 AND disabled_at IS NULL THEN ?2 ELSE disabled_at END, \
               last_failure_at = ?2 \
             WHERE id = ?1",
            vec![
                Arg::Text(&key.webhook_id),
                Arg::Text(at),
                Arg::Text(disable_before),
                Arg::Text(quiet_before),
            ],
        )),
        Attempt::Abandoned(_) => {}
    }
    plan
}

/// A delivery as `GET …/deliveries` lists it.
#[derive(Deserialize)]
pub struct DeliveryRow {
    #[serde(deserialize_with = "js_int::int")]
    pub event_seq: i64,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub state: String,
    #[serde(deserialize_with = "js_int::int")]
    pub attempts: i64,
    pub next_at: String,
    #[serde(deserialize_with = "js_int::opt_int", default)]
    pub last_status: Option<i64>,
    pub log: String,
    pub created_at: String,
}

impl DeliveryRow {
    pub fn into_json(self) -> Value {
        let pending = self.state == "pending";
        serde_json::json!({
            "id": format!("evt_{}", self.event_seq),
            "event_id": format!("evt_{}", self.event_seq),
            "type": self.kind,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": if pending { Some(self.next_at) } else { None },
            "last_status": self.last_status,
            "log": serde_json::from_str::<Value>(&self.log).unwrap_or(Value::Array(vec![])),
            "created_at": self.created_at,
        })
    }
}

/// A subscription's deliveries, newest first, before position `before`.
pub async fn deliveries(
    db: &Db,
    webhook_id: &str,
    before: i64,
    limit: u32,
) -> AppResult<Vec<DeliveryRow>> {
    all(
        db,
        "SELECT d.event_seq, e.type, d.state, d.attempts, d.next_at, d.last_status, d.log, \
           d.created_at \
         FROM webhook_deliveries d LEFT JOIN events e ON e.seq = d.event_seq \
         WHERE d.webhook_id = ?1 AND d.event_seq < ?2 ORDER BY d.event_seq DESC LIMIT ?3",
        &[
            Arg::Text(webhook_id),
            Arg::Int(before),
            Arg::Int(i64::from(limit)),
        ],
    )
    .await
}

/// Puts a settled delivery back in line from its first attempt (a pending one is left as it
/// is: it is already on its way). Changes one row or none.
pub fn retry_statement(db: &Db, key: &DeliveryKey, now: &str) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_at = ?3 \
         WHERE webhook_id = ?1 AND event_seq = ?2 AND state <> 'pending'",
        &[
            Arg::Text(&key.webhook_id),
            Arg::Int(key.event_seq),
            Arg::Text(now),
        ],
    )
}

pub async fn delivery_exists(db: &Db, key: &DeliveryKey) -> AppResult<bool> {
    Ok(first::<Attempts>(
        db,
        "SELECT attempts FROM webhook_deliveries WHERE webhook_id = ?1 AND event_seq = ?2",
        &[Arg::Text(&key.webhook_id), Arg::Int(key.event_seq)],
    )
    .await?
    .is_some())
}

/// Pending deliveries due before `due_before` (their message lost or dead-lettered), by the
/// partial index, at most `limit`.
pub async fn stragglers(db: &Db, due_before: &str, limit: u32) -> AppResult<Vec<DeliveryKey>> {
    all(
        db,
        "SELECT webhook_id, event_seq FROM webhook_deliveries \
         WHERE state = 'pending' AND next_at < ?1 ORDER BY next_at LIMIT ?2",
        &[Arg::Text(due_before), Arg::Int(i64::from(limit))],
    )
    .await
}

/// Up to `limit` of the oldest events, those older than `before`, forgotten: the feed keeps 30
/// days. Reads the log from its start in key order and stops at its bound.
pub fn purge_events_plan(before: &str, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
    (
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?2) AND at < ?1",
        vec![Arg::Text(before), Arg::Int(limit)],
    )
}

/// Up to `limit` deliveries of events no longer kept: each subscription's oldest, by key range.
pub fn purge_deliveries_plan(limit: i64) -> (&'static str, Vec<Arg<'static>>) {
    (
        "DELETE FROM webhook_deliveries WHERE (webhook_id, event_seq) IN \
           (SELECT d.webhook_id, d.event_seq FROM webhooks w \
            CROSS JOIN webhook_deliveries d ON d.webhook_id = w.id \
              AND d.event_seq < (SELECT COALESCE(MIN(seq), 0) FROM events) LIMIT ?1)",
        vec![Arg::Int(limit)],
    )
}

/// Up to `limit` deliveries of deleted subscriptions, by key.
pub fn purge_deleted_deliveries_plan(limit: i64) -> (&'static str, Vec<Arg<'static>>) {
    (
        "DELETE FROM webhook_deliveries WHERE (webhook_id, event_seq) IN \
           (SELECT d.webhook_id, d.event_seq FROM webhooks w \
            CROSS JOIN webhook_deliveries d ON d.webhook_id = w.id \
            WHERE w.deleted_at IS NOT NULL LIMIT ?1)",
        vec![Arg::Int(limit)],
    )
}

/// Deleted subscriptions whose deliveries are all gone.
pub fn purge_deleted_plan(limit: i64) -> (&'static str, Vec<Arg<'static>>) {
    (
        "DELETE FROM webhooks WHERE id IN (SELECT w.id FROM webhooks w \
           WHERE w.deleted_at IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id) \
           LIMIT ?1)",
        vec![Arg::Int(limit)],
    )
}

/// An event about one person, to go in the batch that changes them.
pub fn contact_event(
    db: &Db,
    kind: EventType,
    contact_id: &str,
    at: &str,
    detail: Option<Value>,
) -> AppResult<D1PreparedStatement> {
    let detail = detail.as_ref().map(Value::to_string);
    statement(
        db,
        "INSERT INTO events (type, at, contact_id, detail) VALUES (?1, ?2, ?3, ?4)",
        &[
            Arg::Text(kind.as_str()),
            Arg::Text(at),
            Arg::Text(contact_id),
            Arg::OptText(detail.as_deref()),
        ],
    )
}

/// `contact.consent_changed`, written only when the decision differs from the one on record:
/// to go in the batch *before* the consent statements. A mail provider posting the same
/// one-click unsubscribe twice announces one withdrawal. `by`: who changed it (`self_service`,
/// `unsubscribe_link`, `import`).
pub fn consent_changed_statement(
    db: &Db,
    contact_id: &str,
    purpose: &str,
    granted: bool,
    by: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    let (sql, args) = consent_changed_plan(contact_id, purpose, granted, by, at);
    statement(db, sql, &args)
}

/// [`consent_changed_statement`] as SQL and arguments, for a unit test on SQLite.
pub(crate) fn consent_changed_plan<'a>(
    contact_id: &'a str,
    purpose: &'a str,
    granted: bool,
    by: &'a str,
    at: &'a str,
) -> (&'static str, Vec<Arg<'a>>) {
    (
        "INSERT INTO events (type, at, contact_id, detail) \
         SELECT 'contact.consent_changed', ?2, ?1, \
           json_object('purpose', ?3, 'granted', json(CASE WHEN ?4 = 1 THEN 'true' ELSE 'false' END), 'by', ?5) \
         WHERE NOT EXISTS (SELECT 1 FROM consents WHERE contact_id = ?1 AND purpose = ?3 AND granted = ?4)",
        vec![
            Arg::Text(contact_id),
            Arg::Text(at),
            Arg::Text(purpose),
            Arg::Int(i64::from(granted)),
            Arg::Text(by),
        ],
    )
}

/// `survey.answered`, written only if this answer won its invitation's guard (the first
/// statement of the answer's batch): a second tap on the link announces nothing.
pub struct Answered<'a> {
    pub invitation_id: &'a str,
    pub response_id: &'a str,
    pub survey_id: &'a str,
    pub contact_id: Option<&'a str>,
    pub scores: Value,
    pub at: &'a str,
}

pub fn survey_answered_statement(db: &Db, a: &Answered<'_>) -> AppResult<D1PreparedStatement> {
    let detail = serde_json::json!({
        "survey_id": a.survey_id,
        "response_id": a.response_id,
        "scores": a.scores,
    })
    .to_string();
    statement(
        db,
        "INSERT INTO events (type, at, contact_id, detail) \
         SELECT 'survey.answered', ?1, ?2, ?3 \
         WHERE EXISTS (SELECT 1 FROM survey_invitations WHERE id = ?4 AND response_id = ?5)",
        &[
            Arg::Text(a.at),
            Arg::OptText(a.contact_id),
            Arg::Text(&detail),
            Arg::Text(a.invitation_id),
            Arg::Text(a.response_id),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::fresh_database;
    use rusqlite::Connection;

    /// One fan-out step on SQLite: the deliveries it created, then whether more remain.
    fn fan_out_on(db: &Connection, per_step: i64) -> (Vec<(String, i64)>, bool) {
        let at = "2026-12-01T00:00:00.000Z";
        let created: Vec<(String, i64)> = db
            .prepare(FAN_OUT_SQL[0])
            .expect("prepare")
            .query_map(rusqlite::params![at, per_step], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("insert")
            .collect::<Result<_, _>>()
            .expect("rows");
        db.execute(FAN_OUT_SQL[1], rusqlite::params![per_step])
            .expect("advance");
        let more: i64 = db
            .query_row(FAN_OUT_SQL[2], [], |r| r.get(0))
            .expect("more");
        (created, more == 1)
    }

    fn seed(db: &Connection) {
        db.execute_batch(
            "INSERT INTO webhooks (id, url, events, segment_ids, secret, with_email, created_by, last_seq, created_at, updated_at) VALUES
               ('whk_a', 'https://a.example', '[\"contact.confirmed\",\"segment.entered\"]', '[\"seg_a\"]', 's', 1, 'k', 0, 't', 't'),
               ('whk_b', 'https://b.example', '[\"segment.entered\"]', NULL, 's', 0, 'k', 0, 't', 't');
             UPDATE webhooks SET include_rebuilds = 1 WHERE id = 'whk_b';
             INSERT INTO events (type, at, contact_id, segment_id, rebuild) VALUES
               ('contact.confirmed', 't', 'c1', NULL, 0),
               ('segment.entered', 't', 'c1', 'seg_a', 0),
               ('segment.entered', 't', 'c2', 'seg_b', 0),
               ('contact.erased', 't', 'c1', NULL, 0),
               ('segment.entered', 't', 'c3', 'seg_a', 1);",
        )
        .expect("seed");
    }

    #[test]
    fn each_subscription_gets_what_it_asked_for_once_however_often_the_fan_out_runs() {
        let db = fresh_database();
        seed(&db);
        let (created, more) = fan_out_on(&db, 100);
        let mut created = created;
        created.sort();
        assert_eq!(
            created,
            vec![
                // a: its types, only its segment, no first-build entries.
                ("whk_a".to_string(), 1),
                ("whk_a".to_string(), 2),
                // b: entries of every segment, first builds included.
                ("whk_b".to_string(), 2),
                ("whk_b".to_string(), 3),
                ("whk_b".to_string(), 5),
            ]
        );
        assert!(!more);
        // A second run (a redelivered message, a concurrent consumer) creates nothing.
        assert_eq!(fan_out_on(&db, 100), (vec![], false));
        // Even with the position forced back, the key keeps each delivery single.
        db.execute("UPDATE webhooks SET last_seq = 0", [])
            .expect("rewind");
        assert_eq!(fan_out_on(&db, 100).0, vec![]);
    }

    #[test]
    fn the_fan_out_walks_the_log_in_bounded_steps_and_says_when_it_is_done() {
        let db = fresh_database();
        seed(&db);
        let mut steps = Vec::new();
        loop {
            let (created, more) = fan_out_on(&db, 2);
            steps.push(created.len());
            if !more {
                break;
            }
        }
        // 5 events, 2 per step per subscription: three steps.
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(steps.iter().sum::<usize>(), 5);
        // A disabled subscription is not advanced and gets nothing new.
        db.execute_batch(
            "UPDATE webhooks SET disabled_at = 't' WHERE id = 'whk_b';
             INSERT INTO events (type, at, contact_id, segment_id) VALUES ('segment.entered', 't', 'c4', 'seg_a');",
        )
        .expect("more events");
        assert_eq!(fan_out_on(&db, 2), (vec![("whk_a".to_string(), 6)], false));
    }

    #[test]
    fn a_consent_change_is_announced_only_when_the_decision_changes() {
        let db = fresh_database();
        let record = "INSERT INTO consents (contact_id, purpose, granted, updated_at) VALUES (?1, ?2, ?3, 't') \
             ON CONFLICT (contact_id, purpose) DO UPDATE SET granted = excluded.granted";
        db.execute_batch(
            "INSERT INTO contacts (id, email, email_hash, status, source, created_at, updated_at) \
             VALUES ('c1', 'a@example.com', 'h', 'active', 'api', 't', 't')",
        )
        .expect("contact");
        for granted in [true, false, false, true] {
            let announce =
                consent_changed_plan("c1", "marketing_email", granted, "self_service", "t");
            crate::store::sqlite::run(&db, &[announce]);
            db.execute(record, rusqlite::params!["c1", "marketing_email", granted])
                .expect("record");
        }
        let details: Vec<String> = db
            .prepare("SELECT detail FROM events ORDER BY seq")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            details,
            vec![
                r#"{"purpose":"marketing_email","granted":true,"by":"self_service"}"#,
                r#"{"purpose":"marketing_email","granted":false,"by":"self_service"}"#,
                r#"{"purpose":"marketing_email","granted":true,"by":"self_service"}"#,
            ]
        );
    }

    #[test]
    fn a_subscription_failing_for_three_days_is_disabled_and_a_quiet_spell_or_a_success_restarts_the_clock(
    ) {
        use crate::domain::time;
        use chrono::Duration;
        let db = fresh_database();
        seed(&db);
        db.execute_batch(
            "INSERT INTO webhook_deliveries (webhook_id, event_seq, state, attempts, next_at, created_at) \
             VALUES ('whk_a', 1, 'pending', 1, 't', 't'), ('whk_b', 2, 'pending', 1, 't', 't');",
        )
        .expect("deliveries");
        let key = |w: &str, seq| DeliveryKey {
            webhook_id: w.to_string(),
            event_seq: seq,
        };
        let (a, b) = (key("whk_a", 1), key("whk_b", 2));
        let t0 = time::parse("2026-01-01T00:00:00.000Z").expect("t0");
        // One attempt failing at `t`, with the cut-offs the job uses.
        let fail = |k: &DeliveryKey, t: chrono::DateTime<chrono::Utc>| {
            let (at, disable, quiet) = (
                time::format(t),
                time::format(t - Duration::days(3)),
                time::format(t - Duration::hours(11)),
            );
            let failed = Attempt::Failed {
                status: Some(503),
                error: "http 503",
                next_at: Some("later"),
            };
            crate::store::sqlite::run(&db, &record_plan(k, &failed, &at, (&disable, &quiet)));
        };
        let disabled = |id: &str| -> Option<String> {
            db.query_row(
                "SELECT disabled_at FROM webhooks WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("health")
        };
        // Failing every 10 hours: still on at 70 h, disabled at 80 h.
        for k in 0..8 {
            fail(&a, t0 + Duration::hours(10 * k));
            assert_eq!(disabled("whk_a"), None, "after {} h", 10 * k);
        }
        fail(&a, t0 + Duration::hours(80));
        assert_eq!(
            disabled("whk_a"),
            Some(time::format(t0 + Duration::hours(80)))
        );
        // A failure weeks after the last one starts a new stretch instead of disabling.
        fail(&b, t0);
        fail(&b, t0 + Duration::days(20));
        assert_eq!(disabled("whk_b"), None, "after a quiet spell");
        // And a success clears the clock.
        let at = time::format(t0 + Duration::days(20) + Duration::seconds(5));
        let delivered = Attempt::Delivered { status: 204 };
        crate::store::sqlite::run(&db, &record_plan(&b, &delivered, &at, ("x", "x")));
        let failing: Option<String> = db
            .query_row(
                "SELECT failing_since FROM webhooks WHERE id = 'whk_b'",
                [],
                |r| r.get(0),
            )
            .expect("failing");
        assert_eq!(failing, None);
        let (state, log): (String, String) = db
            .query_row(
                "SELECT state, log FROM webhook_deliveries WHERE webhook_id = 'whk_b'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("delivery");
        assert_eq!(state, "delivered");
        assert_eq!(
            serde_json::from_str::<Value>(&log).expect("log")[2]["status"],
            serde_json::json!(204)
        );
    }

    #[test]
    fn erasure_takes_the_persons_events_with_it_and_leaves_everyone_elses() {
        let db = fresh_database();
        seed(&db);
        let erased = crate::store::erasure::Erased {
            id: "c1",
            mailbox_hash: "mb",
        };
        let plan = crate::store::erasure::erase_plan(&erased, Some("h"), "2026-12-01");
        crate::store::sqlite::run(&db, &plan);
        let left: Vec<Option<String>> = db
            .prepare("SELECT contact_id FROM events ORDER BY seq")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(left, vec![Some("c2".to_string()), Some("c3".to_string())]);
        let plan =
            crate::store::sqlite::query_plan(&db, "DELETE FROM events WHERE contact_id = ?1");
        assert!(plan.contains("events_contact"), "{plan}");
    }
}
