//! Handlers, one module per resource: each parses the request into domain types, calls one flow
//! or store function and shapes the answer; each handler's OpenAPI operation sits beside it.
//! No module here imports another (shared work lives in `src/flows`).

pub mod admin;
pub mod confirm;
pub mod embed;
pub mod exports;
pub mod forms;
pub mod health;
pub mod keep;
pub mod me;
pub mod openapi;
pub mod surveys;
pub mod unsubscribe;
