//! The daily run's tasks, each a chain of `Job::Daily` queue messages: the cron only enqueues the
//! first chunk of each (`jobs::cron`). A chunk does as many bounded steps as its share of the
//! queue batch's D1 budget ([`Db::budget`], less a reserve) and a few seconds allow, each step
//! one or two D1 calls over at most `CHUNK_ROWS`/its natural number of rows, then enqueues its
//! continuation, until the task is done. So a task finishes however large the base, and no
//! invocation passes the platform's per-invocation limits.
//!
//! Every step is idempotent: it works from what the database holds now (deletes what is still
//! there, writes only rows whose value differs, re-enqueues what is still unsent), so a chunk the
//! queue redelivers, or a continuation sent twice, only repeats work that changes nothing. A step
//! that fails fails its message, which the queue retries from the same cursor.
//!
//! - [`DailyTask::OutboxSweep`]: unsent messages whose backoff has run out go back onto the
//!   queue (when an email webhook is configured). Cursor: the last message id swept.
//! - [`DailyTask::Retention`] (the record of processing, enforced): every unconfirmed signup
//!   older than `UNCONFIRMED_RETENTION_DAYS` is erased (without a suppression: they never
//!   joined) and audited, however many there are. No cursor: each step takes the oldest left.
//! - [`DailyTask::Purge`]: expired tokens and sessions, tokens used over a week ago, rate
//!   counters whose window has passed, delivered and never-delivered outbox rows older than 30
//!   days, dead letters older than 30 days, and the consent proof of erased people past its
//!   five-year limitation period, each a bounded `DELETE` per step; then segment export files
//!   past their seven days (R2 objects and rows), and a new purge for deleted segments whose
//!   purge message was lost; events past their 30 days, deliveries of events no longer kept or of
//!   deleted subscriptions, and deleted subscriptions with none left; completed data-subject
//!   requests past their five years on the register. Cursor: the purges not yet exhausted.
//! - [`DailyTask::SurveyReminders`]: invitations whose one reminder is due get it, or are
//!   settled without one (answered, objected, erased, about to expire). No cursor: each step
//!   takes the oldest left.
//! - [`DailyTask::Temperatures`], then [`DailyTask::Rfm`], then [`DailyTask::SegmentRefresh`]:
//!   derived facts first, by `contact_id` range (cursor: the last id done), then segments that
//!   age with the clock or read those facts, or were left `building`, are rebuilt (cursor: the
//!   last segment id seen). Each task's last chunk starts the next, so segments only ever read
//!   fresh facts. RFM cut-offs are computed once per run, in SQL, and travel in the cursor.
//! - [`DailyTask::Backups`]: the nightly backup starts when backup keys are set and no run
//!   started in the last 20 hours; a run whose row has not moved for 15 minutes (a lost message,
//!   a failed enqueue) is queued again, one still running after two days is failed; runs
//!   retention no longer keeps are deleted with their objects, a few per step
//!   (`jobs::backup`). No cursor: each step reads the runs again.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use worker::Env;

use crate::config::{chunk_rows, Config};
use crate::domain::segment::{Field, SegmentRule, TemperatureThresholds};
use crate::domain::time;
use crate::error::AppResult;
use crate::jobs::delivery::Outcome;
use crate::jobs::message::{DailyTask, Job};
use crate::jobs::{enqueue, enqueue_all};
use crate::store::segments::{self, RfmCuts, SegmentState, TemperatureCuts};
use crate::store::{
    self, audit, consents, dead_letters, erasure, outbox, privacy_requests, profile, rate, tokens,
    webhooks, Arg, Db,
};

/// D1 calls a chunk leaves unspent, for what follows its last step (the export purge's calls,
/// the restart of lost segment purges).
const RESERVE: u32 = 5;
/// Wall time a chunk may spend before handing on, far below the consumer's limits.
const TIME_LIMIT_MS: i64 = 8000;

