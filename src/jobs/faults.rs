//! Test-only queue fault injection, so tests can show that redelivery loses and doubles nothing.
//! Compiled in only with the `faults` cargo feature, which the integration tests' bundle
//! (`make build-test`) enables and `make dev`/`make deploy` do not: without it `BatchFaults` is
//! an empty type whose answers are constants, so the consumer's fault branches compile to
//! nothing and no variable or table can turn them on. With it, faults are still off unless the
//! Worker runs with `QUEUE_FAULTS=on` (the harness sets it; then no D1 read is spent otherwise).
//! Tests arm faults by writing `queue_faults`:
//! - `crash`: the next `remaining` batches work their first `crash_after` messages, then die
//!   before acking anything, as an isolate killed mid-batch would; every message is redelivered.
//! - `poison`: the next message of kind `job` fails every attempt until the dead-letter queue
//!   takes it.

#[cfg(feature = "faults")]
pub use armed::BatchFaults;
#[cfg(not(feature = "faults"))]
pub use off::BatchFaults;

#[cfg(feature = "faults")]
mod armed {
    use crate::store::Db;
    use worker::Env;

    use crate::store::{self, faults};

    /// What the faults mean for one batch.
    pub struct BatchFaults {
        db: Option<Db>,
        crash_after: Option<usize>,
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
            // Its own budget: the test machinery must not spend the batch's queries.
            let Ok(db) = Db::open(env, &store::budget(env, "queue faults")) else {
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

        /// Work this many messages, then abandon the batch unacked.
        pub fn crash_after(&self) -> Option<usize> {
            self.crash_after
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
}

/// The production build's faults: none, decided at compile time.
#[cfg(not(feature = "faults"))]
mod off {
    use worker::Env;

    pub struct BatchFaults;

    impl BatchFaults {
        pub async fn for_batch(_env: &Env) -> Self {
            BatchFaults
        }

        pub fn crash_after(&self) -> Option<usize> {
            None
        }

        pub async fn is_poison(&mut self, _message_id: &str, _job_kind: &str) -> bool {
            false
        }
    }
}
