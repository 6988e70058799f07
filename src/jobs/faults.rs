//! Test-only queue fault injection, so tests can show that redelivery loses and doubles nothing.
//! Off unless the Worker runs with `QUEUE_FAULTS=on` (the integration harness sets it; production
//! never does, and then no D1 read is spent on it). Tests arm faults by writing `queue_faults`:
//! - `crash`: the next `remaining` batches work their first `crash_after` messages, then die
//!   before acking anything, as an isolate killed mid-batch would; every message is redelivered.
//! - `poison`: the next message of kind `job` fails every attempt until the dead-letter queue
//!   takes it.

use worker::{D1Database, Env};

use crate::store::{self, faults};

/// What the faults mean for one batch.
pub struct BatchFaults {
    db: Option<D1Database>,
    /// Work this many messages, then abandon the batch unacked.
    pub crash_after: Option<usize>,
    poison: Option<faults::PoisonRow>,
}

impl BatchFaults {
    fn none() -> Self {
        BatchFaults {
            db: None,
            crash_after: None,
            poison: None,
        }
    }

    pub async fn for_batch(env: &Env) -> Self {
        if !env.var("QUEUE_FAULTS").is_ok_and(|v| v.to_string() == "on") {
            return Self::none();
        }
        let Ok(db) = store::database(env) else {
            return Self::none();
        };
        // No `queue_faults` table means nothing is armed.
        let crash_after = faults::take_crash(&db).await.ok().flatten();
        let poison = faults::poison(&db).await.ok().flatten();
        if let Some(k) = crash_after {
            worker::console_warn!("queue faults: this batch dies after {k} messages");
        }
        BatchFaults {
            db: Some(db),
            crash_after,
            poison,
        }
    }

    /// Whether this message is (or now becomes) the poison.
    pub async fn is_poison(&mut self, message_id: &str, job_kind: &str) -> bool {
        let (Some(db), Some(poison)) = (&self.db, &mut self.poison) else {
            return false;
        };
        match &poison.message_id {
            Some(id) => id == message_id,
            None if poison.job == job_kind => {
                let chosen = faults::choose_poison(db, message_id).await.unwrap_or(false);
                if chosen {
                    poison.message_id = Some(message_id.to_string());
                    worker::console_warn!("queue faults: message {message_id} is the poison");
                }
                chosen
            }
            None => false,
        }
    }
}