/// Natural rows per step, lowered by `CHUNK_ROWS` in the tests.
/// Unconfirmed signups erased per step: one batch of about fifteen statements each.
const RETENTION_ROWS: usize = 50;
/// Rows one purge `DELETE` removes per step.
const PURGE_ROWS: usize = 5000;
/// Outbox ids read per sweep step.
const SWEEP_ROWS: usize = 500;
/// Stats rows per temperature or RFM statement.
const FACT_ROWS: usize = 5000;
/// Live segments read per refresh step.
const SEGMENT_ROWS: usize = 100;

/// Messages younger than this are still in the queue's hands.
const STRAGGLER_AGE_MINUTES: i64 = 5;
/// Dead letters are kept this long for operators; their emails are swept back from the outbox.
const DEAD_LETTER_DAYS: i64 = 30;
/// Survey reminders per step (each one an invitation update and an outbox row).
const REMINDER_ROWS: usize = 40;
/// Events (the change feed, and what webhook deliveries are made of) are kept this long.
const EVENT_DAYS: i64 = 30;
/// Delivered outbox messages (metadata only: body and links went at delivery) are kept this long.
const DELIVERED_DAYS: i64 = 30;
/// Messages never delivered (no webhook, or one that refused them) are given up after this long:
/// every link in them has expired, and an erasure notice must not keep the address for ever.
const UNDELIVERED_DAYS: i64 = 30;
/// Used tokens (clicked links, ended sessions) are kept this long, then go even if unexpired.
const USED_TOKEN_DAYS: i64 = 7;
/// The longest window of any rate counter (they are hourly now): past it, a counter counts
/// nothing (the next hit starts again at 1).
const RATE_WINDOW_DAYS: i64 = 1;
/// Minimal consent proof of erased people is kept this long after each decision (the
/// limitation period for claims about consent; the README's record of processing).
const ERASED_PROOF_DAYS: i64 = 5 * 365;
/// Data-subject requests stay on the register this long after their receipt, also after the
/// person's erasure: the proof each was answered, for as long as a claim about it can be made
/// (the README's record of processing).
const PRIVACY_REQUEST_DAYS: i64 = 5 * 365;

/// What a chunk leaves to do.
enum Next {
    /// The task goes on from this cursor in a new message.
    Continue(String),
    /// The task is done and the next one of the chain starts.
    Then(DailyTask),
    Done,
}

/// The first chunk of each task the cron starts (the others follow from these).
pub fn first_jobs() -> Vec<Job> {
    [
        DailyTask::OutboxSweep,
        DailyTask::Retention,
        DailyTask::Purge,
        DailyTask::Temperatures,
        DailyTask::SurveyReminders,
        DailyTask::ConsentLifecycle,
        DailyTask::DataFreshness,
        DailyTask::Backups,
    ]
    .into_iter()
    .map(|task| Job::Daily {
        task,
        cursor: String::new(),
    })
    .collect()
}

/// `Job::Daily`: one chunk of `task` from `cursor`, then its continuation (or the next task).
pub async fn run_task(env: &Env, db: &Db, task: DailyTask, cursor: &str) -> AppResult<Outcome> {
    let next = match task {
        DailyTask::OutboxSweep => sweep_outbox(env, db, cursor).await?,
        DailyTask::Retention => retention(env, db).await?,
        DailyTask::Purge => purge(env, db, cursor).await?,
        DailyTask::Temperatures => temperatures(env, db, cursor).await?,
        DailyTask::Rfm => rfm(env, db, cursor).await?,
        DailyTask::SegmentRefresh => refresh_segments(env, db, cursor).await?,
        DailyTask::SurveyReminders => survey_reminders(env, db).await?,
        DailyTask::ConsentLifecycle => consent_lifecycle(env, db, cursor).await?,
        DailyTask::DataFreshness => data_freshness(env, db).await?,
        DailyTask::Backups => backups(env, db).await?,
    };
    match next {
        Next::Continue(cursor) => enqueue(env, Job::Daily { task, cursor }).await?,
        Next::Then(task) => {
            enqueue(
                env,
                Job::Daily {
                    task,
                    cursor: String::new(),
                },
            )
            .await?
        }
        Next::Done => {}
    }
    Ok(Outcome::Done)
}

