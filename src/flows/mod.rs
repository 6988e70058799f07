//! Workflows shared by entry points (routes, jobs, cron). Nothing here imports `routes`.

pub mod confirmation;
pub mod contact;
pub mod erasure;
pub mod lifecycle;
pub mod links;
pub mod requests;
pub mod segments;
pub mod signup;
pub mod survey;
