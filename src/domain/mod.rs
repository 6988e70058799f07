//! Pure logic: no `worker` import, tested natively with `cargo test --lib`.

pub mod email;
pub mod outbox;
pub mod scope;
pub mod secret;
pub mod time;