/// How many steps of `cost` D1 calls a chunk may take: what its invocation has left above the
/// reserve (daily chunks travel on the WORK queue, one message per batch, so no other message
/// shares the budget), at least one when one fits, and no more once the time limit has passed.
struct Steps {
    left: u32,
    started: DateTime<Utc>,
}

impl Steps {
    fn new(db: &Db, cost: u32) -> Steps {
        let spare = db.budget().remaining().saturating_sub(RESERVE);
        let left = if spare >= cost {
            (spare / cost).max(1)
        } else {
            0
        };
        Steps {
            left,
            started: time::now(),
        }
    }

    /// Whether one more step may start.
    fn take(&mut self) -> bool {
        if self.left == 0 || (time::now() - self.started).num_milliseconds() > TIME_LIMIT_MS {
            return false;
        }
        self.left -= 1;
        true
    }
}

/// Webhook deliveries whose queue message was lost (or dead-lettered) go back onto the queue, a
/// bounded number a day, and events no fan-out has seen yet become deliveries.
async fn sweep_webhooks(env: &Env, db: &Db) -> AppResult<()> {
    crate::jobs::webhooks::resend_due(env, db, chunk_rows(env, SWEEP_ROWS) as u32).await?;
    crate::jobs::webhooks::fan_out(env, db).await
}

/// Re-enqueues unsent messages whose backoff has elapsed (e.g. ones that exhausted their queue
/// retries and went to the dead-letter queue), so no email is lost while the webhook is down.
async fn sweep_outbox(env: &Env, db: &Db, cursor: &str) -> AppResult<Next> {
    if cursor.is_empty() {
        sweep_webhooks(env, db).await?;
    }
    let config = Config::from_env(env)?;
    if config.email_webhook_url.is_none() {
        return Ok(Next::Done);
    }
    let rows = config.chunk(SWEEP_ROWS);
    let mut after = outbox::SweepCursor::decode(cursor);
    let mut steps = Steps::new(db, 1);
    while steps.take() {
        let now = time::now();
        let (at, created_before) = (
            time::format(now),
            time::format(now - Duration::minutes(STRAGGLER_AGE_MINUTES)),
        );
        let found = outbox::stragglers(db, &at, &created_before, &after, rows as u32).await?;
        let last = found.len() < rows;
        if let Some(cursor) = found.last() {
            after = cursor.clone();
        }
        enqueue_all(
            env,
            found
                .into_iter()
                .map(|m| Job::DeliverEmail { id: m.id })
                .collect(),
        )
        .await?;
        if last {
            return Ok(Next::Done);
        }
    }
    Ok(Next::Continue(after.encode()))
}

/// Survey reminders due by now, a chunk per step (each step settles what it read, so the next
/// starts where it ended).
async fn survey_reminders(env: &Env, db: &Db) -> AppResult<Next> {
    let config = Config::from_env(env)?;
    let rows = config.chunk(REMINDER_ROWS);
    let mut steps = Steps::new(db, 2);
    while steps.take() {
        let due = crate::flows::survey::send_due_reminders(env, &config, db, rows as u32).await?;
        if due < rows {
            return Ok(Next::Done);
        }
    }
    Ok(Next::Continue(String::new()))
}

/// Consents read per lifecycle step (each asked one writes a mark, a token and an outbox row).
const LIFECYCLE_ROWS: usize = 100;
/// Profiles asked per freshness step (each a mark and an outbox row).
const FRESHNESS_ROWS: usize = 100;

