//! Pure logic: no `worker` import, tested natively with `cargo test --lib`.

pub mod backup;
pub mod consent;
pub mod contact;
pub mod csv;
pub mod cursor;
pub mod email;
pub mod export;
pub mod form;
pub mod i18n;
pub mod import;
pub mod ip;
pub mod keyring;
pub mod link;
pub mod order;
pub mod outbox;
pub mod overview;
pub mod privacy_request;
pub mod scope;
pub mod secret;
pub mod segment;
pub mod signup;
pub mod standard_webhooks;
pub mod survey;
pub mod time;
pub mod validate;
pub mod webhook;
