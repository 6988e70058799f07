//! Queue messages: a versioned envelope around a job, so that old messages still in flight
//! during a deploy are recognised (and new ones an old Worker cannot read are dropped, not looped).

use serde::{Deserialize, Serialize};

pub const CURRENT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Job {
    /// POST outbox message `id` to the email webhook.
    DeliverEmail { id: String },
    /// Contact `id` changed (signup, confirmation, consent, order, answer): re-evaluate segments.
    ContactChanged { id: String },
    /// Recompute segment `id` at rule `version` for contacts after `cursor` (ids sort), one chunk
    /// per message; a message for an older version is dropped.
    SegmentRebuild {
        id: String,
        version: i64,
        cursor: String,
    },
    /// Write chunk `chunk` of export `id` to R2 if it is the next one (see `jobs::export`).
    ExportChunk { id: String, chunk: i64 },
    /// Remove the membership rows of deleted segment `id`, a chunk per message.
    SegmentPurge { id: String },
    /// One chunk of a task of the daily run, after `cursor` (what that is, the task says; empty:
    /// from the start). Each chunk enqueues the next one until its task is done.
    Daily { task: DailyTask, cursor: String },
    /// One attempt at delivering event `event_seq` to subscription `webhook_id`.
    DeliverWebhook { webhook_id: String, event_seq: i64 },
    /// Events the fan-out after a change left for later become deliveries.
    WebhookFanOut,
    /// Write chunk `chunk` of backup run `id` to R2 if it is the next one (see `jobs::backup`).
    BackupChunk { id: String, chunk: i64 },
}

/// The tasks of the daily run (`jobs::daily`), each a chain of `Job::Daily` chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DailyTask {
    /// Unsent messages whose backoff has run out go back onto the queue.
    OutboxSweep,
    /// Unconfirmed signups past `UNCONFIRMED_RETENTION_DAYS` are erased, however many.
    Retention,
    /// Spent tokens and sessions, rate counters, old outbox rows, dead letters, erased proof.
    Purge,
    /// Temperatures cool down; the last chunk starts [`DailyTask::Rfm`].
    Temperatures,
    /// Survey invitations whose one reminder is due get it (or are settled without one).
    SurveyReminders,
    /// RFM scores against the whole base; the last chunk starts [`DailyTask::SegmentRefresh`].
    Rfm,
    /// Segments that age with the clock (or were left building) are rebuilt.
    SegmentRefresh,
    /// Consents near the end of their lifetime get one re-permission email; those past it lapse.
    ConsentLifecycle,
    /// Profiles nobody confirmed for `DATA_FRESHNESS_MONTHS` get one "is this still right?".
    DataFreshness,
    /// The nightly backup starts (or a stalled one goes on), and runs past retention are pruned.
    Backups,
}

/// The two queues. `JOBS` carries small, fixed-cost messages (an email, a contact's segments),
/// many per batch. `WORK` carries chunked jobs that spend most of an invocation's D1 budget
/// (rebuilds, exports, backups, the daily tasks): one message per batch, so each chunk may take the whole
/// budget and a batch of them can never pass it together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueBinding {
    Jobs,
    Work,
}

impl QueueBinding {
    /// The producer binding's name in wrangler.toml.
    pub fn name(self) -> &'static str {
        match self {
            QueueBinding::Jobs => "JOBS",
            QueueBinding::Work => "WORK",
        }
    }

    pub fn misconfigured(self) -> &'static str {
        match self {
            QueueBinding::Jobs => "queue binding JOBS",
            QueueBinding::Work => "queue binding WORK",
        }
    }
}

/// D1 calls a batch's `DeliverEmail`s make together: the claim (two) and the outcomes. Kept
/// aside once per batch, like [`CONTACT_CHANGES_QUERIES`].
pub const DELIVERY_QUERIES: u32 = 3;
/// The least a chunked job needs to make progress: read where it is, write one chunk, and
/// bookkeeping. It takes whatever else the invocation has left.
pub const CHUNK_QUERIES_MIN: u32 = 4;
/// D1 calls the consumer keeps for a batch's contact changes, evaluated together at its end:
/// facts, live segments (a few pages), temperatures and memberships (with their events) in one
/// write batch, then a step of webhook fan-out.
pub const CONTACT_CHANGES_QUERIES: u32 = 9;

impl Job {
    /// Which queue carries this job.
    pub fn queue(&self) -> QueueBinding {
        match self {
            Job::DeliverEmail { .. } | Job::ContactChanged { .. } | Job::DeliverWebhook { .. } => {
                QueueBinding::Jobs
            }
            _ => QueueBinding::Work,
        }
    }