/// The consent lifecycle, purpose by purpose (those with a lifetime, in name order), oldest
/// decision first: each step reads a chunk, asks or lets lapse what is due, and moves the
/// cursor past what it read (a consent renewed or lapsed leaves the range it walks).
async fn consent_lifecycle(env: &Env, db: &Db, cursor: &str) -> AppResult<Next> {
    use crate::flows::lifecycle::{lifecycle_chunk, LifecycleCursor};
    let config = Config::from_env(env)?;
    let rows = config.chunk(LIFECYCLE_ROWS);
    let purposes: Vec<(String, u32)> = config
        .consent_lifetimes
        .iter()
        .map(|(p, m)| (p.to_string(), m))
        .collect();
    let mut at = LifecycleCursor::decode(cursor);
    let mut steps = Steps::new(db, 2);
    while steps.take() {
        // The purpose the cursor names, or the first one after it (a new run starts at the
        // first; a purpose no longer configured is skipped).
        let Some((purpose, months)) = purposes.iter().find(|(p, _)| *p >= at.purpose).cloned()
        else {
            return Ok(Next::Done);
        };
        if purpose != at.purpose {
            at = LifecycleCursor {
                purpose: purpose.clone(),
                ..LifecycleCursor::default()
            };
        }
        let (counts, next) =
            lifecycle_chunk(env, &config, db, &purpose, months, &at, rows as u32).await?;
        if counts.read < rows {
            // This purpose is done: the next one, from its start.
            at = LifecycleCursor {
                purpose: format!("{purpose}\u{1}"),
                ..LifecycleCursor::default()
            };
        } else {
            at = next;
        }
    }
    Ok(Next::Continue(at.encode()))
}

/// "Is this still right?" to profiles past `DATA_FRESHNESS_MONTHS`, a chunk per step (asking
/// takes a profile out of what the next step reads).
async fn data_freshness(env: &Env, db: &Db) -> AppResult<Next> {
    let config = Config::from_env(env)?;
    if config.freshness_months == 0 {
        return Ok(Next::Done);
    }
    let rows = config.chunk(FRESHNESS_ROWS);
    let mut steps = Steps::new(db, 2);
    while steps.take() {
        let read = crate::flows::lifecycle::freshness_chunk(
            env,
            &config,
            db,
            config.freshness_months,
            rows as u32,
        )
        .await?;
        if read < rows {
            return Ok(Next::Done);
        }
    }
    Ok(Next::Continue(String::new()))
}

/// The nightly backup and its retention ([`crate::jobs::backup::daily`]), one step per chunk
/// while runs are left to prune.
async fn backups(env: &Env, db: &Db) -> AppResult<Next> {
    let mut steps = Steps::new(db, crate::jobs::backup::DAILY_QUERIES);
    while steps.take() {
        if !crate::jobs::backup::daily(env, db).await? {
            return Ok(Next::Done);
        }
    }
    Ok(Next::Continue(String::new()))
}

/// Record of processing, enforced: every unconfirmed signup older than the retention period is
/// erased (without a suppression: they never joined) and audited, a batch of them per step.
async fn retention(env: &Env, db: &Db) -> AppResult<Next> {
    let config = Config::from_env(env)?;
    let rows = config.chunk(RETENTION_ROWS);
    let mut steps = Steps::new(db, 2);
    let mut erased = 0;
    let mut next = Next::Continue(String::new());
    while steps.take() {
        let now = time::now();
        let at = time::format(now);
        let cutoff = time::format(now - Duration::days(config.unconfirmed_retention_days));
        // Each step erases what it read, so the next read starts where this one ended.
        let expired = profile::expired_pending(db, &cutoff, rows as u32).await?;
        let mut statements = Vec::new();
        for pending in &expired {
            // A stored address that no longer parses still has its messages found by id.
            let mailbox_hash = crate::domain::email::EmailAddress::parse(&pending.email)
                .map(|e| e.mailbox_hash(&config.token_secret))
                .unwrap_or_default();
            let erased = erasure::Erased {
                id: &pending.id,
                mailbox_hash: &mailbox_hash,
            };
            statements.extend(erasure::erase_statements(db, &erased, None, &at)?);
            statements.push(audit::record(
                db,
                "system",
                "contact.expire",
                Some(&pending.id),
            )?);
        }
        store::batch(db, statements).await?;
        erased += expired.len();
        if expired.len() < rows {
            next = Next::Done;
            break;
        }
    }
    if erased > 0 {
        worker::console_log!("daily retention: erased {erased} unconfirmed signups");
    }
    Ok(next)
}

/// The purges of [`DailyTask::Purge`], in the order they run; the cursor names those left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purge {
    ExpiredTokens,
    UsedTokens,
    RateCounters,
    Delivered,
    Undelivered,
    DeadLetters,
    ErasedProof,
    Events,
    WebhookDeliveries,
    DeletedDeliveries,
    DeletedWebhooks,
    PrivacyRequests,
}

const PURGES: [Purge; 12] = [
    Purge::ExpiredTokens,
    Purge::UsedTokens,
    Purge::RateCounters,
    Purge::Delivered,
    Purge::Undelivered,
    Purge::DeadLetters,
    Purge::ErasedProof,
    Purge::Events,
    Purge::WebhookDeliveries,
    Purge::DeletedDeliveries,
    Purge::DeletedWebhooks,
    Purge::PrivacyRequests,
];

impl Purge {
    fn name(self) -> &'static str {
        match self {
            Purge::ExpiredTokens => "expired_tokens",
            Purge::UsedTokens => "used_tokens",
            Purge::RateCounters => "rate_counters",
            Purge::Delivered => "delivered",
            Purge::Undelivered => "undelivered",
            Purge::DeadLetters => "dead_letters",
            Purge::ErasedProof => "erased_proof",
            Purge::Events => "events",
            Purge::WebhookDeliveries => "webhook_deliveries",
            Purge::DeletedDeliveries => "deleted_deliveries",
            Purge::DeletedWebhooks => "deleted_webhooks",
            Purge::PrivacyRequests => "privacy_requests",
        }
    }

    /// The purges a cursor leaves: every one at the start (an empty cursor), else those named
    /// (a name no longer known is skipped).
    fn left(cursor: &str) -> Vec<Purge> {
        if cursor.is_empty() {
            return PURGES.to_vec();
        }
        let names: Vec<&str> = cursor.split(',').collect();
        PURGES
            .into_iter()
            .filter(|p| names.contains(&p.name()))
            .collect()
    }

    /// Its bounded `DELETE` of at most `limit` rows, with cut-offs from `cuts`.
    fn plan(self, cuts: &PurgeCuts, limit: i64) -> (&'static str, Vec<Arg<'_>>) {
        match self {
            Purge::ExpiredTokens => tokens::purge_expired_plan(&cuts.now, limit),
            Purge::UsedTokens => tokens::purge_used_plan(&cuts.used, limit),
            Purge::RateCounters => rate::purge_plan(&cuts.rate, limit),
            Purge::Delivered => outbox::purge_delivered_plan(&cuts.delivered, limit),
            Purge::Undelivered => outbox::purge_undelivered_plan(&cuts.undelivered, limit),
            Purge::DeadLetters => dead_letters::purge_plan(&cuts.letters, limit),
            Purge::ErasedProof => consents::purge_erased_proof_plan(&cuts.proof, limit),
            Purge::Events => webhooks::purge_events_plan(&cuts.events, limit),
            Purge::WebhookDeliveries => webhooks::purge_deliveries_plan(limit),
            Purge::DeletedDeliveries => webhooks::purge_deleted_deliveries_plan(limit),
            Purge::DeletedWebhooks => webhooks::purge_deleted_plan(limit),
            Purge::PrivacyRequests => privacy_requests::purge_plan(&cuts.requests, limit),
        }
    }
}

/// The instants before which each purge deletes.
struct PurgeCuts {
    now: String,
    used: String,
    rate: String,
    delivered: String,
    undelivered: String,
    letters: String,
    proof: String,
    events: String,
    requests: String,
}

impl PurgeCuts {
    fn at(now: DateTime<Utc>) -> PurgeCuts {
        let days = |n: i64| time::format(now - Duration::days(n));
        PurgeCuts {
            now: time::format(now),
            used: days(USED_TOKEN_DAYS),
            rate: days(RATE_WINDOW_DAYS),
            delivered: days(DELIVERED_DAYS),
            undelivered: days(UNDELIVERED_DAYS),
            letters: days(DEAD_LETTER_DAYS),
            proof: days(ERASED_PROOF_DAYS),
            events: days(EVENT_DAYS),
            requests: days(PRIVACY_REQUEST_DAYS),
        }
    }
}