    /// D1 calls a message of this kind needs before it starts: the consumer defers a message
    /// to a later invocation rather than start it without them.
    pub fn queries_needed(&self) -> u32 {
        match self {
            // Counted once per batch (see DELIVERY_QUERIES and CONTACT_CHANGES_QUERIES).
            Job::DeliverEmail { .. } | Job::ContactChanged { .. } => 0,
            Job::DeliverWebhook { .. } => crate::jobs::webhooks::DELIVERY_QUERIES,
            _ => CHUNK_QUERIES_MIN,
        }
    }

    /// The job's `type` tag, as it travels in the envelope.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::DeliverEmail { .. } => "deliver_email",
            Job::ContactChanged { .. } => "contact_changed",
            Job::SegmentRebuild { .. } => "segment_rebuild",
            Job::ExportChunk { .. } => "export_chunk",
            Job::SegmentPurge { .. } => "segment_purge",
            Job::Daily { .. } => "daily",
            Job::DeliverWebhook { .. } => "deliver_webhook",
            Job::WebhookFanOut => "webhook_fan_out",
            Job::BackupChunk { .. } => "backup_chunk",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    #[serde(flatten)]
    pub job: Job,
}

impl Envelope {
    pub fn v1(job: Job) -> Self {
        Envelope {
            v: CURRENT_VERSION,
            job,
        }
    }

    /// Messages travel as JSON text: a flattened enum would reach JS as a `Map`, which
    /// neither the queue's structured clone nor `JSON.stringify` keeps as an object.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Why a message body could not become a job. Such messages are acked and logged.
#[derive(Debug, PartialEq)]
pub enum DecodeError {
    NotJson,
    UnknownVersion(u32),
    UnknownJob,
}

pub fn decode(body: &str) -> Result<Job, DecodeError> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|_| DecodeError::NotJson)?;
    let version = value.get("v").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
    if version != CURRENT_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    serde_json::from_value::<Envelope>(value)
        .map(|e| e.job)
        .map_err(|_| DecodeError::UnknownJob)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let job = Job::DeliverEmail { id: "msg_1".into() };
        let json = serde_json::to_string(&Envelope::v1(job.clone())).unwrap();
        assert_eq!(json, r#"{"v":1,"type":"deliver_email","id":"msg_1"}"#);
        assert_eq!(decode(&json), Ok(job));
    }

    #[test]
    fn kind_is_the_envelope_type_tag() {
        for job in [
            Job::DeliverEmail { id: "m".into() },
            Job::ContactChanged { id: "c".into() },
            Job::SegmentRebuild {
                id: "s".into(),
                version: 2,
                cursor: String::new(),
            },
            Job::ExportChunk {
                id: "e".into(),
                chunk: 3,
            },
            Job::SegmentPurge { id: "s".into() },
            Job::Daily {
                task: DailyTask::Rfm,
                cursor: String::new(),
            },
            Job::DeliverWebhook {
                webhook_id: "whk_1".into(),
                event_seq: 7,
            },
            Job::WebhookFanOut,
            Job::BackupChunk {
                id: "b".into(),
                chunk: 1,
            },
        ] {
            let json = serde_json::to_value(Envelope::v1(job.clone())).unwrap();
            assert_eq!(json["type"], job.kind());
        }
    }

    #[test]
    fn daily_chunks_travel_with_snake_case_task_names() {
        let job = Job::Daily {
            task: DailyTask::SegmentRefresh,
            cursor: "seg_9".into(),
        };
        let json = Envelope::v1(job.clone()).to_json().unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"type":"daily","task":"segment_refresh","cursor":"seg_9"}"#
        );
        assert_eq!(decode(&json), Ok(job));
        // Jobs written before the daily run was split still decode as they did.
        assert_eq!(
            decode(r#"{"v":1,"type":"segment_rebuild","id":"s","version":1,"cursor":""}"#),
            Ok(Job::SegmentRebuild {
                id: "s".into(),
                version: 1,
                cursor: String::new()
            })
        );
        assert_eq!(
            decode(r#"{"v":1,"type":"daily","task":"launch_rockets","cursor":""}"#),
            Err(DecodeError::UnknownJob)
        );
    }

    #[test]
    fn unknown_messages_are_recognised_not_retried() {
        assert_eq!(decode("garbage"), Err(DecodeError::NotJson));
        assert_eq!(
            decode(r#"{"v":2,"type":"deliver_email","id":"x"}"#),
            Err(DecodeError::UnknownVersion(2))
        );
        assert_eq!(
            decode(r#"{"v":1,"type":"launch_rockets"}"#),
            Err(DecodeError::UnknownJob)
        );
        assert_eq!(
            decode(r#"{"type":"deliver_email","id":"x"}"#),
            Err(DecodeError::UnknownVersion(0))
        );
    }
}