/// One batch per step: a bounded `DELETE` for each purge not yet exhausted; a purge that deleted
/// fewer rows than its bound has nothing older left and drops out.
async fn purge(env: &Env, db: &Db, cursor: &str) -> AppResult<Next> {
    let rows = chunk_rows(env, PURGE_ROWS);
    let mut left = Purge::left(cursor);
    let mut steps = Steps::new(db, 1);
    while !left.is_empty() && steps.take() {
        let cuts = PurgeCuts::at(time::now());
        let statements = left
            .iter()
            .map(|p| {
                let (sql, args) = p.plan(&cuts, rows as i64);
                store::statement(db, sql, &args)
            })
            .collect::<AppResult<Vec<_>>>()?;
        let changed = store::batch_changes(db, statements).await?;
        left = left
            .into_iter()
            .zip(changed)
            .filter(|(_, n)| *n >= rows)
            .map(|(p, _)| p)
            .collect();
    }
    if !left.is_empty() {
        return Ok(Next::Continue(
            left.iter().map(|p| p.name()).collect::<Vec<_>>().join(","),
        ));
    }
    // Then export files past their seven days (R2 objects, then rows), a bounded number per
    // call, until none is left; then deleted segments whose purge message was lost.
    let mut steps = Steps::new(db, EXPORT_PURGE_QUERIES);
    loop {
        if !steps.take() {
            return Ok(Next::Continue(EXPORTS_LEFT.to_string()));
        }
        if crate::jobs::export::purge_expired(env, db).await? == 0 {
            break;
        }
    }
    if db.budget().remaining() > RESERVE {
        crate::jobs::segment_purge::resume_lost(env, db).await?;
    }
    Ok(Next::Done)
}

/// D1 calls of one [`crate::jobs::export::purge_expired`].
const EXPORT_PURGE_QUERIES: u32 = 2;
/// The purge cursor once every table purge is done and export files remain: a name no table
/// purge has, so [`Purge::left`] gives none of them.
const EXPORTS_LEFT: &str = "exports";

/// Temperatures cool down as time passes without activity, one `contact_id` range per step
/// (changed rows only); the last step starts RFM.
async fn temperatures(env: &Env, db: &Db, cursor: &str) -> AppResult<Next> {
    let rows = chunk_rows(env, FACT_ROWS) as u32;
    let mut after = cursor.to_string();
    let mut steps = Steps::new(db, 1);
    while steps.take() {
        let cuts = TemperatureCuts::new(time::now(), &TemperatureThresholds::default());
        match segments::cool_down_chunk(db, &cuts, &after, rows).await? {
            (_, Some(end)) => after = end,
            (_, None) => return Ok(Next::Then(DailyTask::Rfm)),
        }
    }
    Ok(Next::Continue(after))
}

/// Where an RFM run stands: its clock and cut-offs, fixed at its first chunk so every buyer is
/// scored against the same base, and the last buyer done.
#[derive(Debug, Serialize, Deserialize)]
struct RfmCursor {
    now_ms: i64,
    at: String,
    cuts: RfmCuts,
    after: String,
}

/// RFM quintiles over every buyer: cut-offs from SQL once, then one `contact_id` range per step,
/// written only where a score or group changed; the last step starts the segment refresh.
async fn rfm(env: &Env, db: &Db, cursor: &str) -> AppResult<Next> {
    let rows = chunk_rows(env, FACT_ROWS) as u32;
    let mut state = match serde_json::from_str::<RfmCursor>(cursor) {
        Ok(state) => state,
        Err(_) => {
            if !cursor.is_empty() {
                worker::console_warn!("daily rfm: unreadable cursor; starting over");
            }
            let now = time::now();
            let now_ms = now.timestamp_millis();
            RfmCursor {
                now_ms,
                at: time::format(now),
                cuts: segments::rfm_cuts(db, now_ms).await?,
                after: String::new(),
            }
        }
    };
    let mut steps = Steps::new(db, 1);
    while steps.take() {
        let (_, next) = segments::rfm_chunk(
            db,
            (&state.cuts, state.now_ms),
            &state.after,
            rows,
            &state.at,
        )
        .await?;
        match next {
            Some(end) => state.after = end,
            None => return Ok(Next::Then(DailyTask::SegmentRefresh)),
        }
    }
    Ok(Next::Continue(serde_json::to_string(&state)?))
}

/// Whether a rule must be re-evaluated as days pass even if no contact changes: it reads the
/// clock (day windows, ages) or facts the daily run recomputes (temperature, RFM).
fn ages_daily(rule: &SegmentRule) -> bool {
    rule.is_time_relative()
        || rule.conditions().iter().any(|c| {
            matches!(
                c.field(),
                Field::Temperature
                    | Field::RfmR
                    | Field::RfmF
                    | Field::RfmM
                    | Field::RfmSegment
                    | Field::Segment
            )
        })
}

/// Every live segment, a page per step: those that age (see [`ages_daily`]) and those left
/// `building` (a lost message) are rebuilt at their current version, which only writes the
/// memberships that changed.
async fn refresh_segments(env: &Env, db: &Db, cursor: &str) -> AppResult<Next> {
    let rows = chunk_rows(env, SEGMENT_ROWS);
    let mut after = cursor.to_string();
    let mut steps = Steps::new(db, 1);
    while steps.take() {
        let page = segments::live_after(db, &after, rows as u32).await?;
        let last = page.len() < rows;
        if let Some(row) = page.last() {
            after = row.id.clone();
        }
        let rebuilds = page
            .into_iter()
            .filter(|row| {
                row.state == SegmentState::Building || row.rule().is_ok_and(|r| ages_daily(&r))
            })
            .map(|row| Job::SegmentRebuild {
                id: row.id,
                version: row.version,
                cursor: String::new(),
            })
            .collect();
        enqueue_all(env, rebuilds).await?;
        if last {
            return Ok(Next::Done);
        }
    }
    Ok(Next::Continue(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_cursor_names_what_is_left_and_forgets_unknown_names() {
        assert_eq!(Purge::left(""), PURGES.to_vec());
        assert_eq!(
            Purge::left("erased_proof,rate_counters,launch_rockets"),
            vec![Purge::RateCounters, Purge::ErasedProof]
        );
        for p in PURGES {
            assert_eq!(Purge::left(p.name()), vec![p]);
        }
    }

    /// Each chunk finds its rows through an index: a scan would read the whole table again for
    /// every chunk of a large backlog. Tokens are the exception, on purpose: the table holds
    /// days of tokens, an index would cost every token written a row, and a scan stops at its
    /// LIMIT, so in a backlog (most rows expired) a chunk reads little more than it deletes and
    /// otherwise (few expired among many live) there are few chunks.
    #[test]
    fn every_purge_chunk_finds_its_rows_through_an_index() {
        // The event log is read from its start in key order and each chunk stops at its bound;
        // the webhook purges scan the subscriptions (a handful of rows), then read each one's
        // deliveries by key.
        const SCANNED_ON_PURPOSE: &[&str] = &[
            "expired_tokens",
            "used_tokens",
            "events",
            "webhook_deliveries",
            "deleted_deliveries",
            "deleted_webhooks",
        ];
        let db = crate::store::sqlite::fresh_database();
        let cuts = PurgeCuts::at(time::parse("2026-06-30T12:00:00Z").unwrap());
        for p in PURGES {
            let (sql, args) = p.plan(&cuts, 3);
            let mut stmt = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let values: Vec<rusqlite::types::Value> = args
                .iter()
                .map(|a| match a {
                    Arg::Text(s) => rusqlite::types::Value::Text((*s).to_string()),
                    Arg::Int(i) => rusqlite::types::Value::Integer(*i),
                    _ => rusqlite::types::Value::Null,
                })
                .collect();
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(values), |r| r.get(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let webhook_purge = matches!(
                p,
                Purge::WebhookDeliveries | Purge::DeletedDeliveries | Purge::DeletedWebhooks
            );
            assert!(
                (SCANNED_ON_PURPOSE.contains(&p.name())
                    && (!webhook_purge
                        || plan.iter().all(|step| !step.starts_with("SCAN")
                            || step == "SCAN w"
                            || step.starts_with("SCAN w USING"))))
                    || plan.iter().all(|step| !step.starts_with("SCAN")),
                "{}: {plan:?}",
                p.name()
            );
        }
        let (sql, _) = Purge::UsedTokens.plan(&cuts, 3);
        assert!(sql.contains("LIMIT ?2"), "bounded: {sql}");
    }
}
